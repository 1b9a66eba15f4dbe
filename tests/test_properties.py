"""Property-based tests (hypothesis): codec round trips, scoring identities, the Stepper and sampling invariants."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import pretty_midi
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from seqgen.codecs import CharCodec, MuLawCodec, NoteEventCodec
from seqgen.codecs.char import LINE_BREAKS
from seqgen.codecs.notes import END, NOTE_ON, START, TIME_SHIFT, Note, velocity_bin
from seqgen.models import CELLS, ModelConfig, SequenceModel, State
from seqgen.sample import generate
from seqgen.score import score_sequences
from seqgen.stepper import Stepper

FEW = settings(max_examples=25, deadline=None)
SOME = settings(max_examples=40, deadline=None)
SAMPLES = settings(max_examples=10, deadline=None)  # generate() with temperature > 0 is the slow call here
ATOL, RTOL = 1e-5, 1e-6


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread, and do not then fight other processes for the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tol(values: torch.Tensor) -> float:
    """1e-5, or 1e-6 of the largest |value| involved where that is larger: float32 rounding grows with the logits,
    and rnn_relu's identity recurrence lets them reach the hundreds (the gated cells stay well under 10)."""
    return max(ATOL, RTOL * values.abs().max().item())


# ---------------------------------------------------------------------------------------------------------------------
# CharCodec

ANY_CHAR = st.characters(exclude_categories=())  # every code point: astral planes, controls, lone surrogates
TRICKY = st.sampled_from(list("ab \n\r\t\x00é€😀\U0010ffff\u2028\x85") + ["\ud800"])
TEXT = st.text(st.one_of(ANY_CHAR, TRICKY), max_size=60) | st.text(max_size=60)


def first_char_id(codec: CharCodec) -> int:
    """Id of the first real character (after the special tokens)."""
    return len(codec.itos) - len(codec.chars)


@SOME
@given(st.lists(TEXT, min_size=1, max_size=4))
@example(["a😀\nb\U0010ffff"])
@example([""])
def test_char_codec_round_trips_its_training_text(texts: list[str]) -> None:
    """Without boundaries, fit then encode/decode gives every training text back, one known id per character."""
    codec = CharCodec.fit(texts)
    assert "\n" in codec.stoi and codec.start_ids == [codec.stoi["\n"]]
    rebuilt = CharCodec.from_dict(codec.to_dict())
    for text in texts:
        ids = codec.encode(text)
        assert len(ids) == len(text)
        assert codec.decode(ids) == text
        assert all(first_char_id(codec) <= i < codec.vocab_size for i in ids)
        assert ids == [codec.stoi[c] for c in text]
        arr = codec.encode_array(text)
        assert arr.dtype == np.int64 and arr.tolist() == ids
        assert codec.unknown_chars(text) == []
        assert rebuilt.encode(text) == ids
    corpus = codec.encode_corpus(texts)
    assert codec.decode(corpus.tolist()) == "\n" + "\n".join(texts)  # every document starts a line


@SOME
@given(TEXT)
@example("\n")
@example("a\r\nb\n\n  \nc\u2028d")
def test_char_codec_with_boundaries_drops_newlines_and_frames_lines(text: str) -> None:
    """With boundaries, line breaks (all that str.splitlines cuts at) are out of the vocabulary (<unk>, dropped by
    decode); documents become <bos> line <eos>."""
    codec = CharCodec.fit([text], boundaries=True)
    assert (codec.unk_id, codec.bos_id, codec.eos_id) == (0, 1, 2)
    assert not LINE_BREAKS & set(codec.stoi)
    ids = codec.encode(text)
    assert len(ids) == len(text)
    assert [i == codec.unk_id for i in ids] == [c in LINE_BREAKS for c in text]
    assert codec.decode(ids) == "".join(c for c in text if c not in LINE_BREAKS)
    assert codec.encode_array(text).tolist() == ids
    assert codec.unknown_chars(text) == list(dict.fromkeys(c for c in text if c in LINE_BREAKS))
    assert codec.bos_id not in ids and codec.eos_id not in ids

    lines = [line for line in text.splitlines() if line.strip()]
    doc = codec.encode_document(text)
    assert codec.decode(doc) == "".join(lines)
    marks = [i for i in doc if i in (codec.bos_id, codec.eos_id)]
    assert marks == [codec.bos_id, codec.eos_id] * len(lines)
    if lines:
        assert doc[0] == codec.bos_id and doc[-1] == codec.eos_id
    assert codec.encode_corpus([text]).tolist() == doc


