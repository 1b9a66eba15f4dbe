"""NoteEventCodec: MIDI performances <-> Performance-RNN-style event tokens, checked on real pieces and edge cases."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import music21
import numpy as np
import pretty_midi
import pytest

from seqgen.codecs import NoteEventCodec, codec_from_dict
from seqgen.codecs.notes import END, NOTE_OFF, NOTE_ON, START, TIME_SHIFT, Note, velocity_bin

CODEC = NoteEventCodec()
SHIFT_1S = TIME_SHIFT + 99  # TIME_SHIFT(1000ms) with the default settings


def assert_round_trip(codec: NoteEventCodec, expected: Sequence, decoded: Sequence) -> None:
    """Pitches exact, onsets and releases within one step, velocities within one bin width."""
    key = lambda n: (n.pitch, n.start, n.end)  # noqa: E731
    expected, decoded = sorted(expected, key=key), sorted(decoded, key=key)
    assert [n.pitch for n in decoded] == [n.pitch for n in expected]
    tol, width = codec.step + 1e-9, math.ceil(127 / codec.velocity_bins)
    for e, d in zip(expected, decoded, strict=True):
        assert abs(d.start - e.start) <= tol and abs(d.end - e.end) <= tol, (e, d)
        assert abs(d.velocity - e.velocity) <= width, (e, d)


def shifted(notes: Sequence[Note], seconds: float) -> list[Note]:
    return [Note(n.pitch, n.start + seconds, n.end + seconds, n.velocity) for n in notes]


def midi(tmp_path: Path, *instruments: pretty_midi.Instrument, name: str = "x.mid") -> pretty_midi.PrettyMIDI:
    """Write the instruments to a MIDI file and read it back, as a user's file would arrive."""
    pm = pretty_midi.PrettyMIDI()
    pm.instruments.extend(instruments)
    pm.write(str(tmp_path / name))
    return pretty_midi.PrettyMIDI(str(tmp_path / name))


def instrument(notes: Sequence[tuple[int, float, float, int]], program: int = 0, is_drum: bool = False,
               pedal: Sequence[tuple[float, int]] = ()) -> pretty_midi.Instrument:
    inst = pretty_midi.Instrument(program=program, is_drum=is_drum)
    inst.notes = [pretty_midi.Note(velocity=v, pitch=p, start=s, end=e) for p, s, e, v in notes]
    inst.control_changes = [pretty_midi.ControlChange(64, value, t) for t, value in pedal]
    return inst


@pytest.mark.parametrize("work, number", [("bach/bwv66.6", None), ("airdsAirs/book1.abc", 12),
                                          ("ryansMammoth/42dHighlandRegimentStrathspey.abc", None)])
def test_real_pieces_round_trip(tmp_path: Path, work: str, number: int | None):
    score = music21.corpus.parse(work, number=number) if number else music21.corpus.parse(work)
    score.write("midi", fp=tmp_path / "x.mid")
    pm = pretty_midi.PrettyMIDI(str(tmp_path / "x.mid"))
    for inst in pm.instruments:  # 1.234 s of leading silence, which encode must remove
        for n in inst.notes:
            n.start, n.end = n.start + 1.234, n.end + 1.234
    expected = shifted(CODEC.notes_of(pm), -1.234)
    assert len(expected) == sum(len(i.notes) for i in pm.instruments) > 100  # every part's notes, merged
    ids = CODEC.encode(pm)
    decoded = CODEC.decode(ids).instruments[0].notes
    assert_round_trip(CODEC, expected, decoded)
    assert decoded[0].start == 0.0
    assert CODEC.seconds(ids) == pytest.approx(max(n.end for n in expected), abs=CODEC.step)


