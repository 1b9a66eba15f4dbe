"""`seqgen score`: log-probability, perplexity and bits per token of texts or pieces of music."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

import seqgen
from cli.options import checkpoint_option, device_option
from seqgen.data import read_text
from seqgen.errors import SeqgenError
from seqgen.precision import PRECISIONS, decide
from seqgen.render import plot_signal


def _read_stdin() -> str:
    raw = sys.stdin.buffer.read()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise SeqgenError(f"standard input: not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start})") from None


def _inputs(texts: tuple[str, ...], files: tuple[str, ...], document: bool) -> list[str]:
    out = list(texts)
    for f in files:
        body = _read_stdin() if f == "-" else read_text(Path(f))
        out.extend([body] if document else [ln for ln in body.splitlines() if ln.strip()])
    if not out:
        raise SeqgenError("nothing to score: give TEXT arguments, --file F, or --file - for standard input")
    return out


@click.command()
@click.argument("texts", nargs=-1)
@checkpoint_option
@click.option("-f", "--file", "files", multiple=True, type=str,
              help="Score every non-empty line of this file ('-' reads standard input). Repeatable.")
@click.option("--document", is_flag=True, help="Score each --file as one whole text instead of line by line.")
@click.option("--per-token", is_flag=True, help="Also give each token's log-probability.")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object per input: text, tokens, logprob, log10prob, perplexity, bits_per_token.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True,
              help="Sequences scored together.")
@click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True,
              help="Text and music: what the recurrent layers run in. auto takes bf16 where the CPU (AVX512-BF16, "
                   "AMX) or GPU computes it natively, about twice as fast, log-probs within about 1 %; fp32 "
                   "elsewhere. fp16: CUDA only. Waveforms always score in fp32.")
@click.option("--window", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="Waveforms: seconds per scored window.")
@click.option("--threshold", type=float, default=None,
              help="Waveforms: bits per sample above which a window is an anomaly.  [default: calibrated on "
                   "validation data at training time for this --window]")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Waveforms: draw each recording with its window scores under it (PNG; several files: -1, -2 ...).")
@device_option
def score(texts: tuple[str, ...], checkpoint: str | None, files: tuple[str, ...], document: bool,
          per_token: bool, as_json: bool, batch_size: int, precision: str, window: float,
          threshold: float | None, plot: Path | None, device: str) -> None:
    """Score TEXTS (text models) or music FILES (music models): log P(x) = sum of log P(token | before it).

    \b
    logprob is in nats (natural log), log10prob in decimal digits; perplexity and bits per token are
    per scored token. Without --sentences at training time a text is scored as the start of a line.
    A music model scores each piece in the files or folders given (MIDI, ABC, MusicXML, Humdrum) as a
    whole, from its start to its end, and gives the negative log-likelihood per event and per second.
    \b
    Examples:
      seqgen score "The apple and pear salad" "The apple and pair salad"
      seqgen score --file sentences.txt --json
      cat notes.txt | seqgen score --file - --document --per-token
      seqgen score -c checkpoints/chorales-gru piece.mid other.mid --json
    """
    model = seqgen.load(checkpoint, device=device)
    if model.domain == "waveform":
        if files or document or not texts:
            raise SeqgenError("a waveform model scores recordings given as arguments: seqgen score -c CKPT rec.csv")
        if precision not in ("auto", "fp32"):
            raise SeqgenError(f"--precision {precision} is for text and music; waveform thresholds are calibrated "
                              "in fp32")
        _score_waveform(model, texts, window, threshold, as_json, plot)
        return
    decision = decide(precision, model.device)
    if decision.warning:
        click.echo(f"seqgen: warning: {decision.warning}", err=True)
    precision = decision.chosen
    if model.domain == "music":
        if files or document:
            raise SeqgenError("a music model scores music files given as arguments; --file/--document are for text")
        _score_music(model, texts, per_token, as_json, batch_size, precision)
        return
    results = model.score(_inputs(texts, files, document), batch_size=batch_size, precision=precision)
    for r in results:
        if as_json:
            click.echo(json.dumps(r.to_dict(per_token=per_token), ensure_ascii=False))
            continue
        s = r.result
        shown = r.text if len(r.text) <= 60 else r.text[:57] + "..."
        click.echo(f"logprob {s.logprob:10.3f}  log10 {s.log10prob:9.3f}  ppl {s.perplexity:8.3f}  "
                   f"bits/token {s.bits_per_token:6.3f}  tokens {s.tokens:5d}  {shown!r}")
        if per_token:
            for tok, lp in zip(r.token_texts, s.token_logprobs, strict=True):
                click.echo(f"    {tok!r:>8} {lp:9.4f}")
        if r.unknown_chars:
            click.echo(f"    note: unseen character(s) {', '.join(map(repr, r.unknown_chars))} scored as <unk>",
                       err=True)


def _score_music(model: seqgen.Model, paths: tuple[str, ...], per_token: bool, as_json: bool, batch_size: int,
                 precision: str) -> None:
    if not paths:
        raise SeqgenError("nothing to score: give music files or folders (.mid, .abc, .musicxml, ...)")
    results, skipped = model.score_music(paths, batch_size=batch_size, precision=precision)
    for s in skipped:
        click.echo(f"seqgen: skipped {s}", err=True)
    for r in results:
        if as_json:
            click.echo(json.dumps(r.to_dict(per_token=per_token), ensure_ascii=False))
            continue
        s = r.result
        click.echo(f"logprob {s.logprob:11.2f}  nll/event {s.nll_per_token:6.3f}  nll/s {r.nll_per_second:8.2f}  "
                   f"events {s.tokens:6d}  seconds {r.seconds:7.1f}  {r.name}")
        if per_token:
            for tok, lp in zip(r.token_names, s.token_logprobs, strict=True):
                click.echo(f"    {tok:>18} {lp:9.4f}")


def _score_waveform(model: seqgen.Model, paths: tuple[str, ...], window: float, threshold: float | None,
                    as_json: bool, plot: Path | None) -> None:
    for i, path in enumerate(paths, 1):
        samples = model.read_signal(path)
        windows = model.score_signal(samples, window, threshold)
        if plot is not None:
            limit = threshold if threshold is not None else model.anomaly_threshold(window)
            target = plot if len(paths) == 1 else plot.with_name(f"{plot.stem}-{i}{plot.suffix}")
            plot_signal(samples, model.codec.sample_rate, target, title=path, threshold=limit,
                        windows=[(w.start, w.end, w.bits_per_sample, w.anomaly) for w in windows])
        for w in windows:
            if as_json:
                click.echo(json.dumps({"file": path, **w.to_dict()}))
            else:
                flag = "  ANOMALY" if w.anomaly else ""
                click.echo(f"{path}  {w.start:9.2f}-{w.end:9.2f} s  bits/sample {w.bits_per_sample:6.3f}  "
                           f"excess {w.excess_bits:+6.3f}{flag}")
        if not as_json:
            flagged = sum(bool(w.anomaly) for w in windows)
            limit = windows[0].anomaly is not None if windows else False
            click.echo(f"{path}: {flagged} of {len(windows)} window(s) above the threshold" if limit else
                       f"{path}: no threshold (give --threshold BITS)", err=True)
