"""Reading music files into PrettyMIDI: ABC tunes, MusicXML, Humdrum, MIDI, and clear errors for bad input."""

from __future__ import annotations

import random
import re
import warnings
from pathlib import Path

import mido
import music21
import pretty_midi
import pytest
from music21 import chord, converter, corpus, environment, instrument, note, stream, tempo, tie

from seqgen.domains.music.files import (
    PieceSource,
    abc_to_midi,
    is_music_file,
    piece_sources,
    read_midi,
    read_source,
    score_to_midi,
    skip_beaming,
)
from seqgen.errors import SeqgenError

CORPUS = Path(music21.__file__).parent / "corpus"
ABC_FILE = """%abc-2.1
L:1/4
M:4/4
Free text about the book, not part of any tune.

X:1
T:First
K:C
CDEF|

X:2
T:Second
K:C
GABc|

X:3
K:G
G4|
"""


def notes_of(pm: pretty_midi.PrettyMIDI) -> list[tuple[float, float, int]]:
    """(start, end, pitch) of every note, rounded to the millisecond, in time order."""
    return sorted((round(n.start, 3), round(n.end, 3), n.pitch) for inst in pm.instruments for n in inst.notes)


def tune(body: str, fields: str = "") -> str:
    return f"X:1\nT:Test\nM:4/4\nL:1/4\n{fields}K:C\n{body}\n"


def m21_notes(part: stream.Stream) -> list[tuple[float, int]]:
    """(onset in quarters, pitch) of the notes music21 sees once ties are stripped, grace notes left out."""
    return sorted((float(el.offset), p.midi) for el in part.stripTies().flatten().notes
                  if el.quarterLength > 0 for p in el.pitches)


def write_midi(path: Path) -> pretty_midi.PrettyMIDI:
    pm = pretty_midi.PrettyMIDI()
    violin, piano = pretty_midi.Instrument(program=40), pretty_midi.Instrument(program=0)
    violin.notes = [pretty_midi.Note(100, 76, 0.0, 0.5), pretty_midi.Note(80, 79, 0.5, 1.25)]
    piano.notes = [pretty_midi.Note(70, 48, 0.0, 1.0), pretty_midi.Note(70, 55, 0.0, 1.0)]
    pm.instruments = [violin, piano]
    pm.write(str(path))
    return pm


def test_is_music_file_by_suffix_ignoring_case() -> None:
    assert [is_music_file(Path(p)) for p in ["a.MID", "b.midi", "c.Abc", "d.mxl", "e.krn", "f.txt", "g"]] == \
        [True, True, True, True, True, False, False]


def test_abc_file_is_split_into_named_tunes_with_the_file_header(tmp_path: Path) -> None:
    path = tmp_path / "book.abc"
    path.write_text(ABC_FILE)
    sources = piece_sources(path)
    assert [s.name for s in sources] == [f"{path}#1 (First)", f"{path}#2 (Second)", f"{path}#3"]
    assert all(s.path == path and s.text.startswith("L:1/4\nM:4/4\nX:") for s in sources)
    assert "GABc" in sources[1].text and "GABc" not in sources[0].text and "Free text" not in sources[0].text
    # the header's L:1/4 reaches music21: quarter notes at 120 bpm last 0.5 s (L:1/8 would give 0.25 s)
    (name, pm), = read_source(sources[1])
    assert name == sources[1].name
    assert notes_of(pm) == [(0.0, 0.5, 67), (0.5, 1.0, 69), (1.0, 1.5, 71), (1.5, 2.0, 72)]
    # a source without text stands for the whole file: every tune, named as piece_sources names them
    assert [n for n, _ in read_source(PieceSource(str(path), path))] == [s.name for s in sources]


def test_latin1_abc_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "old.abc"
    path.write_bytes(tune("CDEF|").replace("T:Test", "T:Caf\xe9").encode("latin-1"))
    (src,) = piece_sources(path)
    assert src.name == f"{path}#1 (Caf\xe9)"


