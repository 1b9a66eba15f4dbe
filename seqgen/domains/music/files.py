"""Reading music files (MIDI, ABC, MusicXML, Humdrum) into `pretty_midi.PrettyMIDI` pieces.

MIDI goes through pretty_midi; scores go through music21 and are turned into notes here, not by music21's
MIDI writer (slow, and it crashes on some ABC tunes). Every failure becomes a one-line SeqgenError that
names the piece, so a corpus reader can skip a bad tune and say which one.
"""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from seqgen.errors import SeqgenError, reason
from seqgen.midi import pretty_midi

if TYPE_CHECKING:
    import music21

MIDI_SUFFIXES = (".mid", ".midi")
MAX_MIDI_BYTES = 4 * 2**20  # a long, dense piano performance is a few hundred KB
MAX_PIECE_SECONDS = 10 * 3600  # longer, and a broken tempo or delta time is likelier than a real piece
SCORE_SUFFIXES = (".abc", ".xml", ".mxl", ".musicxml", ".krn")  # read through music21
MUSIC_SUFFIXES = MIDI_SUFFIXES + SCORE_SUFFIXES

DEFAULT_VELOCITY = 90
# The form of a score, kept in its PrettyMIDI as text events (see score_to_midi)
REPEAT_START, REPEAT_END, FIRST_ENDING, SECOND_ENDING = "|:", ":|", "[1", "[2"
FORM_MARKS = (REPEAT_START, REPEAT_END, FIRST_ENDING, SECOND_ENDING)
_TUNE_START = re.compile(r"^\s*X:")
_HEADER_LINE = re.compile(r"^(?:[A-Za-z]:|%%)")  # file-header fields and directives; free text is not carried
_KEY_FIELD = re.compile(r"^\s*K:", re.MULTILINE)
_LENGTH_FIELD = re.compile(r"^\s*[LM]:", re.MULTILINE)


@dataclass(frozen=True)
class PieceSource:
    """Where one piece (or, for a non-ABC score file, possibly several) comes from."""

    name: str  # shown in messages: the path, or "path#3 (Tune Title)" for the 3rd tune of an ABC file
    path: Path
    text: str | None = None  # for ABC: the text of this one tune (file header prepended), else None


def is_music_file(path: Path) -> bool:
    """Whether the suffix is one this module reads (case-insensitive)."""
    return path.suffix.lower() in MUSIC_SUFFIXES


