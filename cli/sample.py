"""`seqgen sample`: generate new sequences from a checkpoint."""

from __future__ import annotations

import json
import secrets

import click

import seqgen
from cli.options import SEED, checkpoint_option, device_option


@click.command()
@checkpoint_option
@click.option("-n", "--length", type=click.IntRange(min=0), default=500, show_default=True,
              help="New tokens per sample (characters for text models).")
@click.option("-T", "--temperature", type=click.FloatRange(min=0), default=0.8, show_default=True,
              help="Sharpness: below 1 is safer, above 1 wilder, 0 always takes the most likely token.")
@click.option("--top-k", type=click.IntRange(min=0), default=None,
              help="Draw only from the K most likely tokens (0: no limit).")
@click.option("--top-p", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="Draw only from the smallest set of tokens whose probability reaches P (nucleus).")
@click.option("--prime", default=None, help="Text the samples continue (it is printed as their start).")
@click.option("--num", type=click.IntRange(min=1), default=1, show_default=True,
              help="How many samples, generated together in one batch.")
@click.option("--seed", type=SEED, default=None, help="Same seed, same samples. Default: random (shown on stderr).")
@click.option("--stop", default=None, help="End a sample where it writes this string, e.g. $'\\n\\n'.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per sample: index, seed, text.")
@device_option
def sample(checkpoint: str | None, length: int, temperature: float, top_k: int | None, top_p: float | None,
           prime: str | None, num: int, seed: int | None, stop: str | None, as_json: bool, device: str) -> None:
    """Generate --num samples from a checkpoint and print them, one after another.

    \b
    Examples:
      seqgen sample --num 3 --seed 7
      seqgen sample -c checkpoints/tinyshakespeare-gru --prime "ROMEO:" --length 300 -T 0.6
      seqgen sample --top-p 0.9 --stop $'\\n\\n'
    """
    model = seqgen.load(checkpoint, device=device)
    chosen = seed is None
    seed = secrets.randbits(31) if chosen else seed
    texts = model.sample(num=num, length=length, temperature=temperature, top_k=top_k, top_p=top_p,
                         prime=prime, seed=seed, stop=stop)
    if chosen:
        click.echo(f"seed: {seed} (pass --seed {seed} to repeat these samples)", err=True)
    for i, text in enumerate(texts, 1):
        if as_json:
            click.echo(json.dumps({"index": i, "seed": seed, "text": text}, ensure_ascii=False))
        elif num == 1:
            click.echo(text)
        else:
            click.echo(f"==> sample {i}/{num} <==")
            click.echo(text if text.endswith("\n") else text + "\n")
