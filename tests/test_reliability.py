"""Reliability: a run killed anywhere resumes to the same weights, SIGINT/SIGTERM save and exit cleanly, a diverging
run keeps its last good checkpoint, a full disk or read-only folder is one clean error, and no checkpoint file can
run code."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pickle
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from helpers import assert_clean_error, assert_clean_process_error
from safetensors.torch import load_file
from seqgen.cli.main import cli

import seqgen
from seqgen import checkpoint

SHAKESPEARE = Path(__file__).parent / "data" / "shakespeare-60k.txt"
STEPS = 120
TINY = dict(cell="gru", layers=1, hidden=32, embed=16, batch_size=8, seq_len=32, eval_every=10, seed=3)
FILES = (checkpoint.CONFIG, checkpoint.WEIGHTS, checkpoint.TRAINER)


def cli_args(**opts: object) -> list[str]:
    """TINY (and `opts`) as `seqgen train` options."""
    flags = {"batch_size": "-b", "seq_len": "-t"}
    return [a for k, v in {**TINY, **opts}.items() for a in (flags.get(k, "--" + k.replace("_", "-")), str(v))]


@pytest.fixture(scope="module")
def text(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("text") / "text.txt"
    path.write_text(SHAKESPEARE.read_text(encoding="utf-8")[:20_000], encoding="utf-8")
    return path


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    """`python -m seqgen ARGS`, on one thread (so a busy machine slows it evenly, and every run computes alike)."""
    return subprocess.Popen([sys.executable, "-m", "seqgen", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


def train_command(text: Path, folder: Path) -> list[str]:
    return ["train", str(text), "--out", str(folder), "--max-steps", str(STEPS), "-q", *cli_args()]


@pytest.fixture(scope="module")
def unbroken(text: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference: the same run, never interrupted."""
    folder = tmp_path_factory.mktemp("unbroken") / "ck"
    proc = start(train_command(text, folder), folder.parent)
    assert proc.wait() == 0, proc.communicate()
    return folder


