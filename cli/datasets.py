"""`seqgen datasets`: the built-in corpora usable as DATA by name."""

from __future__ import annotations

import json

import click

from seqgen.corpora import CORPORA


@click.group()
def datasets() -> None:
    """Built-in corpora: `seqgen train NAME` trains on one of them."""


@datasets.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per corpus.")
def list_corpora(as_json: bool) -> None:
    """Name, domain, size and licence of every built-in corpus (counted from the files, nothing parsed)."""
    for c in CORPORA.values():
        files = c.files()
        count = c.count()
        if as_json:
            click.echo(json.dumps({"name": c.name, "domain": c.domain, "pieces": count, "unit": c.unit,
                                   "files": len(files), "description": c.description, "licence": c.licence,
                                   "train_defaults": dict(c.train_defaults)}))
            continue
        click.echo(f"{c.name:<9} {c.domain:<6} {count:>6,} {c.unit} in {len(files):,} files")
        click.echo(f"          {c.description}")
        click.echo(f"          licence: {c.licence}")
        if c.train_defaults:
            given = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in c.train_defaults)
            click.echo(f"          trains with {given} unless told otherwise (it is small and overfits)")