@SOME
@given(TEXT, TEXT, st.booleans())
@example("abc", "xa\U0001f600b\U0001f600y", False)
@example("", "\x00\U0010ffff", True)
def test_char_codec_maps_unseen_characters_to_unk(train: str, text: str, boundaries: bool) -> None:
    """Characters outside the fitted vocabulary encode to <unk> (id 0), are listed by unknown_chars, vanish."""
    codec = CharCodec.fit([train], boundaries=boundaries)
    ids = codec.encode(text)
    assert codec.encode_array(text).tolist() == ids
    assert ids == [codec.stoi.get(c, codec.unk_id) for c in text]
    unknown = [c for c in text if c not in codec.stoi]
    assert codec.unknown_chars(text) == list(dict.fromkeys(unknown))
    assert all(c in train or (c == "\n" and not boundaries) for c in text if c in codec.stoi)
    assert codec.decode(ids) == "".join(c for c in text if c in codec.stoi)
    assert set(ids) <= {codec.unk_id, *range(first_char_id(codec), codec.vocab_size)}


# ---------------------------------------------------------------------------------------------------------------------
# NoteEventCodec


@st.composite
def note_codecs(draw: st.DrawFn) -> NoteEventCodec:
    """A codec with a random time grid, longest shift and number of velocity bins."""
    step_ms = draw(st.sampled_from([10.0, 8.0, 25.0, 1.0]))
    max_shift_ms = step_ms * draw(st.sampled_from([1, 3, 100, 250]))
    bins = draw(st.sampled_from([1, 5, 32, 127]))
    return NoteEventCodec(step_ms=step_ms, max_shift_ms=max_shift_ms, velocity_bins=bins)


GRID_NOTE = st.tuples(st.integers(0, 127), st.integers(0, 400), st.integers(0, 250), st.integers(1, 127))


def grid_notes(codec: NoteEventCodec, raw: Sequence[tuple[int, int, int, int]]) -> list[Note]:
    """Notes whose onset and duration are whole steps of the codec's grid (duration 0: the codec makes it one step)."""
    return [Note(p, s * codec.step, (s + d) * codec.step, v) for p, s, d, v in raw]


def as_steps(codec: NoteEventCodec, notes: Sequence[Note], t0: float) -> list[tuple[int, int, int, int]]:
    """(pitch, onset step, release step, velocity bin) of notes on the grid, checking that they are on it."""
    out = []
    for n in notes:
        on, off = (n.start - t0) / codec.step, (n.end - t0) / codec.step
        assert abs(on - round(on)) < 1e-6 and abs(off - round(off)) < 1e-6, n
        out.append((n.pitch, round(on), round(off), int(velocity_bin(n.velocity, codec.velocity_bins))))
    return sorted(out)


def pretty(notes: Sequence[Note], instrument_of: Sequence[int]) -> pretty_midi.PrettyMIDI:
    """The notes spread over several non-drum instruments of one PrettyMIDI object."""
    pm = pretty_midi.PrettyMIDI()
    pm.instruments = [pretty_midi.Instrument(program=k) for k in range(max(instrument_of, default=0) + 1)]
    for n, k in zip(notes, instrument_of, strict=True):
        pm.instruments[k].notes.append(pretty_midi.Note(velocity=n.velocity, pitch=n.pitch, start=n.start, end=n.end))
    return pm


