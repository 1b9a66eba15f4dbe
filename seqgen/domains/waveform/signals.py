"""Reading waveforms (audio, WFDB physiological records, CSV, numpy) into one float64 signal with its rate.

Damaged stretches are never passed on silently: NaN/inf runs are interpolated, removed or refused, flat
lines (a disconnected lead) are reported, and what was done comes back in `Recording.notes` for the caller
to show. Every failure is a one-line SeqgenError that names the file.
"""

from __future__ import annotations

import csv
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seqgen.errors import SeqgenError, reason

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
SIGNAL_SUFFIXES = (".hea", ".csv", ".npy")  # WFDB header (+ its .dat), CSV, numpy
WAVEFORM_SUFFIXES = AUDIO_SUFFIXES + SIGNAL_SUFFIXES
GAP_MODES = ("interpolate", "skip", "error")
FLAT_SECONDS = 1.0  # an exactly constant stretch at least this long is reported as a flat line
_TIME_NAMES = {"time", "t", "sec", "secs", "second", "seconds", "timestamp", "elapsed"}
_TIME_UNITS = {"": 1.0, "s": 1.0, "sec": 1.0, "ms": 1e-3, "us": 1e-6}
_TIME_HEADER = re.compile(r"^\s*([a-z_ ]+?)\s*(?:[(\[]\s*([a-z]*)\s*[)\]])?\s*$")


@dataclass
class Recording:
    """One signal: samples (float64, 1-D), its sample rate, where it came from, and notes on repairs."""

    name: str
    samples: np.ndarray
    sample_rate: float
    notes: list[str] = field(default_factory=list)  # e.g. "3 NaN/inf stretches (0.2 s) interpolated"


def is_waveform_file(path: Path) -> bool:
    """Whether the suffix is one this module reads (case-insensitive)."""
    return path.suffix.lower() in WAVEFORM_SUFFIXES


def read_recording(path: Path, *, channel: int | str | None = None, column: str | None = None,
                   sample_rate: float | None = None, gaps: str = "interpolate") -> Recording:
    """One channel of a waveform file, repaired per `gaps` ("interpolate", "skip" or "error").

    `channel` picks by index or (WFDB) signal name; audio mixes down to mono without it. `column` picks a CSV
    column by name or 0-based index. `sample_rate` is used only for files that carry no rate of their own."""
    path = Path(path)
    if gaps not in GAP_MODES:
        raise SeqgenError(f"gaps must be one of {', '.join(GAP_MODES)}, not {gaps!r}")
    if sample_rate is not None and not (np.isfinite(sample_rate) and sample_rate > 0):
        raise SeqgenError(f"--sample-rate must be a positive number, not {sample_rate}")
    suffix = path.suffix.lower()
    if suffix not in WAVEFORM_SUFFIXES:
        raise SeqgenError(f"{path}: not a waveform file (expected one of {', '.join(WAVEFORM_SUFFIXES)})")
    try:
        with path.open("rb"):
            pass
    except OSError as e:
        raise SeqgenError(f"{path}: cannot read ({e.strerror})") from None
    if suffix in AUDIO_SUFFIXES:
        samples, rate = _read_audio(path, channel)
    elif suffix == ".hea":
        samples, rate = _read_wfdb(path, channel)
    elif suffix == ".csv":
        samples, rate = _read_csv(path, column, sample_rate)
    else:
        samples, rate = _read_npy(path, channel, sample_rate)
    if samples.size == 0:
        raise SeqgenError(f"{path}: the signal is empty (0 samples)")
    samples, notes = _repair(np.asarray(samples, dtype=np.float64), float(rate), gaps, str(path))
    return Recording(str(path), samples, float(rate), notes)


def _read_audio(path: Path, channel: int | str | None) -> tuple[np.ndarray, float]:
    import soundfile

    try:
        data, rate = soundfile.read(str(path), dtype="float64", always_2d=True)
    except Exception as e:
        raise SeqgenError(f"{path}: not a readable audio file ({reason(e)})") from None
    if data.shape[0] == 0:
        raise SeqgenError(f"{path}: the audio is empty (0 samples)")
    if channel is None:
        return data.mean(axis=1), rate
    return data[:, _index(channel, [], data.shape[1], path, "channel")], rate


