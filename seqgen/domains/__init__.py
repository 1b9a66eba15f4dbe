"""The domains seqgen knows, in one table: adding a domain is one home under seqgen/domains/ and one line here.

The first domain claiming no suffixes (text) reads every file no other domain claims.
"""

from __future__ import annotations

from pathlib import Path

from seqgen.corpora import Corpus
from seqgen.domains.base import Domain, joined
from seqgen.domains.dna import DNA
from seqgen.domains.music import MUSIC
from seqgen.domains.text import TEXT
from seqgen.domains.waveform import WAVEFORM
from seqgen.errors import SeqgenError

DOMAINS: dict[str, Domain] = {d.name: d for d in (MUSIC, TEXT, WAVEFORM, DNA)}
FALLBACK = next(d for d in DOMAINS.values() if not d.suffixes)
CORPORA: dict[str, Corpus] = {c.name: c for d in DOMAINS.values() for c in d.corpora}


def get(name: str) -> Domain:
    """The domain of that name (as stored in a checkpoint)."""
    if name not in DOMAINS:
        raise SeqgenError(f"unknown domain {name!r} (known: {', '.join(DOMAINS)})")
    return DOMAINS[name]


def domain_for(path: Path) -> Domain:
    """The domain that claims a file by its name; the fallback (text) for any other."""
    return next((d for d in DOMAINS.values() if d.claims(path)), FALLBACK)


def get_corpus(name: str) -> Corpus | None:
    """The built-in corpus of that name, or None."""
    return CORPORA.get(name)


def owners(option: str) -> str:
    """The domains that take an option (declared in `options`, or a flag in `data_flags`), for messages:
    "music", "text and dna"."""
    return joined([d.name for d in DOMAINS.values()
                   if option in d.data_flags or any(o.name == option for o in d.options)])


def sample_owners(flag: str) -> str:
    """The domains whose models take a `seqgen sample` flag of their own (`sample_flags`), for messages."""
    return joined([d.name for d in DOMAINS.values() if flag in d.sample_flags])


def having(capability: str) -> str:
    """The domains with a method of this name, for messages."""
    return joined([d.name for d in DOMAINS.values() if hasattr(d, capability)])


def flag_help(key: str, separator: str = "; ", labelled: bool = True) -> str:
    """What each domain says of a shared flag ("sample --out"), as "Waveforms: ...; DNA: ..." (`labelled`), or
    its sentences one after the other."""
    return separator.join(f"{d.plural[0].upper()}{d.plural[1:]}: {d.flag_help[key]}" if labelled
                          else d.flag_help[key] for d in DOMAINS.values() if key in d.flag_help)


def default_lengths(attribute: str) -> str:
    """Each domain's default sample length (`default_length` or `default_min_length`), for help texts."""
    return ", ".join(f"{d.plural} {getattr(d, attribute)}" for d in DOMAINS.values())


def unclaimed_files() -> str:
    """The files the fallback domain found none of, for its error: "music files (.mid ...) or waveform files (...)"."""
    return joined([f"{d.name} files ({' '.join(d.suffixes)})" for d in DOMAINS.values() if d.suffixes], "or")
