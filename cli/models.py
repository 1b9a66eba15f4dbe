"""`seqgen models`: the trained models seqgen ships, usable by name with -c (and `seqgen train --from`)."""

from __future__ import annotations

import json

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per model.")
def models(as_json: bool) -> None:
    """List the models that come with seqgen: name, domain, size, validation loss and what each is.

    \b
    Use one by name wherever a checkpoint goes:
      seqgen sample -c folk --midi tune.mid --wav tune.wav
      seqgen info -c folk
    Each model's card (data, licence, the command that trained it, measured numbers) is MODEL_CARD.md in the
    folder shown by --json; every file is checked against the checksums shipped beside it when loaded.
    """
    from seqgen import catalog

    found = [catalog.describe(name) for name in catalog.names()]
    if as_json:
        for d in found:
            click.echo(json.dumps(d, ensure_ascii=False))
        return
    if not found:
        click.echo("this installation of seqgen ships no trained models")
        return
    for d in found:
        loss = f"{d['best_val_loss']:.4f} nats/token" if d["best_val_loss"] is not None else "-"
        click.echo(f"{d['name']:<10} {d['domain']:<9} {d['model']:<10} {d['megabytes']:5.1f} MB  val {loss}  "
                   f"{d['title']}")
