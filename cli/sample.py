"""`seqgen sample`: generate new sequences from a checkpoint: text to stdout, music to MIDI, WAV and PNG."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import click
import pretty_midi

import seqgen
from cli.options import SEED, checkpoint_option, device_option
from seqgen.checkpoint import write_file
from seqgen.errors import SeqgenError
from seqgen.music import abc_to_midi
from seqgen.render import plot_piano_roll, plot_signal, render_wav
from seqgen.signals import check_signal_path, write_recording
from seqgen.trained import MAX_NOTE_SECONDS

HELP = """Generate --num samples from a checkpoint (default: the newest under ./checkpoints/).

\b
A text model prints its samples. A music model writes them: --midi OUT.mid (with --num N: OUT-1.mid ...
OUT-N.mid), --wav OUT.wav (audio through FluidSynth with a General MIDI soundfont when one is installed,
else simple sine synthesis) and --plot OUT.png (a piano roll). A text model trained on ABC notation (the
folk-abc corpus) can write --midi/--wav/--plot too, for each sample that parses as an ABC tune.
\b
Examples:
  seqgen sample --midi tune.mid --wav tune.wav
  seqgen sample -c checkpoints/chorales-gru --midi out.mid --num 3 --seconds 60 -T 0.9
  seqgen sample --prime-midi opening.mid --midi continued.mid --plot continued.png
  seqgen sample -c checkpoints/tinyshakespeare-gru --prime "ROMEO:" --length 300 -T 0.6
  seqgen sample -c checkpoints/folk-abc-gru --prime "X:1" --stop $'\\n\\n' --midi tune.mid
