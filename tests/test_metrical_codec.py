"""MetricalCodec (MidiTok REMI): exact round trips of a pickup, a 6/8 jig, a tied note and a chord read from ABC the
way seqgen reads scores, real corpus tunes, the id tables the music domain uses, and the JSON the checkpoint keeps."""

from __future__ import annotations

import json
import pickle
import random
from pathlib import Path

import numpy as np
import pytest

from seqgen.codecs import codec_from_dict
from seqgen.domains import get_corpus
from seqgen.domains.music.files import abc_to_midi, piece_sources, read_source
from seqgen.domains.music.metrical import FORM_TOKENS, TEMPO, MetricalCodec, play_order

# ABC tunes, and the notes each must come back as: (onset, duration) in quarter notes, pitch.
PICKUP = "M:2/4\nL:1/8\nK:C\nG|c2 e2|g4|]"  # an eighth before bar 1: it sits at the end of bar 0
JIG = "M:6/8\nL:1/8\nK:D\nd2d fed|A3 A2B|]"
TIED = "M:3/4\nL:1/4\nK:C\nc2 d-|d2 e|]"  # the tied d lasts two quarters
CHORD = "M:4/4\nL:1/4\nK:C\n[CEG]2 (3c/d/e/ f|g4|]"  # a chord and an eighth-note triplet
EXPECTED = {
    "pickup": (PICKUP, [(1.5, 0.5, 67), (2.0, 1.0, 72), (3.0, 1.0, 76), (4.0, 2.0, 79)], (2, 4)),
    "jig": (JIG, [(0.0, 1.0, 74), (1.0, 0.5, 74), (1.5, 0.5, 78), (2.0, 0.5, 76), (2.5, 0.5, 74),
                  (3.0, 1.5, 69), (4.5, 1.0, 69), (5.5, 0.5, 71)], (6, 8)),
    "tied": (TIED, [(0.0, 2.0, 72), (2.0, 3.0, 74), (5.0, 1.0, 76)], (3, 4)),
    "chord": (CHORD, [(0.0, 2.0, 60), (0.0, 2.0, 64), (0.0, 2.0, 67), (2.0, 1 / 3, 72), (2 + 1 / 3, 1 / 3, 74),
                      (2 + 2 / 3, 1 / 3, 76), (3.0, 1.0, 77), (4.0, 4.0, 79)], (4, 4)),
}
SECONDS_PER_QUARTER = 60 / TEMPO


@pytest.fixture(scope="module")
def codec() -> MetricalCodec:
    return MetricalCodec()


def _notes(pm) -> list[tuple[float, float, int]]:
    """Notes as (onset, duration) in quarter notes at the decoded tempo, and pitch; rounded to 1/96 quarter."""
    return sorted((round(n.start / SECONDS_PER_QUARTER * 96) / 96, round((n.end - n.start) / SECONDS_PER_QUARTER * 96)
                   / 96, n.pitch) for inst in pm.instruments for n in inst.notes)


def _rounded(notes: list[tuple[float, float, int]]) -> list[tuple[float, float, int]]:
    return sorted((round(a * 96) / 96, round(b * 96) / 96, p) for a, b, p in notes)


@pytest.mark.parametrize("case", EXPECTED)
def test_scores_round_trip_exactly_with_their_time_signature(codec: MetricalCodec, case: str) -> None:
    abc, notes, (numerator, denominator) = EXPECTED[case]
    pm = abc_to_midi(f"X:1\nT:t\n{abc}\n")  # read as seqgen reads ABC (its own tempo here is 120 too)
    back = codec.decode(codec.encode(pm))
    assert _notes(back) == _rounded(notes)
    assert [(ts.numerator, ts.denominator, ts.time) for ts in back.time_signature_changes] == \
        [(numerator, denominator, 0.0)]
    assert all(n.velocity == 90 for inst in back.instruments for n in inst.notes)


def test_the_pickup_sits_at_the_end_of_bar_zero(codec: MetricalCodec) -> None:
    ids = codec.encode(abc_to_midi(f"X:1\nT:t\n{PICKUP}\n"))
    names = [codec.token_name(i) for i in ids]
    assert names[:6] == ["Key_C", "Bar_None", "TimeSig_2/4", "Position_18", "Pitch_67", "Duration_0.6.12"]
    assert names.count("Bar_None") == 3
    assert codec.seconds(ids) == 3 * 2 * SECONDS_PER_QUARTER  # three bars of two quarters


