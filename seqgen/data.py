"""Reading training data and cutting token streams into batches.

Inputs are files, folders (searched recursively) and glob patterns; text must be UTF-8. A corpus is a
list of documents; encoded documents are joined into one numpy token stream, split into a training
head and a validation tail, and served as contiguous TBPTT windows.
"""

from __future__ import annotations

import glob
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from seqgen.codecs.base import token_dtype
from seqgen.errors import SeqgenError

if TYPE_CHECKING:  # torch and seqgen.checkpoint are imported on use: listing corpora needs neither
    import torch


@dataclass
class Document:
    """One unit of training data (a file, or a tune of a multi-tune file) and where it came from."""

    source: str
    text: str


def resolve_paths(inputs: Sequence[str | Path]) -> list[Path]:
    """Expand files, folders (recursively, hidden entries skipped) and globs into a sorted file list."""
    files: list[Path] = []
    for item in inputs:
        item = str(item)
        if glob.has_magic(item) and not Path(item).exists():
            matches = sorted(Path(m) for m in glob.glob(item, recursive=True))
            if not matches:
                raise SeqgenError(f"{item}: the pattern matches no files")
            for m in matches:
                files.extend(_expand(m))
            continue
        p = Path(item)
        if not p.exists():
            raise SeqgenError(f"{item}: no such file or folder")
        found = _expand(p)
        if p.is_dir() and not found:
            raise SeqgenError(f"{item}: the folder holds no files")
        files.extend(found)
    seen: set[Path] = set()
    return [f for f in files if not (f in seen or seen.add(f))]


def _expand(p: Path) -> list[Path]:
    """A file itself; a folder's files, leaving out hidden entries and the folders of seqgen runs."""
    if p.is_file():
        return [p]
    if p.is_dir():
        from seqgen.checkpoint import is_run_folder

        return sorted(
            f for f in p.rglob("*")
            if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts)
            and not is_run_folder(f.parent)
        )
    return []


def read_text(path: Path) -> str:
    """Read a UTF-8 file (a leading BOM is dropped) or fail with the file name and the bad byte."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise SeqgenError(f"{path}: cannot read ({e.strerror})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise SeqgenError(
            f"{path}: not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start}); "
            "convert it, e.g. with iconv -t UTF-8"
        ) from None


def read_text_documents(inputs: Sequence[str | Path]) -> list[Document]:
    """Every input file as one text document; fails clearly when nothing but empty text is found."""
    docs = [Document(str(p), read_text(p)) for p in resolve_paths(inputs)]
    docs = [d for d in docs if d.text.strip()]
    if not docs:
        raise SeqgenError(f"{', '.join(map(str, inputs))}: no text to train on (the files are empty)")
    return docs


def to_array(ids: Sequence[int] | np.ndarray, vocab_size: int) -> np.ndarray:
    """Compact token array of the width the vocabulary needs (see token_dtype)."""
    return np.asarray(ids, dtype=token_dtype(vocab_size))


def split_stream(tokens: np.ndarray, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Head for training, tail for validation (the tinyshakespeare convention: last 10 %)."""
    if not 0.0 <= val_fraction < 1.0:
        raise SeqgenError(f"validation fraction must be in [0, 1), got {val_fraction}")
    cut = int(len(tokens) * (1.0 - val_fraction))
    return tokens[:cut], tokens[cut:]


def fit_batch_shape(n_tokens: int, batch_size: int, seq_len: int) -> tuple[int, int]:
    """Shrink (batch, seq_len) so that a stream of n_tokens fills at least one window per row."""
    if n_tokens < 2:
        raise SeqgenError(f"too little data: {n_tokens} token(s); at least 2 are needed")
    seq_len = min(seq_len, n_tokens - 1)
    batch_size = max(1, min(batch_size, (n_tokens - 1) // seq_len))
    return batch_size, seq_len


class TBPTTBatches:
    """Contiguous truncated-BPTT windows: the stream is cut into `batch` parallel rows and each step
    reads the next `seq_len` tokens of every row, so a carried hidden state sees one continuous text.

    `offset` shifts where the rows start (a fresh one each epoch varies the window boundaries). After
    `keep_rows`, windows hold only those rows (one process's share) while `batch_size` stays the whole layout's.
    """

    def __init__(self, tokens: np.ndarray, batch_size: int, seq_len: int, offset: int = 0):
        self.batch_size, self.seq_len = fit_batch_shape(len(tokens) - offset, batch_size, seq_len)
        usable = len(tokens) - offset - 1
        self.row_len = usable // self.batch_size
        n = self.row_len * self.batch_size
        # views of the compact (possibly memory-mapped) stream; each window becomes int64 only when read
        self.x = tokens[offset : offset + n].reshape(self.batch_size, self.row_len)
        self.y = tokens[offset + 1 : offset + n + 1].reshape(self.batch_size, self.row_len)

    def __len__(self) -> int:
        return self.row_len // self.seq_len

    def keep_rows(self, rows: slice) -> TBPTTBatches:
        """Serve only these rows of the layout (a distributed rank's shard), so ranks never share a token."""
        self.x, self.y = self.x[rows], self.y[rows]
        return self

    def window(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and next-token targets of window i, each [batch, seq_len]."""
        return self._read(i * self.seq_len)

    def _read(self, s: int) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        x, y = self.x[:, s : s + self.seq_len], self.y[:, s : s + self.seq_len]
        return torch.from_numpy(x.astype(np.int64)), torch.from_numpy(y.astype(np.int64))

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for i in range(len(self)):
            yield self.window(i)

    def all_windows(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Every window including a shorter last one, so evaluation covers each token of the rows."""
        for s in range(0, self.row_len if len(self.x) else 0, self.seq_len):
            yield self._read(s)
