"""FASTA files (plain or gzip) <-> named records of bases: header lines start with `>`, sequence lines follow."""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from seqgen.errors import SeqgenError

SUFFIXES = (".fa", ".fasta", ".fna", ".fa.gz", ".fasta.gz", ".fna.gz")
LINE = 60  # bases per written line, as NCBI writes them


@dataclass(frozen=True)
class Record:
    """One FASTA record: its name (the header's first word), its description line and its bases (ASCII bytes)."""

    name: str
    header: str
    bases: bytes


def read_fasta(path: Path) -> list[Record]:
    """Every record of a FASTA file (gzip read by its magic bytes); a file with sequence before any header
    is one unnamed record; one with no bases at all is an error."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            gz = f.read(2) == b"\x1f\x8b"
        raw = gzip.decompress(path.read_bytes()) if gz else path.read_bytes()
    except OSError as e:
        raise SeqgenError(f"{path}: cannot read ({e.strerror or e})") from None
    records: list[Record] = []
    header, parts = None, []
    for line in raw.splitlines():
        if line.startswith(b">"):
            if header is not None or parts:
                records.append(_record(path, header, parts, len(records)))
            header, parts = line[1:].decode("utf-8", errors="replace").strip(), []
        elif not line.startswith(b";"):  # old FASTA comment lines
            parts.append(line.strip())
    if header is not None or parts:
        records.append(_record(path, header, parts, len(records)))
    records = [r for r in records if r.bases]
    if not records:
        raise SeqgenError(f"{path}: no sequence in this FASTA file")
    return records


def _record(path: Path, header: str | None, parts: list[bytes], index: int) -> Record:
    name = (header or "").split(maxsplit=1)[0] if header else f"{path.name}#{index + 1}"
    return Record(name, header or name, b"".join(parts))


def format_fasta(records: Sequence[tuple[str, str]]) -> str:
    """(header, bases) pairs as FASTA text, LINE bases per line."""
    out = []
    for header, bases in records:
        out.append(f">{header}\n")
        out += [bases[i : i + LINE] + "\n" for i in range(0, len(bases), LINE)]
    return "".join(out)