@pytest.fixture(scope="module")
def good(text: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A healthy checkpoint at step 20 (trained in-process)."""
    folder = tmp_path_factory.mktemp("good") / "ck"
    seqgen.train(text, folder, max_steps=20, device="cpu", **TINY)
    return folder


def live_weights(folder: Path) -> dict[str, torch.Tensor]:
    return torch.load(folder / checkpoint.TRAINER, weights_only=True)["model"]


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=1e-6, rtol=1e-5, msg=name)


def digest(folder: Path, names: tuple[str, ...] = FILES) -> dict[str, str]:
    return {n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in names}


def wait_for_step(folder: Path, step: int, proc: subprocess.Popen) -> None:
    """Poll metrics.jsonl until the run just started (still importing) logs `step`, or ends; lines an earlier,
    killed run logged past its checkpoint do not count."""
    metrics = folder / checkpoint.METRICS
    old = len(metrics.read_text().splitlines()) if metrics.is_file() else 0
    while proc.poll() is None:
        lines = metrics.read_text().splitlines()[old:] if metrics.is_file() else []
        if lines and json.loads(lines[-1])["step"] >= step:
            return
        time.sleep(0.005)
    raise AssertionError(f"the run ended before step {step}: {proc.communicate()}")


def saved_step(folder: Path) -> int:
    return torch.load(folder / checkpoint.TRAINER, weights_only=True)["loop"]["step"]


def test_killed_twice_at_random_moments_resumes_to_the_unbroken_weights(text: Path, unbroken: Path,
                                                                        tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("SEQGEN_KILL_SEED", "0")))
    folder = tmp_path / "ck"
    commands = [train_command(text, folder), ["train", "--resume", str(folder), "-q"]]
    kills = []
    for args in commands:  # kill the first run and the first resume, each at a random step plus a random delay
        first = not folder.joinpath(checkpoint.TRAINER).is_file()
        target = rng.randrange(20, STEPS // 2) if first else rng.randrange(saved_step(folder) + 10, STEPS - 20)
        proc = start(args, tmp_path)
        wait_for_step(folder, target, proc)
        time.sleep(rng.uniform(0, 0.03))  # right after a log line the run validates and saves: often mid-save
        proc.kill()
        assert proc.wait() == -signal.SIGKILL
        kills.append((target, saved_step(folder)))
    done = start(commands[1], tmp_path)
    out, err = done.communicate()
    assert done.returncode == 0, err
    assert kills[1][1] > kills[0][1], kills  # the first resume made progress before its kill
    assert saved_step(folder) == STEPS
    assert_same_weights(live_weights(folder), live_weights(unbroken))  # the model and ...
    assert_same_weights(load_file(folder / checkpoint.WEIGHTS), load_file(unbroken / checkpoint.WEIGHTS))  # best
    progress = [json.loads((f / checkpoint.CONFIG).read_text())["progress"] for f in (folder, unbroken)]
    assert progress[0]["best_step"] == progress[1]["best_step"] and progress[0]["step"] == STEPS
    assert not list(folder.glob(".*.tmp"))


def test_sigterm_and_sigint_save_the_step_reached_and_resume_finishes_the_run(text: Path, unbroken: Path,
                                                                             tmp_path: Path) -> None:
    folder = tmp_path / "ck"
    commands = [train_command(text, folder), ["train", "--resume", str(folder), "-q"]]
    for sig, args in zip((signal.SIGTERM, signal.SIGINT), commands, strict=True):
        at = saved_step(folder) + 20 if sig == signal.SIGINT else 30
        proc = start(args, tmp_path)
        wait_for_step(folder, at, proc)
        proc.send_signal(sig)
        out, err = proc.communicate()
        assert proc.returncode == 128 + sig, err
        assert "Traceback" not in err
        step = saved_step(folder)
        assert at <= step < STEPS
        assert err.strip().splitlines() == [f"seqgen: stopped by {sig.name} at step {step}; the checkpoint holds step "
                                            f"{step}; continue with: seqgen train --resume {folder}"]
        assert json.loads((folder / checkpoint.CONFIG).read_text())["progress"]["step"] == step
    resumed = start(commands[1], tmp_path)
    assert resumed.wait() == 0, resumed.communicate()
    assert saved_step(folder) == STEPS
    assert_same_weights(live_weights(folder), live_weights(unbroken))


@pytest.mark.parametrize("lr, clip, message", [
    ("50", "1000", r"smoothed loss [\d.e+]+ nats/token against [\d.]+ at the start"),
    ("1e38", "1e38", r"loss nan"),
], ids=["blow-up", "nan"])
def test_divergence_stops_without_touching_the_last_good_checkpoint(lr: str, clip: str, message: str, good: Path,
                                                                    tmp_path: Path) -> None:
    folder = tmp_path / "ck"
    shutil.copytree(good, folder)
    before = digest(folder, tuple(p.name for p in folder.iterdir()))
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    result = CliRunner().invoke(cli, ["train", "--resume", str(folder), "--max-steps", "60", "--lr", lr, "--clip", clip,
                                      "-q"])
    assert result.exit_code == 1
    line = assert_clean_error(result)
    assert re.fullmatch(rf"seqgen: error: training diverged at step 2\d \({message}\); the checkpoint keeps step 20; "
                        r"lower --lr or --clip", line), line
    assert digest(folder, tuple(before)) == before and sorted(p.name for p in folder.iterdir()) == sorted(before)
    assert {s: signal.getsignal(s) for s in handlers} == handlers  # the trainer put the previous handlers back


@pytest.mark.parametrize("fault, message", [
    ("full disk", "No space left on device"),
    ("read-only folder", "Read-only file system"),
    ("permission", "Permission denied"),
])
def test_failed_save_is_one_line_and_keeps_the_previous_checkpoint(fault: str, message: str, text: Path,
                                                                   tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The first save succeeds; the second fails where that fault strikes (the flush, creating the temp file, the
    rename), as a full disk, a read-only folder or a permission error would."""
    folder, snapshot = tmp_path / "ck", {}

    def failing(real, error: OSError):
        def call(*args, **kwargs):
            if (folder / checkpoint.CONFIG).is_file():  # the first checkpoint is complete
                snapshot.update(digest(folder))
                raise error
            return real(*args, **kwargs)
        return call

    if fault == "full disk":
        monkeypatch.setattr(os, "fsync", failing(os.fsync, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))))
    elif fault == "read-only folder":
        monkeypatch.setattr(tempfile, "mkstemp", failing(tempfile.mkstemp, OSError(errno.EROFS,
                                                                                   os.strerror(errno.EROFS))))
    else:
        monkeypatch.setattr(os, "replace", failing(os.replace, PermissionError(errno.EACCES,
                                                                                os.strerror(errno.EACCES))))
    result = CliRunner().invoke(cli, ["train", str(text), "--out", str(folder), "--max-steps", "40", "-q",
                                      *cli_args()])
    assert result.exit_code == 1
    assert assert_clean_error(result) == (f"seqgen: error: {folder / checkpoint.WEIGHTS}: cannot save ({message}); "
                                     "the checkpoint keeps step 10")
    assert snapshot and digest(folder) == snapshot
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


