"""MetricalCodec (MidiTok REMI): exact round trips of a pickup, a 6/8 jig, a tied note and a chord read from ABC the
way seqgen reads scores, real corpus tunes, the id tables the music domain uses, and the JSON the checkpoint keeps."""

from __future__ import annotations

import json
import pickle
import random

import numpy as np
import pytest

from seqgen.codecs import codec_from_dict
from seqgen.domains import get_corpus
from seqgen.domains.music.files import abc_to_midi, piece_sources, read_source
from seqgen.domains.music.metrical import TEMPO, MetricalCodec

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
    assert names[:5] == ["Bar_None", "TimeSig_2/4", "Position_18", "Pitch_67", "Duration_0.6.12"]
    assert names.count("Bar_None") == 3
    assert codec.seconds(ids) == 3 * 2 * SECONDS_PER_QUARTER  # three bars of two quarters


def test_real_folk_tunes_round_trip_at_the_codec_resolution(codec: MetricalCodec) -> None:
    """Twenty tunes of the folk corpus (a fixed draw): every note back at its onset and duration (the grid holds
    16ths and triplets in x/4 and x/8 metres, which these are), pitch for pitch."""
    files = get_corpus("folk").files()
    sources = [s for f in files if "oneills" in str(f) for s in piece_sources(f)]
    tunes = [pm for src in random.Random(3).sample(sources, 20) for _, pm in read_source(src)]
    checked = 0
    for pm in tunes:
        if any(ts.denominator == 2 for ts in pm.time_signature_changes):
            continue  # x/2: 12 positions per half note cannot hold 16ths (see the module notes)
        tempo = pm.get_tempo_changes()[1][0]
        original = sorted((round(n.start * tempo / 60 * 12) / 12, round((n.end - n.start) * tempo / 60 * 12) / 12,
                           n.pitch) for inst in pm.instruments for n in inst.notes)
        back = codec.decode(codec.encode(pm))
        assert sorted((round(n.start / SECONDS_PER_QUARTER * 12) / 12, round((n.end - n.start) / SECONDS_PER_QUARTER
                       * 12) / 12, n.pitch) for inst in back.instruments for n in inst.notes) == original
        checked += 1
    assert checked >= 15


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
