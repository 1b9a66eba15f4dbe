"""The codec interface: raw domain data <-> integer token ids, serialisable into a checkpoint."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

if TYPE_CHECKING:
    from seqgen.codecs.grammar import Grammar


def token_dtype(vocab_size: int) -> type[np.integer]:
    """The narrowest array type that holds every id of a vocabulary: uint16 up to 65,536 tokens, else int32
    (a 16-bit waveform codec has 65,537)."""
    return np.uint16 if vocab_size <= 1 << 16 else np.int32


class Codec(ABC):
    """Turns one domain's raw data into token ids and back; knows nothing about models.

    `domain` names what the codec reads ("text", "music", ...). `special` ids are never produced by
    sampling (e.g. `<unk>`, `<bos>`); `start_ids` is the context a sequence is conditioned on when it
    has no primer, and `end_ids` the tokens that close a scored sequence.
    """

    kind: ClassVar[str]
    domain: ClassVar[str]

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Number of distinct token ids (ids are 0 .. vocab_size - 1)."""

    @property
    def token_dtype(self) -> type[np.integer]:
        """Array type of this codec's token streams (see token_dtype)."""
        return token_dtype(self.vocab_size)

    @abstractmethod
    def encode(self, data: Any) -> list[int]:
        """Raw data -> token ids."""

    @abstractmethod
    def decode(self, ids: list[int]) -> Any:
        """Token ids -> raw data (special tokens dropped)."""

    def encode_document(self, document: Any) -> list[int]:
        """Training form of one document (a codec may add boundary tokens); default: `encode`."""
        return self.encode(document)

    def encode_corpus(self, documents: Sequence[Any]) -> np.ndarray:
        """All documents as one training token stream, in order."""
        parts = [np.asarray(self.encode_document(d), dtype=np.int64) for d in documents]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def token_name(self, token_id: int) -> str:
        """Readable form of one token, for per-token reports."""
        return str(token_id)

    @property
    def special_ids(self) -> list[int]:
        """Ids a sampler must never emit."""
        return []

    @property
    def start_ids(self) -> list[int]:
        """Context that precedes a sequence scored or sampled without a primer."""
        return []

    @property
    def end_ids(self) -> list[int]:
        """Tokens appended to a sequence when scoring it as a complete unit."""
        return []

    def grammar(self) -> Grammar | None:
        """The order this codec's tokens must come in, for samplers (see seqgen.codecs.grammar); None: any."""
        return None

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable settings, including `kind`; `codec_from_dict` rebuilds the codec."""

    @classmethod
    @abstractmethod
    def from_dict(cls, d: dict[str, Any]) -> Codec:
        """Rebuild from `to_dict` output."""

    def describe(self) -> str:
        """One line for `seqgen info`."""
        return f"{self.kind} ({self.vocab_size} tokens)"


class FramedCodec(Codec):
    """A codec whose documents run `<start>` tokens `<end>`: START (id 0) opens each one and is the context of an
    unprimed sample, never sampled itself; END (id 1) closes it, and a sample stops there."""

    START: ClassVar[int] = 0
    END: ClassVar[int] = 1

    def encode_document(self, document: Any) -> list[int]:
        """Training form `[<start>, *tokens, <end>]`, so that documents never run into each other in a corpus."""
        return [self.START, *self.encode(document), self.END]

    @property
    def special_ids(self) -> list[int]:
        return [self.START]

    @property
    def start_ids(self) -> list[int]:
        return [self.START]

    @property
    def end_ids(self) -> list[int]:
        return [self.END]


_REGISTRY: dict[str, type[Codec]] = {}


def register(cls: type[Codec]) -> type[Codec]:
    """Class decorator: make a codec rebuildable from its `kind` name."""
    _REGISTRY[cls.kind] = cls
    return cls


def codec_from_dict(d: dict[str, Any]) -> Codec:
    """Rebuild any registered codec from its serialised settings."""
    kind = d.get("kind")
    if kind not in _REGISTRY:
        raise ValueError(f"unknown codec kind {kind!r} (known: {', '.join(sorted(_REGISTRY))})")
    return _REGISTRY[kind].from_dict(d)
