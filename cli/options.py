"""Options shared by several commands."""

from __future__ import annotations

import click

SEED = click.IntRange(0, 2**63 - 1)

checkpoint_option = click.option(
    "-c", "--checkpoint", "checkpoint", type=click.Path(path_type=str), default=None,
    help="Checkpoint folder. Default: the newest under ./checkpoints/.")
device_option = click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
    help="Where to run: auto picks CUDA when available.")