def test_real_folk_tunes_round_trip_at_the_codec_resolution(codec: MetricalCodec) -> None:
    """Twenty tunes of the folk corpus (a fixed draw): every note back at its onset and duration (the grid holds
    16ths and triplets; x/2 bars are written as 2x/4), pitch for pitch."""
    files = get_corpus("folk").files()
    sources = [s for f in files if "oneills" in str(f) for s in piece_sources(f)]
    tunes = [pm for src in random.Random(3).sample(sources, 20) for _, pm in read_source(src)]
    checked = 0
    for pm in tunes:
        pm.text_events = []  # the notes as written (the form's repeats are the next test's)
        tempo = pm.get_tempo_changes()[1][0]
        original = sorted((round(n.start * tempo / 60 * 12) / 12, round((n.end - n.start) * tempo / 60 * 12) / 12,
                           n.pitch) for inst in pm.instruments for n in inst.notes)
        back = codec.decode(codec.encode(pm))
        assert sorted((round(n.start / SECONDS_PER_QUARTER * 12) / 12, round((n.end - n.start) / SECONDS_PER_QUARTER
                       * 12) / 12, n.pitch) for inst in back.instruments for n in inst.notes) == original
        checked += 1
    assert checked == 20


FORM = "M:2/4\nL:1/8\nK:G\nG|:AB cd|ef g2|1 ga bg:|2 gf g2||\n|:de fg|ab c'2:|"  # pickup, endings, two repeats


def _played(abc: str) -> list[int]:
    """The tune's pitches in the order a musician plays them (music21's expandRepeats), grace notes left out as
    seqgen reads scores."""
    from music21 import converter

    played = converter.parseData(abc, format="abc").expandRepeats().stripTies().flatten().notes
    return [p.midi for n in played if n.quarterLength > 0 for p in sorted(n.pitches)]


def test_repeat_signs_and_endings_become_tokens_and_are_played_out(codec: MetricalCodec) -> None:
    pm = abc_to_midi(f"X:1\nT:t\n{FORM}\n")
    ids = codec.encode(pm)
    form = [codec.token_name(i) for i in ids if codec.token_name(i).startswith(("Bar", "Repeat", "Ending"))]
    assert form == ["Bar_None", "Repeat_start", "Bar_None", "Bar_None", "Ending_1", "Bar_None", "Repeat_end",
                    "Ending_2", "Bar_None", "Repeat_start", "Bar_None", "Bar_None", "Repeat_end"]
    back = codec.decode(ids)
    notes = sorted(back.instruments[0].notes, key=lambda n: (n.start, n.pitch))
    assert [n.pitch for n in notes] == _played(FORM) and len(notes) == 36
    # bars 1-3 twice (ending 1 the first time), ending 2, bars 5-6 twice: 10 bars after the pickup's
    assert back.get_end_time() == pytest.approx((1 + 10) * 2 * SECONDS_PER_QUARTER)
    assert codec.seconds(ids) == 7 * 2 * SECONDS_PER_QUARTER  # bars as written (--seconds counts them played)
    assert np.array_equal(codec.transpose(np.asarray(ids), 2) >= codec.vocab_size - 4, np.asarray(ids) >=
                          codec.vocab_size - 4)  # form tokens are no pitches


def test_real_folk_tunes_play_their_repeats_as_music21_does(codec: MetricalCodec) -> None:
    """Thirty Ryan's Mammoth tunes: the decoded notes are music21's expandRepeats, pitch for pitch, except where a
    second section ends in `:|` without a `|:` of its own: music21 then goes back to the top of the tune, seqgen
    to the end of the section before (a reel's B part repeats itself: AABB), so it plays less."""
    files = get_corpus("folk").files()
    sources = [s for f in files if "ryansMammoth" in str(f) for s in piece_sources(f)]
    matched = differed = 0
    for src in random.Random(5).sample(sources, 30):
        try:
            expected = _played(src.text)
        except Exception:  # noqa: BLE001 (music21 cannot expand some tunes' repeats; they prove nothing here)
            continue
        ((_, pm),) = read_source(src)
        back = codec.decode(codec.encode(pm))
        played = [n.pitch for n in sorted(back.instruments[0].notes, key=lambda n: (n.start, n.pitch))]
        if played == expected:
            matched += 1
            continue
        assert src.text.count(":|") > src.text.count("|:") + 1 and len(played) < len(expected), src.name
        differed += 1
    assert matched >= 15 and matched > 3 * differed, (matched, differed)