"""


def numbered(path: Path, i: int, num: int) -> Path:
    """OUT.mid for a single sample; OUT-1.mid ... OUT-N.mid for several."""
    return path if num == 1 else path.with_name(f"{path.stem}-{i}{path.suffix}")


def describe(pm: pretty_midi.PrettyMIDI) -> str:
    notes = [n for inst in pm.instruments for n in inst.notes]
    if not notes:
        return "no notes"
    low, high = min(n.pitch for n in notes), max(n.pitch for n in notes)
    return (f"{len(notes)} notes, {pm.get_end_time():.1f} s, pitches {low}-{high} "
            f"({pretty_midi.note_number_to_name(low)}-{pretty_midi.note_number_to_name(high)})")


@click.command(help=HELP)
@checkpoint_option
@click.option("-n", "--length", type=click.IntRange(min=0), default=None,
              help="New tokens per sample: characters for text, note events for music.  [default: 500 / 2000]")
@click.option("--min-length", type=click.IntRange(min=0), default=None,
              help="No sample ends (at --stop or the model's end of piece) before this many new tokens.  "
                   "[default: 0 / 300 events]")
@click.option("--seconds", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Music: stop each sample once it would pass this many seconds (the primer not counted).")
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
              help="Waveform: write each sample as .csv (time, value), .npy, or audio (.wav .flac .ogg).")
@click.option("--max-note-seconds", type=click.FloatRange(min=0), default=MAX_NOTE_SECONDS, show_default=True,
              help="Music: end notes the model leaves sounding longer than this (0: keep them as sampled).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per sample (text, or files and note counts).")
@click.option("--int8", is_flag=True,
              help="Step with 8-bit recurrent weights (CPU): several times faster for models of 512 hidden units "
                   "and up; the next-token distribution moves by a KL of about 1e-5.")
@device_option
def sample(checkpoint: str | None, length: int | None, min_length: int | None, seconds: float | None,
           temperature: float, top_k: int | None, top_p: float | None, prime: str | None, prime_midi: Path | None,
           num: int,
           seed: int | None, stop: str | None, midi: Path | None, wav: Path | None, plot: Path | None,
           out: Path | None, max_note_seconds: float, as_json: bool, int8: bool, device: str) -> None:
    """Generate, then print (text) or write files (music, waveforms)."""
    model = seqgen.load(checkpoint, device=device)
    if model.domain == "waveform":
        _sample_waveform(model, num, length, seconds, temperature, top_k, top_p, prime, seed, wav, out, plot,
                         midi, as_json, int8)
        return
    if out is not None:
        raise SeqgenError("--out writes waveform samples; this model is not a waveform model")
    wants_files = midi or wav or plot
    if model.domain == "music":
        if prime is not None:
            raise SeqgenError("--prime is text; a music model continues a piece given with --prime-midi FILE")
        if not wants_files:
            raise SeqgenError(f"{model.path} is a music model: give --midi OUT.mid, --wav OUT.wav and/or "
                              "--plot OUT.png to receive its samples")
    elif prime_midi is not None:
        raise SeqgenError("--prime-midi is for music models; a text model continues --prime TEXT")
    chosen = seed is None
    seed = secrets.randbits(31) if chosen else seed
    primer, outs = model.sample_ids(num=num, length=length, temperature=temperature, top_k=top_k, top_p=top_p,
                                    prime=prime_midi if model.domain == "music" else prime, seed=seed,
                                    stop=stop, seconds=seconds, min_length=min_length, int8=int8)
    if chosen:
        click.echo(f"seed: {seed} (pass --seed {seed} to repeat these samples)", err=True)
    if model.domain == "music":
        primer_s = model.codec.seconds(primer) if prime_midi is not None else None
        pieces = [model.codec.decode(primer + ids, max_note_seconds or None) for ids in outs]
        records = [{"index": i, "seed": seed, "events": len(ids)} for i, ids in enumerate(outs, 1)]
    else:
        texts = [(prime or "") + model.codec.decode(ids) for ids in outs]
        records = [{"index": i, "seed": seed, "text": t} for i, t in enumerate(texts, 1)]
        if not as_json:
            for i, text in enumerate(texts, 1):
                if num > 1:
                    click.echo(f"==> sample {i}/{num} <==")
                click.echo(text if num == 1 or text.endswith("\n") else text + "\n")
        pieces, primer_s = _abc_pieces(texts) if wants_files else [], None
    written = _write(pieces, num, midi, wav, plot, primer_s, records)
    for r in records:
        if as_json:
            click.echo(json.dumps(r, ensure_ascii=False))
        elif model.domain == "music" and "files" in r:
            click.echo(f"sample {r['index']}: {r['events']} events, {r['notes']} -> {', '.join(r['files'])}")
        elif "files" in r:
            click.echo(f"sample {r['index']}: {r['notes']} -> {', '.join(r['files'])}", err=True)
    if wants_files and not written:
        raise SeqgenError("no sample could be written as music")


def _abc_pieces(texts: list[str]) -> list[pretty_midi.PrettyMIDI | None]:
    """Each text sample as music when it parses as an ABC tune; None (and a note on stderr) when not."""
    out: list[pretty_midi.PrettyMIDI | None] = []
    for i, text in enumerate(texts, 1):
        try:
            out.append(abc_to_midi(text, f"sample {i}"))
        except SeqgenError as e:
            click.echo(f"seqgen: {e}; no music written for it", err=True)
            out.append(None)
    return out


def _write(pieces: list[pretty_midi.PrettyMIDI | None], num: int, midi: Path | None, wav: Path | None,
           plot: Path | None, primer_s: float | None, records: list[dict]) -> int:
    """Write each piece to the asked files; record what went where. Returns how many pieces were written."""
    synth_said = False
    written = 0
    for i, (pm, record) in enumerate(zip(pieces, records, strict=False), 1):
        if pm is None:
            continue
        if not any(inst.notes for inst in pm.instruments):
            click.echo(f"seqgen: sample {i} has no notes (it ended at once); no files written for it", err=True)
            continue
        files = []
        if midi:
            path = numbered(midi, i, num)
            write_file(path, pm.write)
            files.append(str(path))
        if wav:
            path = numbered(wav, i, num)
            synth = render_wav(pm, path)
            files.append(str(path))
            if not synth_said:
                click.echo(f"audio: {synth}", err=True)
                synth_said = True
        if plot:
            path = numbered(plot, i, num)
            plot_piano_roll(pm, path, title=f"sample {i}", primer_seconds=primer_s)
            files.append(str(path))
        record.update(notes=describe(pm), files=files)
        written += 1
    return written


def _sample_waveform(model: seqgen.Model, num: int, length: int | None, seconds: float | None, temperature: float,
                     top_k: int | None, top_p: float | None, prime: str | None, seed: int | None, wav: Path | None,
                     out: Path | None, plot: Path | None, midi: Path | None, as_json: bool, int8: bool) -> None:
    """Generate signals and write them with --wav, --out and/or --plot."""
    if midi:
        raise SeqgenError("--midi is for music models; a waveform model writes --wav, --out or --plot")
    if wav is None and out is None and plot is None:
        raise SeqgenError(f"{model.path} is a waveform model: give --wav OUT.wav, --out OUT.csv|.npy "
                          "and/or --plot OUT.png")
    for path in (wav, out):
        if path is not None:
            check_signal_path(path)
    chosen = seed is None
    seed = secrets.randbits(31) if chosen else seed
    start = time.perf_counter()
    primer, outs = model.sample_ids(num=num, length=length, temperature=temperature, top_k=top_k, top_p=top_p,
                                    prime=prime, seed=seed, seconds=seconds, int8=int8)
    signals = [model.codec.decode(primer + ids) for ids in outs]
    took = time.perf_counter() - start
    if chosen:
        click.echo(f"seed: {seed} (pass --seed {seed} to repeat these samples)", err=True)
    rate = model.codec.sample_rate
    primer_s = (len(primer) - len(model.codec.start_ids)) / rate if prime else None
    for i, x in enumerate(signals, 1):
        files = [numbered(p, i, num) for p in (wav, out) if p is not None]
        for path in files:
            write_recording(path, x, rate)
        if plot is not None:
            files.append(numbered(plot, i, num))
            plot_signal(x, rate, files[-1], title=f"sample {i}", primer_seconds=primer_s)
        record = {"index": i, "seed": seed, "samples": len(x), "seconds": round(len(x) / rate, 3),
                  "files": [str(p) for p in files]}
        click.echo(json.dumps(record) if as_json else
                   f"sample {i}: {len(x):,} samples, {len(x) / rate:.2f} s at {rate} Hz -> "
                   f"{', '.join(record['files'])}")
    generated = sum(len(x) for x in signals) / rate
    click.echo(f"generated {generated:.2f} s of signal in {took:.2f} s ({generated / took:.2f} s per second)",
               err=True)
