"""Named built-in corpora that ship inside installed packages, usable as DATA by name."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

from seqgen.data import Document, read_text
from seqgen.errors import SeqgenError

# ABC header fields about the transcription rather than the music: noise for a tune generator.
_ABC_DROP = re.compile(r"^(?:[BDFHNSZ]:|%)")
_SPACES = re.compile(r" {2,}")


@dataclass(frozen=True)
class Corpus:
    """A corpus: where its files live, what domain it is, how many pieces and under what licence."""

    name: str
    domain: str
    description: str
    licence: str
    folders: tuple[str, ...]

    def files(self) -> list[Path]:
        import music21

        root = Path(music21.__file__).parent / "corpus"
        return sorted(f for folder in self.folders for f in (root / folder).glob("*.abc"))

    def documents(self) -> list[Document]:
        """One document per tune, shuffled with a fixed seed so the validation tail is representative."""
        docs = [Document(f"{path}#{i}", tune) for path in self.files()
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


CORPORA: dict[str, Corpus] = {
    c.name: c
    for c in [
        Corpus(
            name="folk-abc",
            domain="text",
            description="Irish and Scottish folk tunes in ABC notation, read as text "
                        "(Ryan's Mammoth Collection, O'Neill's 1850, Aird's Airs)",
            licence="public-domain tunes; transcriptions distributed with music21 (BSD-3-Clause corpus)",
            folders=("ryansMammoth", "oneills1850", "airdsAirs"),
        ),
    ]
}


def get_corpus(name: str) -> Corpus | None:
    """The built-in corpus of that name, or None."""
    return CORPORA.get(name)