def _read_wfdb(path: Path, channel: int | str | None) -> tuple[np.ndarray, float]:
    """A WFDB record through wfdb.rdrecord, after checking that the signal files its header names exist."""
    lines = [line.split() for line in path.read_text(errors="replace").splitlines()]
    lines = [words for words in lines if words and not words[0].startswith("#")]
    try:
        count = int(lines[0][1]) if "/" not in lines[0][0] else 0  # multi-segment records: left to wfdb
        files = {words[0] for words in lines[1:1 + count]} - {"~"}
    except (IndexError, ValueError):
        raise SeqgenError(f"{path}: not a WFDB header (no record line with a signal count)") from None
    missing = sorted(name for name in files if not (path.parent / name).is_file())
    if missing:
        raise SeqgenError(f"{path}: the signal file {', '.join(missing)} named in the header is missing")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # wfdb's pandas deprecation warnings (on import, too) are not the user's
        try:
            import wfdb
        except ImportError:
            raise SeqgenError(f"{path}: reading WFDB records needs the wfdb package (pip install wfdb)") from None
        try:
            record = wfdb.rdrecord(str(path.with_suffix("")))
        except Exception as e:
            raise SeqgenError(f"{path}: not a readable WFDB record ({reason(e)})") from None
    if record.p_signal is None or record.p_signal.ndim != 2 or record.p_signal.shape[1] == 0:
        raise SeqgenError(f"{path}: the WFDB record holds no signals")
    names = list(record.sig_name or [])
    index = 0 if channel is None else _index(channel, names, record.p_signal.shape[1], path, "channel")
    return record.p_signal[:, index], float(record.fs)


def _read_csv(path: Path, column: str | None, sample_rate: float | None) -> tuple[np.ndarray, float]:
    """One number column of a comma-separated file (empty cells are NaN); a time column gives the rate."""
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    rows = [(n, row) for n, row in enumerate(csv.reader(text.splitlines()), 1)  # a blank line is an empty cell
            if not (row and row[0].lstrip().startswith("#"))]
    while rows and not any(c.strip() for c in rows[-1][1]):
        rows.pop()
    while rows and not any(c.strip() for c in rows[0][1]):
        rows.pop(0)
    if not rows:
        raise SeqgenError(f"{path}: the CSV file has no rows")
    width = max(len(row) for _, row in rows)
    names = [c.strip() for c in rows[0][1]] if any(_number(c) is None for c in rows[0][1]) else []
    if names:
        rows = rows[1:]
    time_col, scale = next(((i, s) for i, name in enumerate(names) if (s := _time_scale(name)) is not None),
                           (None, 1.0))
    if column is None:
        col = next((i for i in range(width) if i != time_col), None)
        if col is None:
            raise SeqgenError(f"{path}: the CSV file has only a time column")
    else:
        col = _index(column, names, width, path, "column")
    values = _column(path, rows, col, names)
    if time_col is None or col == time_col:
        if sample_rate is None:
            raise SeqgenError(f"--sample-rate is required: {path} has no time column")
        return values, sample_rate
    times = _column(path, rows, time_col, names) * scale
    return values, _rate_from_times(path, times)


def _rate_from_times(path: Path, times: np.ndarray) -> float:
    """Samples per second of a uniformly spaced time column; gaps, jumps or a disorder are errors."""
    if len(times) < 2 or not np.all(np.isfinite(times)):
        raise SeqgenError(f"{path}: the time column needs at least two rows and a number in every row")
    step = (times[-1] - times[0]) / (len(times) - 1)
    steps = np.diff(times)
    off_grid = np.abs(times - (times[0] + step * np.arange(len(times)))) > step / 2
    if step <= 0 or np.any(steps <= 0) or np.any(off_grid):
        raise SeqgenError(f"{path}: irregular sampling (time steps from {steps.min():.6g} to {steps.max():.6g}); "
                          "resample it, or drop the time column and give --sample-rate")
    return float(1.0 / np.median(steps))


def _time_scale(name: str) -> float | None:
    """Seconds per unit when a header names a time column ("time", "t", "Time (ms)", ...), else None."""
    m = _TIME_HEADER.match(name.lower())
    return _TIME_UNITS.get(m.group(2) or "") if m and m.group(1) in _TIME_NAMES else None


def _column(path: Path, rows: list[tuple[int, list[str]]], col: int, names: list[str]) -> np.ndarray:
    values = np.empty(len(rows))
    for i, (line, row) in enumerate(rows):
        cell = row[col].strip() if col < len(row) else ""
        value = _number(cell)
        if value is None:
            label = repr(names[col]) if names else col
            raise SeqgenError(f"{path}: line {line}: {cell!r} in column {label} is not a number")
        values[i] = value
    return values


def _number(cell: str) -> float | None:
    """A cell as a float (empty is NaN), or None when it holds text."""
    cell = cell.strip()
    if not cell:
        return float("nan")
    try:
        return float(cell)
    except ValueError:
        return None


def _read_npy(path: Path, channel: int | str | None, sample_rate: float | None) -> tuple[np.ndarray, float]:
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as e:
        raise SeqgenError(f"{path}: not a readable .npy file ({reason(e)})") from None
    if not isinstance(data, np.ndarray) or data.dtype.kind not in "biuf" or data.ndim not in (1, 2):
        raise SeqgenError(f"{path}: expected a 1-D or 2-D (samples × channels) array of numbers, "
                          f"found {getattr(data, 'dtype', type(data).__name__)} of shape {getattr(data, 'shape', '?')}")
    data = data[:, None] if data.ndim == 1 else data
    if data.size == 0:
        raise SeqgenError(f"{path}: the array is empty (shape {data.shape})")
    if channel is None and data.shape[1] > 1:
        raise SeqgenError(f"{path}: the array has {data.shape[1]} channels; choose one with --channel")
    if sample_rate is None:
        raise SeqgenError(f"--sample-rate is required: {path} does not record its sample rate")
    return data[:, 0 if channel is None else _index(channel, [], data.shape[1], path, "channel")], sample_rate


