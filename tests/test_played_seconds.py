"""`--seconds` on a metrical model counts the piece as played: a `Repeat_end` costs the passage it repeats (less a
first ending the second time through skips), so the meter's seconds are the decoded piece's, repeats played out;
and `generate` stops a sample where a meter (or, as before, a per-token table) says its budget is spent."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest
import torch

from seqgen.config import ModelConfig
from seqgen.domains import get_corpus
from seqgen.domains.music.files import abc_to_midi, piece_sources, read_source
from seqgen.domains.music.metrical import MetricalCodec
from seqgen.domains.music.played_time import PlayedTime
from seqgen.models import SequenceModel
from seqgen.sample import generate

BAR_4_4 = 2.0  # seconds of a 4/4 bar at the decoder's 120 quarter notes per minute


@pytest.fixture(scope="module")
def codec() -> MetricalCodec:
    return MetricalCodec()


def _form(codec: MetricalCodec, name: str) -> int:
    return next(i for i in range(codec.vocab_size) if codec.token_name(i) == name)


def _bar(codec: MetricalCodec, pitch: int) -> list[int]:
    """A 4/4 bar of four quarter notes of `pitch`: full, so the decoded piece ends on its bar line."""
    vocab = codec.tokenizer.vocab
    notes = [[vocab[f"Position_{12 * beat}"], *codec.pitch_ids([pitch]), vocab["Duration_1.0.12"]] for beat in range(4)]
    return [vocab["Bar_None"], codec.meters["4/4"], *(t for note in notes for t in note)]


def _piece(codec: MetricalCodec, *parts: str) -> list[int]:
    """Tokens for a form written as `A`, `B`, ... (a bar each, of pitch 60, 62, ...) and `|:`, `:|`, `|1`, `|2`."""
    signs = {"|:": "Repeat_start", ":|": "Repeat_end", "|1": "Ending_1", "|2": "Ending_2"}
    return [t for part in parts
            for t in ([_form(codec, signs[part])] if part in signs else _bar(codec, 60 + 2 * (ord(part) - ord("A"))))]


def _played(meter: PlayedTime, ids: Sequence[int], prime: Sequence[int] = ()) -> float:
    """What the meter charges `ids` after `prime`, token by token."""
    state, total = meter.start(prime), 0.0
    for token in ids:
        state, seconds = meter.advance(state, token)
        total += seconds
    return total


def _end(codec: MetricalCodec, ids: Sequence[int]) -> float:
    return codec.decode(ids).get_end_time()


@pytest.mark.parametrize(("form", "bars"), [
    ("A B", 2),
    ("|: A B :|", 4),
    ("|: A B |1 C :| |2 D", 6),  # A B C, A B D
    ("A B :|", 4),  # no repeat start: from the beginning
    ("A |: B :| C |: D :|", 6),
    ("A :| B :|", 4),  # the second repeat goes back to the end of the first
    ("|: A :| |: B |1 C :| |2 D E", 7),  # A A, B C B D, E
])
def test_a_repeat_costs_the_passage_the_decoder_plays_again(codec: MetricalCodec, form: str, bars: int) -> None:
    ids = [*codec.start_ids, codec.key_id(0), *_piece(codec, *form.split())]
    meter = PlayedTime(codec)
    assert _played(meter, ids) == pytest.approx(bars * BAR_4_4)
    assert _end(codec, ids) == pytest.approx(bars * BAR_4_4)
    written = [t for t in ids if not codec.token_name(t).startswith(("Repeat", "Ending"))]
    assert _played(meter, written) == pytest.approx(codec.seconds(written))  # no form: the table's bars


def test_the_repeat_end_pays_for_the_passage_and_a_second_ending_gives_the_first_back(codec: MetricalCodec) -> None:
    """Until a second ending is written the decoder plays the first one again, so the `Repeat_end` costs the whole
    passage; the `Ending_2` after it returns the first ending's bar. Bars cost their time signature token."""
    meter = PlayedTime(codec)
    state = meter.start([*codec.start_ids, codec.key_id(0)])
    charged = []
    for token in _piece(codec, "|:", "A", "B", "|1", "C", ":|", "|2", "D"):
        state, seconds = meter.advance(state, token)
        if seconds:
            charged.append((codec.token_name(token), seconds))
    assert charged == [("TimeSig_4/4", BAR_4_4)] * 3 + [("Repeat_end", 3 * BAR_4_4), ("Ending_2", -BAR_4_4),
                                                         ("TimeSig_4/4", BAR_4_4)]


def test_a_primers_bars_are_not_counted_but_a_repeat_back_into_them_is(codec: MetricalCodec) -> None:
    meter = PlayedTime(codec)
    prime = [*codec.start_ids, codec.key_id(0), *_piece(codec, "A", "|:", "B", "C")]
    continuation = _piece(codec, "D", ":|", "E")  # B C D again, then E
    assert _played(meter, continuation, prime) == pytest.approx(5 * BAR_4_4)
    assert _played(meter, continuation, prime) == pytest.approx(_end(codec, prime + continuation) - _end(codec, prime))


def _check_tune(codec: MetricalCodec, meter: PlayedTime, ids: list[int]) -> None:
    """The meter's seconds are the decoded piece's, repeats played out, but for the end: the meter counts the last
    bar whole, the decoded piece ends with its last note (a tune's last bar is often short: its pickup opened it)."""
    written = [t for t in ids if not codec.token_name(t).startswith(("Repeat", "Ending"))]
    unfilled = codec.seconds(written) - _end(codec, written)
    assert _played(meter, ids, codec.start_ids) == pytest.approx(_end(codec, ids) + unfilled)