@SOME
@given(note_codecs(), st.lists(GRID_NOTE, max_size=25))
@example(NoteEventCodec(), [(60, 0, 10, 64), (60, 5, 10, 100), (60, 10, 0, 1)])  # re-struck, same end, zero length
def test_note_codec_round_trips_notes_on_its_grid(codec: NoteEventCodec, raw: list[tuple[int, int, int, int]]) -> None:
    """On the grid, decode(encode(notes)) is exactly notes_of(notes) from the first onset, velocities in their bins."""
    notes = grid_notes(codec, raw)
    expected = codec.notes_of(notes)
    ids = codec.encode(notes)
    assert all(0 <= i < codec.vocab_size and i not in (START, END) for i in ids)
    if not notes:
        assert ids == [] and codec.events_to_notes(ids) == []
        return
    t0 = min(n.start for n in notes)
    decoded = codec.events_to_notes(ids)
    assert as_steps(codec, decoded, 0.0) == as_steps(codec, expected, t0)
    assert all(d.velocity == codec._bin_velocity[velocity_bin(d.velocity, codec.velocity_bins)] for d in decoded)
    assert math.isclose(codec.seconds(ids), max(n.end for n in expected) - t0, abs_tol=1e-9)  # the last release
    # the document form decodes to the same notes, and nothing after <end> is played
    assert codec.events_to_notes([*codec.encode_document(notes), NOTE_ON + 60, TIME_SHIFT]) == decoded
    pm = codec.decode(ids)
    assert len(pm.instruments) == 1 and not pm.instruments[0].is_drum
    got = [(n.pitch, n.start, n.end, n.velocity) for n in pm.instruments[0].notes]
    assert got == [(n.pitch, n.start, n.end, n.velocity) for n in decoded]


@FEW
@given(note_codecs(), st.lists(st.tuples(GRID_NOTE, st.integers(0, 2)), min_size=1, max_size=20))
def test_note_codec_reads_prettymidi_like_a_note_list(codec: NoteEventCodec,
                                                      raw: list[tuple[tuple[int, int, int, int], int]]) -> None:
    """Notes spread over several instruments of a PrettyMIDI object encode exactly as the merged note list."""
    notes = grid_notes(codec, [r for r, _ in raw])
    pm = pretty(notes, [k for _, k in raw])
    assert codec.encode(pm) == codec.encode(notes)
    assert [(n.pitch, n.velocity) for n in codec.notes_of(pm)] == [(n.pitch, n.velocity) for n in codec.notes_of(notes)]


@SOME
@given(note_codecs(), st.lists(GRID_NOTE, min_size=1, max_size=25))
def test_notes_of_keeps_each_pitch_onsets_and_releases(codec: NoteEventCodec,
                                                       raw: list[tuple[int, int, int, int]]) -> None:
    """notes_of only re-pairs releases of a pitch first-in first-out: per pitch the onsets (with velocities) and the
    releases (lengthened to one step) are kept, and every note ends at least one step after it starts."""
    notes = grid_notes(codec, raw)
    out = codec.notes_of(notes)
    assert len(out) == len(notes)
    assert out == sorted(out, key=lambda n: (n.start, n.pitch, n.end, n.velocity))
    for pitch in {n.pitch for n in notes}:
        mine, theirs = [n for n in notes if n.pitch == pitch], [n for n in out if n.pitch == pitch]
        assert sorted((n.start, n.velocity) for n in theirs) == sorted((n.start, n.velocity) for n in mine)
        assert sorted(n.end for n in theirs) == sorted(max(n.end, n.start + codec.step) for n in mine)
    assert all(n.end >= n.start + codec.step - 1e-12 for n in out)


OFF_GRID_NOTE = st.tuples(st.integers(0, 127), st.floats(0, 5), st.floats(0, 2), st.integers(1, 127))


