"""Distributed training: two gloo processes on the CPU take exactly the single-process steps on the same global
batch, checkpoints resume with another number of processes, and `--nproc` hands off to torchrun's launcher."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from seqgen.cli.main import cli

import seqgen
from seqgen import distributed
from seqgen.data import TBPTTBatches

# an LSTM (a tuple state) over a text of 5 windows per epoch, so 6 steps cross into a second epoch; in fp32, whatever
# --precision auto would take on this machine, so that one and two processes can agree to 1e-5
OPTS = {"cell": "lstm", "layers": 1, "hidden": 32, "embed": 16, "dropout": 0.0, "batch_size": 8, "seq_len": 32,
        "lr": 1e-2, "lr_schedule": "constant", "warmup_steps": 0, "precision": "fp32"}
FLAGS = ["--cell", "lstm", "--layers", "1", "--hidden", "32", "--embed", "16", "-b", "8", "-t", "32", "--lr", "0.01",
         "--lr-schedule", "constant", "--warmup", "0", "--device", "cpu", "--precision", "fp32"]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]


def seqgen_cli(*args: str, launcher: list[str] | None = None) -> subprocess.CompletedProcess:
    cmd = [*(launcher or [sys.executable]), "-m", "seqgen", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=240,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def state(folder):
    return torch.load(folder / "trainer.pt", weights_only=True)


def assert_same_training(a, b):
    """Same step, tokens and data position; weights and carried state equal to float tolerance."""
    sa, sb = state(a), state(b)
    for key in ("step", "epoch", "window", "offset", "tokens", "shape"):
        assert sa["loop"][key] == sb["loop"][key], key
    for name, tensor in sa["model"].items():
        torch.testing.assert_close(sb["model"][name], tensor, atol=1e-5, rtol=1e-4, msg=name)
    for ha, hb in zip(sa["hidden"], sb["hidden"], strict=True):
        torch.testing.assert_close(hb, ha, atol=1e-5, rtol=1e-4)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, shakespeare):
    """Single-process runs of 3 and 6 steps, and a 2-process torchrun run of 3 steps, on the same settings."""
    root = tmp_path_factory.mktemp("ddp")
    text = root / "text.txt"
    text.write_text(shakespeare.read_text(encoding="utf-8")[:1500], encoding="utf-8")
    seqgen.train(text, root / "one-3", max_steps=3, device="cpu", **OPTS)
    seqgen.train(text, root / "one-6", max_steps=6, device="cpu", **OPTS)
    r = seqgen_cli("train", str(text), "-o", str(root / "two-3"), "--max-steps", "3", *FLAGS, launcher=TORCHRUN)
    assert r.returncode == 0, r.stderr
    return root, r


@pytest.mark.slow
def test_two_processes_take_the_single_process_step_on_the_same_global_batch(runs):
    root, r = runs
    assert_same_training(root / "one-3", root / "two-3")
    val = [json.loads(line)["val_loss"] for line in (root / "two-3" / "metrics.jsonl").read_text().splitlines()]
    one = [json.loads(line)["val_loss"] for line in (root / "one-3" / "metrics.jsonl").read_text().splitlines()]
    assert len(val) == 1 and val[0] == pytest.approx(one[0], rel=1e-5)  # every validation row, summed over ranks
    assert r.stdout.count("checkpoint:") == 1 and "(rank 1)" not in r.stderr  # only rank 0 reports


@pytest.mark.slow
def test_a_two_process_checkpoint_resumes_in_one_process(runs, tmp_path):
    root, _ = runs
    shutil.copytree(root / "two-3", tmp_path / "ck")
    result = seqgen.train(resume=tmp_path / "ck", max_steps=6, device="cpu")
    assert result.steps == 6
    assert_same_training(root / "one-6", tmp_path / "ck")


@pytest.mark.slow
def test_nproc_resumes_a_single_process_checkpoint_in_two_processes_and_reports_once(runs, tmp_path):
    root, _ = runs
    shutil.copytree(root / "one-3", tmp_path / "ck")
    r = seqgen_cli("train", "--resume", str(tmp_path / "ck"), "--max-steps", "6", "--nproc", "2", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("checkpoint:") == 1 and r.stdout.count("validation loss:") == 1, r.stdout
    assert r.stderr.count("training: 100%") == 1, r.stderr  # one progress bar
    assert_same_training(root / "one-6", tmp_path / "ck")


def test_sigterm_to_the_launcher_stops_every_process_at_one_saved_step(runs, tmp_path):
    """torchrun passes SIGTERM on; the processes agree on the step, rank 0 saves it, and the launch exits 143."""
    text, folder = runs[0] / "text.txt", tmp_path / "ck"
    cmd = [sys.executable, "-m", "seqgen", "train", str(text), "-o", str(folder), "--max-steps", "100000",
           "--eval-every", "1000", "-q", "--nproc", "2", *FLAGS]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    metrics = folder / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while not (metrics.is_file() and metrics.read_text().count("\n") >= 2) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    stops = [line for line in err.splitlines() if line.startswith("seqgen: stopped by SIGTERM")]
    assert len(stops) == 1 and "Traceback" not in err, err
    step = state(folder)["loop"]["step"]
    assert f"at step {step}; the checkpoint holds step {step};" in stops[0]
    assert out.count("checkpoint:") == 1
    r = seqgen_cli("train", "--resume", str(folder), "--max-steps", str(step + 3), "--device", "cpu", "-q")
    assert r.returncode == 0, r.stderr
    assert state(folder)["loop"]["step"] == step + 3


@pytest.mark.slow
def test_an_error_in_the_processes_ends_the_launch_with_its_message(runs, tmp_path):
    text = runs[0] / "text.txt"
    r = seqgen_cli("train", str(text), "-o", str(tmp_path / "ck"), "-b", "7", "--max-steps", "2", "--nproc", "2")
    assert r.returncode == 1
    assert "seqgen: error: a batch of 7 streams does not split evenly over 2 processes" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "ck").exists()


def test_shards_cover_every_row_once_in_near_equal_parts():
    for n in range(0, 20):
        for world in (1, 2, 3, 4):
            parts = [range(n)[distributed.shard(n, r, world)] for r in range(world)]
            assert [i for p in parts for i in p] == list(range(n))
            assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_ranks_read_disjoint_rows_of_the_same_windows():
    tokens = np.arange(1000)
    whole = TBPTTBatches(tokens, 8, 10, offset=3)
    shards = [TBPTTBatches(tokens, 8, 10, offset=3).keep_rows(distributed.shard(8, r, 2)) for r in range(2)]
    assert all(s.batch_size == 8 and len(s) == len(whole) for s in shards)
    for i in range(len(whole)):
        x, y = whole.window(i)
        assert torch.equal(torch.cat([s.window(i)[0] for s in shards]), x)
        assert torch.equal(torch.cat([s.window(i)[1] for s in shards]), y)
    state = torch.arange(2 * 8 * 3).reshape(2, 8, 3)
    assert torch.equal(torch.cat([distributed.take_rows(state, distributed.shard(8, r, 2)) for r in range(2)], 1),
                       state)


def test_nproc_hands_the_given_options_to_the_launcher(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(distributed, "launch", lambda n, args: calls.append((n, args)) or 0)
    r = CliRunner().invoke(cli, ["train", "a.txt", "b.txt", "--nproc", "3", "-b", "12", "--no-tie-weights",
                                 "--drums", "--lr", "0.001", "-q"])
    assert r.exit_code == 0, r.output
    (n, args), = calls
    assert n == 3 and args[-3:] == ["--", "a.txt", "b.txt"] and "--nproc" not in args
    pairs = " ".join(args)
    for given in ("--batch-size 12", "--lr 0.001", "--no-tie-weights", "--drums", "--quiet"):
        assert given in pairs
    assert "--tie-weights" not in args and "--device" not in args  # only what was given
