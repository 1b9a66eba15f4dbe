"""Sampling and scoring invariants: sample i of a seed does not depend on how many were drawn, a zero from the
exponential draw never makes a banned token drawable, and neither generate nor score changes the model's mode."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import seqgen
from seqgen.models import ModelConfig, SequenceModel
from seqgen.sample import generate
from seqgen.score import score_sequences


@pytest.mark.parametrize("stop", [None, "\n"])  # the path without per-token checks, and the one with them
def test_sample_i_of_a_seed_does_not_depend_on_how_many_were_drawn(trained: Path, stop: str | None) -> None:
    m = seqgen.load(trained, device="cpu")
    draws = {num: m.sample(num=num, length=120, seed=7, temperature=1.0, stop=stop) for num in (1, 3, 6)}
    assert draws[3][0] == draws[1][0] and draws[6][0] == draws[1][0]
    assert draws[6][:3] == draws[3]  # 6 crosses to several threads and a batched step: the same samples still
    assert len(set(draws[6])) == 6  # and each sample is a stream of its own


def test_seeds_do_not_share_samples(trained: Path) -> None:
    m = seqgen.load(trained, device="cpu")
    a = m.sample(num=2, length=60, seed=5, temperature=1.0)
    b = m.sample(num=2, length=60, seed=6, temperature=1.0)
    assert a[1] != b[0] and not set(a) & set(b)


def test_an_exact_zero_from_the_exponential_draw_never_draws_a_banned_token(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    model = SequenceModel(ModelConfig(vocab_size=6, cell="gru", layers=1, hidden=8))
    # every draw an exact 0: unclamped, -log(0) = +inf noise on a banned token's -inf logit is NaN, which argmax takes
    monkeypatch.setattr(torch.Tensor, "exponential_", lambda self, *a, **k: self.zero_())
    out = generate(model, [1], length=50, num=3, seed=0, banned=[0, 5])
    assert all(0 not in s and 5 not in s for s in out), out


@pytest.mark.parametrize("training", [True, False])
def test_generate_and_score_leave_the_model_in_its_mode(training: bool) -> None:
    model = SequenceModel(ModelConfig(vocab_size=7, cell="lstm", layers=2, hidden=8, dropout=0.5))
    model.train(training)
    generate(model, [1, 2], length=5, seed=0)
    assert model.training is training and all(m.training is training for m in model.modules())
    score_sequences(model, [[1, 2, 3, 4]])
    assert model.training is training and all(m.training is training for m in model.modules())
