"""bf16 training (autocast, fp32 weights and losses), presets, and training curves (curve.png, `seqgen plot`)."""

import json

import pytest
import torch
from click.testing import CliRunner
from helpers import assert_clean_error, assert_clean_exit
from seqgen.cli.main import cli

import seqgen
from seqgen import presets
from seqgen.errors import SeqgenError
from seqgen.models import ModelConfig, SequenceModel
from seqgen.render import read_losses
from seqgen.trainer import TrainConfig, autocast, make_optimizer, train_step

TINY = ["--layers", "1", "--hidden", "16", "--embed", "8", "-b", "8", "-t", "64", "-q"]
PNG = b"\x89PNG\r\n\x1a\n"


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_bf16_training_learns_a_deterministic_sequence_and_draws_its_curve(tmp_path):
    text = tmp_path / "cycle.txt"
    text.write_text("the cat sat on a mat. " * 200)
    r = seqgen.train(text, tmp_path / "ck", cell="gru", layers=1, hidden=48, embed=16, batch_size=16, seq_len=32,
                     lr=1e-2, max_steps=150, eval_every=50, precision="bf16", device="cpu")
    assert isinstance(r.final_train_loss, float) and isinstance(r.final_val_loss, float)
    assert r.final_train_loss < 0.05, r  # uniform over the 12 characters would be 2.48 nats
    assert r.final_val_loss < 0.2, r
    config = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert config["train"]["precision"] == "bf16"
    assert (tmp_path / "ck" / "curve.png").read_bytes().startswith(PNG)


def test_bf16_autocast_runs_the_recurrent_layers_in_bfloat16_and_keeps_fp32_weights():
    torch.manual_seed(0)
    model = SequenceModel(ModelConfig(vocab_size=12, cell="lstm", layers=1, hidden=16, embed=8))
    opt = make_optimizer(model, TrainConfig())
    x = torch.randint(0, 12, (4, 8))
    with autocast(x.device, "bf16"):
        logits, _ = model(x)
    assert logits.dtype == torch.bfloat16
    loss, _, state = train_step(model, opt, x, torch.roll(x, -1, 1), None, 1.0, "bf16")
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(s.dtype == torch.float32 for s in state)  # the carried state is fp32 whatever the cell returned


def test_loss_scaling_leaves_the_update_unchanged():
    """The scaled path (bf16 on CUDA, where cuDNN runs recurrent kernels in float16) gives the unscaled update."""
    x = torch.randint(0, 12, (4, 8))
    weights = []
    for scaler in (None, torch.amp.GradScaler("cpu")):
        torch.manual_seed(0)
        model = SequenceModel(ModelConfig(vocab_size=12, cell="gru", layers=1, hidden=16, embed=8))
        opt = make_optimizer(model, TrainConfig())
        args = (model, opt, x, torch.roll(x, -1, 1), None, 1.0, "fp32") + ((scaler,) if scaler else ())
        train_step(*args)
        weights.append([p.detach().clone() for p in model.parameters()])
    for a, b in zip(*weights, strict=True):
        torch.testing.assert_close(a, b)


def test_precision_is_stored_and_honoured_on_resume(tmp_path, shakespeare):
    opts = dict(cell="lstm", layers=1, hidden=16, embed=8, batch_size=8, seq_len=64, eval_every=5,
                precision="bf16", device="cpu")
    whole = seqgen.train(shakespeare, tmp_path / "whole", max_steps=10, **opts)
    seqgen.train(shakespeare, tmp_path / "half", max_steps=5, **opts)
    resumed = seqgen.train(resume=tmp_path / "half", max_steps=10, device="cpu")
    assert json.loads((tmp_path / "half" / "config.json").read_text())["train"]["precision"] == "bf16"
    assert resumed.final_val_loss == pytest.approx(whole.final_val_loss, rel=1e-6)  # an fp32 resume would differ


