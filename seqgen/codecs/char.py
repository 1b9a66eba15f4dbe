"""Character-level codec: one token per Unicode character seen in the training text."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from seqgen.codecs.base import Codec, register

UNK, BOS, EOS = "<unk>", "<bos>", "<eos>"
ENCODE_CHUNK = 1 << 22  # characters encoded per numpy call
LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")  # where str.splitlines cuts


@register
class CharCodec(Codec):
    """Maps characters to ids: `<unk>` is id 0; with `boundaries`, `<bos>`/`<eos>` are ids 1 and 2.

    Without boundaries a text is scored as the start of a new line (its context is a newline, which
    `fit` always puts in the vocabulary), which is how a text appears inside a continuous training corpus.

    Characters take ids in the order given: `fit` sorts them, and `with_chars` appends a fine-tune's new ones
    after them, so that the ids a trained model knows never move.
    """

    kind = "char"
    domain = "text"

    def __init__(self, chars: Iterable[str], boundaries: bool = False):
        self.boundaries = boundaries
        specials = [UNK, BOS, EOS] if boundaries else [UNK]
        self.unk_id = 0
        self.bos_id = 1 if boundaries else None
        self.eos_id = 2 if boundaries else None
        self.chars = list(dict.fromkeys(chars))  # in order, each once
        for c in self.chars:
            if len(c) != 1:
                raise ValueError(f"CharCodec vocabulary entries must be single characters, got {c!r}")
        self.itos: list[str] = specials + self.chars
        self.stoi: dict[str, int] = {c: i + len(specials) for i, c in enumerate(self.chars)}
        self._first_char_id = len(specials)
        # code point -> id for every point up to the largest in the vocabulary, plus a final <unk> slot
        points = [ord(c) for c in self.chars]
        self._table = np.full(max(points, default=-1) + 2, self.unk_id, dtype=np.int32)
        self._table[points] = np.arange(len(points)) + self._first_char_id

    @classmethod
    def fit(cls, texts: Iterable[str], boundaries: bool = False) -> CharCodec:
        """Build the vocabulary from training texts."""
        seen: set[str] = set()
        for t in texts:
            seen.update(t)
        if boundaries:
            seen -= LINE_BREAKS  # lines become <bos> ... <eos>
        else:
            seen.add("\n")  # the start context of every sequence (see encode_corpus)
        return cls(sorted(seen), boundaries=boundaries)

    def with_chars(self, texts: Iterable[str]) -> CharCodec:
        """This codec grown by the characters of `texts` it lacks, appended after its own in sorted order
        (existing ids are unchanged; line breaks stay out of a boundaries codec); itself when none is new."""
        added = [c for c in self.fit(texts, boundaries=self.boundaries).chars if c not in self.stoi]
        return CharCodec([*self.chars, *added], boundaries=self.boundaries) if added else self

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        return self.encode_array(text).tolist()

    def encode_array(self, text: str, dtype: np.dtype | type = np.int64, out: np.ndarray | None = None) -> np.ndarray:
        """Vectorised encoding straight to a numpy array, a few million characters at a time (large corpora
        never become Python lists, nor 4-byte code-point copies of the whole text); fills `out` if given."""
        out = np.empty(len(text), dtype=dtype) if out is None else out
        table = self._table
        for start in range(0, len(text), ENCODE_CHUNK):
            piece = text[start : start + ENCODE_CHUNK]
            points = np.frombuffer(piece.encode("utf-32-le", errors="surrogatepass"), dtype=np.uint32)
            out[start : start + len(piece)] = table[np.minimum(points, len(table) - 1)]  # last slot: <unk>
        return out

    def unknown_chars(self, text: str) -> list[str]:
        """Characters of `text` outside the vocabulary, in order of first appearance."""
        out: list[str] = []
        for c in text:
            if c not in self.stoi and c not in out:
                out.append(c)
        return out

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.itos[i] for i in ids if i >= self._first_char_id)

    def token_name(self, token_id: int) -> str:
        return self.itos[token_id]

    def encode_corpus(self, documents: Sequence[str]) -> np.ndarray:
        """Without boundaries every document follows a newline (the first one too): each starts a line, as
        a scored text or a primer does, and the first token of any text has a context to be predicted from."""
        if self.boundaries:
            return super().encode_corpus(documents)
        out = np.empty(sum(len(d) + 1 for d in documents), dtype=self.token_dtype)
        newline, pos = self.stoi["\n"], 0
        for d in documents:
            out[pos] = newline
            self.encode_array(d, out=out[pos + 1 : pos + 1 + len(d)])
            pos += len(d) + 1
        return out

    def encode_document(self, text: str) -> list[int]:
        """Training form of a document: with boundaries every non-empty line is `<bos> line <eos>`."""
        if not self.boundaries:
            return self.encode(text)
        ids: list[int] = []
        for line in text.splitlines():
            if line.strip():
                ids += [self.bos_id, *self.encode(line), self.eos_id]
        return ids

    @property
    def special_ids(self) -> list[int]:
        return [self.unk_id] + ([self.bos_id] if self.boundaries else [])

    @property
    def start_ids(self) -> list[int]:
        if self.boundaries:
            return [self.bos_id]
        return [self.stoi["\n"]] if "\n" in self.stoi else []

    @property
    def end_ids(self) -> list[int]:
        return [self.eos_id] if self.boundaries else []

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "chars": "".join(self.chars), "boundaries": self.boundaries}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CharCodec:
        return cls(d["chars"], boundaries=bool(d.get("boundaries", False)))

    def describe(self) -> str:
        extra = ", sentence boundaries" if self.boundaries else ""
        return f"characters ({len(self.chars)} distinct + {len(self.itos) - len(self.chars)} special{extra})"