def test_real_abc_tune_matches_a_normal_music21_parse_and_skipping_beams_is_undone() -> None:
    path = CORPUS / "ryansMammoth" / "AcaciaReel.abc"
    (src,) = piece_sources(path)
    original = stream.Stream.makeBeams
    (name, pm), = read_source(src)
    assert stream.Stream.makeBeams is original
    assert name == f"{path}#1 (Acacia -- Reel)" and len(pm.instruments) == 1
    normal = converter.parseData(src.text, format="abc")  # with beaming, as music21 does it by default
    onsets = sorted((round(n.start * 2, 6), n.pitch) for n in pm.instruments[0].notes)  # 2 quarters a second
    pickup = float(normal.parts[0].getElementsByClass("Measure")[0].paddingLeft)  # the bar-0 rest before it
    assert pickup == 1.5 and onsets == [(round(q + pickup, 6), p) for q, p in m21_notes(normal.parts[0])]
    assert [(ts.numerator, ts.denominator, ts.time) for ts in pm.time_signature_changes] == [(2, 4, 0.0)]
    assert len(pm.instruments[0].notes) > 100 and notes_of(pm) == notes_of(score_to_midi(normal))

    with skip_beaming():
        assert stream.Stream.makeBeams is not original
        unbeamed = converter.parseData(src.text, format="abc")
    assert stream.Stream.makeBeams is original
    assert any(n.beams.beamsList for n in normal.flatten().notes)
    assert not any(n.beams.beamsList for n in unbeamed.flatten().notes)
    with pytest.raises(RuntimeError), skip_beaming():
        raise RuntimeError("parse failed")
    assert stream.Stream.makeBeams is original


def test_bach_chorale_gives_one_instrument_per_part_with_music21s_notes() -> None:
    path = Path(corpus.getWork("bwv66.6"))
    (src,) = piece_sources(path)
    (name, pm), = read_source(src)
    score = converter.parse(path, forceSource=True, storePickle=False)
    assert name == str(path) and len(pm.instruments) == 4 == len(score.parts)
    assert [i.name for i in pm.instruments] == ["Soprano", "Alto", "Tenor", "Bass"]
    spq = 60 / 96  # the chorale is marked quarter = 96
    pickup = float(score.parts[0].getElementsByClass("Measure")[0].paddingLeft)  # it opens with a one-beat pickup
    assert pickup == 3.0
    for inst, part in zip(pm.instruments, score.parts, strict=True):
        assert sorted((round(n.start / spq, 6), n.pitch) for n in inst.notes) == \
            [(round(q + pickup, 6), p) for q, p in m21_notes(part)]
    assert pm.get_end_time() == pytest.approx((score.highestTime + pickup) * spq)
    assert [(ts.numerator, ts.denominator, ts.time) for ts in pm.time_signature_changes] == [(4, 4, 0.0)]


def test_humdrum_file_is_read() -> None:
    path = CORPUS / "palestrina" / "Credo_67_c.krn"
    (name, pm), = read_source(piece_sources(path)[0])
    score = converter.parse(path, forceSource=True, storePickle=False)
    assert name == str(path)
    assert [len(i.notes) for i in pm.instruments] == [len(m21_notes(p)) for p in score.parts]
    assert len(pm.instruments) == 4


def test_midi_file_round_trips(tmp_path: Path) -> None:
    written = write_midi(tmp_path / "two.mid")
    (name, pm), = read_source(piece_sources(tmp_path / "two.mid")[0])
    assert name == str(tmp_path / "two.mid")
    assert [i.program for i in pm.instruments] == [40, 0]
    assert [[(n.pitch, n.velocity, round(n.start, 3), round(n.end, 3)) for n in i.notes] for i in pm.instruments] \
        == [[(n.pitch, n.velocity, n.start, n.end) for n in i.notes] for i in written.instruments]