class Payload:
    """A pickle that runs a shell command when loaded."""

    def __init__(self, marker: Path) -> None:
        self.command = f"touch {marker}"

    def __reduce__(self) -> tuple:
        return (os.system, (self.command,))


@pytest.mark.parametrize("planted, command", [
    (checkpoint.TRAINER, ["train", "--resume", "{ck}", "--max-steps", "30", "-q"]),
    (checkpoint.WEIGHTS, ["sample", "-c", "{ck}", "--length", "5"]),
], ids=["trainer.pt on resume", "model.safetensors on sample"])
def test_a_malicious_pickle_in_a_checkpoint_runs_no_code(planted: str, command: list[str], unbroken: Path,
                                                         tmp_path: Path) -> None:
    ck, marker = tmp_path / "ck", tmp_path / "MARKER"
    shutil.copytree(unbroken, ck)
    (ck / planted).write_bytes(pickle.dumps(Payload(marker)))
    proc = start([a.format(ck=ck) for a in command], tmp_path)
    out, err = proc.communicate()
    assert proc.returncode == 1
    assert assert_clean_process_error(proc, stderr=err).startswith(f"seqgen: error: {ck / planted}: damaged"), err
    assert not marker.exists()


def test_resume_into_a_read_only_folder_fails_before_training(good: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = digest(good, tuple(p.name for p in good.iterdir()))
    monkeypatch.setattr(os, "access", lambda path, mode: mode != os.W_OK)  # as a read-only mount answers
    result = CliRunner().invoke(cli, ["train", "--resume", str(good), "--max-steps", "60", "-q"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert result.stderr == f"seqgen: error: {good}: cannot resume into a folder that is read-only or not writable " \
                            "for this user\n"
    assert digest(good, tuple(before)) == before


def _children(pid: int) -> list[int]:
    """The processes `pid`'s main thread has started (Linux)."""
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _running(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie waiting to be reaped has ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="parsing workers are tied to their parent on Linux")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_run_stopped_while_parsing_music_leaves_no_workers_behind(sig: signal.Signals, tmp_path: Path) -> None:
    """`seqgen train folk` stopped while its worker processes parse the corpus: the workers end with it, where they
    used to wait on for work that never came."""
    proc = subprocess.Popen([sys.executable, "-m", "seqgen", "train", "folk", "--out", str(tmp_path / "ck"), "-q"],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "SEQGEN_CACHE": str(tmp_path / "cache")})
    deadline = time.monotonic() + 120
    while not (workers := _children(proc.pid)) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert workers, "no parsing workers started"
    time.sleep(1.0)  # the workers are parsing
    proc.send_signal(sig)
    proc.wait()
    deadline = time.monotonic() + 10
    while any(_running(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_running(w) for w in workers), workers