def test_exact_events_and_velocity_only_on_change():
    notes = [Note(60, 2.0, 3.0, 100), Note(64, 2.0, 3.0, 98), Note(67, 2.5, 3.0, 40)]  # 100, 98: one bin
    ids = CODEC.encode(notes)
    assert [CODEC.token_name(i) for i in ids] == [
        "VELOCITY(24)", "NOTE_ON(60)", "NOTE_ON(64)", "TIME_SHIFT(500ms)", "VELOCITY(9)", "NOTE_ON(67)",
        "TIME_SHIFT(500ms)", "NOTE_OFF(60)", "NOTE_OFF(64)", "NOTE_OFF(67)"]
    assert CODEC.encode_document(notes) == [START, *ids, END]


def test_sustain_pedal_holds_released_notes_until_pedal_up(tmp_path: Path):
    piano = instrument([(60, 0.0, 0.5, 80), (64, 1.0, 1.25, 80),  # released under the pedal
                        (62, 0.25, 0.5, 80), (62, 0.75, 1.0, 80),  # re-struck under the pedal: ends the first
                        (67, 2.5, 3.0, 80)],  # after pedal up: untouched
                       pedal=[(0.125, 100), (2.0, 0)])
    other = instrument([(48, 0.0, 0.5, 80)], program=32)  # the pedal is per instrument
    pm = midi(tmp_path, piano, other)
    ends = {(n.pitch, n.start): n.end for n in CODEC.notes_of(pm)}
    assert ends == pytest.approx({(60, 0.0): 2.0, (64, 1.0): 2.0, (62, 0.25): 0.75, (62, 0.75): 2.0,
                                  (67, 2.5): 3.0, (48, 0.0): 0.5}, abs=0.005)
    decoded = CODEC.events_to_notes(CODEC.encode(pm))
    assert_round_trip(CODEC, CODEC.notes_of(pm), decoded)


def test_pedal_never_lifted_holds_to_the_last_event():
    pm = pretty_midi.PrettyMIDI()
    pm.instruments.append(instrument([(60, 0.0, 0.5, 80), (62, 1.0, 3.0, 80)], pedal=[(0.1, 127)]))
    assert [n.end for n in CODEC.notes_of(pm)] == [3.0, 3.0]


def test_overlapping_same_pitch_notes_survive_first_in_first_out(tmp_path: Path):
    notes = [Note(60, 0.0, 1.0, 100), Note(60, 0.5, 1.5, 40)]
    ids = CODEC.encode(notes)
    assert ids.count(NOTE_ON + 60) == 2 and ids.count(NOTE_OFF + 60) == 2
    assert_round_trip(CODEC, notes, CODEC.events_to_notes(ids))
    # the same overlap from two instruments of a MIDI file (within one channel MIDI itself cannot keep it)
    pm = midi(tmp_path, instrument([(60, 0.0, 1.0, 100)]), instrument([(60, 0.5, 1.5, 40)], program=40))
    assert_round_trip(CODEC, notes, CODEC.events_to_notes(CODEC.encode(pm)))
    # a nested overlap is paired first-in first-out, the only pairing NOTE_OFF can express
    nested = [Note(60, 0.0, 2.0, 100), Note(60, 0.5, 1.0, 40)]
    assert CODEC.notes_of(nested) == [Note(60, 0.0, 1.0, 100), Note(60, 0.5, 2.0, 40)]
    assert_round_trip(CODEC, CODEC.notes_of(nested), CODEC.events_to_notes(CODEC.encode(nested)))


def test_re_struck_pitch_releases_before_it_strikes_again():
    notes = [Note(60, 0.0, 1.0, 80), Note(60, 1.0, 2.0, 80)]
    ids = CODEC.encode(notes)
    assert ids[ids.index(SHIFT_1S) + 1:ids.index(SHIFT_1S) + 3] == [NOTE_OFF + 60, NOTE_ON + 60]
    assert_round_trip(CODEC, notes, CODEC.events_to_notes(ids))