def test_musicxml_file_keeps_program_tempo_chords_ties_and_rests(tmp_path: Path) -> None:
    d1, d2 = note.Note("D4"), note.Note("D4")
    d1.tie, d2.tie = tie.Tie("start"), tie.Tie("stop")
    part = stream.Part([instrument.Violin(), tempo.MetronomeMark(number=60), note.Note("C4"),
                        chord.Chord(["E4", "G4"], quarterLength=2), d1, d2, note.Rest(),
                        note.Note("B4").getGrace(), tempo.MetronomeMark(number=120), note.Note("A4")])
    path = tmp_path / "piece.musicxml"
    stream.Score([part]).write("musicxml", fp=path)
    (_, pm), = read_source(piece_sources(path)[0])
    assert [i.program for i in pm.instruments] == [40]
    # quarter = 1 s until the second mark at quarter 6, then 0.5 s; the grace note is dropped
    assert notes_of(pm) == [(0.0, 1.0, 60), (1.0, 3.0, 64), (1.0, 3.0, 67), (3.0, 5.0, 62), (6.0, 6.5, 69)]


def test_tempo_header_sets_note_lengths_in_seconds() -> None:
    slow, fast = abc_to_midi(tune("CDEF|", "Q:1/4=60\n")), abc_to_midi(tune("CDEF|", "Q:1/4=120\n"))
    assert [(s, e) for s, e, _ in notes_of(slow)] == [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0), (3.0, 4.0)]
    assert [(2 * s, 2 * e) for s, e, _ in notes_of(fast)] == [(s, e) for s, e, _ in notes_of(slow)]
    assert notes_of(abc_to_midi(tune("CDEF|"))) == notes_of(fast)  # no Q: is quarter = 120


def test_tied_notes_become_one_and_chords_sound_together() -> None:
    assert notes_of(abc_to_midi(tune("C2-C2|D2 z2|"))) == [(0.0, 2.0, 60), (2.0, 3.0, 62)]
    assert notes_of(abc_to_midi(tune("[CEG]2 c2|"))) == [(0.0, 1.0, 60), (0.0, 1.0, 64), (0.0, 1.0, 67),
                                                         (1.0, 2.0, 72)]


def test_abc_text_with_several_tunes_gives_the_first() -> None:
    assert notes_of(abc_to_midi(tune("C4|") + tune("D4|"))) == [(0.0, 2.0, 60)]


def test_score_to_midi_reads_velocities_and_leaves_the_stream_alone() -> None:
    c1, c2, loud = note.Note("C4", quarterLength=2), note.Note("C4"), note.Note("E4")
    c1.tie, c2.tie = tie.Tie("start"), tie.Tie("stop")
    loud.volume.velocity = 120
    s = stream.Stream([c1, c2, loud])  # no parts: the stream is the one instrument
    pm = score_to_midi(s)
    assert [(n.pitch, n.velocity, n.start, n.end) for n in pm.instruments[0].notes] == \
        [(60, 90, 0.0, 1.5), (64, 120, 1.5, 2.0)]
    assert len(s.flatten().notes) == 3
    assert notes_of(score_to_midi(s, in_place=True)) == notes_of(pm) and len(s.flatten().notes) == 2


def test_parsing_prints_nothing_warns_nothing_and_writes_no_music21_cache(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    midi = mido.MidiFile(type=1)
    midi.tracks = [mido.MidiTrack([mido.Message("note_on", note=60, velocity=90, time=0),
                                   mido.Message("note_off", note=60, velocity=0, time=480)]),
                   mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=600000, time=0)])]
    midi.save(tmp_path / "odd.mid")
    with pytest.warns(RuntimeWarning):
        pretty_midi.PrettyMIDI(str(tmp_path / "odd.mid"))  # this file makes pretty_midi warn,
    xml = tmp_path / "s.musicxml"
    stream.Score([stream.Part([instrument.Violin(), note.Note("C4")])]).write("musicxml", fp=xml)
    xml.write_text(xml.read_text().replace("<midi-program>41<", "<midi-program>300<"))
    with pytest.warns(Warning, match="MIDI program"):
        converter.Converter().parseFileNoPickle(xml)  # and this one makes music21 warn ...
    env, scratch = environment.Environment(), tmp_path / "scratch"
    scratch.mkdir()
    env["directoryScratch"] = str(scratch)  # where music21 would put its parse pickles
    capfd.readouterr()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for path in [tmp_path / "odd.mid", xml]:  # ... but reading them through seqgen does not
                assert read_source(piece_sources(path)[0])
            assert abc_to_midi(tune("CDEF|"))
    finally:
        env["directoryScratch"] = None
    assert caught == [] and capfd.readouterr() == ("", "") and list(scratch.iterdir()) == []


