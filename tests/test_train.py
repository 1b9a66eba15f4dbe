import importlib
import json
import math

import torch
from safetensors.torch import load_file

import seqgen
from seqgen.models import ModelConfig, SequenceModel
from seqgen.trainer import TrainConfig, learning_rate, make_optimizer, train_step


def test_learns_a_deterministic_sequence_to_near_zero_loss(tmp_path):
    text = tmp_path / "cycle.txt"
    text.write_text("the cat sat on a mat. " * 400)  # every next character is determined by the context
    r = seqgen.train(text, tmp_path / "ck", cell="lstm", layers=1, hidden=64, embed=16, batch_size=16,
                     seq_len=32, lr=1e-2, max_steps=250, eval_every=250, device="cpu")
    assert r.final_train_loss < 0.01, r
    assert r.final_val_loss < 0.1, r  # each validation row starts cold, so its first characters are guesses
    greedy = seqgen.load(r.folder, device="cpu").sample(prime="the cat", length=44, temperature=0)[0]
    assert greedy == ("the cat sat on a mat. " * 3)[: len("the cat") + 44]


def test_gradient_clipping_bounds_the_global_norm():
    torch.manual_seed(0)
    model = SequenceModel(ModelConfig(vocab_size=20, cell="rnn_tanh", layers=2, hidden=32))
    opt = make_optimizer(model, TrainConfig(lr=1e-3))
    x = torch.randint(0, 20, (8, 16))
    clip = 1e-3
    _, norm_before, _ = train_step(model, opt, x, torch.roll(x, -1, 1), None, clip)
    norm_after = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()]))
    assert norm_before > 10 * clip  # the clip really did something
    assert norm_after.item() <= clip * (1 + 1e-4)


def test_learning_rate_warms_up_then_decays_to_the_floor():
    cfg = TrainConfig(lr=1.0, warmup_steps=10, min_lr_ratio=0.1, max_steps=100)
    assert learning_rate(cfg, 0, 0.0) == 0.1
    assert learning_rate(cfg, 9, 0.09) == 1.0
    assert math.isclose(learning_rate(cfg, 50, 0.5), 0.55)
    assert math.isclose(learning_rate(cfg, 100, 1.0), 0.1)


def _weights(folder):
    return torch.load(folder / "trainer.pt", weights_only=True)["model"]


def test_resume_continues_from_the_saved_step_and_matches_an_unbroken_run(tmp_path, shakespeare):
    opts = dict(cell="lstm", layers=1, hidden=32, embed=16, batch_size=8, seq_len=32, lr=3e-3,
                lr_schedule="constant", warmup_steps=0, dropout=0.1, eval_every=10, device="cpu")
    whole = seqgen.train(shakespeare, tmp_path / "whole", max_steps=30, **opts)
    half = seqgen.train(shakespeare, tmp_path / "half", max_steps=15, **opts)
    assert half.steps == 15
    resumed = seqgen.train(resume=tmp_path / "half", max_steps=30, device="cpu")
    assert resumed.steps == 30
    steps = [json.loads(line)["step"] for line in (tmp_path / "half" / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and steps[-1] == 30 and 20 in steps  # logging went on from step 15
    for name, tensor in _weights(tmp_path / "whole").items():
        torch.testing.assert_close(_weights(tmp_path / "half")[name], tensor, atol=1e-6, rtol=1e-5, msg=name)
    assert math.isclose(resumed.final_val_loss, whole.final_val_loss, rel_tol=1e-5)
    config = json.loads((tmp_path / "half" / "config.json").read_text())
    assert config["progress"]["step"] == 30 and config["train"]["max_steps"] == 30


def test_checkpoint_keeps_the_best_weights(tmp_path, shakespeare, monkeypatch):
    """model.safetensors holds exactly the weights the best validation was computed on, not the last step's. The
    validations at steps 30 and 40 are made to score worse (+1 nat), so the best is an earlier one."""
    training = importlib.import_module("seqgen.trainer")

    validated = {}  # validation number -> the weights it scored

    def evaluate(model, *args, **kwargs):
        validated[len(validated) + 1] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        loss = real_evaluate(model, *args, **kwargs)
        return loss + 1.0 if len(validated) > 2 else loss

    real_evaluate = training.evaluate
    monkeypatch.setattr(training, "evaluate", evaluate)
    r = seqgen.train(shakespeare, tmp_path / "ck", cell="gru", layers=1, hidden=32, batch_size=8, seq_len=16,
                     max_steps=40, eval_every=10, device="cpu")
    config = json.loads((tmp_path / "ck" / "config.json").read_text())
    metrics = [json.loads(line) for line in (tmp_path / "ck" / "metrics.jsonl").read_text().splitlines()]
    vals = [m for m in metrics if "val_loss" in m]
    best = min(vals, key=lambda m: m["val_loss"])
    assert config["progress"]["best_val_loss"] == best["val_loss"] == r.best_val_loss
    assert config["progress"]["best_step"] == best["step"]
    assert [m["step"] for m in vals] == [10, 20, 30, 40] and len(validated) == 4
    assert best["step"] in (10, 20)
    assert all({"train_loss", "lr", "grad_norm", "tokens_per_s"} <= set(m) for m in metrics if "train_loss" in m)
    saved = load_file(tmp_path / "ck" / "model.safetensors")
    at_best = validated[best["step"] // 10]
    assert saved.keys() == at_best.keys()
    for name, tensor in at_best.items():
        assert torch.equal(saved[name], tensor), name  # bit for bit the weights of the best step
    last = _weights(tmp_path / "ck")  # trainer.pt: the weights of step 40, to resume from
    assert any(not torch.equal(last[name], tensor) for name, tensor in at_best.items())  # so the check can tell
