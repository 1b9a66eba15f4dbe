"""MetricalCodec (MidiTok REMI/TSD): round trips of a pickup, a 6/8 jig, a tied note and a chord, and config JSON."""

from __future__ import annotations

import importlib.util
import json

import pytest

if importlib.util.find_spec("miditok") is None or importlib.util.find_spec("symusic") is None:
    pytest.skip("miditok and symusic are not installed (pip install miditok symusic); the metrical codec "
                "is a prototype outside seqgen's dependencies", allow_module_level=True)

from seqgen.codecs import codec_from_dict  # noqa: E402
from seqgen.domains.music.files import score_to_midi  # noqa: E402
from seqgen.domains.music.metrical import MetricalCodec, meter_of, with_meter  # noqa: E402

# Each tune: ABC text, and the notes it must decode to as (onset, duration, pitch) in quarter notes.
PICKUP = ("M:2/4\nL:1/8\nK:C\nG|c2 e2|g4|]", 1.5)  # an eighth before bar 1: it sits at the end of bar 0
JIG = ("M:6/8\nL:1/8\nK:D\nd2d fed|A3 A2B|]", 0.0)
TIED = ("M:3/4\nL:1/4\nK:C\nc2 d-|d2 e|]", 0.0)  # the tied d lasts two quarters
CHORD = ("M:4/4\nL:1/4\nK:C\n[CEG]2 (3c/d/e/ f|g4|]", 0.0)  # a chord and an eighth-note triplet
CASES = {"pickup": PICKUP, "jig": JIG, "tied": TIED, "chord": CHORD}


def _m21(abc: str):
    from music21 import converter

    return converter.parseData(f"X:1\nT:t\n{abc}\n", format="abc")


def _score(abc: str):
    """The tune as seqgen reads it (music21 -> PrettyMIDI), with its metre added."""
    m21 = _m21(abc)
    padding, signatures = meter_of(m21)
    return with_meter(score_to_midi(m21), padding, signatures), m21, padding


def _truth(m21, padding: float) -> list[tuple[float, float, int]]:
    flat = m21.stripTies().flatten()
    return sorted((float(n.offset) + padding, float(n.quarterLength), p.midi) for n in flat.notes for p in n.pitches)


def _notes(score) -> list[tuple[float, float, int]]:
    tpq = score.ticks_per_quarter
    return sorted((n.time / tpq, n.duration / tpq, n.pitch) for t in score.tracks for n in t.notes)


@pytest.fixture(scope="module", params=["REMI", "TSD"])
def codec(request) -> MetricalCodec:
    return MetricalCodec(request.param)


@pytest.mark.parametrize("case", CASES)
def test_round_trip_keeps_notes_and_metre(codec: MetricalCodec, case: str) -> None:
    abc, expected_padding = CASES[case]
    score, m21, padding = _score(abc)
    assert padding == expected_padding
    out = codec.decode(codec.encode_document(score))
    assert _notes(out) == _truth(m21, padding)
    numerator, denominator = (int(x) for x in abc.split("\n")[0][2:].split("/"))
    assert [(ts.time, ts.numerator, ts.denominator) for ts in out.time_signatures] == [(0, numerator, denominator)]


def test_pickup_ends_where_bar_one_begins() -> None:
    """REMI: the pickup note is in bar 0 at its last eighth (2/4 at 12 positions per beat: position 18)."""
    score, _, _ = _score(PICKUP[0])
    tokens = MetricalCodec("REMI").base_tokens(score)
    assert tokens[:4] == ["Bar_None", "TimeSig_2/4", "Position_18", "Pitch_67"]
    assert tokens.count("Bar_None") == 3


def test_document_is_framed_by_special_tokens(codec: MetricalCodec) -> None:
    ids = codec.encode_document(_score(JIG[0])[0])
    assert ids[0] in codec.start_ids and ids[-1] in codec.end_ids
    assert set(codec.special_ids).isdisjoint(ids[1:-1])
    assert max(ids) < codec.vocab_size


def test_to_dict_from_dict_rebuilds_the_same_tokenizer(codec: MetricalCodec) -> None:
    d = json.loads(json.dumps(codec.to_dict()))  # what a checkpoint's config.json holds
    again = codec_from_dict(d)
    assert isinstance(again, MetricalCodec)
    assert again.tokenizer.vocab == codec.tokenizer.vocab
    assert again.tokenizer.config == codec.tokenizer.config
    score = _score(CHORD[0])[0]
    assert again.encode(score) == codec.encode(score)


def test_bpe_shortens_and_survives_json() -> None:
    codec = MetricalCodec("REMI")
    scores = [_score(abc)[0] for abc, _ in CASES.values()]
    base = [len(codec.encode(s)) for s in scores]
    codec.train_bpe(scores, codec.vocab_size + 20)
    assert codec.tokenizer.is_trained
    assert sum(len(codec.encode(s)) for s in scores) < sum(base)
    again = MetricalCodec.from_dict(json.loads(json.dumps(codec.to_dict())))
    assert [again.encode(s) for s in scores] == [codec.encode(s) for s in scores]
    assert _notes(again.decode(again.encode(scores[1]))) == _notes(codec.decode(codec.encode(scores[1])))
