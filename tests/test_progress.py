"""The progress bars of `seqgen train`: a run that fails on its input shows only its error line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import assert_clean_error
from seqgen.cli.main import cli
from seqgen.cli.progress import ProgressBar

from seqgen.trainer import Progress


def screen(stderr: str) -> list[str]:
    """What a terminal shows after `stderr`: each line is what follows its last carriage return, trailing blanks
    dropped."""
    return [line.rsplit("\r", 1)[-1].rstrip() for line in stderr.split("\n")]


def reading(done: int, total: int) -> Progress:
    return Progress("data", done, done / total, message="reading corrupt", total=total)


def test_training_on_a_folder_of_corrupt_files_without_q_prints_only_the_error(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEQGEN_CACHE", str(tmp_path / "cache"))
    (tmp_path / "corrupt").mkdir()
    for i in range(5):
        (tmp_path / "corrupt" / f"{i}.mid").write_bytes(bytes(range(i, 200)))  # no MThd: unreadable
    result = CliRunner().invoke(cli, ["train", "corrupt", "--max-steps", "1"])  # no -q: bars are on
    line = assert_clean_error(result, "no usable music in 5 file(s)", "not a readable MIDI file")
    assert result.stderr == line + "\n"  # no bar, not even a wiped one
    assert not (tmp_path / "checkpoints").exists()


def test_a_reading_bar_already_drawn_is_wiped_when_the_run_fails(capsys: pytest.CaptureFixture[str]):
    bar = ProgressBar(read_delay_s=0)  # a slow read: the bar is on screen when the error comes
    for done in range(3):
        bar(reading(done, 2))
    assert "reading corrupt: 100%" in capsys.readouterr().err  # it was drawn ...
    bar.close(failed=True)
    assert screen(capsys.readouterr().err) == [""]  # ... and nothing of it is left on the line


def test_a_reading_bar_stays_on_screen_once_training_starts(capsys: pytest.CaptureFixture[str]):
    bar = ProgressBar(read_delay_s=0)
    for done in range(3):
        bar(reading(done, 2))
    bar(Progress("step", 1, 0.5, loss=2.0, tokens_per_s=100.0))
    bar.close()
    shown = screen(capsys.readouterr().err)
    assert shown[0].startswith("reading corrupt: 100%") and "2/2" in shown[0], shown
    assert shown[1].startswith("training:"), shown


def test_a_quick_read_draws_no_bar(capsys: pytest.CaptureFixture[str]):
    bar = ProgressBar()  # the default delay: a read shorter than it never shows
    for done in range(3):
        bar(reading(done, 2))
    bar.close(failed=True)
    assert capsys.readouterr().err == ""