def _index(choice: int | str, names: list[str], count: int, path: Path, what: str) -> int:
    """A channel or column chosen by 0-based index (int or digits) or by name, checked against the file."""
    if isinstance(choice, str) and not choice.strip().isdigit():
        if choice in names:
            return names.index(choice)
        known = f"it has {', '.join(map(repr, names))}" if names else f"its {what}s have no names; give an index"
        raise SeqgenError(f"{path}: no {what} named {choice!r} ({known})")
    index = int(choice)
    if not 0 <= index < count:
        raise SeqgenError(f"{path}: no {what} {index} (it has {count} {what}{'s' * (count != 1)}, numbered from 0)")
    return index


def _repair(x: np.ndarray, rate: float, gaps: str, name: str) -> tuple[np.ndarray, list[str]]:
    """Interpolate, remove or refuse NaN/inf stretches; report (and for "skip", remove) flat lines."""
    bad = ~np.isfinite(x)
    if bad.all():
        raise SeqgenError(f"{name}: no usable samples (every value is NaN or infinite)")
    notes = []
    flats = [(a, b + 1) for a, b in _runs(x[1:] == x[:-1]) if b + 1 - a >= FLAT_SECONDS * rate]
    if len(flats) == 1 and flats[0] == (0, len(x)):
        raise SeqgenError(f"{name}: flat line throughout (every sample is {x[0]:g}); is the lead disconnected?")
    gap_runs = _runs(bad)
    if gap_runs:
        what = f"{len(gap_runs)} NaN/inf stretch{'es' * (len(gap_runs) != 1)} ({bad.sum() / rate:.3g} s)"
        if gaps == "error":
            raise SeqgenError(f"{name}: {what}, the first at {gap_runs[0][0] / rate:.3g} s; "
                              "interpolate or skip them, or repair the file")
        notes.append(f"{what} {'removed' if gaps == 'skip' else 'interpolated'}")
    verb = " (removed)" if gaps == "skip" else ""
    notes += [f"flat line {(b - a) / rate:.1f} s at {a / rate:.1f} s{verb}" for a, b in flats[:3]]
    if len(flats) > 3:
        notes.append(f"{len(flats) - 3} more flat lines{verb}")
    if gaps == "skip":
        keep = ~bad
        for a, b in flats:
            keep[a:b] = False
        if not keep.any():
            raise SeqgenError(f"{name}: nothing is left after removing NaN/inf stretches and flat lines")
        return x[keep], notes
    if gap_runs:
        idx = np.arange(len(x))
        x = x.copy()
        x[bad] = np.interp(idx[bad], idx[~bad], x[~bad])  # np.interp holds the end values beyond the edges
    return x, notes


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True in a boolean array."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def check_signal_path(path: Path) -> str:
    """The format suffix of a signal output path, checked before any work is done for it."""
    suffix = Path(path).suffix.lower()
    if suffix not in (*AUDIO_SUFFIXES, ".csv", ".npy"):
        raise SeqgenError(f"{path}: cannot write a signal here (use {', '.join(AUDIO_SUFFIXES)}, .csv or .npy)")
    return suffix


def write_recording(path: Path, samples: np.ndarray, sample_rate: float) -> None:
    """Write a signal atomically: audio (.wav/.flac/.ogg, 16-bit, peak-limited to full scale), .csv with a
    time column, or .npy; the format follows the suffix."""
    from seqgen.checkpoint import write_file

    path = Path(path)
    suffix = check_signal_path(path)
    x = np.asarray(samples, dtype=np.float64)

    def write(tmp: str) -> None:
        if suffix in AUDIO_SUFFIXES:
            import soundfile

            peak = float(np.max(np.abs(x))) if x.size else 0.0
            fmt = suffix[1:].upper()
            soundfile.write(tmp, (x / peak if peak > 1.0 else x).astype(np.float32), int(round(sample_rate)),
                            format=fmt, subtype="VORBIS" if fmt == "OGG" else "PCM_16")
        elif suffix == ".csv":
            table = np.column_stack([np.arange(len(x)) / sample_rate, x])
            np.savetxt(tmp, table, delimiter=",", header="time,value", comments="", fmt="%.6g")
        else:
            with open(tmp, "wb") as f:
                np.save(f, x)

    import soundfile

    write_file(path, write, (soundfile.SoundFileError,))  # libsndfile's own errors (a full disk among them)
