"""`seqgen datasets`: the built-in corpora usable as DATA by name, and download recipes for public datasets."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from tqdm import tqdm

if TYPE_CHECKING:
    from seqgen.progress import Progress

DEFAULT_DEST = Path("data")  # `datasets fetch NAME` writes to ./data/NAME unless --to is given


@click.group()
def datasets() -> None:
    """Built-in corpora (`seqgen train NAME` trains on one) and public datasets to download (`fetch NAME`)."""


@datasets.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per corpus, then one per download recipe "
                                                      '(those carry "download": true).')
def list_corpora(as_json: bool) -> None:
    """Name, domain, size and licence of every built-in corpus (counted from the files, nothing parsed), then of
    every dataset `seqgen datasets fetch` can download."""
    from seqgen.domains import CORPORA

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
    _list_recipes(as_json)


def _list_recipes(as_json: bool) -> None:
    """The download recipes, after the built-in corpora: a section of their own, or JSON rows marked "download"."""
    from seqgen.download import RECIPES

    if not as_json:
        click.echo(f"\nto download (seqgen datasets fetch NAME, into ./{DEFAULT_DEST}/NAME; checksums verified):")
    for r in RECIPES.values():
        if as_json:
            click.echo(json.dumps({"name": r.name, "domain": r.domain, "download": True, "size": r.size,
                                   "files": len(r.files), "records": r.records, "description": r.description,
                                   "licence": r.licence, "homepage": r.homepage, "url": r.base_url,
                                   "checksums": r.manifest or "pinned"}))
            continue
        click.echo(f"{r.name:<15} {r.domain:<8} {r.size}, {len(r.files)} file{'s' * (len(r.files) != 1)}" +
                   (f" of {len(r.records)} records" if r.records else ""))
        click.echo(f"          {r.description}")
        click.echo(f"          licence: {r.licence}; {r.homepage}")


class DownloadBar:
    """Callable passed as `progress=` to seqgen.download.fetch: one bytes bar, restarted for each file."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.bar: tqdm | None = None
        self.name = ""

    def __call__(self, p: Progress) -> None:
        if p.kind == "note":
            tqdm.write(p.message, file=sys.stderr)
            return
        if self.bar is None:
            self.bar = tqdm(total=p.total or None, desc=p.message, disable=not self.enabled, dynamic_ncols=True,
                            unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr)
        elif p.message != self.name:
            self.bar.set_description(p.message, refresh=False)
            self.bar.reset(total=p.total or None)
        self.name = p.message
        self.bar.update(p.step - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@datasets.command("fetch")
@click.argument("name")
@click.option("--to", "dest", type=click.Path(file_okay=False), help=f"Folder for the files. Default: "
                                                                     f"./{DEFAULT_DEST}/NAME.")
@click.option("--records", help="Only these records of a PhysioNet database, comma-separated (e.g. 100,101).")
@click.option("--base-url", help="Download from this URL (a mirror; file:// works too) instead of the recipe's.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def fetch_recipe(name: str, dest: str | None, records: str | None, base_url: str | None, quiet: bool) -> None:
    """Download the public dataset NAME (see `seqgen datasets list`), every file checked against its SHA-256.

    \b
    Files already there with the right checksum are kept, so running it again resumes. A file that fails its
    checksum, or a download that breaks off, leaves nothing behind. Examples:
      seqgen datasets fetch mitdb --records 100,101,103
      seqgen datasets fetch tinyshakespeare --to corpora/shakespeare
    """
    from seqgen.download import fetch, get_recipe, train_command

    recipe = get_recipe(name)
    chosen = [r.strip() for r in records.split(",") if r.strip()] if records is not None else None
    bar = DownloadBar(enabled=not quiet)
    try:
        result = fetch(recipe, Path(dest) if dest else DEFAULT_DEST / recipe.name, base_url=base_url, progress=bar,
                       records=chosen)
    finally:
        bar.close()
    click.echo(f"{len(result.files)} files in {result.folder} ({len(result.fetched)} downloaded, "
               f"{len(result.present)} already there); train on them with: {train_command(recipe, result)}")