def test_drums_left_out_by_default_and_merged_with_drums_true(tmp_path: Path):
    pm = midi(tmp_path, instrument([(60, 0.0, 1.0, 80)]),
              instrument([(36, 0.0, 0.1, 100), (38, 0.5, 0.6, 100)], is_drum=True))
    assert [n.pitch for n in CODEC.notes_of(pm)] == [60]
    assert set(CODEC.encode(pm)) & {NOTE_ON + 36, NOTE_ON + 38} == set()
    with_drums = NoteEventCodec(drums=True)
    assert [n.pitch for n in with_drums.notes_of(pm)] == [36, 60, 38]
    out = with_drums.decode(with_drums.encode(pm))
    assert len(out.instruments) == 1 and not out.instruments[0].is_drum
    assert sorted(n.pitch for n in out.instruments[0].notes) == [36, 38, 60]


def test_pieces_without_notes_encode_to_nothing(tmp_path: Path):
    tempo_only = pretty_midi.PrettyMIDI(initial_tempo=90.0)
    tempo_only.instruments.append(pretty_midi.Instrument(program=0))
    tempo_only.write(str(tmp_path / "tempo.mid"))
    for piece in (pretty_midi.PrettyMIDI(str(tmp_path / "tempo.mid")), pretty_midi.PrettyMIDI(), []):
        assert CODEC.encode(piece) == []
        assert CODEC.encode_document(piece) == [START, END]
    assert CODEC.decode([START, END]).instruments[0].notes == []
    assert CODEC.seconds([]) == 0.0


def test_zero_length_note_lasts_one_step():
    notes = [Note(62, 1.0, 1.0, 80), Note(60, 1.0, 1.5, 80)]
    assert CODEC.notes_of(notes)[1] == Note(62, 1.0, 1.01, 80)
    ids = CODEC.encode(notes)
    assert ids[:5] == [CODEC.velocity_id + velocity_bin(80, 32), NOTE_ON + 60, NOTE_ON + 62, TIME_SHIFT, NOTE_OFF + 62]
    zero = [n for n in CODEC.events_to_notes(ids) if n.pitch == 62]
    assert zero == [Note(62, 0.0, 0.01, zero[0].velocity)]
    # one step long, yet both ends round to step 8 (0.075 / 0.01 + 0.5 == 8.0, 0.08499.. / 0.01 + 0.5 < 9)
    short = [Note(60, 0.0, 0.5, 80), Note(62, 0.075, 0.075 + 0.01, 80)]
    assert [x for n in CODEC.events_to_notes(CODEC.encode(short)) for x in (n.pitch, n.start, n.end)] == \
        pytest.approx([60, 0.0, 0.5, 62, 0.08, 0.09])


def test_long_rest_becomes_whole_time_shifts_and_keeps_the_onset():
    notes = [Note(60, 0.0, 0.5, 80), Note(64, 75.5, 76.0, 80)]
    ids = CODEC.encode(notes)
    gap = ids[ids.index(NOTE_OFF + 60) + 1:ids.index(NOTE_ON + 64)]
    assert gap == [SHIFT_1S] * 75
    assert CODEC.events_to_notes(ids)[1] == Note(64, 75.5, 76.0, CODEC.events_to_notes(ids)[0].velocity)
    assert CODEC.seconds(ids) == pytest.approx(76.0)


def test_several_instruments_merge_into_one_program(tmp_path: Path):
    pm = midi(tmp_path, instrument([(60, 0.0, 1.0, 80), (64, 1.0, 2.0, 80)]),
              instrument([(72, 0.5, 1.5, 60)], program=40), instrument([(36, 0.0, 2.0, 100)], program=32))
    codec = NoteEventCodec(program=40, tempo=90.0)
    out = codec.decode(codec.encode(pm))
    assert len(out.instruments) == 1 and out.instruments[0].program == 40
    assert_round_trip(codec, codec.notes_of(pm), out.instruments[0].notes)
    out.write(str(tmp_path / "out.mid"))  # a valid MIDI file that notation programs read at the codec's tempo
    back = pretty_midi.PrettyMIDI(str(tmp_path / "out.mid"))
    assert back.get_tempo_changes()[1][0] == pytest.approx(90.0, abs=0.01)
    assert sorted(n.pitch for n in back.instruments[0].notes) == [36, 60, 64, 72]