@pytest.mark.parametrize("abc", [
    "M:2/4\nL:1/8\nK:G\nG|:AB cd|ef g2|1 ga bg:|2 gf g2||\n|:de fg|ab c'2:|",  # pickup, endings, two repeats
    "M:2/4\nL:1/8\nK:G\nG|AB cd|ef g2:|de fg|ab c'2:|",  # repeats back to the pickup, then to the first repeat end
    "M:6/8\nL:1/8\nK:D\nA|:ABc def|gfe d2:|\n|:f|ABc def|gfe d2:|",  # repeats end mid-bar: the pickups fill it
])
def test_tunes_from_abc_cost_what_they_play(codec: MetricalCodec, abc: str) -> None:
    ids = codec.encode(abc_to_midi(f"X:1\nT:t\n{abc}\n"))
    assert any(codec.token_name(t) == "Repeat_end" for t in ids)
    _check_tune(codec, PlayedTime(codec), ids)


def test_folk_tunes_cost_what_they_play(codec: MetricalCodec) -> None:
    """Sixty tunes of the folk corpus (a fixed draw over its collections; the Essen songs' repeats are found by
    the encoder, the others' are written)."""
    sources = [s for f in get_corpus("folk").files() for s in piece_sources(f)]
    meter = PlayedTime(codec)
    repeated = 0
    for src in random.Random(11).sample(sources, 60):
        for _, pm in read_source(src):
            ids = codec.encode(pm)
            repeated += any(codec.token_name(t) == "Repeat_end" for t in ids)
            _check_tune(codec, meter, ids)
    assert repeated >= 15


class EveryTokenBefore:
    """A meter whose token costs the number of tokens before it, primer included: what it charges depends on the
    primer and on the sample so far, not on the token."""

    def start(self, ids: Sequence[int]) -> int:
        return len(ids)

    def advance(self, state: int, token: int) -> tuple[int, float]:
        return state + 1, float(state)


class PreviousToken:
    """A meter whose token costs the previous token's id: each sample's state is its own."""

    def start(self, ids: Sequence[int]) -> int:
        return ids[-1]

    def advance(self, state: int, token: int) -> tuple[int, float]:
        return token, float(state)


def _model() -> SequenceModel:
    torch.manual_seed(0)
    return SequenceModel(ModelConfig(vocab_size=9, cell="gru", layers=1, hidden=16, embed=8))


def _cut(ids: list[int], costs: Sequence[float], budget: float) -> list[int]:
    """`ids` up to the token whose cost would pass `budget`."""
    spent = 0.0
    for k, cost in enumerate(costs):
        spent += cost
        if spent > budget:
            return ids[:k]
    return ids


@pytest.mark.parametrize("prime", [[3], [3, 1, 4]])
def test_generate_stops_each_sample_where_its_meter_passes_the_budget(prime: list[int]) -> None:
    model, budget = _model(), 10.0
    free = generate(model, prime, 30, num=4, temperature=1.0, seed=5)
    for meter in (EveryTokenBefore(), PreviousToken()):
        capped = generate(model, prime, 30, num=4, temperature=1.0, seed=5, costs=meter, budget=budget)
        for ids, out in zip(free, capped, strict=True):
            states, costs = [meter.start(prime)], []
            for token in ids:
                state, cost = meter.advance(states[-1], token)
                states.append(state)
                costs.append(cost)
            assert out == _cut(ids, costs, budget)
    counted = generate(model, prime, 30, num=4, temperature=1.0, seed=5, costs=EveryTokenBefore(), budget=budget)
    assert [len(ids) for ids in counted] == [4 if len(prime) == 1 else 2] * 4  # 1+2+3+4; 3+4: the primer counts


def test_a_per_token_table_still_caps_as_before() -> None:
    model, table, budget = _model(), [0.5 * i for i in range(9)], 6.0
    free = generate(model, [3], 30, num=4, temperature=1.0, seed=5)
    capped = generate(model, [3], 30, num=4, temperature=1.0, seed=5, costs=table, budget=budget)
    assert capped == [_cut(ids, [table[t] for t in ids], budget) for ids in free]
    assert any(len(out) < len(ids) for out, ids in zip(capped, free, strict=True))


def test_a_primer_with_a_repeat_ends_where_it_is_played_out(codec: MetricalCodec, tmp_path) -> None:
    """The piano roll shades the primer up to where it ends as played: a primer of four 2/4 bars, the first two
    between repeat signs, lasts six bars (6 s at the decoder's 120 quarter notes per minute, 12 s at --tempo 60),
    not four."""
    from seqgen import domains
    from seqgen.domains.base import SampleRequest
    from seqgen.domains.music.played_time import played_seconds

    primer = [*codec.start_ids, *codec.encode(abc_to_midi("X:1\nT:t\nM:2/4\nL:1/8\nK:C\n|:CDEF|GABc:|cBAG|F4|]\n"))]
    assert played_seconds(codec, primer) == pytest.approx(6.0) == codec.decode(primer).get_end_time()
    music = domains.get("music")
    asked = {None: 6.0, 120.0: 6.0, 60.0: 12.0}
    for tempo, seconds in asked.items():
        request = SampleRequest(1, prime_file=tmp_path / "op.abc", asked={"tempo": tempo})
        assert music._primer_seconds(codec, primer, request) == pytest.approx(seconds)
