"""Writing what `seqgen sample` produced: a full disk or a file in the way of a folder is one error line naming the
file, with nothing half-written; and a 16-bit waveform vocabulary (65,537 tokens) trains, samples and scores."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
from click.testing import CliRunner, Result
from seqgen.cli.main import cli

from seqgen import checkpoint
from seqgen.codecs import MuLawCodec
from seqgen.domains.waveform.signals import write_recording
from seqgen.inputs import prepare

TINY = ["--cell", "gru", "--layers", "1", "--hidden", "16", "--embed", "8", "-b", "4", "-t", "32", "-q"]


def run(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_one_error_line(result: Result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exc_info  # an uncaught exception would be here
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("seqgen: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def tone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two seconds of a noisy 220 Hz tone at 8 kHz."""
    path = tmp_path_factory.mktemp("tone") / "tone.wav"
    t = np.arange(16000) / 8000
    write_recording(path, 0.5 * np.sin(2 * np.pi * 220 * t) + 0.01 * np.random.default_rng(0).normal(size=t.size),
                    8000)
    return path


@pytest.fixture(scope="module")
def music_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("music")
    for key in range(3):
        pm = pretty_midi.PrettyMIDI()
        inst = pretty_midi.Instrument(program=0)
        inst.notes = [pretty_midi.Note(velocity=80, pitch=60 + key + p, start=i * 0.2, end=i * 0.2 + 0.18)
                      for i, p in enumerate([0, 2, 4, 5, 7, 5, 4, 2] * 4)]
        pm.instruments.append(inst)
        pm.write(str(folder / f"tune{key}.mid"))
    result = run("train", folder, *TINY, "--max-steps", 3, "--out", folder / "ck")
    assert result.exit_code == 0, result.output
    return folder / "ck"


def test_bits_16_trains_samples_and_scores(tmp_path: Path, tone: Path) -> None:
    codec = MuLawCodec(sample_rate=8000, bits=16)
    data = prepare([tone], 0.1, codec)
    assert codec.vocab_size == 65537 and data.train.dtype == np.int32 and int(data.train.max()) >= 65536 - 8000
    ck = tmp_path / "ck"
    result = run("train", tone, "--bits", 16, *TINY, "--max-steps", 3, "--out", ck)
    assert result.exit_code == 0 and isinstance(result.exception, type(None) | SystemExit), result.exc_info
    assert checkpoint.read_config(ck)["codec"]["bits"] == 16
    sampled = run("sample", "-c", ck, "--length", 50, "--seed", 1, "--out", tmp_path / "x.csv")
    assert sampled.exit_code == 0, sampled.output
    assert len((tmp_path / "x.csv").read_text().splitlines()) == 51  # the header and 50 samples
    scored = run("score", "-c", ck, tone)
    assert scored.exit_code == 0 and "bits" in scored.stdout, scored.output


@pytest.mark.parametrize("option, name", [("--midi", "tune.mid"), ("--wav", "tune.wav"), ("--plot", "tune.png")])
def test_a_full_disk_while_writing_a_sample_is_one_line_and_leaves_nothing(
        tmp_path: Path, music_model: Path, monkeypatch: pytest.MonkeyPatch, option: str, name: str) -> None:
    out = tmp_path / "out"
    out.mkdir()

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    result = run("sample", "-c", music_model, "--length", 40, "--seed", 1, option, out / name)
    assert_one_error_line(result, f"{out / name}: cannot write (No space left on device)")
    assert list(out.iterdir()) == []  # no file and no temp file


@pytest.mark.parametrize("option, name", [("--midi", "tune.mid"), ("--wav", "tune.wav"), ("--plot", "tune.png")])
def test_a_file_in_the_way_of_the_output_folder_is_one_line(tmp_path: Path, music_model: Path, option: str,
                                                            name: str) -> None:
    blocker = tmp_path / "songs"
    blocker.write_text("a file, not a folder", encoding="utf-8")
    result = run("sample", "-c", music_model, "--length", 40, "--seed", 1, option, blocker / name)
    assert_one_error_line(result, f"{blocker / name}: cannot write (a folder in its path is a file)")
    assert blocker.read_text(encoding="utf-8") == "a file, not a folder"


def test_a_signal_written_over_a_full_disk_is_one_line(tmp_path: Path, tone: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    ck = tmp_path / "ck"
    assert run("train", tone, *TINY, "--max-steps", 2, "--out", ck).exit_code == 0

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    for option, name in (("--wav", "x.wav"), ("--out", "x.csv"), ("--plot", "x.png")):
        result = run("sample", "-c", ck, "--length", 30, "--seed", 1, option, tmp_path / name)
        assert_one_error_line(result, f"{tmp_path / name}: cannot write (No space left on device)")
        assert not (tmp_path / name).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux) to make libsndfile fail for real")
def test_an_audio_file_libsndfile_cannot_write_is_one_line(tmp_path: Path, tone: Path, music_model: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """libsndfile reports a full disk with its own error (LibsndfileError "System error."), not an OSError."""
    import soundfile

    ck = tmp_path / "ck"
    assert run("train", tone, *TINY, "--max-steps", 2, "--out", ck).exit_code == 0
    real = soundfile.write
    monkeypatch.setattr(soundfile, "write", lambda file, *a, **k: real("/dev/full", *a, **k))  # a device always full
    for model in (ck, music_model):
        result = run("sample", "-c", model, "--length", 30, "--seed", 1, "--wav", tmp_path / "x.wav")
        assert_one_error_line(result, f"{tmp_path / 'x.wav'}: cannot write (LibsndfileError: System error.)")
        assert not (tmp_path / "x.wav").exists()