@pytest.mark.parametrize("settings", [{}, {"step_ms": 20.0, "max_shift_ms": 500.0, "velocity_bins": 8}])
def test_random_chords_round_trip(settings: dict):
    codec = NoteEventCodec(**settings)
    rng = np.random.default_rng(7)
    notes = []
    for onset in np.sort(rng.uniform(0.0, 40.0, 80)):  # 80 chords of 1..6 notes, some arpeggiated, some rests
        for pitch in rng.choice(np.arange(21, 109), rng.integers(1, 7), replace=False):
            start = onset + rng.choice([0.0, rng.uniform(0, 0.05)])
            notes.append(Note(int(pitch), start, start + rng.uniform(0.02, 3.0), int(rng.integers(1, 128))))
    assert len(notes) > 250
    expected = codec.notes_of(notes)
    assert sorted((n.pitch, n.start) for n in expected) == sorted((n.pitch, n.start) for n in notes)
    t0 = min(n.start for n in notes)
    assert_round_trip(codec, shifted(expected, -t0), codec.events_to_notes(codec.encode(notes)))


def test_events_to_notes_tolerates_sampled_slips():
    vel = CODEC.velocity_id + 31
    ids = [START, NOTE_ON + 60, TIME_SHIFT + 9, NOTE_OFF + 61, vel, NOTE_ON + 62, TIME_SHIFT + 99, NOTE_ON + 64,
           END, NOTE_ON + 65, TIME_SHIFT]
    notes = CODEC.events_to_notes(ids)
    assert [n.pitch for n in notes] == [60, 62, 64]  # <start> ignored, the stray NOTE_OFF(61) too, nothing after <end>
    assert [t for n in notes for t in (n.start, n.end)] == pytest.approx([0.0, 1.1, 0.1, 1.1, 1.1, 1.11])
    assert notes[1].velocity == 126 and 1 <= notes[0].velocity <= 127  # bin centre; before any VELOCITY: a default
    with pytest.raises(ValueError):
        CODEC.events_to_notes([NOTE_ON + 60, CODEC.vocab_size])


def test_transpose_and_pitch_span():
    notes = [Note(40, 0.0, 1.0, 80), Note(70, 0.5, 1.0, 30), Note(55, 1.0, 2.0, 80)]
    ids = np.array(CODEC.encode_document(notes), dtype=np.int64)
    assert CODEC.pitch_span(ids) == (40, 70)
    up = CODEC.transpose(ids, 5)
    assert up.dtype == ids.dtype and CODEC.pitch_span(up) == (45, 75)
    is_note = (ids >= NOTE_ON) & (ids < TIME_SHIFT)
    assert np.array_equal(up[~is_note], ids[~is_note]) and np.array_equal(up[is_note], ids[is_note] + 5)
    assert [(n.pitch, n.start, n.end) for n in CODEC.events_to_notes(up)] == \
        [(n.pitch + 5, n.start, n.end) for n in CODEC.events_to_notes(ids)]
    assert CODEC.pitch_span(CODEC.transpose(ids, -40)) == (0, 30)
    assert CODEC.pitch_span(CODEC.transpose(ids, 57)) == (97, 127)
    for semitones in (-41, 58):
        with pytest.raises(ValueError):
            CODEC.transpose(ids, semitones)
    assert CODEC.pitch_span(np.array([START, SHIFT_1S, END])) is None
    assert CODEC.pitch_span(np.zeros(0, dtype=np.int64)) is None


def test_transpose_keeps_unsigned_token_arrays():
    ids = np.array([START, NOTE_ON + 60, TIME_SHIFT, NOTE_OFF + 60, END], dtype=np.uint16)
    down = CODEC.transpose(ids, -5)
    assert down.dtype == np.uint16 and down.tolist() == [START, NOTE_ON + 55, TIME_SHIFT, NOTE_OFF + 55, END]