def piece_sources(path: Path) -> list[PieceSource]:
    """One source per tune of an ABC file (split at X: lines, file header prepended), else one per file."""
    suffix = path.suffix.lower()
    if suffix not in MUSIC_SUFFIXES:
        raise SeqgenError(f"{path}: not a music file (expected one of {', '.join(MUSIC_SUFFIXES)})")
    try:
        if suffix != ".abc":
            with path.open("rb"):
                return [PieceSource(str(path), path)]
        raw = path.read_bytes()
    except OSError as e:
        raise SeqgenError(f"{path}: cannot read ({e.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # older ABC collections; every byte sequence decodes
    header, tunes = _split_abc(text)
    if not tunes:
        if not text.strip():
            raise SeqgenError(f"{path}: the ABC file is empty")
        return [PieceSource(str(path), path, text)]
    sources = []
    for i, tune in enumerate(tunes, 1):
        title = next((line.strip()[2:].strip() for line in tune if line.strip().startswith("T:")), "")
        name = f"{path}#{i} ({title})" if title else f"{path}#{i}"
        sources.append(PieceSource(name, path, "\n".join(header + tune) + "\n"))
    return sources


def _split_abc(text: str) -> tuple[list[str], list[list[str]]]:
    """The file header's field lines, and each tune's lines from its X: line to the next X: line."""
    header: list[str] = []
    tunes: list[list[str]] = []
    for line in text.splitlines():
        if _TUNE_START.match(line):
            tunes.append([line])
        elif tunes:
            tunes[-1].append(line)
        elif _HEADER_LINE.match(line):
            header.append(line)
    return header, tunes


def read_source(src: PieceSource) -> list[tuple[str, pretty_midi.PrettyMIDI]]:
    """The named pieces of one source; any failure is a SeqgenError "<name>: <reason>"."""
    suffix = src.path.suffix.lower()
    if suffix == ".abc":
        if src.text is None:
            return [piece for tune in piece_sources(src.path) for piece in read_source(tune)]
        return [(src.name, abc_to_midi(src.text, src.name))]
    pieces = [(src.name, read_midi(src.path))] if suffix in MIDI_SUFFIXES else _read_score_file(src)
    for name, pm in pieces:
        _require_notes(pm, name, "the piece has no notes")
    return pieces


def _read_score_file(src: PieceSource) -> list[tuple[str, pretty_midi.PrettyMIDI]]:
    """MusicXML or Humdrum through music21, without its pickle cache; an Opus gives "name#i" per score."""
    from music21 import converter, stream

    try:
        with _quiet_music21():
            conv = converter.Converter()
            conv.parseFileNoPickle(src.path)
    except Exception as e:
        raise SeqgenError(f"{src.name}: not a readable score ({reason(e)})") from None
    if isinstance(conv.stream, stream.Opus):
        scores = [(f"{src.name}#{i}", score) for i, score in enumerate(conv.stream.scores, 1)]
    else:
        scores = [(src.name, conv.stream)]
    return [(name, _convert(score, name)) for name, score in scores]


def read_midi(path: Path) -> pretty_midi.PrettyMIDI:
    """A MIDI file as PrettyMIDI, or a SeqgenError naming it (corrupt, truncated, empty, unreadable, or so large
    or long that it cannot be a real piece: parsing and encoding it would take minutes and gigabytes)."""
    size = path.stat().st_size
    if size > MAX_MIDI_BYTES:
        raise SeqgenError(f"{path}: too large for one piece ({size / 2**20:.1f} MB of MIDI events; "
                          f"the limit is {MAX_MIDI_BYTES // 2**20} MB)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pm = pretty_midi.PrettyMIDI(str(path))
    except Exception as e:
        raise SeqgenError(f"{path}: not a readable MIDI file ({reason(e)})") from None
    seconds = pm.get_end_time()
    if seconds > MAX_PIECE_SECONDS:
        raise SeqgenError(f"{path}: lasts {seconds / 3600:,.0f} hours, too long for one piece "
                          f"(limit {MAX_PIECE_SECONDS // 3600} hours); is its tempo or timing broken?")
    return pm


def abc_to_midi(text: str, name: str = "ABC text") -> pretty_midi.PrettyMIDI:
    """One ABC tune as PrettyMIDI; of text holding several tunes (X: lines), the first.

    The unit note length defaults to 1/8 when the tune sets neither L: nor M:, as the ABC standard says
    (music21 would refuse the notes). Errors say why the text is not usable ABC: it is also how text-model
    samples written in ABC become MIDI."""
    header, tunes = _split_abc(text)
    if tunes:
        text = "\n".join(header + tunes[0]) + "\n"
    if not _KEY_FIELD.search(text):
        raise SeqgenError(f"{name}: not usable ABC (no K: key field, which every tune needs before its notes)")
    if not _LENGTH_FIELD.search(text):
        text = "L:1/8\n" + text
    from music21 import converter

    try:
        with _quiet_music21():
            score = converter.parseData(text, format="abc")
    except Exception as e:
        raise SeqgenError(f"{name}: not usable ABC (music21 cannot parse it: {reason(e)})") from None
    return _require_notes(_convert(score, name), name, "not usable ABC (the tune has no notes)")


def score_to_midi(score: music21.stream.Stream, *, in_place: bool = False) -> pretty_midi.PrettyMIDI:
    """A music21 Score, Part or other stream (not an Opus) as PrettyMIDI, built without music21's MIDI writer.

    One instrument per part (the stream itself when it has no parts), program from the part's instrument
    (else 0); ties merged (stripTies), chords as simultaneous notes, grace notes dropped, rests as silence;
    seconds follow the metronome marks (quarter = 120 before the first one, music21's default); velocity
    from the note's volume, else 90. The time signatures are kept, and a pickup (an incomplete first bar)
    starts as late as it does in its bar, so bars counted from time 0 fall where the score has them (a MIDI
    file has no other way to say where bar 1 is). Repeats are not expanded: notes come in written order, and
    the form is kept as text events (FORM_MARKS: `|:` where a repeat starts, `:|` where one ends, `[1`/`[2`
    where a first or second ending starts), which a metrical codec turns into tokens.
    `in_place=True` merges the ties in `score` itself instead of in a deep copy, which costs twice as
    much as parsing: for streams nobody else uses."""
    if in_place:
        score.stripTies(inPlace=True)
    else:
        score = score.stripTies()
    bounds = score.metronomeMarkBoundaries()
    starts = [float(start) for start, _, _ in bounds]
    sec_per_quarter = [mark.secondsPerQuarter() for _, _, mark in bounds]
    elapsed = [0.0]
    for i in range(1, len(bounds)):
        elapsed.append(elapsed[-1] + (starts[i] - starts[i - 1]) * sec_per_quarter[i - 1])

    pickup = _pickup_quarters(score)

    def seconds(quarters: float) -> float:
        i = max(bisect_right(starts, quarters) - 1, 0)
        return elapsed[i] + (quarters - starts[i]) * sec_per_quarter[i] + pickup * sec_per_quarter[0]

    pm = pretty_midi.PrettyMIDI(initial_tempo=60.0 / sec_per_quarter[0])
    for offset, numerator, denominator in _time_signatures(score):
        pm.time_signature_changes.append(
            pretty_midi.TimeSignature(numerator, denominator, 0.0 if offset == 0 else seconds(offset)))
    for part in list(score.getElementsByClass("Part")) or [score]:
        instrument = part.getInstrument(returnDefault=False, recurse=True)
        program = instrument.midiProgram if instrument is not None and instrument.midiProgram is not None else 0
        track = pretty_midi.Instrument(program=program, name=getattr(part, "partName", None) or "")
        origin = 0.0 if part is score else float(part.offset)
        for el in part.flatten().notes:
            length = float(el.quarterLength)
            if length == 0:  # grace note
                continue
            start = origin + float(el.offset)
            on, off = seconds(start), seconds(start + length)
            velocity = el.volume.velocity if el.hasVolumeInformation() else None
            velocity = DEFAULT_VELOCITY if velocity is None else min(max(int(velocity), 1), 127)
            track.notes.extend(pretty_midi.Note(velocity, p.midi, on, off) for p in el.pitches)
        pm.instruments.append(track)
    pm.text_events = [pretty_midi.Text(mark, seconds(q)) for q, mark in _form_marks(score)]
    return pm


def _first_part(score: music21.stream.Stream) -> music21.stream.Stream:
    parts = list(score.getElementsByClass("Part"))
    return parts[0] if parts else score


def _pickup_quarters(score: music21.stream.Stream) -> float:
    """Quarters missing from an incomplete first bar (music21's paddingLeft), 0 without a pickup."""
    first = next(iter(_first_part(score).getElementsByClass("Measure")), None)
    return float(first.paddingLeft) if first is not None else 0.0


def _time_signatures(score: music21.stream.Stream) -> list[tuple[float, int, int]]:
    """The first part's time signatures as (offset in quarters, numerator, denominator), one per offset; those a
    MIDI file cannot hold (a denominator that is no power of two, as in some Essen songs) are left out."""
    flat = _first_part(score).flatten()
    found: dict[float, tuple[int, int]] = {}
    for ts in flat.getElementsByClass("TimeSignature"):
        numerator, denominator = int(ts.numerator), int(ts.denominator)
        if numerator >= 1 and denominator >= 1 and denominator & (denominator - 1) == 0:
            found.setdefault(float(ts.getOffsetBySite(flat)), (numerator, denominator))
    return [(offset, n, d) for offset, (n, d) in sorted(found.items())]


def _form_marks(score: music21.stream.Stream) -> list[tuple[float, str]]:
    """The repeat signs and endings of the first part as (offset in quarters, mark), in time order."""
    from music21 import bar, spanner

    part = _first_part(score)
    origin = 0.0 if part is score else float(part.offset)
    marks = []
    measures = list(part.getElementsByClass("Measure"))
    for m in measures:
        start = origin + float(m.offset)
        if isinstance(m.leftBarline, bar.Repeat) and m.leftBarline.direction == "start":
            marks.append((start, REPEAT_START))
        if isinstance(m.rightBarline, bar.Repeat) and m.rightBarline.direction == "end":
            marks.append((start + float(m.duration.quarterLength), REPEAT_END))
    ids = {id(m) for m in measures}
    for bracket in score.recurse().getElementsByClass(spanner.RepeatBracket):
        first, last = bracket.getFirst(), bracket.getLast()
        if first is None or id(first) not in ids:
            continue
        if str(bracket.number).startswith("1"):
            marks.append((origin + float(first.offset), FIRST_ENDING))
            continue
        # a later ending (2, 3, ...) is played as the second; where it ends, the section ends, so the next repeat
        # goes back no further than there (as a repeat start would say)
        marks.append((origin + float(first.offset), SECOND_ENDING))
        marks.append((origin + float(last.offset) + float(last.duration.quarterLength), REPEAT_START))
    return sorted(set(marks))


def _convert(score: music21.stream.Stream, name: str) -> pretty_midi.PrettyMIDI:
    """A freshly parsed score (so ties are merged in place) as PrettyMIDI, or a SeqgenError naming it."""
    try:
        return score_to_midi(score, in_place=True)
    except Exception as e:
        raise SeqgenError(f"{name}: cannot turn the score into notes ({reason(e)})") from None


def _require_notes(pm: pretty_midi.PrettyMIDI, name: str, why: str) -> pretty_midi.PrettyMIDI:
    if not any(inst.notes for inst in pm.instruments):
        raise SeqgenError(f"{name}: {why}")
    return pm


@contextlib.contextmanager
def skip_beaming() -> Iterator[None]:
    """Make music21's makeBeams a no-op inside the block (restored on exit, also on error).

    Beams are engraving only, yet beaming takes about half of music21's ABC import time. Not thread-safe:
    it patches the Stream class for the whole process."""
    from music21 import stream

    original = stream.Stream.makeBeams
    stream.Stream.makeBeams = _no_beams
    try:
        yield
    finally:
        stream.Stream.makeBeams = original


def _no_beams(self: music21.stream.Stream, *, inPlace: bool = False, **_: object) -> music21.stream.Stream | None:
    return None if inPlace else self


@contextlib.contextmanager
def _quiet_music21() -> Iterator[None]:
    """Parse without beaming, warnings, or the messages music21 writes straight to stdout/stderr."""
    sink = io.StringIO()
    with skip_beaming(), warnings.catch_warnings(), contextlib.redirect_stdout(sink), \
            contextlib.redirect_stderr(sink):
        warnings.simplefilter("ignore")
        yield
