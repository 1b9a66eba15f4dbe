"""`seqgen sample`: generate new sequences from a checkpoint: text to stdout, music to MIDI, WAV and PNG."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import click
from seqgen.cli.options import SEED, checkpoint_option, device_option, load_model

from seqgen.choices import MAX_NOTE_SECONDS
from seqgen.domains import FALLBACK, default_lengths, flag_help

HELP = f"""Generate --num samples from a checkpoint (default: the newest under ./checkpoints/).

{flag_help("sample", " ", labelled=False)}

\b
Examples:
  seqgen sample --midi tune.mid --wav tune.wav
  seqgen sample -c checkpoints/chorales-gru --midi out.mid --num 3 --seconds 60 -T 0.9
  seqgen sample --prime-midi opening.mid --midi continued.mid --plot continued.png
  seqgen sample --meter 6/8 --key D --tempo 110 --midi jig.mid --num 4
  seqgen sample -c checkpoints/tinyshakespeare-gru --prime "ROMEO:" --length 300 -T 0.6
  seqgen sample -c checkpoints/folk-abc-gru --prime "X:1" --stop $'\\n\\n' --midi tune.mid
"""


@click.command(help=HELP)
@checkpoint_option
@click.option("-n", "--length", type=click.IntRange(min=0), default=None,
              help=f"New tokens per sample: characters for text, note events for music, ...  "
                   f"[default: {default_lengths('default_length')}]")
@click.option("--min-length", type=click.IntRange(min=0), default=None,
              help="No sample ends (at --stop or the model's end of piece) before this many new tokens.  "
                   f"[default: {default_lengths('default_min_length')}; "
                   f"{flag_help('sample --min-length', labelled=False)}]")
@click.option("--seconds", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Music: stop each sample once it would pass this many seconds (the primer not counted). A metrical "
                   "model's piece counts as played: a repeat sign costs the bars it repeats (a first ending "
                   "skipped the second time through is not counted twice), at the --tempo asked.")
@click.option("-T", "--temperature", type=click.FloatRange(min=0), default=0.8, show_default=True,
              help="Sharpness: below 1 is safer, above 1 wilder, 0 always takes the most likely token.")
@click.option("--top-k", type=click.IntRange(min=0), default=None,
              help="Draw only from the K most likely tokens (0: no limit).")
@click.option("--top-p", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="Draw only from the smallest set of tokens whose probability reaches P (nucleus).")
@click.option("--prime", default=None, help="Text: what the samples continue (printed as their start).")
@click.option("--prime-midi", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Music: a piece (MIDI, ABC, MusicXML, Humdrum) the samples continue; it opens each output.")
@click.option("--num", type=click.IntRange(min=1), default=1, show_default=True,
              help="How many samples, generated together in one batch.")
@click.option("--seed", type=SEED, default=None, help="Same seed, same samples. Default: random (shown on stderr).")
@click.option("--stop", default=None, help="Text: end a sample where it writes this string, e.g. $'\\n\\n'.")
@click.option("--midi", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write each sample as a MIDI file.")
@click.option("--wav", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write each sample as audio (WAV, 44.1 kHz).")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Draw each sample as a piano roll (PNG).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help=f"Write the samples to files. {flag_help('sample --out')}.")
@click.option("--meter", default=None, help=f"{flag_help('sample --meter')}.")
@click.option("--key", default=None, help=f"{flag_help('sample --key')}.")
@click.option("--tempo", type=click.FloatRange(min=0, min_open=True), default=None,
              help=f"{flag_help('sample --tempo')}.")
@click.option("--max-note-seconds", type=click.FloatRange(min=0), default=MAX_NOTE_SECONDS, show_default=True,
              help="Music: end notes the model leaves sounding longer than this (0: keep them as sampled).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per sample (text, or files and note counts).")
@click.option("--int8", is_flag=True,
              help="Step with 8-bit recurrent weights (CPU): several times faster for models of 512 hidden units "
                   "and up; the next-token distribution moves by a KL of about 1e-5.")
@click.option("--grammar/--no-grammar", default=True, show_default=True,
              help="Music (metrical tokens): draw only tokens in the order a piece is written (bar, metre, then "
                   "positions inside the bar, each with pitch and duration), so one stray token cannot unsettle "
                   "a tune; --no-grammar draws from the model as it is, to compare.")
@device_option
def sample(checkpoint: str | None, length: int | None, min_length: int | None, seconds: float | None,
           temperature: float, top_k: int | None, top_p: float | None, prime: str | None, prime_midi: Path | None,
           num: int,
           seed: int | None, stop: str | None, midi: Path | None, wav: Path | None, plot: Path | None,
           out: Path | None, meter: str | None, key: str | None, tempo: float | None, max_note_seconds: float,
           as_json: bool, int8: bool, grammar: bool, device: str) -> None:
    """Generate, then print (text) or write files (music, waveforms): the model's domain writes them."""
    from seqgen.domains.base import Report, SampleRequest, SampleRun

    model = load_model(checkpoint, device, FALLBACK.name if prime is not None or stop is not None else None)
    request = SampleRequest(num, prime, prime_midi, {"midi": midi, "wav": wav, "plot": plot, "out": out},
                            max_note_seconds or None, as_json, {"meter": meter, "key": key, "tempo": tempo})
    model.home.check_asked(model, request)
    model.home.check_sample_request(model, request)
    chosen = seed is None
    seed = secrets.randbits(31) if chosen else seed
    start = time.perf_counter()
    prime_given = model.home.sample_prime(request)
    primer, outs = model.sample_ids(num=num, length=length, temperature=temperature, top_k=top_k, top_p=top_p,
                                    prime=prime_given, seed=seed, stop=stop, seconds=seconds,
                                    min_length=min_length, int8=int8, grammar=grammar,
                                    options={"tempo": tempo} if tempo is not None else None)
    samples = model.home.decode_samples(model.codec, prime_given, primer, outs,
                                        max_note_seconds=request.max_note_seconds,
                                        **({"tempo": tempo} if tempo is not None else {}))
    took = time.perf_counter() - start
    if chosen:
        click.echo(f"seed: {seed} (pass --seed {seed} to repeat these samples)", err=True)
    report = Report(show=click.echo, note=lambda line: click.echo(line, err=True))
    model.home.write_samples(model, request, SampleRun(seed, primer, outs, samples, took), report)