def test_token_seconds_and_seconds():
    secs = CODEC.token_seconds
    assert secs.dtype == np.float64 and secs.shape == (390,)
    assert secs[TIME_SHIFT] == pytest.approx(0.01) and secs[SHIFT_1S] == pytest.approx(1.0)
    assert np.count_nonzero(secs) == 100 and secs[NOTE_ON:TIME_SHIFT].sum() == 0
    assert CODEC.seconds([START, TIME_SHIFT + 24, NOTE_ON + 60, SHIFT_1S, END, SHIFT_1S]) == pytest.approx(1.25)


def test_token_names():
    names = [CODEC.token_name(i) for i in range(CODEC.vocab_size)]
    assert len(set(names)) == CODEC.vocab_size
    assert names[0] == "<start>" and names[1] == "<end>"
    assert names[NOTE_ON + 60] == "NOTE_ON(60)" and names[NOTE_OFF + 60] == "NOTE_OFF(60)"
    assert names[TIME_SHIFT + 24] == "TIME_SHIFT(250ms)" and names[SHIFT_1S] == "TIME_SHIFT(1000ms)"
    assert names[CODEC.velocity_id + 17] == "VELOCITY(17)" and names[-1] == "VELOCITY(31)"
    with pytest.raises(ValueError):
        CODEC.token_name(CODEC.vocab_size)


def test_vocabulary_and_special_tokens():
    assert CODEC.vocab_size == 2 + 128 + 128 + 100 + 32 == 390
    assert CODEC.special_ids == [0] and CODEC.start_ids == [0] and CODEC.end_ids == [1]
    assert CODEC.describe() == "note events (390 tokens: 10 ms steps up to 1 s, 32 velocity bins)"
    small = NoteEventCodec(step_ms=20, max_shift_ms=500, velocity_bins=8)
    assert small.vocab_size == 2 + 128 + 128 + 25 + 8
    assert small.token_name(TIME_SHIFT + 24) == "TIME_SHIFT(500ms)"
    assert small.token_name(TIME_SHIFT + 25) == "VELOCITY(0)"
    assert small.describe() == "note events (291 tokens: 20 ms steps up to 500 ms, 8 velocity bins)"


def test_serialisation_round_trip():
    codec = NoteEventCodec(step_ms=20, max_shift_ms=500, velocity_bins=8, drums=True, program=40, tempo=90)
    d = json.loads(json.dumps(codec.to_dict()))
    assert d["kind"] == "note-event"
    for rebuilt in (codec_from_dict(d), NoteEventCodec.from_dict(d)):
        assert isinstance(rebuilt, NoteEventCodec) and rebuilt.to_dict() == codec.to_dict()
        notes = [Note(60, 0.0, 0.7, 50), Note(36, 0.2, 0.3, 90)]
        assert rebuilt.encode(notes) == codec.encode(notes)


@pytest.mark.parametrize("bad", [{"step_ms": 0}, {"step_ms": -5}, {"max_shift_ms": 5}, {"velocity_bins": 0},
                                 {"velocity_bins": 128}, {"program": 128}, {"program": -1}, {"tempo": 0}])
def test_constructor_validates_settings(bad: dict):
    with pytest.raises(ValueError):
        NoteEventCodec(**bad)


def test_max_note_seconds_ends_droning_notes_only_when_asked():
    ids = [START, NOTE_ON + 60, SHIFT_1S, NOTE_ON + 64, SHIFT_1S, NOTE_OFF + 64] + [SHIFT_1S] * 8 + [NOTE_OFF + 60]
    held = CODEC.events_to_notes(ids)
    assert [(n.pitch, n.start, n.end) for n in held] == [(60, 0.0, 10.0), (64, 1.0, 2.0)]
    capped = CODEC.decode(ids, max_note_seconds=5.0).instruments[0].notes
    assert [(n.pitch, n.start, n.end) for n in capped] == [(60, 0.0, 5.0), (64, 1.0, 2.0)]