@SOME
@given(note_codecs(), st.lists(OFF_GRID_NOTE, min_size=1, max_size=20))
def test_note_codec_round_trip_off_the_grid_is_within_one_step(codec: NoteEventCodec,
                                                               raw: list[tuple[int, float, float, int]]) -> None:
    """Anywhere in time: pitches exact, onsets and releases within one step, each pitch's velocity bins kept."""
    notes = [Note(p, s, s + d, v) for p, s, d, v in raw]
    expected = codec.notes_of(notes)
    t0 = expected[0].start
    decoded = codec.events_to_notes(codec.encode(notes))
    key = lambda n: (n.pitch, n.start, n.end)  # noqa: E731
    exp, dec = sorted(expected, key=key), sorted(decoded, key=key)
    assert [n.pitch for n in dec] == [n.pitch for n in exp]
    tol = codec.step + 1e-9
    for e, d in zip(exp, dec, strict=True):
        assert abs(d.start - (e.start - t0)) <= tol and abs(d.end - (e.end - t0)) <= tol, (e, d)
    bins = lambda ns: sorted((n.pitch, int(velocity_bin(n.velocity, codec.velocity_bins))) for n in ns)  # noqa: E731
    assert bins(dec) == bins(exp)


@FEW
@given(st.lists(GRID_NOTE, min_size=1, max_size=15), st.integers(-20, 20))
def test_note_codec_transpose_equals_encoding_transposed_notes(raw: list[tuple[int, int, int, int]], k: int) -> None:
    """Transposing event ids by k semitones equals encoding the notes moved by k (when they stay in 0..127)."""
    codec = NoteEventCodec()
    notes = grid_notes(codec, raw)
    ids = np.asarray(codec.encode(notes))
    moved = [Note(n.pitch + k, n.start, n.end, n.velocity) for n in notes]
    if all(0 <= n.pitch <= 127 for n in moved):
        assert codec.transpose(ids, k).tolist() == codec.encode(moved)
        lo, hi = codec.pitch_span(ids)
        assert codec.pitch_span(codec.transpose(ids, k)) == (lo + k, hi + k)
    else:
        with pytest.raises(ValueError):
            codec.transpose(ids, k)


# ---------------------------------------------------------------------------------------------------------------------
# MuLawCodec


@st.composite
def mulaw_codecs(draw: st.DrawFn) -> MuLawCodec:
    """A codec with random bits, full scale and (sometimes) a non-default mu."""
    bits = draw(st.integers(2, 16))
    scale = draw(st.sampled_from([1.0, 0.5, 3.7, 1e-3, 250.0]) | st.floats(1e-3, 1e3))
    mu = draw(st.none() | st.floats(0.5, 1e4))
    return MuLawCodec(bits=bits, scale=scale, mu=mu)


UNIT_SIGNAL = hnp.arrays(np.float64, st.integers(0, 64), elements=st.floats(-1, 1))


def assert_within_bound(codec: MuLawCodec, x: np.ndarray, target: np.ndarray) -> None:
    """|decode(encode(x)) - target| <= the codec's bound for x (plus float32 rounding of the decoded value)."""
    y = codec.decode(codec.encode(x))
    assert y.dtype == np.float32 and y.shape == x.shape
    err = np.abs(y.astype(np.float64) - target)
    slack = np.spacing(np.abs(y)).astype(np.float64) + 1e-12 * codec.scale
    bound = codec.quantisation_error_bound(x)
    bad = err > bound + slack
    assert not bad.any(), (x[bad], y[bad], err[bad], bound[bad])


