"""A step whose gradient norm is not finite changes no weight, and the divergence guard stops the run on it before
anything is saved."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

import seqgen
from seqgen import checkpoint
from seqgen.errors import SeqgenError
from seqgen.models import ModelConfig, SequenceModel
from seqgen.trainer import TrainConfig, make_optimizer, train_step

TEXT = Path(__file__).parent / "data" / "shakespeare-60k.txt"
TINY = dict(cell="gru", layers=1, hidden=16, embed=8, batch_size=4, seq_len=16, device="cpu")


def poison(model: SequenceModel, value: float) -> None:
    """Make the decoder's weight gradient `value` everywhere (inf or nan) while the loss stays finite."""
    model.decoder.weight.register_hook(lambda g: torch.full_like(g, value))


@pytest.mark.parametrize("value", [float("inf"), float("nan")])
def test_a_non_finite_gradient_norm_updates_nothing(value: float) -> None:
    torch.manual_seed(0)
    model = SequenceModel(ModelConfig(vocab_size=11, cell="gru", layers=1, hidden=8))
    opt = make_optimizer(model, TrainConfig())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    poison(model, value)
    x = torch.randint(0, 11, (2, 5))
    loss, norm, _ = train_step(model, opt, x, x, None, clip=1.0)
    assert torch.isfinite(torch.tensor(loss)) and not torch.isfinite(torch.tensor(norm))
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k  # unguarded, clipping scales every gradient to nan and AdamW applies it


def test_the_divergence_guard_stops_on_a_non_finite_gradient_norm(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "ck"
    seqgen.train(TEXT, folder, max_steps=20, eval_every=10, **TINY)
    files = {n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in (checkpoint.CONFIG, checkpoint.WEIGHTS,
                                                                                checkpoint.TRAINER)}
    original = SequenceModel.forward

    def forward_then_poison(self: SequenceModel, *args: object, **kwargs: object) -> object:
        if self.training and torch.is_grad_enabled() and not getattr(self, "_poisoned", False):
            self._poisoned = True
            poison(self, float("inf"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SequenceModel, "forward", forward_then_poison)
    with pytest.raises(SeqgenError, match=r"training diverged at step 21 \(gradient norm inf\); the checkpoint keeps "
                                          r"step 20; lower --lr or --clip"):
        seqgen.train(resume=folder, max_steps=40, device="cpu")
    assert files == {n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in files}
