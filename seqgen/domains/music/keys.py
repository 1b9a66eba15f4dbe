"""Musical keys: names as musicians write them, and the key a piece is in, estimated from its notes.

Keys are numbered as MIDI key signatures and pretty_midi number them: 0-11 the major keys on C, C#, ... B,
12-23 the minor keys on the same tonics. A piece's key is estimated the Krumhansl-Schmuckler way: the
duration-weighted count of each pitch class, correlated with the Krumhansl-Kessler profile of each of the 24
keys (how well each degree of a major or minor scale fits, as listeners rated it); the best fit wins. The same
estimate names the key of training pieces (the metrical codec's key token) and of samples (measuring whether a
sample asked for D major is in D major), so both sides are judged alike.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from seqgen.errors import SeqgenError

TONICS = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")  # major keys' usual spellings
MINOR_TONICS = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B")  # minor keys' usual spellings
KEY_NAMES = tuple(TONICS) + tuple(f"{t}m" for t in MINOR_TONICS)  # by key number: "D" is 2, "Bm" is 23
# Krumhansl & Kessler (1982): probe-tone ratings of the 12 degrees above the tonic
_MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
# row k: the profile of key number k over pitch classes 0-11
_PROFILES = np.array([np.roll(_MAJOR_PROFILE, t) for t in range(12)] + [np.roll(_MINOR_PROFILE, t) for t in range(12)])
_LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_KEY = re.compile(r"([A-Ga-g])([#b]?)\s*((?i:m|min|minor|maj|major))?")


def estimate_key(pitches: Sequence[int], weights: Sequence[float] | None = None) -> int | None:
    """The key number (0-23) whose profile best correlates with the pitch classes of `pitches`, each counted
    with its weight (a note's duration; 1 each without weights); None without notes or with one pitch class
    only (no key is more likely than another there)."""
    counts = np.bincount(np.asarray(pitches, dtype=np.int64) % 12, weights=weights, minlength=12)
    if counts.sum() <= 0 or np.count_nonzero(counts) < 2:
        return None
    return int(np.argmax([np.corrcoef(counts, profile)[0, 1] for profile in _PROFILES]))


def key_of_notes(notes: Sequence) -> int | None:
    """`estimate_key` of notes with pitch, start and end (pretty_midi's), each weighted by its duration."""
    return estimate_key([n.pitch for n in notes], [n.end - n.start for n in notes])


def parse_key(text: str) -> int:
    """A key as a musician writes it: "D", "D major", "Bm", "B minor", "F#", "Bb min" (letter case of the tonic
    free) -> its key number."""
    m = _KEY.fullmatch(text.strip())
    if not m:
        raise SeqgenError(f"--key {text!r}: not a key; write a tonic and optionally a mode, e.g. D, Dm, F#, Bb minor")
    letter, accidental, mode = m.group(1).upper(), m.group(2), (m.group(3) or "").lower()
    tonic = (_LETTERS[letter] + {"#": 1, "b": -1, "": 0}[accidental]) % 12
    return tonic + (12 if mode in ("m", "min", "minor") else 0)


def key_name(number: int) -> str:
    """A key number's name: 2 -> "D", 23 -> "Bm"."""
    return KEY_NAMES[number]


def interval_to(key: int, target: int) -> int:
    """Semitones (-5..+6) that move a piece in `key` to `target`'s tonic by the shorter way."""
    return 6 - (key - target + 6) % 12