@SOME
@given(mulaw_codecs(), UNIT_SIGNAL)
@example(MuLawCodec(bits=16), np.array([0.0, -0.0, 1.0, -1.0, 5e-324, 1e-9]))
@example(MuLawCodec(bits=2), np.array([0.0, 0.5, -0.5, 1.0, -1.0]))
def test_mulaw_round_trip_is_within_the_quantisation_bound(codec: MuLawCodec, unit: np.ndarray) -> None:
    """For x within ±scale: ids lie in [0, levels), encode is monotone, |decode(encode(x)) - x| <= the bound."""
    x = unit * codec.scale
    ids = codec.encode_array(x)
    assert ids.dtype == np.int64 and ids.shape == x.shape
    assert ((ids >= 0) & (ids < codec.levels)).all()
    assert codec.encode(x) == ids.tolist()
    assert (np.diff(codec.encode_array(np.sort(x))) >= 0).all()
    assert_within_bound(codec, x, x)
    assert np.array_equal(codec.decode(codec.encode_document(x)), codec.decode(ids))  # <start> is dropped


@FEW
@given(mulaw_codecs(), hnp.arrays(np.float64, st.integers(1, 32), elements=st.floats(-50, 50)))
def test_mulaw_clips_out_of_scale_samples(codec: MuLawCodec, unit: np.ndarray) -> None:
    """Samples beyond ±scale decode within the bound of the clipped sample; beyond it they take the end levels."""
    x = unit * codec.scale
    assert_within_bound(codec, x, np.clip(x, -codec.scale, codec.scale))
    ids = codec.encode_array(x)
    assert (ids[x >= codec.scale] == codec.levels - 1).all() and (ids[x <= -codec.scale] == 0).all()


@FEW
@given(mulaw_codecs())
def test_mulaw_levels_decode_to_values_that_encode_back(codec: MuLawCodec) -> None:
    """Each level decodes to a value that encodes to the same level, and decoded values increase with the level."""
    levels = np.arange(codec.levels)
    values = codec.decode(levels.tolist())
    assert (np.diff(values) > 0).all()
    assert np.array_equal(codec.encode_array(values), levels)
    assert np.all(np.abs(values) <= codec.scale * (1 + 1e-6))


# ---------------------------------------------------------------------------------------------------------------------
# tiny random models


@st.composite
def model_configs(draw: st.DrawFn, vocab: int | None = None) -> ModelConfig:
    """Every cell, 1-2 layers, hidden 8, one-hot or learned embeddings, tied or untied output weights."""
    embed = draw(st.sampled_from([0, 4, 8]))
    return ModelConfig(vocab_size=vocab or draw(st.integers(7, 20)), cell=draw(st.sampled_from(CELLS)),
                       layers=draw(st.integers(1, 2)), hidden=8, embed=embed,
                       tie_weights=embed > 0 and draw(st.booleans()))


def tiny_model(config: ModelConfig, seed: int) -> SequenceModel:
    """A randomly initialised model (the global torch RNG left untouched), with its output layer sharpened so that
    the next-token distributions are far from uniform."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = SequenceModel(config).eval()
        with torch.no_grad():
            model.decoder.weight.mul_(4.0)
            model.decoder.bias.normal_(0.0, 1.0)
    return model


SEEDS = st.integers(0, 2**16)


@st.composite
def scoring_cases(draw: st.DrawFn, allow_empty: bool = True) -> tuple[SequenceModel, list[list[int]], list[int]]:
    """A tiny model, a few token sequences of different lengths and a context (maybe empty) to score them after."""
    config = draw(model_configs())
    token = st.integers(0, config.vocab_size - 1)
    context = draw(st.lists(token, max_size=2))
    shortest = 0 if context or allow_empty else 1
    seqs = draw(st.lists(st.lists(token, min_size=shortest, max_size=12), min_size=1, max_size=5))
    return tiny_model(config, draw(SEEDS)), seqs, context


def forward_logits(model: SequenceModel, ids: Sequence[int]) -> torch.Tensor:
    """The module's forward pass over one sequence, in float64: [len(ids), vocab]."""
    with torch.no_grad():
        return model(torch.tensor([list(ids)]))[0][0].double()