WRITTEN_OUT = "M:2/4\nL:1/8\nK:G\nAB cd|ef g2|AB cd|ef g2|de fg|ab c'2|de fg|ab c'2|g4|]"  # AABB, no repeat signs


def test_passages_played_twice_in_a_row_are_written_with_repeat_signs(codec: MetricalCodec) -> None:
    pm = abc_to_midi(f"X:1\nT:t\n{WRITTEN_OUT}\n")
    ids = codec.encode(pm)
    form = [codec.token_name(i) for i in ids if codec.token_name(i).startswith(("Bar", "Repeat"))]
    assert form == ["Repeat_start", "Bar_None", "Bar_None", "Repeat_end", "Repeat_start", "Bar_None", "Bar_None",
                    "Repeat_end", "Bar_None"]
    assert _notes(codec.decode(ids)) == _notes(pm)  # lossless: decoding plays both passages twice again


def test_folding_written_out_repeats_is_lossless_on_real_songs(codec: MetricalCodec) -> None:
    """Essen folk songs carry no repeat signs; those with a passage sung twice in a row get one, and every song
    decodes to its own notes."""
    files = [f for f in get_corpus("folk").files() if "essenFolksong" in str(f)]
    sources = [s for f in random.Random(2).sample(files, 4) for s in piece_sources(f)]
    folded = 0
    for src in random.Random(2).sample(sources, 25):
        ((_, pm),) = read_source(src)
        ids = codec.encode(pm)
        folded += "Repeat_end" in {codec.token_name(i) for i in ids}
        assert _notes(codec.decode(ids)) == _notes(pm), src.name
    assert folded >= 3


def test_play_order_never_loops_on_marks_a_model_misplaced() -> None:
    """Random marks at random times (what an untrained model may write): the piece is played through, each
    stretch at most twice, and the play order always ends."""
    rng = random.Random(0)
    form = {mark: k for k, mark in enumerate(FORM_TOKENS)}
    for _ in range(500):
        marks = {float(rng.randint(0, 16)): {rng.randrange(4) for _ in range(rng.randint(1, 3))}
                 for _ in range(rng.randint(0, 8))}
        segments = play_order(marks, 0.0, 16.0, form)
        played = sum(b - a for a, b in segments)
        assert 0 < played <= 2 * 16 and all(0 <= a < b <= 16 for a, b in segments)


def test_a_repeat_from_a_stray_first_note_keeps_the_bars_in_step(codec: MetricalCodec) -> None:
    """A sample that opens on a stray position (the second eighth-note triplet of a 2/4 bar) and repeats from the
    top at a bar line: the second time through, every note keeps its place in the bar (played from the first note
    it would land a third of a beat early, and the grid with it). A written passage is never played twice for it:
    the lead-in that re-aligns the bars is silent."""
    vocab = codec.tokenizer.vocab
    repeat_end = next(i for i in range(codec.vocab_size) if codec.token_name(i) == "Repeat_end")

    def note(position: int, pitch: int) -> list[int]:
        return [vocab[f"Position_{position}"], codec.pitch_ids([pitch])[0], vocab["Duration_0.4.12"]]

    bar = codec.first_bar("2/4")
    ids = [codec.key_id(0), *bar, *note(4, 60), *note(8, 62), *bar, *note(0, 64), *note(12, 65), repeat_end]
    onsets = [(round(n.start, 4), n.pitch) for n in sorted(codec.decode(ids).instruments[0].notes,
                                                             key=lambda n: n.start)]
    once = [(round(q * SECONDS_PER_QUARTER, 4), p) for q, p in ((1 / 3, 60), (2 / 3, 62), (2, 64), (3, 65))]
    assert onsets == once + [(round(t + 4 * SECONDS_PER_QUARTER, 4), p) for t, p in once]


def test_pitch_tables_transpose_and_ban_by_pitch(codec: MetricalCodec) -> None:
    ids = np.asarray(codec.encode(abc_to_midi(f"X:1\nT:t\n{JIG}\n")))
    assert codec.pitch_span(ids) == (69, 78)
    up = codec.transpose(ids, 3)
    assert codec.pitch_span(up) == (72, 81)
    assert _notes(codec.decode(up)) == [(a, b, p + 3) for a, b, p in _notes(codec.decode(ids))]
    assert [codec.token_name(i) for i in codec.pitch_ids([0, 60, 127])] == ["Pitch_0", "Pitch_60", "Pitch_127"]
    assert codec.pitch_span(np.asarray(codec.start_ids)) is None


