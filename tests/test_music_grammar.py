"""The metrical codec's token grammar: real pieces of every kind follow it, and a sampler held to it writes only
pieces in REMI's order with each note inside its bar, even from an untrained model."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from test_metrical_codec import EXPECTED, FORM

from seqgen.codecs.grammar import first_violation
from seqgen.config import ModelConfig
from seqgen.domains import get_corpus
from seqgen.domains.music.files import abc_to_midi, piece_sources, read_source
from seqgen.domains.music.metrical import MetricalCodec
from seqgen.models import SequenceModel
from seqgen.sample import GrammarMasks, generate


@pytest.fixture(scope="module")
def codec() -> MetricalCodec:
    return MetricalCodec()


def _follows(codec: MetricalCodec, ids: list[int]) -> int | None:
    return first_violation(codec.grammar(), [*ids, *codec.end_ids], codec.start_ids)


def test_real_pieces_of_every_kind_follow_the_grammar(codec: MetricalCodec) -> None:
    """A pickup, a jig, a tie, a chord with a triplet, repeats with endings, 30 tunes of the folk corpus (a fixed
    draw over its collections) and a four-voice chorale: the grammar forbids nothing a real piece writes."""
    from music21 import corpus

    pieces = [abc_to_midi(f"X:1\nT:t\n{abc}\n") for abc, _, _ in EXPECTED.values()]
    pieces.append(abc_to_midi(f"X:1\nT:t\n{FORM}\n"))
    sources = [s for f in get_corpus("folk").files() for s in piece_sources(f)]
    pieces += [pm for src in random.Random(5).sample(sources, 30) for _, pm in read_source(src)]
    pieces += [pm for _, pm in read_source(piece_sources(Path(corpus.getWork("bwv66.6")))[0])]
    assert len(pieces) >= 35
    for pm in pieces:
        ids = codec.encode(pm)
        assert _follows(codec, ids) is None, [codec.token_name(i) for i in ids[:40]]


def test_positions_go_forward_inside_the_bar_its_metre_sets(codec: MetricalCodec) -> None:
    grammar = codec.grammar()
    names = np.array([codec.token_name(i) for i in range(codec.vocab_size)])
    state = grammar.start([*codec.start_ids, codec.key_id(2), *codec.first_bar("6/8")])
    positions = sorted(int(n[9:]) for n in names[grammar.allowed(state)] if n.startswith("Position_"))
    assert positions == list(range(72))  # 6 eighth-note beats of 12 positions
    state = grammar.advance(state, codec.tokenizer.vocab["Position_30"])
    assert set(names[grammar.allowed(state)]) == {n for n in names if n.startswith("Pitch_")}
    state = grammar.advance(grammar.advance(state, codec.pitch_ids([62])[0]), codec.tokenizer.vocab["Duration_1.0.12"])
    after = set(names[grammar.allowed(state)])
    assert {"Position_31", "Position_71", "Bar_None", "EOS_None", "Repeat_end", "Pitch_64"} <= after
    assert not {"Position_30", "Position_12", "Position_72", "TimeSig_4/4", "Key_D"} & after
    # a piece opens with its key, then a bar that states its metre
    opening = grammar.start(codec.start_ids)
    assert set(names[grammar.allowed(opening)]) == {n for n in names if n.startswith("Key_")}
    assert set(names[grammar.allowed(grammar.advance(opening, codec.key_id(0)))]) == {"Bar_None", "Repeat_start"}


def _untrained(codec: MetricalCodec) -> SequenceModel:
    torch.manual_seed(0)
    return SequenceModel(ModelConfig(vocab_size=codec.vocab_size, cell="gru", layers=1, hidden=16, embed=8))


def test_an_untrained_model_held_to_the_grammar_writes_well_formed_pieces(codec: MetricalCodec) -> None:
    """Without the grammar an untrained model's tokens are in no order; with it every sample is a piece whose every
    note lies in a bar, in order, and the decoder plays its notes at the places the tokens say."""
    model = _untrained(codec)
    kwargs = dict(num=6, temperature=1.0, seed=3, banned=codec.special_ids, stops=[codec.end_ids])
    free = generate(model, codec.start_ids, 200, **kwargs)
    held = generate(model, codec.start_ids, 200, **kwargs, grammar=codec.grammar())
    assert all(_follows(codec, ids) is not None for ids in free)
    assert all(len(ids) > 20 for ids in held)  # no piece ends before it has a note
    for ids in held:
        assert first_violation(codec.grammar(), ids, codec.start_ids) is None
        names = [codec.token_name(i) for i in ids]
        kinds = [n.split("_")[0] for n in names]
        assert kinds[0] == "Key" and kinds.index("Bar") < kinds.index("TimeSig") < kinds.index("Position")
        # the form tokens left out, so the decoder plays the notes once, as written
        written = [i for i, n in zip(ids, names, strict=True) if not n.startswith(("Repeat", "Ending"))]
        played = {(round(n.start * 2 * 24), n.pitch) for inst in codec.decode(written).instruments for n in inst.notes}
        assert played == _notes_where_tokens_say(names), names[:30]


def _notes_where_tokens_say(names: list[str]) -> set[tuple[int, int]]:
    """(onset in 1/24 quarter notes, pitch) of every note, read off the token names: a bar starts where the last one
    ended, a position counts twelfths of the bar's beat."""
    notes, bar_start, bar, beat, onset = set(), 0, 0, 24, 0
    for name in names:
        kind, _, value = name.partition("_")
        if kind == "Bar":
            bar_start, bar = bar_start + bar, 0
        elif kind == "TimeSig":
            numerator, denominator = map(int, value.split("/"))
            beat = 96 // denominator  # 24ths of a quarter note in one beat
            bar = numerator * beat
        elif kind == "Position":
            onset = bar_start + int(value) * beat // 12
        elif kind == "Pitch":
            notes.add((onset, int(value)))
    return notes


def test_a_row_the_bans_leave_empty_keeps_the_models_logits(codec: MetricalCodec) -> None:
    """If bans take every id the grammar allows (here: every pitch after a position), the grammar gives way for that
    step rather than leave nothing to draw."""
    grammar = codec.grammar()
    prime = [*codec.start_ids, codec.key_id(0), *codec.first_bar("4/4"), codec.tokenizer.vocab["Position_0"]]
    masks = GrammarMasks(grammar, prime, 2, torch.device("cpu"))
    logits = torch.zeros(2, codec.vocab_size)
    logits[1, codec.pitch_ids(range(128))] = float("-inf")  # row 1: every pitch banned
    out = masks.apply(logits)
    assert torch.isfinite(out[0]).sum() == len(codec.pitch_ids(range(128)))
    assert torch.equal(out[1], logits[1])