def score_tol(model: SequenceModel, ids: Sequence[int]) -> float:
    """Tolerance for log-probs of a scored sequence: `tol` of its largest logit."""
    return tol(forward_logits(model, ids)) if ids else ATOL


@SOME
@given(scoring_cases(allow_empty=False))
def test_score_total_is_the_sum_of_per_token_logprobs_of_the_forward_pass(
        case: tuple[SequenceModel, list[list[int]], list[int]]) -> None:
    """logprob = sum(token_logprobs); each token's log-prob is the forward pass's log_softmax at its position.
    (An empty sequence without context has its own test below.)"""
    model, seqs, context = case
    for seq, r in zip(seqs, score_sequences(model, seqs, context), strict=True):
        full = context + seq
        first = max(len(context), 1)
        assert r.tokens == len(r.token_logprobs) == max(len(full) - first, 0)
        assert math.isclose(r.logprob, math.fsum(r.token_logprobs), rel_tol=1e-9, abs_tol=1e-9)
        assert all(lp <= 0 for lp in r.token_logprobs)
        if r.tokens:
            logits = forward_logits(model, full)
            logp = torch.log_softmax(logits, -1)
            direct = [logp[t - 1, full[t]].item() for t in range(first, len(full))]
            assert np.allclose(r.token_logprobs, direct, atol=tol(logits), rtol=0)
            assert math.isclose(r.log10prob, r.logprob / math.log(10), rel_tol=1e-12)
            assert math.isclose(r.bits_per_token, -r.logprob / r.tokens / math.log(2), rel_tol=1e-12, abs_tol=1e-12)


@FEW
@given(model_configs(), SEEDS, st.data())
def test_next_token_distribution_sums_to_one(config: ModelConfig, seed: int, data: st.DataObject) -> None:
    """At every position the softmax over the vocabulary sums to 1, and so do the scored probabilities of all
    one-token continuations of a prefix (chain rule: logP(prefix + v) - logP(prefix) = logP(v | prefix))."""
    model = tiny_model(config, seed)
    token = st.integers(0, config.vocab_size - 1)
    prefix = data.draw(st.lists(token, min_size=1, max_size=10), label="prefix")
    with torch.no_grad():
        probs = torch.softmax(model(torch.tensor([prefix]))[0][0].double(), -1)
    assert torch.allclose(probs.sum(-1), torch.ones(len(prefix), dtype=torch.float64), atol=ATOL, rtol=0)
    assert (probs >= 0).all()
    continuations = [prefix + [v] for v in range(config.vocab_size)]
    results = score_sequences(model, continuations, batch_size=data.draw(st.integers(1, 8), label="batch_size"))
    (base,) = score_sequences(model, [prefix])
    last = torch.tensor([r.token_logprobs[-1] for r in results], dtype=torch.float64)
    assert abs(torch.logsumexp(last, 0).item()) < ATOL
    slack = (len(prefix) + 1) * max(score_tol(model, seq) for seq in continuations)
    assert all(math.isclose(r.logprob - base.logprob, r.token_logprobs[-1], abs_tol=slack) for r in results)


def assert_same_scores(batched: Sequence, alone: Sequence, tols: Sequence[float]) -> None:
    """Token counts equal; per-token log-probs within their tolerance, totals within tokens x tolerance."""
    for b, a, t in zip(batched, alone, tols, strict=True):
        assert b.tokens == a.tokens
        assert np.allclose(b.token_logprobs, a.token_logprobs, atol=t, rtol=0)
        assert math.isclose(b.logprob, a.logprob, abs_tol=t * max(1, a.tokens))