def test_document_is_framed_and_special_tokens_never_decode(codec: MetricalCodec) -> None:
    ids = codec.encode_document(abc_to_midi(f"X:1\nT:t\n{CHORD}\n"))
    assert ids[0] in codec.start_ids and ids[-1] in codec.end_ids
    assert set(codec.special_ids).isdisjoint(ids[1:-1]) and max(ids) < codec.vocab_size
    assert _notes(codec.decode(ids)) == _notes(codec.decode(ids[1:-1]))
    assert codec.decode(codec.start_ids).instruments == []  # nothing but a start: an empty piece


def test_json_and_pickle_rebuild_the_same_codec(codec: MetricalCodec) -> None:
    stored = json.loads(json.dumps(codec.to_dict()))  # what a checkpoint's config.json holds
    again = codec_from_dict(stored)
    assert isinstance(again, MetricalCodec) and again.tokenizer.vocab == codec.tokenizer.vocab
    pm = abc_to_midi(f"X:1\nT:t\n{TIED}\n")
    assert again.encode(pm) == codec.encode(pm) == pickle.loads(pickle.dumps(codec)).encode(pm)
    violin = MetricalCodec(program=40)
    assert codec_from_dict(violin.to_dict()).decode(violin.encode(pm)).instruments[0].program == 40
    with pytest.raises(ValueError, match="program"):
        MetricalCodec(program=128)


def test_chorales_round_trip_four_voices_in_one_stream(codec: MetricalCodec) -> None:
    """Three four-voice Bach chorales, merged into one stream: every note back at its onset, duration and pitch,
    except where two parts sound the same pitch at once (one MIDI channel cannot hold two notes of one pitch:
    one ends when the other does)."""
    from music21 import corpus

    def quarters(pm, tempo: float) -> list[tuple[float, float, int]]:
        return sorted((round(n.start * tempo / 60 * 12) / 12, round((n.end - n.start) * tempo / 60 * 12) / 12,
                       n.pitch) for inst in pm.instruments for n in inst.notes)

    for work in ("bwv66.6", "bwv26.6", "bwv10.7"):
        ((_, pm),) = read_source(piece_sources(Path(corpus.getWork(work)))[0])
        original = quarters(pm, pm.get_tempo_changes()[1][0])
        back = quarters(codec.decode(codec.encode(pm)), TEMPO)
        assert len(back) == len(original), work
        missing = [n for n in original if n not in back]
        overlapped = [(on, d, p) for on, d, p in missing
                      if any(q == p and (o, e) != (on, d) and o < on + d and on < o + e for o, e, q in original)]
        assert missing == overlapped and len(missing) <= 0.05 * len(original), (work, len(missing))


def test_a_midi_file_on_a_beat_grid_round_trips_in_beats(codec: MetricalCodec, tmp_path: Path) -> None:
    """A MIDI file as a notation program writes it (3/4 at 96 quarter notes per minute, a dotted rhythm, a chord,
    a note tied over the bar line) comes back note for note in beats, with its time signature."""
    import pretty_midi

    from seqgen.domains.music.files import read_midi

    quarter = 60 / 96
    written = [(0.0, 1.5, 67), (1.5, 0.5, 69), (2.0, 1.0, 71), (3.0, 3.0, 60), (3.0, 3.0, 64), (3.0, 3.0, 67),
               (6.0, 0.25, 72), (6.25, 0.25, 71), (6.5, 0.5, 69), (7.0, 3.0, 67)]  # the last crosses bar 3's line
    pm = pretty_midi.PrettyMIDI(initial_tempo=96)
    pm.time_signature_changes = [pretty_midi.TimeSignature(3, 4, 0.0)]
    inst = pretty_midi.Instrument(0)
    inst.notes = [pretty_midi.Note(80, p, a * quarter, (a + d) * quarter) for a, d, p in written]
    pm.instruments.append(inst)
    pm.write(str(tmp_path / "waltz.mid"))
    back = codec.decode(codec.encode(read_midi(tmp_path / "waltz.mid")))
    assert _notes(back) == _rounded(written)
    assert [(t.numerator, t.denominator, t.time) for t in back.time_signature_changes] == [(3, 4, 0.0)]
