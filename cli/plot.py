"""`seqgen plot`: draw a checkpoint's training curve from its metrics.jsonl."""

from __future__ import annotations

import click


@click.command()
@click.argument("checkpoint", required=False, type=click.Path(path_type=str))
@click.option("-o", "--out", type=click.Path(path_type=str), help="PNG to write.  [default: CHECKPOINT/curve.png]")
def plot(checkpoint: str | None, out: str | None) -> None:
    """Draw the training and validation losses of CHECKPOINT (default: the newest under ./checkpoints/) against
    seconds of training and steps, as a PNG; training writes the same picture to curve.png when it ends."""
    from seqgen.api import plot_curve

    click.echo(f"wrote {plot_curve(checkpoint, out)}")