@SOME
@given(scoring_cases(allow_empty=False), st.integers(1, 6), st.integers(1, 16))
def test_batched_scoring_equals_one_at_a_time(case: tuple[SequenceModel, list[list[int]], list[int]],
                                              batch_size: int, chunk: int) -> None:
    """Scoring sequences of different lengths together (right-padded, any batch size and time chunk) gives what
    scoring each alone gives. (An empty sequence without context has its own test below.)"""
    model, seqs, context = case
    alone = [score_sequences(model, [s], context)[0] for s in seqs]
    tols = [score_tol(model, context + s) for s in seqs]
    assert_same_scores(score_sequences(model, seqs, context, batch_size=batch_size, chunk=chunk), alone, tols)


@settings(max_examples=10, deadline=None)
@given(scoring_cases(allow_empty=True))
@example((tiny_model(ModelConfig(vocab_size=7, cell="lstm", layers=1, hidden=8, embed=0), 0), [[], [0, 0, 0]], []))
def test_batched_scoring_of_an_empty_sequence_without_context(
        case: tuple[SequenceModel, list[list[int]], list[int]]) -> None:
    """An empty sequence scored with no context has 0 tokens and logprob 0, alone or batched with longer ones."""
    model, seqs, context = case
    batched = score_sequences(model, seqs, context)
    for seq, r in zip(seqs, batched, strict=True):
        if not context and not seq:
            assert (r.tokens, r.logprob, r.token_logprobs) == (0, 0.0, [])
    alone = [score_sequences(model, [s], context)[0] for s in seqs]
    assert_same_scores(batched, alone, [score_tol(model, context + s) for s in seqs])


# ---------------------------------------------------------------------------------------------------------------------
# Stepper


def random_state(config: ModelConfig, batch: int, gen: torch.Generator) -> State:
    """A random recurrent state laid out as the cell's nn module lays it out."""
    shape = (config.layers, batch, config.hidden)
    h = torch.randn(shape, generator=gen)
    return (h, torch.randn(shape, generator=gen)) if config.cell == "lstm" else h


def assert_states_close(a: State, b: State) -> None:
    """Same layout and values within `tol`."""
    a_parts, b_parts = (a, b) if isinstance(a, tuple) else ((a,), (b,))
    assert len(a_parts) == len(b_parts)
    for x, y in zip(a_parts, b_parts, strict=True):
        assert x.shape == y.shape and torch.allclose(x, y, atol=tol(y), rtol=0)


EMBEDDINGS = [(0, False), (4, False), (4, True), (8, True)]  # one-hot; learned; tied through a projection; tied


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize(("embed", "tie"), EMBEDDINGS, ids=["one-hot", "embed", "tied+proj", "tied"])
@settings(max_examples=6, deadline=None)
@given(st.integers(7, 20), st.integers(1, 2), SEEDS, st.integers(1, 4), st.integers(1, 6))
def test_stepper_matches_the_module_forward_pass(cell: str, embed: int, tie: bool, vocab: int, layers: int,
                                                 seed: int, batch: int, steps: int) -> None:
    """From a fixed random state, Stepper.step gives the module's logits and state (within `tol`), one step and many,
    for every cell, one-hot and learned embeddings, tied weights with and without the projection."""
    config = ModelConfig(vocab_size=vocab, cell=cell, layers=layers, hidden=8, embed=embed, tie_weights=tie)
    model = tiny_model(config, seed)
    assert (model.proj is not None) == (tie and embed != 8)
    gen = torch.Generator().manual_seed(seed)
    state = random_state(config, batch, gen)
    tokens = torch.randint(0, config.vocab_size, (batch, steps), generator=gen)
    stepper = Stepper(model)
    with torch.no_grad():
        logits, want = model(tokens, state)
    got = state
    for t in range(steps):
        step_logits, got = stepper.step(tokens[:, t], got)
        assert step_logits.shape == (batch, config.vocab_size)
        assert torch.allclose(step_logits, logits[:, t], atol=tol(logits[:, t]), rtol=0)
    assert_states_close(got, want)


# ---------------------------------------------------------------------------------------------------------------------
# sampling


