"""Reading waveforms: audio, WFDB, CSV and .npy into one channel, gap and flat-line repair, clear errors."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile

from seqgen.domains.waveform.signals import is_waveform_file, read_recording
from seqgen.errors import SeqgenError

RNG = np.random.default_rng(0)


def _stereo(tmp_path: Path, name: str) -> tuple[Path, np.ndarray]:
    data = RNG.uniform(-0.5, 0.5, size=(800, 2))
    path = tmp_path / name
    soundfile.write(path, data, 8000, subtype="FLOAT" if name.endswith(".wav") else "PCM_24")
    return path, soundfile.read(path, dtype="float64")[0]


@pytest.mark.parametrize("name", ["stereo.wav", "stereo.FLAC"])
def test_audio_mixes_down_or_picks_a_channel(tmp_path: Path, name: str) -> None:
    path, written = _stereo(tmp_path, name)
    assert is_waveform_file(path)
    mono = read_recording(path)
    assert mono.sample_rate == 8000 and mono.samples.dtype == np.float64 and mono.notes == []
    np.testing.assert_allclose(mono.samples, written.mean(axis=1))
    np.testing.assert_allclose(read_recording(path, channel=1).samples, written[:, 1])
    np.testing.assert_allclose(read_recording(path, channel="0").samples, written[:, 0])
    with pytest.raises(SeqgenError, match=r"stereo\.\w+: no channel 5 \(it has 2 channels"):
        read_recording(path, channel=5)


def test_empty_and_fake_audio_are_clean_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros((0, 1)), 8000)
    with pytest.raises(SeqgenError, match=r"empty\.wav: the audio is empty"):
        read_recording(empty)
    fake = tmp_path / "fake.wav"
    fake.write_text("this is not audio\n")
    with pytest.raises(SeqgenError, match=r"fake\.wav: not a readable audio file \(.+\)"):
        read_recording(fake)
    with pytest.raises(SeqgenError, match=r"gone\.wav: cannot read"):
        read_recording(tmp_path / "gone.wav")
    assert not is_waveform_file(tmp_path / "notes.txt")


def _wfdb_record(tmp_path: Path) -> tuple[Path, np.ndarray]:
    wfdb = pytest.importorskip("wfdb")
    t = np.arange(720) / 360
    signal = np.column_stack([np.sin(2 * np.pi * 1.3 * t), 0.5 * np.cos(2 * np.pi * 2.1 * t)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # wfdb's own pandas deprecation warnings
        wfdb.wrsamp("rec", fs=360, units=["mV", "mV"], sig_name=["MLII", "V5"], p_signal=signal, fmt=["16", "16"],
                    write_dir=str(tmp_path))
        return tmp_path / "rec.hea", wfdb.rdrecord(str(tmp_path / "rec")).p_signal


@pytest.mark.filterwarnings("error")
def test_wfdb_channel_by_index_and_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, stored = _wfdb_record(tmp_path)
    for module in [m for m in sys.modules if m.split(".")[0] == "wfdb"]:
        monkeypatch.delitem(sys.modules, module)  # so the reader's own import warns (pandas), and must keep quiet
    first = read_recording(path)
    assert first.sample_rate == 360
    np.testing.assert_allclose(first.samples, stored[:, 0])
    np.testing.assert_allclose(read_recording(path, channel="V5").samples, stored[:, 1])
    np.testing.assert_allclose(read_recording(path, channel=1).samples, stored[:, 1], atol=1e-2)
    with pytest.raises(SeqgenError, match=r"no channel named 'V6' \(it has 'MLII', 'V5'\)"):
        read_recording(path, channel="V6")


def _header(tmp_path: Path) -> Path:
    """A hand-written two-signal header whose .dat is absent (needs no wfdb to write)."""
    path = tmp_path / "100.hea"
    path.write_text("# MIT-BIH style\n100 2 360 720\n100.dat 16 200 16 0 0 0 0 MLII\n100.dat 16 200 16 0 0 0 0 V5\n")
    return path


def test_wfdb_missing_dat_is_a_clean_error(tmp_path: Path) -> None:
    with pytest.raises(SeqgenError, match=r"100\.hea: the signal file 100\.dat named in the header is missing"):
        read_recording(_header(tmp_path))


def test_wfdb_without_the_package_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _header(tmp_path)
    (tmp_path / "100.dat").write_bytes(np.zeros(1440, dtype="<i2").tobytes())
    monkeypatch.setitem(sys.modules, "wfdb", None)  # makes `import wfdb` raise ImportError
    with pytest.raises(SeqgenError, match=r"100\.hea: reading WFDB records needs the wfdb package"):
        read_recording(path)


def test_csv_time_column_gives_the_rate(tmp_path: Path) -> None:
    path = tmp_path / "ecg.csv"
    rows = [f"{i / 250:.4f},{i % 7},{np.sin(i / 10):.6f}" for i in range(500)]
    path.write_text("Time (s),beat,lead II\n" + "\n".join(rows) + "\n")
    rec = read_recording(path, column="lead II")
    assert rec.sample_rate == pytest.approx(250) and len(rec.samples) == 500
    np.testing.assert_allclose(rec.samples, np.sin(np.arange(500) / 10), atol=1e-6)
    np.testing.assert_allclose(read_recording(path, column="1").samples, np.arange(500) % 7)
    in_ms = tmp_path / "ms.csv"
    in_ms.write_text("t [ms],v\n" + "\n".join(f"{i * 4},{i}" for i in range(10)) + "\n")
    assert read_recording(in_ms).sample_rate == pytest.approx(250)
    irregular = tmp_path / "irregular.csv"
    irregular.write_text("time,v\n" + "\n".join(f"{t},{t}" for t in [0, 1, 2, 3, 7, 8, 9]) + "\n")
    with pytest.raises(SeqgenError, match=r"irregular\.csv: irregular sampling"):
        read_recording(irregular)


def test_csv_without_time_needs_a_sample_rate(tmp_path: Path) -> None:
    path = tmp_path / "plain.csv"
    path.write_text("\n".join(str(v) for v in range(50)) + "\n")
    with pytest.raises(SeqgenError, match=r"^--sample-rate is required: .*plain\.csv has no time column$"):
        read_recording(path)
    rec = read_recording(path, sample_rate=100)
    assert rec.sample_rate == 100 and rec.samples.tolist() == list(range(50))
    with pytest.raises(SeqgenError, match=r"plain\.csv: no column named 'x' \(its columns have no names"):
        read_recording(path, column="x", sample_rate=100)


def test_csv_gaps_interpolated_skipped_or_refused(tmp_path: Path) -> None:
    path = tmp_path / "gappy.csv"
    values = [str(v) for v in np.sin(np.arange(40) / 5)]
    values[3] = values[20] = values[21] = ""
    values[30] = "nan"
    path.write_text("value\n" + "\n".join(values) + "\n\n\n")  # blank lines inside are empty cells, not at the end
    rec = read_recording(path, sample_rate=10)
    assert np.isfinite(rec.samples).all() and len(rec.samples) == 40
    assert rec.samples[3] == pytest.approx((float(values[2]) + float(values[4])) / 2)
    assert rec.notes == ["3 NaN/inf stretches (0.4 s) interpolated"]
    skipped = read_recording(path, sample_rate=10, gaps="skip")
    assert len(skipped.samples) == 36 and "removed" in skipped.notes[0]
    with pytest.raises(SeqgenError, match=r"gappy\.csv: 3 NaN/inf stretches \(0\.4 s\), the first at 0\.3 s"):
        read_recording(path, sample_rate=10, gaps="error")


def test_csv_text_in_a_number_column_names_line_and_value(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("time,mV\n0.0,0.1\n0.1,0.2\n0.2,oops\n0.3,0.4\n")
    with pytest.raises(SeqgenError, match=r"bad\.csv: line 4: 'oops' in column 'mV' is not a number"):
        read_recording(path)


def test_npy_one_and_two_dimensional(tmp_path: Path) -> None:
    one, two = tmp_path / "one.npy", tmp_path / "two.npy"
    data = RNG.normal(size=(300, 3))
    np.save(one, data[:, 0].astype(np.float32))
    np.save(two, data)
    with pytest.raises(SeqgenError, match=r"^--sample-rate is required: .*one\.npy"):
        read_recording(one)
    rec = read_recording(one, sample_rate=50)
    assert rec.sample_rate == 50 and rec.samples.dtype == np.float64
    np.testing.assert_allclose(rec.samples, data[:, 0], rtol=1e-6)
    np.testing.assert_array_equal(read_recording(two, channel=2, sample_rate=50).samples, data[:, 2])
    with pytest.raises(SeqgenError, match=r"two\.npy: the array has 3 channels; choose one"):
        read_recording(two, sample_rate=50)
    np.save(one, np.zeros(0))
    with pytest.raises(SeqgenError, match=r"one\.npy: the array is empty"):
        read_recording(one, sample_rate=50)


def test_flat_lines_reported_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "lead.npy"
    signal = np.sin(np.arange(2000) / 7)
    signal[1250:1450] = 0.25  # 2 s disconnected at 12.5 s (100 Hz)
    signal[100:150] = 0.5  # 0.5 s: too short to report
    np.save(path, signal)
    rec = read_recording(path, sample_rate=100)
    assert rec.notes == ["flat line 2.0 s at 12.5 s"]
    np.testing.assert_array_equal(rec.samples, signal)
    skipped = read_recording(path, sample_rate=100, gaps="skip")
    assert skipped.notes == ["flat line 2.0 s at 12.5 s (removed)"] and len(skipped.samples) == 1800


def test_all_nan_or_all_flat_is_an_error(tmp_path: Path) -> None:
    nan, flat = tmp_path / "nan.npy", tmp_path / "flat.npy"
    np.save(nan, np.full(100, np.nan))
    np.save(flat, np.full(500, 3.0))
    with pytest.raises(SeqgenError, match=r"nan\.npy: no usable samples"):
        read_recording(nan, sample_rate=10)
    with pytest.raises(SeqgenError, match=r"flat\.npy: flat line throughout"):
        read_recording(flat, sample_rate=10)
