"""Built-in corpora: files that ship inside installed packages (music21's corpus), usable as DATA by name.

Each domain lists its own corpora (music: `folk`, `chorales`; text: `folk-abc`, the folk tunes' ABC notation
read as text); `seqgen.domains.get_corpus` finds one by name.
"""

from __future__ import annotations

import importlib.util
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqgen.data import Document, read_text
from seqgen.errors import SeqgenError

# ABC header fields about the transcription rather than the music: noise for a tune generator.
_ABC_DROP = re.compile(r"^(?:[BDFHNSZ]:|%)")
_SPACES = re.compile(r" {2,}")


MUSIC_SCORE_SUFFIXES = (".abc", ".mxl", ".xml", ".musicxml", ".krn")


@dataclass(frozen=True)
class Corpus:
    """A corpus: where its files live, what domain it is, what a piece is and under what licence."""

    name: str
    domain: str
    description: str
    licence: str
    folders: tuple[str, ...]
    unit: str = "tunes"
    train_defaults: tuple[tuple[str, Any], ...] = ()  # training options this corpus needs unless given

    def files(self, max_files: int | None = None) -> list[Path]:
        """The corpus files, sorted; with `max_files`, a fixed random subset of that many (for quick runs)."""
        spec = importlib.util.find_spec("music21")  # located, not imported: listing corpora stays quick
        if spec is None or spec.origin is None:
            raise SeqgenError(f"corpus {self.name!r}: music21 is not installed")
        root = Path(spec.origin).parent / "corpus"
        found = sorted(f for folder in self.folders for f in (root / folder).iterdir()
                       if f.suffix.lower() in MUSIC_SCORE_SUFFIXES)
        if not found:
            raise SeqgenError(f"corpus {self.name!r}: no files under {root}; is music21 installed completely?")
        if max_files is not None and max_files < len(found):
            found = sorted(random.Random(0).sample(found, max_files))
        return found

    def count(self) -> int:
        """Pieces in the corpus: ABC tunes (X: fields) or score files; cheap, nothing is parsed."""
        n = 0
        for f in self.files():
            if f.suffix.lower() == ".abc":
                n += sum(line.startswith("X:") for line in f.read_text("latin-1").splitlines())
            else:
                n += 1
        return n

    def documents(self, max_files: int | None = None) -> list[Document]:
        """A text corpus as one document per ABC tune, shuffled with a fixed seed so the validation tail
        is representative."""
        docs = [Document(f"{path}#{i}", tune) for path in self.files(max_files)
                for i, tune in enumerate(split_abc_tunes(read_text(path)), 1)]
        if not docs:
            raise SeqgenError(f"corpus {self.name!r}: no tunes found; is music21 installed completely?")
        random.Random(0).shuffle(docs)
        return docs


def split_abc_tunes(text: str) -> list[str]:
    """Cut an ABC file into tunes, each starting `X:1`, without transcription notes.

    The `X:` reference number is arbitrary and runs of spaces (alignment in some collections) mean the
    same as one space in ABC, so both are normalised: the model spends nothing on learning them."""
    tunes: list[list[str]] = []
    for line in text.splitlines():
        line = _SPACES.sub(" ", line.strip())
        if line.startswith("X:"):
            tunes.append([])
            line = "X:1"
        if not tunes or _ABC_DROP.match(line) or not line:
            continue
        tunes[-1].append(line)
    return ["\n".join(t) + "\n" for t in tunes if len(t) > 1]
