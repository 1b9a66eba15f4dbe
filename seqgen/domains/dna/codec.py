"""Nucleotide codec: one token per base of a DNA sequence, IUPAC ambiguity codes included.

Token layout:

    0          <start>    opens a record (a context only: never sampled)
    1          <end>      closes a record
    2 .. 16    A C G T N R Y S W K M B D H V

Letters are case-folded (lower case marks soft-masked repeats in many assemblies, which is not sequence).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from seqgen.codecs.base import FramedCodec, register

BASES = "ACGTNRYSWKMBDHV"  # the four bases, N, then the IUPAC two- and three-base ambiguity codes
START, END, FIRST_BASE = FramedCodec.START, FramedCodec.END, 2


@register
class NucleotideCodec(FramedCodec):
    """DNA bases <-> tokens; a record's training form is `<start>` + its bases + `<end>`."""

    kind = "nucleotide"
    domain = "dna"

    def __init__(self) -> None:
        table = np.full(256, -1, dtype=np.int16)
        for i, base in enumerate(BASES):
            table[ord(base)] = table[ord(base.lower())] = FIRST_BASE + i
        self._table = table

    @property
    def vocab_size(self) -> int:
        return FIRST_BASE + len(BASES)

    def encode_array(self, bases: str | bytes) -> np.ndarray:
        """Vectorised encoding of a sequence (str or ASCII bytes) to int64 ids; a non-IUPAC letter is a ValueError
        naming it and its position."""
        raw = bases.encode("latin-1", errors="replace") if isinstance(bases, str) else bases
        ids = self._table[np.frombuffer(raw, dtype=np.uint8)]
        bad = np.flatnonzero(ids < 0)
        if len(bad):
            char = chr(raw[bad[0]])
            raise ValueError(f"{char!r} at base {bad[0] + 1} is not a nucleotide or IUPAC code ({BASES})")
        return ids.astype(np.int64)

    def encode(self, bases: str) -> list[int]:
        return self.encode_array(bases).tolist()

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(BASES[i - FIRST_BASE] for i in ids if i >= FIRST_BASE)

    def token_name(self, token_id: int) -> str:
        return "<start>" if token_id == START else "<end>" if token_id == END else BASES[token_id - FIRST_BASE]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NucleotideCodec:
        return cls()

    def describe(self) -> str:
        return f"nucleotide ({self.vocab_size} tokens: A C G T, N and the IUPAC ambiguity codes)"
