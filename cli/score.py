"""`seqgen score`: log-probability, perplexity and bits per token of texts or pieces of music."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from seqgen.cli.options import checkpoint_option, device_option, load_model

from seqgen.choices import PRECISIONS
from seqgen.domains import flag_help
from seqgen.errors import SeqgenError


def _read_stdin() -> str:
    raw = sys.stdin.buffer.read()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise SeqgenError(f"standard input: not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start})") from None


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
@click.option("--window", type=click.FloatRange(min=0, min_open=True), default=None,
              help=f"The span each window score covers. {flag_help('score --window')}.")
@click.option("--threshold", type=float, default=None,
              help=f"Flag windows above this many bits per token. {flag_help('score --threshold')}.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Waveforms: draw each recording with its window scores under it (PNG; several files: -1, -2 ...).")
@device_option
def score(texts: tuple[str, ...], checkpoint: str | None, files: tuple[str, ...], document: bool,
          per_token: bool, as_json: bool, batch_size: int, precision: str, window: float | None,
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
    from seqgen import domains
    from seqgen.domains.base import Report, ScoreRequest

    given = next((Path(t) for t in texts if Path(t).exists()), None)  # files say their domain; words are text
    model = load_model(checkpoint, device, (domains.domain_for(given) if given else domains.FALLBACK).name)
    request = ScoreRequest(texts, files, document, per_token, as_json, batch_size, precision, window, threshold,
                           plot, _read_stdin)
    model.home.score_request(model, request, Report(show=click.echo, note=lambda line: click.echo(line, err=True)))
