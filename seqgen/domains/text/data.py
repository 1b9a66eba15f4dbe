"""Text DATA -> one character stream: documents in order, the tail validates; large corpora memory-mapped."""

from __future__ import annotations

import numpy as np

from seqgen.codecs import CharCodec, Codec
from seqgen.data import Document, read_text_documents, split_stream, to_array
from seqgen.domains.base import Inputs, ReadSettings, TrainingData
from seqgen.domains.text import token_cache
from seqgen.errors import SeqgenError


def read_text_data(inputs: Inputs, codec: Codec | None, settings: ReadSettings,
                   unclaimed: str) -> TrainingData:
    """The corpora's and files' documents as one stream; `unclaimed` names the files other domains would have
    read, for the error when a searched folder holds neither them nor UTF-8 text. With a `codec` and
    `settings.grow_vocabulary` (a fine-tune), characters the codec lacks are appended to a copy of it."""
    boundaries, max_files, grow = settings.boundaries, settings.max_files, settings.grow_vocabulary
    big = not inputs.corpora and sum(f.stat().st_size for f in inputs.files) >= token_cache.MMAP_MIN_BYTES
    key = token_cache.corpus_key(inputs.files, {"boundaries": boundaries, "codec": codec and codec.to_dict(),
                                                **({"grow": True} if grow else {})})
    cached = token_cache.load(key) if big else None
    if cached is not None:
        meta, tokens = cached
        kept = codec if codec is not None and not grow else CharCodec.from_dict(meta["codec"])  # grown: as stored
        return _text_data(kept, tokens, meta["documents"],
                          settings.val_fraction,
                          [f"text tokens memory-mapped from the cache ({len(tokens):,} tokens, encoded before)"])
    docs: list[Document] = [d for c in inputs.corpora for d in c.documents(max_files)]
    if inputs.files:
        try:
            docs += read_text_documents(inputs.files)
        except SeqgenError as e:
            if not inputs.searched or "not UTF-8" not in str(e):
                raise
            # neither another domain's files nor text: say both, so a folder of the wrong files is not
            # mistaken for bad text
            raise SeqgenError(f"no {unclaimed} found, and {e}") from None
    if codec is None:
        codec = CharCodec.fit((d.text for d in docs), boundaries=boundaries)
    elif grow and isinstance(codec, CharCodec):
        codec = codec.with_chars(d.text for d in docs)
    tokens = to_array(codec.encode_corpus([d.text for d in docs]), codec.vocab_size)
    if not big:
        return _text_data(codec, tokens, len(docs), settings.val_fraction, [])
    tokens = token_cache.store(key, {"codec": codec.to_dict(), "documents": len(docs)}, tokens)
    mapped = isinstance(tokens, np.memmap)
    return _text_data(codec, tokens, len(docs), settings.val_fraction,
                      [f"text tokens memory-mapped ({len(tokens):,} tokens)"] if mapped else [])


def _text_data(codec: Codec, tokens: np.ndarray, documents: int, val_fraction: float,
               notes: list[str]) -> TrainingData:
    train, val = split_stream(tokens, val_fraction)
    if len(train) < 2:
        raise SeqgenError(f"too little text to train on ({len(tokens)} tokens)")
    return TrainingData(codec, train, val, {"documents": documents, "tokens": int(len(tokens)),
                                            "train_tokens": int(len(train)), "val_tokens": int(len(val))}, notes)
