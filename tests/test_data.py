import numpy as np
import pytest
import torch

from seqgen.corpora import split_abc_tunes
from seqgen.data import TBPTTBatches, read_text_documents, resolve_paths, split_stream
from seqgen.domains import get_corpus
from seqgen.errors import SeqgenError


def test_files_folders_and_globs(tmp_path):
    (tmp_path / "a.txt").write_text("A")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("B")
    (tmp_path / ".hidden").write_text("H")
    assert resolve_paths([tmp_path]) == [tmp_path / "a.txt", tmp_path / "sub" / "b.txt"]
    assert resolve_paths([str(tmp_path / "*.txt")]) == [tmp_path / "a.txt"]
    assert resolve_paths([tmp_path / "a.txt", tmp_path]) == [tmp_path / "a.txt", tmp_path / "sub" / "b.txt"]


def test_missing_inputs_and_non_utf8_are_named(tmp_path):
    with pytest.raises(SeqgenError, match="nope.txt: no such file"):
        resolve_paths([tmp_path / "nope.txt"])
    with pytest.raises(SeqgenError, match="matches no files"):
        resolve_paths([str(tmp_path / "*.md")])
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(SeqgenError, match=r"latin1.txt: not UTF-8 text \(byte 0xe9 at offset 3\)"):
        read_text_documents([bad])
    (tmp_path / "empty.txt").write_text("  \n")
    with pytest.raises(SeqgenError, match="no text to train on"):
        read_text_documents([tmp_path / "empty.txt"])


def test_split_follows_the_tinyshakespeare_convention():
    train, val = split_stream(np.arange(1_115_394), 0.1)
    assert len(train) == 1_003_854 and train[-1] + 1 == val[0]
    train, val = split_stream(np.arange(10), 0.0)
    assert len(train) == 10 and len(val) == 0


def test_tbptt_windows_are_contiguous_per_row():
    tokens = np.arange(1000)
    b = TBPTTBatches(tokens, batch_size=4, seq_len=10, offset=3)
    assert (b.batch_size, b.seq_len) == (4, 10)
    x0, y0 = b.window(0)
    x1, _ = b.window(1)
    assert x0.shape == (4, 10)
    assert (y0 == x0 + 1).all()  # targets are the next tokens
    assert (x1[:, 0] == x0[:, -1] + 1).all()  # window 1 continues window 0 in every row
    assert x0[0, 0] == 3 and x0[1, 0] == 3 + b.row_len  # rows are consecutive slices of the stream
    total = sum(x.numel() for x, _ in b.all_windows())
    assert total == b.batch_size * b.row_len


def test_tiny_streams_shrink_the_batch_shape():
    b = TBPTTBatches(np.arange(20), batch_size=64, seq_len=128)
    assert b.seq_len == 19 and b.batch_size == 1 and len(b) == 1
    with pytest.raises(SeqgenError, match="too little data"):
        TBPTTBatches(np.arange(1), batch_size=4, seq_len=4)


def test_abc_files_split_into_tunes_without_transcriber_notes():
    text = "%comment\nX:7\nT:One\nZ:someone@example\nK:G\nGABc   d2|  \n\nX: 12\nT:Two\nK:D\ndefg|\n"
    tunes = split_abc_tunes(text)
    assert tunes == ["X:1\nT:One\nK:G\nGABc d2|\n", "X:1\nT:Two\nK:D\ndefg|\n"]


def test_folk_abc_corpus_reads_thousands_of_real_tunes():
    docs = get_corpus("folk-abc").documents()
    assert len(docs) > 4000
    assert all(d.text.startswith("X:") for d in docs)
    assert sum(len(d.text) for d in docs) > 1_000_000


def test_large_text_is_memory_mapped_and_read_back_from_the_cache(tmp_path, monkeypatch):
    from seqgen import inputs
    from seqgen.domains.text import token_cache

    monkeypatch.setenv("SEQGEN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(token_cache, "MMAP_MIN_BYTES", 1000)
    text = tmp_path / "big.txt"
    text.write_text("to be or not to be, that is the question\n" * 100, encoding="utf-8")
    first = inputs.prepare([text], 0.1)
    assert isinstance(first.train, np.memmap) and first.train.dtype == np.uint16
    assert first.notes == ["text tokens memory-mapped (4,101 tokens)"]
    again = inputs.prepare([text], 0.1)
    assert again.notes[0].startswith("text tokens memory-mapped from the cache")
    assert again.codec.to_dict() == first.codec.to_dict()
    np.testing.assert_array_equal(again.train, first.train)
    np.testing.assert_array_equal(again.val, first.val)
    b = TBPTTBatches(again.train, batch_size=4, seq_len=10)
    x, y = b.window(1)
    assert x.dtype == torch.int64 and torch.equal(x[0, 1:], y[0, :-1])
    text.write_text("something else entirely\n" * 200, encoding="utf-8")  # changed file: encoded afresh
    assert not inputs.prepare([text], 0.1).notes[0].startswith("text tokens memory-mapped from the cache")