def test_invalid_precision_fails_cleanly(tmp_path, shakespeare):
    assert_clean_error(run("train", shakespeare, *TINY, "--precision", "fp16", "--out", tmp_path / "x"),
                       "--precision", "fp16")
    with pytest.raises(SeqgenError, match="precision"):
        seqgen.train(shakespeare, tmp_path / "y", precision="fp16", max_steps=1, device="cpu")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_preset_options_apply_and_explicit_options_override_them(tmp_path, shakespeare, monkeypatch):
    tiny = presets.Preset("tiny", "a test preset", "any text", {"cell": "lstm", "layers": 1, "hidden": 16,
                                                                "embed": 8, "lr": 0.005, "max_steps": 3})
    monkeypatch.setitem(presets.PRESETS, "tiny", tiny)
    seqgen.train(shakespeare, tmp_path / "ck", preset="tiny", hidden=12, batch_size=4, seq_len=16, device="cpu")
    config = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert (config["model"]["cell"], config["model"]["hidden"], config["model"]["embed"]) == ("lstm", 12, 8)
    assert config["train"]["lr"] == 0.005 and config["train"]["max_steps"] == 3 and config["preset"] == "tiny"
    with pytest.raises(SeqgenError, match="unknown preset 'nope'"):
        seqgen.train(shakespeare, tmp_path / "z", preset="nope")


def test_shakespeare_preset_on_the_command_line(tmp_path, shakespeare):
    assert "shakespeare-cpu" in run("train", "--help").stdout
    assert presets.get_preset("shakespeare-cpu").options["max_time"] == 900
    assert_clean_error(run("train", "--preset", "shakespeare-cpu"), "needs DATA", "datasets fetch tinyshakespeare")
    r = run("train", shakespeare, "--preset", "shakespeare-cpu", *TINY, "--max-steps", 2, "--out", tmp_path / "ck")
    assert_clean_exit(r)
    config = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert config["model"]["cell"] == "gru" and config["model"]["hidden"] == 16
    assert config["train"]["max_steps"] == 2 and config["train"]["max_time"] is None  # the budget given replaces 900 s
    assert_clean_error(run("train", "--resume", tmp_path / "ck", "--preset", "shakespeare-cpu"), "drop --preset")


def test_plot_command_writes_a_png_and_fails_cleanly_without_metrics(tmp_path, shakespeare):
    ckpt = tmp_path / "ck"
    assert_clean_exit(run("train", shakespeare, *TINY, "--max-steps", 20, "--eval-every", 10, "--out", ckpt))
    r = run("plot", ckpt, "--out", tmp_path / "curve.png")
    assert r.exit_code == 0 and r.stdout.strip() == f"wrote {tmp_path / 'curve.png'}", r.output
    assert (tmp_path / "curve.png").read_bytes().startswith(PNG)
    (ckpt / "metrics.jsonl").write_text("")
    assert_clean_error(run("plot", ckpt), "metrics.jsonl", "nothing to plot")
    (ckpt / "metrics.jsonl").unlink()
    assert_clean_error(run("plot", ckpt), "no metrics.jsonl")
    assert_clean_error(run("plot", tmp_path / "absent"), "no such checkpoint folder")
    short = tmp_path / "short"  # no validation data and fewer steps than one log interval: no loss to draw
    assert_clean_exit(run("train", shakespeare, *TINY, "--max-steps", 3, "--val-fraction", 0, "--out", short))
    assert not (short / "curve.png").exists()
    assert_clean_error(run("plot", short), "nothing to plot")


def test_a_resumed_stretch_of_metrics_replaces_the_steps_it_logged_again(tmp_path):
    rows = [{"step": 10, "elapsed_s": 1.0, "train_loss": 3.0}, {"step": 20, "elapsed_s": 2.0, "train_loss": 2.5},
            {"step": 20, "elapsed_s": 2.1, "val_loss": 2.6}, {"step": 30, "elapsed_s": 3.0, "train_loss": 2.4},
            {"step": 30, "elapsed_s": 3.0, "train_loss": 2.3},  # resumed from step 20: step 30 again
            {"step": 40, "elapsed_s": 4.0, "val_loss": None}]  # no validation data
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("".join(json.dumps(r) + "\n" for r in rows))
    train, val = read_losses(metrics)
    assert train == [(10, 1.0, 3.0), (20, 2.0, 2.5), (30, 3.0, 2.3)] and val == [(20, 2.1, 2.6)]
    metrics.write_text('{"step": 10, "elapsed_s"\n')
    with pytest.raises(SeqgenError, match="line 1 is not a metrics record"):
        read_losses(metrics)
