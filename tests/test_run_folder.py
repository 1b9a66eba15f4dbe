"""The checkpoint folder of a run: --overwrite replaces only seqgen's own folders, a run killed before its first save
says so (and can be replaced), and --save-every saves between validations so a kill loses minutes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from seqgen.cli.main import cli

import seqgen
from seqgen import checkpoint
from seqgen.trainer import Trainer

TEXT = (Path(__file__).parent / "data" / "shakespeare-60k.txt").read_text(encoding="utf-8")[:20_000]
TINY = ["--cell", "gru", "--layers", "1", "--hidden", "16", "--embed", "8", "-b", "4", "-t", "16", "-q"]


@pytest.fixture()
def text(tmp_path: Path) -> Path:
    path = tmp_path / "text.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def run(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_one_error_line(result: Result, fragment: str) -> None:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exc_info  # an uncaught exception would be here
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("seqgen: error: ") and fragment in lines[0], result.stderr


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_overwrite_refuses_a_folder_that_is_not_a_checkpoint_and_touches_nothing(tmp_path: Path, text: Path) -> None:
    music = tmp_path / "Music"
    (music / "album").mkdir(parents=True)
    (music / "album" / "song.mp3").write_bytes(b"ID3 not really")
    (music / "notes.txt").write_text("mine", encoding="utf-8")
    before = snapshot(music)
    result = run("train", text, *TINY, "--max-steps", 2, "--out", music, "--overwrite")
    assert_one_error_line(result, f"{music}: not a seqgen checkpoint; --overwrite replaces only checkpoint folders")
    assert snapshot(music) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Music", "text.txt"]  # no work folder beside it


def test_overwrite_of_the_working_folder_is_one_clean_error(tmp_path: Path, text: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    assert_one_error_line(run("train", text, *TINY, "--max-steps", 2, "--out", ".", "--overwrite"),
                          "not a seqgen checkpoint")
    # even a working folder that is a checkpoint cannot be replaced from inside it
    ck = tmp_path / "ck"
    assert run("train", text, *TINY, "--max-steps", 2, "--out", ck).exit_code == 0
    monkeypatch.chdir(ck)
    kept = snapshot(ck)
    assert_one_error_line(run("train", text, *TINY, "--max-steps", 2, "--out", ".", "--overwrite"),
                          "holds the current working folder")
    assert snapshot(ck) == kept
    assert set(snapshot(tmp_path)) == set(before) | {f"ck/{name}" for name in kept}


def test_overwrite_replaces_a_checkpoint(tmp_path: Path, text: Path) -> None:
    ck = tmp_path / "ck"
    assert run("train", text, *TINY, "--max-steps", 2, "--out", ck).exit_code == 0
    assert run("train", text, *TINY, "--max-steps", 3, "--out", ck, "--overwrite").exit_code == 0
    assert checkpoint.read_config(ck)["progress"]["step"] == 3


def _train_until(folder: Path, text: Path, ready: callable, *extra: str) -> subprocess.Popen:
    """Start `seqgen train` in a process of its own and wait until ready(folder) holds (or fail after 120 s)."""
    proc = subprocess.Popen([sys.executable, "-m", "seqgen", "train", str(text), "--out", str(folder),
                             "--max-steps", "1000000", "--eval-every", "1000000", *TINY, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 120
    while not ready(folder):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run never got there"
        time.sleep(0.02)
    return proc


def _logged_steps(folder: Path) -> int:
    """Lines in metrics.jsonl: one per 10 steps trained."""
    metrics = folder / checkpoint.METRICS
    return len(metrics.read_text(encoding="utf-8").splitlines()) if metrics.is_file() else 0


def test_a_run_killed_before_its_first_save_says_so_and_can_be_replaced(tmp_path: Path, text: Path) -> None:
    folder = tmp_path / "ck"
    proc = _train_until(folder, text, lambda f: _logged_steps(f) >= 2, "--save-every", "60")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not checkpoint.is_checkpoint(folder)
    for result in (run("train", "--resume", folder), run("sample", "-c", folder), run("info", "-c", folder)):
        assert_one_error_line(result, f"{folder}: the training run in this folder was stopped before its first save")
        assert "(it had reached step " in result.stderr and f"--out {folder} --overwrite" in result.stderr
    assert run("train", text, *TINY, "--max-steps", 2, "--out", folder).exit_code == 1  # not empty: no silent reuse
    assert run("train", text, *TINY, "--max-steps", 2, "--out", folder, "--overwrite").exit_code == 0
    assert checkpoint.read_config(folder)["progress"]["step"] == 2


def test_save_every_saves_between_validations_and_a_kill_resumes_from_there(tmp_path: Path, text: Path) -> None:
    folder = tmp_path / "ck"
    # 0.005 minutes: a save every 0.3 s of training, with no validation before step 1,000,000
    proc = _train_until(folder, text, checkpoint.is_checkpoint, "--save-every", "0.005")
    logged = _logged_steps(folder)
    while _logged_steps(folder) < logged + 2:  # and train on past the save
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = checkpoint.read_config(folder)["progress"]
    assert saved["step"] > 0 and saved["last_val_loss"] is None  # saved by the clock, not by a validation
    result = run("train", "--resume", folder, "--max-steps", saved["step"] + 2)
    assert result.exit_code == 0, result.output
    assert checkpoint.read_config(folder)["progress"]["step"] == saved["step"] + 2


def test_save_every_is_what_triggers_the_saves(tmp_path: Path, text: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    saves: list[tuple[int, float | None]] = []
    original = Trainer._save

    def record(self: Trainer, val_loss: float | None) -> None:
        saves.append((self.s.step, val_loss))
        original(self, val_loss)

    monkeypatch.setattr(Trainer, "_save", record)
    options = dict(cell="gru", layers=1, hidden=16, embed=8, batch_size=4, seq_len=16, device="cpu")
    seqgen.train(text, tmp_path / "a", max_steps=30, eval_every=1000, **options)
    assert [val is None for _, val in saves] == [False]  # only the final validation
    saves.clear()
    seqgen.train(text, tmp_path / "b", max_steps=30, eval_every=1000, save_every=1e-9, **options)
    # a save after every step, then the final validation's
    assert [step for step, _ in saves] == [*range(1, 31), 30]
    assert all(val is None for _, val in saves[:-1]) and saves[-1][1] is not None
    assert json.loads((tmp_path / "b" / checkpoint.CONFIG).read_text())["train"]["save_every"] == 1e-9