@st.composite
def sampling_cases(draw: st.DrawFn) -> tuple[SequenceModel, list[int], list[int]]:
    """A tiny model, a primer and a set of banned ids that leaves at least one id allowed."""
    config = draw(model_configs())
    ids = st.integers(0, config.vocab_size - 1)
    prime = draw(st.lists(ids, min_size=1, max_size=6))
    banned = draw(st.lists(ids, max_size=config.vocab_size - 1, unique=True))
    return tiny_model(config, draw(SEEDS)), prime, banned


SAMPLING = st.tuples(st.sampled_from([0.0, 1e-3, 0.7, 1.0, 3.0]), st.none() | st.integers(1, 10),
                     st.none() | st.floats(0.05, 1.0))


@SAMPLES
@given(sampling_cases(), SAMPLING, st.integers(0, 2**31), st.integers(1, 3), st.integers(0, 20))
def test_generate_is_reproducible_and_never_draws_banned_ids(case: tuple[SequenceModel, list[int], list[int]],
                                                             how: tuple[float, int | None, float | None], seed: int,
                                                             num: int, length: int) -> None:
    """The same seed gives the same samples; banned ids never appear; with no stops every sample has `length` ids."""
    model, prime, banned = case
    temperature, top_k, top_p = how
    args = dict(num=num, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, banned=banned)
    out = generate(model, prime, length, **args)
    assert out == generate(model, prime, length, **args)
    assert len(out) == num and all(len(row) == length for row in out)
    assert all(0 <= t < model.config.vocab_size and t not in banned for row in out for t in row)


@SAMPLES
@given(sampling_cases(), st.integers(1, 16))
def test_temperature_zero_follows_the_argmax_of_the_forward_pass(case: tuple[SequenceModel, list[int], list[int]],
                                                                 length: int) -> None:
    """At temperature 0 every drawn id is the allowed argmax of the forward pass over primer + sample so far (`tol`
    slack for near-ties), every row is the same path whatever the seed, and top_k=1 or a tiny top_p draw it too."""
    model, prime, banned = case
    greedy = generate(model, prime, length, num=2, temperature=0.0, seed=1, banned=banned)
    assert greedy[0] == greedy[1] == generate(model, prime, length, temperature=0.0, seed=7, banned=banned)[0]
    path = greedy[0]
    with torch.no_grad():
        logits = model(torch.tensor([prime + path]))[0][0].double()
    logits[:, banned] = -math.inf
    for t, token in enumerate(path):
        row = logits[len(prime) - 1 + t]
        finite = row[torch.isfinite(row)]
        assert row[token].item() >= finite.max().item() - tol(finite), (t, token, row)
    assert generate(model, prime, length, temperature=1.3, top_k=1, seed=3, banned=banned)[0] == path
    assert generate(model, prime, length, temperature=0.9, top_p=1e-9, seed=4, banned=banned)[0] == path


@SAMPLES
@given(sampling_cases(), st.integers(0, 15), st.integers(0, 15), st.integers(0, 2**31))
def test_a_single_token_stop_is_never_drawn_before_min_length(case: tuple[SequenceModel, list[int], list[int]],
                                                              length: int, min_length: int, seed: int) -> None:
    """A one-id stop never appears in a sample (banned before `min_length`, cut off after), which then has at least
    min(min_length, length) and at most `length` ids."""
    model, prime, banned = case
    allowed = [i for i in range(model.config.vocab_size) if i not in banned]
    stop = allowed[seed % len(allowed)]
    if len(allowed) == 1:  # the stop must not be the only id left to draw before min_length
        banned = banned[1:]
    out = generate(model, prime, length, num=3, temperature=2.0, seed=seed, banned=banned, stops=[[stop]],
                   min_length=min_length)
    for row in out:
        assert stop not in row and not set(row) & set(banned)
        assert min(min_length, length) <= len(row) <= length
