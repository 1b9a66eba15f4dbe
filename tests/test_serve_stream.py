"""generate's per-step callback, which `seqgen serve` streams text with: it sees every drawn id as it is drawn,
None for samples that have ended, and changes nothing about the samples."""

from __future__ import annotations

import torch

from seqgen.models import ModelConfig, SequenceModel
from seqgen.sample import generate


def _model() -> SequenceModel:
    torch.manual_seed(0)
    return SequenceModel(ModelConfig(vocab_size=9, cell="gru", layers=1, hidden=16)).eval()


def test_on_step_sees_each_drawn_id_and_leaves_the_samples_alone() -> None:
    model = _model()
    steps: list[list[int | None]] = []
    out = generate(model, [3], length=20, num=3, temperature=1.0, seed=5, on_step=steps.append)
    assert out == generate(model, [3], length=20, num=3, temperature=1.0, seed=5)
    assert len(steps) == 20
    assert [[s[i] for s in steps] for i in range(3)] == out


def test_on_step_marks_ended_samples_with_none() -> None:
    model = _model()
    steps: list[list[int | None]] = []
    out = generate(model, [3], length=40, num=4, temperature=1.0, seed=2, stops=[[4]], on_step=steps.append)
    assert out == generate(model, [3], length=40, num=4, temperature=1.0, seed=2, stops=[[4]])
    for i, sample in enumerate(out):
        streamed = [s[i] for s in steps if s[i] is not None]
        assert streamed[: len(sample)] == sample  # the stop itself is streamed, then cut from the sample
        assert len(streamed) - len(sample) in (0, 1)
    assert any(None in s for s in steps)  # with 40 steps and a stop token, some sample ended early
