"""Musicality measures of a piece given as notes: what a listener hears first, as numbers to set samples beside
real pieces.

Per piece (`measure`): the share of onsets on the 16th-note grid (over the whole piece, and interval by interval),
the share of notes in the best-fitting major or minor scale, notes per second, how much of the piece repeats at the
figure level (8-note figures) and at the phrase level (bar-long passages), the pitch range, and the histogram of
melodic intervals. Per set of pieces (`summarise`): the mean of each measure. Two sets (`compare`): those means
side by side, and how far the pooled interval and pitch-range distributions overlap (histogram intersection, the
"overlapping area" of Yang & Lerch's MGEval).

A piece is a `pretty_midi.PrettyMIDI` (non-drum instruments merged; its tempo changes and first time signature
are used) or a list of `Note` tuples (at `bpm`, default 120). Rhythm and intervals are read from the melody line:
at each distinct onset the highest note (the "skyline"), which is the tune itself for monophonic folk music and
the part most listeners follow in a polyphonic sample.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from seqgen.midi import pretty_midi

DEFAULT_BPM = 120.0  # pretty_midi's and music21's tempo when a piece states none
DEFAULT_QUARTERS_PER_BAR = 4.0  # 4/4 unless a time signature says otherwise
GRID_PER_QUARTER = 4  # 16th notes
GRID_TOLERANCE = 1 / 8  # of a 16th: an onset within a 128th note of a grid point is on the grid
FIGURE_NOTES = 8
BAR_COVERED = 0.9  # a bar with notes sounding through 90 % of it counts as filled (a short rest is music)
MAX_INTERVAL = 12  # melodic intervals are clipped to an octave either way
INTERVAL_BINS = 2 * MAX_INTERVAL + 1  # -12 .. +12
RANGE_EDGES = np.arange(0, 52, 3)  # pitch-range bins of 3 semitones; the last, 45-51, takes wider ranges too
_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)  # natural minor
_SAME_ONSET = 1e-3  # seconds: notes starting closer than this form one chord


class Note(NamedTuple):
    """One note: MIDI pitch, onset and duration in seconds, MIDI velocity."""

    pitch: int
    onset: float
    duration: float
    velocity: int = 90


@dataclass(frozen=True)
class Piece:
    """Notes sorted by (onset, pitch) and the clock they are read against: tempo changes (seconds, quarter notes
    per minute) and the bar length in quarter notes."""

    notes: tuple[Note, ...]
    tempo_times: tuple[float, ...] = (0.0,)
    tempi: tuple[float, ...] = (DEFAULT_BPM,)
    quarters_per_bar: float = DEFAULT_QUARTERS_PER_BAR

    def quarters(self, seconds: np.ndarray) -> np.ndarray:
        """Positions in quarter notes from time 0 of times in seconds, following the tempo changes."""
        times, tempi = np.asarray(self.tempo_times), np.asarray(self.tempi)
        # quarter position at each tempo change: the quarters elapsed in the segments before it
        starts = np.concatenate([[0.0], np.cumsum(np.diff(times) * tempi[:-1] / 60.0)])
        k = np.clip(np.searchsorted(times, seconds, side="right") - 1, 0, len(times) - 1)
        return starts[k] + (seconds - times[k]) * tempi[k] / 60.0


@dataclass(frozen=True)
class Measures:
    """The measures of one piece (see `measure` for what each is)."""

    grid_share: float
    local_grid_share: float
    key_share: float
    note_density: float
    figure_repetition: float
    phrase_repetition: float
    pitch_range: float
    interval_counts: np.ndarray  # counts of melodic intervals -12 .. +12 (index 0 is -12)


SCALAR_MEASURES = tuple(f.name for f in fields(Measures) if f.name != "interval_counts")


class Row(NamedTuple):
    """One measure of two sets: the real set's mean, the samples' mean, and samples minus real."""

    measure: str
    real: float
    sample: float
    difference: float


@dataclass(frozen=True)
class Comparison:
    """Samples against real pieces: a row per measure, and the overlap (0..1) of the pooled interval histograms
    and of the pitch-range histograms."""

    rows: list[Row]
    interval_overlap: float
    pitch_range_overlap: float


def piece_of(piece: pretty_midi.PrettyMIDI | Sequence[Note] | Piece, bpm: float = DEFAULT_BPM,
             quarters_per_bar: float = DEFAULT_QUARTERS_PER_BAR) -> Piece:
    """A `Piece` from a PrettyMIDI (its tempo changes and first time signature win over `bpm` and
    `quarters_per_bar`; drum tracks are left out) or from notes (`Note`s or plain 4-tuples)."""
    if isinstance(piece, Piece):
        return piece
    if not hasattr(piece, "instruments"):
        return Piece(_sorted(piece), (0.0,), (float(bpm),), float(quarters_per_bar))
    notes = _sorted([n for inst in piece.instruments if not inst.is_drum for n in inst.notes])
    times, tempi = piece.get_tempo_changes()
    if len(times) == 0:
        times, tempi = [0.0], [bpm]
    signatures = piece.time_signature_changes
    if signatures:
        quarters_per_bar = signatures[0].numerator * 4 / signatures[0].denominator
    return Piece(notes, tuple(map(float, times)), tuple(map(float, tempi)), float(quarters_per_bar))


def _sorted(notes: Sequence) -> tuple[Note, ...]:
    """`Note`s sorted by (onset, pitch) from 4-tuples (pitch, onset, duration, velocity) or from note objects
    with start and end times (pretty_midi's, the note-event codec's)."""
    made = [Note(int(n.pitch), float(n.start), float(n.end - n.start), int(n.velocity)) if hasattr(n, "start")
            else Note(int(n[0]), float(n[1]), float(n[2]), int(n[3])) for n in notes]
    return tuple(sorted(made, key=lambda n: (n.onset, n.pitch)))


def melody(piece: Piece) -> list[Note]:
    """The skyline: at each distinct onset (notes within 1 ms count as one onset) the highest note."""
    line: list[Note] = []
    for n in piece.notes:  # sorted by onset, then pitch: the last note of a chord is its highest
        if line and n.onset - line[-1].onset < _SAME_ONSET:
            line[-1] = max(line[-1], n, key=lambda m: m.pitch)
        else:
            line.append(n)
    return line


def grid_share(piece: Piece) -> float:
    """Share (0..1) of the melody's onsets within ±1/8 of a 16th note of the 16th-note grid.

    The grid runs at the piece's tempo (in quarter notes, so tempo changes move it) in the phase most onsets keep,
    as a listener finds the beat: a leading silence does not shift it, nor does one stray note (a pickup on an odd
    position, a hesitation at the start) put every later onset off it; a piece that slips halfway loses the half
    out of step. Onsets placed at random would land on it about a quarter of the time (2 × 1/8; a little more in
    short pieces, whose best phase may be luck), so 0.25 is the chance level, 1.0 a strictly metrical piece;
    triplets count as off the grid."""
    onsets = np.array([n.onset for n in melody(piece)])
    q = piece.quarters(onsets)
    sixteenths = (q - q[0]) * GRID_PER_QUARTER
    # candidate phases: where each onset falls between two grid points (a grid through some onset), the first
    # onset's own first, so that ties keep the grid it starts
    phases = np.unique(np.round(sixteenths % 1.0, 6))
    phases = np.concatenate([[0.0], phases[phases > 0]])
    on = [np.mean(_on_grid(sixteenths - phase)) for phase in phases]
    return float(max(on))


def local_grid_share(piece: Piece) -> float:
    """Share (0..1) of the melody's inter-onset intervals within ±1/8 of a 16th note of a whole number (one or
    more) of 16th notes at the piece's tempo; 1.0 for a piece of one note.

    Unlike `grid_share` this is blind to phase: a piece that slips halfway puts half its onsets off the grid, but
    only the slip off here. A piece that keeps a steady 16th-note pulse yet slips once scores high here and lower
    there; uneven timing throughout scores low on both. Random intervals are on the grid about a quarter of the
    time."""
    q = piece.quarters(np.array([n.onset for n in melody(piece)]))
    gaps = np.diff(q) * GRID_PER_QUARTER
    if not len(gaps):
        return 1.0
    return float(np.mean(_on_grid(gaps) & (gaps > 1 - GRID_TOLERANCE - 1e-9)))


def _on_grid(sixteenths: np.ndarray) -> np.ndarray:
    """Whether each position in 16th notes lies within the tolerance of a whole number."""
    return np.abs(sixteenths - np.round(sixteenths)) <= GRID_TOLERANCE + 1e-9  # 1e-9: float error at the edge


def key_share(piece: Piece) -> float:
    """Share (0..1) of all notes, by count, whose pitch class lies in the best-fitting of the 24 major and
    natural-minor scales (the one holding most notes). A diatonic tune scores 1.0; the 12 chromatic pitch
    classes once each score 7/12 (no scale holds more than 7 of them), the floor for an even spread."""
    counts = np.bincount([n.pitch % 12 for n in piece.notes], minlength=12)
    best = max(sum(counts[(tonic + step) % 12] for step in scale) for tonic in range(12) for scale in (_MAJOR, _MINOR))
    return float(best / counts.sum())


def note_density(piece: Piece) -> float:
    """Notes per second: all notes (chord notes each count) over the time from the first onset to the last
    release."""
    span = max(n.onset + n.duration for n in piece.notes) - piece.notes[0].onset
    if span <= 0:
        raise ValueError("the piece lasts no time: its notes have no duration")
    return len(piece.notes) / span


def _sixteenths(piece: Piece, line: Sequence[Note]) -> np.ndarray:
    """Each melody onset in 16th notes from the first one, rounded to the grid."""
    q = piece.quarters(np.array([n.onset for n in line]))
    return np.round((q - q[0]) * GRID_PER_QUARTER).astype(np.int64)


def figure_repetition(piece: Piece) -> float:
    """Share (0..1) of the melody's notes that belong to an 8-note figure heard again elsewhere in the piece.

    A figure is 8 consecutive melody notes read as their 7 pitch intervals and 7 inter-onset intervals in 16th
    notes (rounded to the grid): it is the same figure when transposed. It is heard again when the same figure
    starts at least 8 notes away (no overlap, so a held trill or a repeated note does not match itself shifted by
    one). A figure played twice scores 1.0, random notes about 0; pieces shorter than 16 notes score 0.0."""
    line = melody(piece)
    if len(line) < 2 * FIGURE_NOTES:
        return 0.0
    steps = np.diff([n.pitch for n in line])
    gaps = np.diff(_sixteenths(piece, line))
    starts: dict[tuple[int, ...], list[int]] = defaultdict(list)
    span = FIGURE_NOTES - 1
    for i in range(len(line) - span):
        starts[tuple(steps[i:i + span]) + tuple(gaps[i:i + span])].append(i)
    covered = np.zeros(len(line), dtype=bool)
    for positions in starts.values():
        for i in positions:  # positions are ascending: a match at least 8 away lies at either end
            if positions[-1] - i >= FIGURE_NOTES or i - positions[0] >= FIGURE_NOTES:
                covered[i:i + FIGURE_NOTES] = True
    return float(covered.mean())


def phrase_repetition(piece: Piece) -> float:
    """Share (0..1) of the melody's notes that lie in a bar-long passage heard again elsewhere in the piece.

    A passage is what the melody plays in one bar's time (4 quarter notes unless the MIDI has a time signature)
    from one of its onsets: its notes as (16th-note position from that onset, pitch). It is heard again when a
    passage with the same content starts at least a bar away (no overlap), so the same pitches must come in the
    same rhythm: a transposed passage does not count. Passages start at every onset rather than at bar lines
    because a piece read from a score or sampled by a model carries neither its upbeat nor, mostly, its metre:
    fixed 4-quarter bars cut 6/8 and 3/4 tunes across their bars, while a repeated passage matches wherever it
    starts. Written-out AABB form scores 1.0, random notes about 0. Repeat signs are not expanded when seqgen
    reads a score, so real tunes score only the repetition they spell out."""
    line = melody(piece)
    pos = _sixteenths(piece, line).tolist()
    length = round(piece.quarters_per_bar * GRID_PER_QUARTER)
    passages: list[tuple[tuple[tuple[int, int], ...], int, int]] = []  # content, first and past-last note
    starts: dict[tuple[tuple[int, int], ...], list[int]] = defaultdict(list)  # content -> starts in 16ths
    stop = 0
    for i, p in enumerate(pos):
        while stop < len(pos) and pos[stop] < p + length:
            stop += 1
        content = tuple((q - p, n.pitch) for q, n in zip(pos[i:stop], line[i:stop], strict=True))
        passages.append((content, i, stop))
        starts[content].append(p)
    covered = np.zeros(len(line), dtype=bool)
    for content, i, stop in passages:
        found = starts[content]  # ascending: a start at least a bar away, if any, lies at either end
        if found[-1] - pos[i] >= length or pos[i] - found[0] >= length:
            covered[i:stop] = True
    return float(covered.mean())


def pitch_range(piece: Piece) -> float:
    """Semitones from the lowest to the highest note."""
    pitches = [n.pitch for n in piece.notes]
    return float(max(pitches) - min(pitches))


def bar_fill(piece: Piece, covered: float = BAR_COVERED) -> float:
    """Share (0..1) of the inner bars (all but the first, which may be a pickup, and the last) that are filled as
    the metre says: something sounds on the downbeat and notes sound through at least `covered` of the bar.
    Bars run from time 0 at the piece's bar length (its first time signature), so a 6/8 bar is three quarter
    notes long and a 4/4 bar four: a tune in 4/4 written under 6/8 leaves its bars half-filled or overfilled
    across the bar lines. 1.0 for a piece of fewer than three bars."""
    spans = [(float(a), float(b)) for a, b in zip(piece.quarters(np.array([n.onset for n in piece.notes])),
                                                  piece.quarters(np.array([n.onset + n.duration for n in piece.notes])),
                                                  strict=True)]
    bar = piece.quarters_per_bar
    bars = int(np.ceil(max(b for _, b in spans) / bar - 1e-6))
    filled = []
    for k in range(1, bars - 1):
        start, end = k * bar, (k + 1) * bar
        inside = sorted((max(a, start), min(b, end)) for a, b in spans if a < end and b > start)
        sounded, reach = 0.0, start
        for a, b in inside:  # union of the note spans within the bar
            sounded += max(0.0, b - max(a, reach))
            reach = max(reach, b)
        downbeat = any(a <= start + 1e-6 for a, _ in inside)
        filled.append(downbeat and sounded >= covered * bar - 1e-6)
    return float(np.mean(filled)) if filled else 1.0


def interval_counts(piece: Piece) -> np.ndarray:
    """Counts of the melody's intervals between consecutive onsets, in semitones clipped to -12..+12
    (index 0 is -12, index 12 a repeated pitch, index 24 +12)."""
    steps = np.clip(np.diff([n.pitch for n in melody(piece)]), -MAX_INTERVAL, MAX_INTERVAL)
    return np.bincount(steps + MAX_INTERVAL, minlength=INTERVAL_BINS)


def measure(piece: pretty_midi.PrettyMIDI | Sequence[Note] | Piece, bpm: float = DEFAULT_BPM,
            quarters_per_bar: float = DEFAULT_QUARTERS_PER_BAR) -> Measures:
    """All measures of one piece (see each function; `bpm` and `quarters_per_bar` as in `piece_of`); a piece
    without notes is a ValueError."""
    p = piece_of(piece, bpm, quarters_per_bar)
    if not p.notes:
        raise ValueError("the piece has no notes")
    return Measures(grid_share(p), local_grid_share(p), key_share(p), note_density(p), figure_repetition(p),
                    phrase_repetition(p), pitch_range(p), interval_counts(p))


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Histogram intersection of two count histograms over the same bins: the sum of the bin-wise minimum of
    both normalised to sum 1. 1.0 for identical distributions, 0.0 for disjoint ones."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.sum() <= 0 or b.sum() <= 0:
        raise ValueError("overlap needs two non-empty histograms over the same bins")
    return float(np.minimum(a / a.sum(), b / b.sum()).sum())


def range_counts(measures: Sequence[Measures]) -> np.ndarray:
    """Histogram of the pieces' pitch ranges in bins of 3 semitones (0-2, 3-5, ..., 42-44, 45 and wider): a
    set of a few dozen pieces spreads too thinly over single semitones for the overlap to mean much."""
    ranges = np.clip([m.pitch_range for m in measures], 0, RANGE_EDGES[-1] - 1)
    return np.histogram(ranges, bins=RANGE_EDGES)[0]


def summarise(measures: Sequence[Measures]) -> dict[str, float]:
    """Mean of each scalar measure over a set of pieces' measures."""
    if not measures:
        raise ValueError("no pieces to summarise")
    return {name: float(np.mean([getattr(m, name) for m in measures])) for name in SCALAR_MEASURES}


def compare(real: Sequence[Measures], samples: Sequence[Measures]) -> Comparison:
    """Samples beside real pieces: the mean of each measure in both sets and their difference (sample minus
    real), and the overlap of the pooled interval histograms and of the pitch-range histograms."""
    r, s = summarise(real), summarise(samples)
    rows = [Row(name, r[name], s[name], s[name] - r[name]) for name in SCALAR_MEASURES]
    intervals = overlap(sum(m.interval_counts for m in real), sum(m.interval_counts for m in samples))
    return Comparison(rows, intervals, overlap(range_counts(real), range_counts(samples)))
