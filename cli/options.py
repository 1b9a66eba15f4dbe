"""Options shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from seqgen.config import Option, help_text

SEED = click.IntRange(0, 2**63 - 1)

checkpoint_option = click.option(
    "-c", "--checkpoint", "checkpoint", type=click.Path(path_type=str), default=None,
    help="Checkpoint folder, or a shipped model's name (`seqgen models` lists them). Default: the newest under "
         "./checkpoints/, else the shipped model that fits.")
device_option = click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
    help="Where to run: auto picks CUDA when available.")


def load_model(checkpoint: str | None, device: str, domain: str | None = None) -> Any:
    """-c's model; without -c the newest under ./checkpoints/, and where there is none, the shipped model of
    `domain` (None: the default one), said on stderr, so a first `seqgen sample` works before any training."""
    import seqgen
    from seqgen import catalog
    from seqgen.checkpoint import newest
    from seqgen.errors import SeqgenError

    if checkpoint is None:
        try:
            checkpoint = str(newest())
        except SeqgenError as none:
            name = catalog.fallback(domain)
            if name is None:
                raise none from None
            click.echo(f"seqgen: no checkpoint under ./checkpoints/; using the shipped model {name!r} "
                       "(-c chooses; `seqgen models` lists them)", err=True)
            checkpoint = name
    return seqgen.load(checkpoint, device=device)


def setting_option(option: Option) -> Callable[[Any], Any]:
    """The click option of a declared setting (seqgen.config): its flags, range and help come from the
    declaration, and it defaults to None, so the library can tell a value given from one to resolve."""
    decls = [*(f for f in option.flags if f != option.flag), option.flag, option.name]
    extra: dict[str, Any] = {}
    if option.kind is bool:
        if option.negatable:
            decls[-2] = f"{option.flag}/--no-{option.flag[2:]}"
        else:
            extra["is_flag"] = True
    elif option.choices:
        extra["type"] = click.Choice(option.choices)
    elif option.kind in (int, float):
        kind = click.IntRange if option.kind is int else click.FloatRange
        extra["type"] = kind(option.low, option.high, min_open=option.low_open, max_open=option.high_open)
    return click.option(*decls, default=None, metavar=option.metavar, help=help_text(option), **extra)