def _valid_midi(tmp_path: Path) -> bytes:
    write_midi(tmp_path / "valid.mid")
    return (tmp_path / "valid.mid").read_bytes()


@pytest.mark.parametrize("content", [
    pytest.param(lambda tmp: random.Random(0).randbytes(600), id="random-bytes"),
    pytest.param(lambda tmp: _valid_midi(tmp)[:30], id="truncated"),
    pytest.param(lambda tmp: b"", id="zero-bytes"),
])
def test_unreadable_midi_fails_with_its_name(tmp_path: Path, content) -> None:
    path = tmp_path / "bad.mid"
    path.write_bytes(content(tmp_path))
    with pytest.raises(SeqgenError, match="not a readable MIDI file") as e:
        read_source(piece_sources(path)[0])
    assert str(e.value).startswith(f"{path}: ") and "\n" not in str(e.value)
    with pytest.raises(SeqgenError, match="not a readable MIDI file"):
        read_midi(path)


def test_midi_file_without_notes_fails_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "silent.mid"
    pm = pretty_midi.PrettyMIDI()
    pm.instruments.append(pretty_midi.Instrument(program=0))
    pm.write(str(path))
    with pytest.raises(SeqgenError, match=f"^{re.escape(str(path))}: the piece has no notes$"):
        read_source(piece_sources(path)[0])


@pytest.mark.parametrize(("body", "reason"), [
    ("!!!@@@### ][[ (((( ))) 9999", "music21 cannot parse it"),
    ("L:0/0\nC|", "music21 cannot parse it"),
    ("z4|z4|", "no notes"),
])
def test_bad_abc_tune_fails_with_its_name(tmp_path: Path, body: str, reason: str) -> None:
    path = tmp_path / "bad.abc"
    path.write_text(f"X:1\nT:Broken\nK:C\n{body}\n")
    with pytest.raises(SeqgenError, match=reason) as e:
        read_source(piece_sources(path)[0])
    assert str(e.value).startswith(f"{path}#1 (Broken): not usable ABC") and "\n" not in str(e.value)


def test_prose_is_not_usable_abc() -> None:
    prose = "It was the best of times, it was the worst of times.\nIt was the age of wisdom, the age of folly."
    with pytest.raises(SeqgenError, match=r"^sample: not usable ABC \(no K: key field"):
        abc_to_midi(prose, "sample")


def test_musicxml_that_is_not_xml_fails_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "score.musicxml"
    path.write_text("this is not XML at all")
    with pytest.raises(SeqgenError, match="not a readable score") as e:
        read_source(piece_sources(path)[0])
    assert str(e.value).startswith(f"{path}: ") and "\n" not in str(e.value)


def test_unreadable_or_unknown_files_fail_in_piece_sources(tmp_path: Path) -> None:
    with pytest.raises(SeqgenError, match=r"missing\.mid: cannot read"):
        piece_sources(tmp_path / "missing.mid")
    with pytest.raises(SeqgenError, match=r"notes\.txt: not a music file"):
        piece_sources(tmp_path / "notes.txt")
    (tmp_path / "empty.abc").write_text("\n")
    with pytest.raises(SeqgenError, match=r"empty\.abc: the ABC file is empty"):
        piece_sources(tmp_path / "empty.abc")
