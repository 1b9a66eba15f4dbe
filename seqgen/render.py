"""Listen to and look at generated music: a WAV through a General MIDI soundfont (FluidSynth where its system
library loads, else rustysynth from the midirenderer wheel, so a pip install alone plays real instruments; sine waves
only when neither can run) and a PNG piano roll; and look at a training run: its losses against time and steps.

Every file is written through `write_file`, so a failure never leaves a half-written WAV or PNG behind.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import io
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
from matplotlib import colormaps
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from seqgen.checkpoint import write_file
from seqgen.errors import SeqgenError
from seqgen.midi import pretty_midi

SOUNDFONT_PATHS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2", "/usr/share/soundfonts/default.sf2",
    "/opt/homebrew/share/soundfonts/default.sf2", "/usr/local/share/soundfonts/default.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
    str(Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"),  # small GM soundfont shipped inside pretty_midi
)
NO_SOUNDFONT = "no General MIDI soundfont found; install fluid-soundfont-gm or set SEQGEN_SOUNDFONT"
NO_FLUIDSYNTH = "the FluidSynth library could not be loaded; install fluidsynth"
NO_PIP_SYNTH = "and midirenderer, the pip-installable soundfont synthesizer, is not installed: pip install midirenderer"
RELEASE_TAIL = 1.0  # seconds rendered after the last note ends, for its release (as pretty_midi gives FluidSynth)
PEAK = 0.9  # normalised peak: 1 dB of headroom below full scale
RATES = (8000, 96000)  # what FluidSynth accepts (it silently keeps 44100 Hz for anything else)
PITCH_MARGIN = 2


def find_soundfont() -> Path | None:
    """$SEQGEN_SOUNDFONT, else the first General MIDI soundfont installed in a usual place, else None."""
    chosen = os.environ.get("SEQGEN_SOUNDFONT")
    if chosen:
        path = Path(chosen).expanduser()
        if not path.is_file():
            raise SeqgenError(f"SEQGEN_SOUNDFONT={chosen}: no such soundfont file")
        return path
    return next((Path(p) for p in SOUNDFONT_PATHS if Path(p).is_file()), None)


def render_wav(pm: pretty_midi.PrettyMIDI, path: Path, sample_rate: int = 44100,
               soundfont: Path | None = None) -> str:
    """Write `pm` as a mono 16-bit WAV peaking at 0.9 full scale; returns one line naming the synthesis used."""
    _require_notes(pm)
    if not RATES[0] <= sample_rate <= RATES[1]:
        raise SeqgenError(f"sample rate {sample_rate} Hz is outside {RATES[0]}-{RATES[1]} Hz")
    if soundfont is not None and not Path(soundfont).is_file():
        raise SeqgenError(f"{soundfont}: no such soundfont file")
    with np.errstate(invalid="ignore", divide="ignore"):  # pretty_midi divides silence by its zero peak
        audio, used = _synthesise(pm, sample_rate, soundfont or find_soundfont())
    audio = np.nan_to_num(np.asarray(audio, dtype=np.float64))
    peak = np.abs(audio).max(initial=0.0)
    if peak > 0:
        audio *= PEAK / peak
    _write(Path(path), lambda tmp: sf.write(tmp, audio, sample_rate, subtype="PCM_16", format="WAV"))
    return used


def _synthesise(pm: pretty_midi.PrettyMIDI, rate: int, soundfont: Path | None) -> tuple[np.ndarray, str]:
    """The piece through `soundfont`: with FluidSynth when its system library loads (the reference SoundFont
    synthesizer, rendering at `rate` itself), else with rustysynth from the midirenderer wheel (pip alone, no system
    package); pretty_midi's sine waves (drum tracks silent) only without a soundfont or without either synthesizer."""
    if soundfont is None:
        return pm.synthesize(fs=rate), f"pretty_midi sine synthesis ({NO_SOUNDFONT})"
    try:
        fluidsynth = importlib.import_module("fluidsynth")
    except (ImportError, OSError):
        return _synthesise_without_fluidsynth(pm, rate, soundfont)
    with _quiet():  # FluidSynth logs warnings and errors from C straight to the process's stderr
        synth = fluidsynth.Synth(samplerate=float(rate))
        try:
            sfid = synth.sfload(str(soundfont))
            # pretty_midi keeps going with a failed load and returns dither noise, so check the id first.
            audio = pm.fluidsynth(fs=rate, synthesizer=synth, sfid=sfid) if sfid >= 0 else None
        finally:
            synth.delete()
    if audio is None:
        raise SeqgenError(f"{soundfont}: FluidSynth cannot load this soundfont (damaged, or not a .sf2 file)")
    return audio, f"FluidSynth with {soundfont}"


def _synthesise_without_fluidsynth(pm: pretty_midi.PrettyMIDI, rate: int, soundfont: Path) -> tuple[np.ndarray, str]:
    """rustysynth (via midirenderer) where it is installed, else the sine waves, saying why."""
    try:
        importlib.import_module("midirenderer")
    except ImportError:
        return pm.synthesize(fs=rate), f"pretty_midi sine synthesis ({NO_FLUIDSYNTH}, {NO_PIP_SYNTH})"
    return render_rustysynth(pm, rate, soundfont), f"rustysynth (midirenderer) with {soundfont}"


def render_rustysynth(pm: pretty_midi.PrettyMIDI, rate: int, soundfont: Path) -> np.ndarray:
    """`pm` as mono float audio at `rate` through rustysynth with `soundfont`: every instrument with its General MIDI
    program, drums on the drum channel, velocities and the tempo map as pretty_midi writes them to a MIDI file, and
    RELEASE_TAIL seconds after the last note so its release is heard (midirenderer stops at the file's last event);
    midirenderer renders at 48 kHz, resampled here to `rate`."""
    import midirenderer
    import soxr

    padded = copy.deepcopy(pm)
    owner = next(inst for inst in padded.instruments if inst.notes)
    # An undefined controller (110) at the end: it makes no sound, but the rendering runs on to it.
    owner.control_changes.append(pretty_midi.ControlChange(number=110, value=0, time=pm.get_end_time() + RELEASE_TAIL))
    midi = io.BytesIO()
    padded.write(midi)
    try:
        wav = midirenderer.render_wave_from(Path(soundfont).read_bytes(), midi.getvalue())
    except RuntimeError as e:  # a bad soundfont is "SoundFont error: ...", a bad MIDI file "MIDI error: ..."
        if str(e).startswith("SoundFont"):
            raise SeqgenError(f"{soundfont}: rustysynth cannot load this soundfont (damaged, or not a .sf2 file)")\
                from None
        raise SeqgenError(f"rustysynth could not render the piece ({e})") from None
    audio, wav_rate = sf.read(io.BytesIO(wav), dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    return audio if wav_rate == rate else soxr.resample(audio, wav_rate, rate)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Point file descriptors 1 and 2 at /dev/null for the block (C code bypasses sys.stdout/sys.stderr)."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (null, *saved):
            os.close(fd)


def plot_piano_roll(pm: pretty_midi.PrettyMIDI, path: Path, title: str = "",
                    primer_seconds: float | None = None) -> None:
    """Write a PNG piano roll: seconds across, pitch up, velocity as opacity, the primer shaded and labelled."""
    fig = _roll_figure(pm, title, primer_seconds)
    _write(Path(path), lambda tmp: fig.savefig(tmp, format="png"))


def _roll_figure(pm: pretty_midi.PrettyMIDI, title: str, primer_seconds: float | None) -> Figure:
    """The piano-roll figure, built on a bare Figure so the caller's pyplot backend is left alone."""
    _require_notes(pm)
    fig = Figure(figsize=(12, 5), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    colours = colormaps["tab10"].colors
    handles = []
    for i, inst in enumerate(inst for inst in pm.instruments if inst.notes):
        colour = colours[i % len(colours)]
        boxes = [[(n.start, n.pitch - 0.4), (n.end, n.pitch - 0.4), (n.end, n.pitch + 0.4), (n.start, n.pitch + 0.4)]
                 for n in inst.notes]
        shades = [(*colour, 0.25 + 0.75 * min(n.velocity, 127) / 127) for n in inst.notes]
        ax.add_collection(PolyCollection(boxes, facecolors=shades, edgecolors="none"))
        name = inst.name or ("Drums" if inst.is_drum else pretty_midi.program_to_instrument_name(inst.program))
        handles.append(Patch(color=colour, label=name))
    notes = [n for inst in pm.instruments for n in inst.notes]
    lo = max(0, min(n.pitch for n in notes) - PITCH_MARGIN)
    hi = min(127, max(n.pitch for n in notes) + PITCH_MARGIN)
    ticks = [p for p in range(lo, hi + 1) if hi - lo <= 24 or p % 12 == 0]  # every pitch, or every C
    ax.set_yticks(ticks, [pretty_midi.note_number_to_name(p) for p in ticks])
    ax.set_ylim(lo - 0.5, hi + 0.5)
    ax.set_xlim(0, max(max(n.end for n in notes), primer_seconds or 0))
    ax.grid(axis="y", color="0.9")
    if primer_seconds is not None and primer_seconds > 0:
        ax.axvspan(0, primer_seconds, color="0.5", alpha=0.15, linewidth=0)
        ax.axvline(primer_seconds, color="0.3", linestyle="--", linewidth=1)
        ax.text(primer_seconds / 2, 0.98, "primer", transform=ax.get_xaxis_transform(), ha="center", va="top")
    ax.set(xlabel="time (s)", ylabel="pitch", title=title)
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    return fig


def plot_signal(samples: np.ndarray, sample_rate: float, path: Path, title: str = "",
                primer_seconds: float | None = None,
                windows: Sequence[tuple[float, float, float, bool | None]] = (),
                threshold: float | None = None) -> None:
    """Write a PNG of a waveform (the primer shaded); with `windows` (start s, end s, bits per sample, anomaly),
    the score of each window is drawn under the signal, anomalies marked on both, with the threshold line."""
    x = np.asarray(samples, dtype=np.float64)
    if x.size == 0:
        raise SeqgenError("nothing to plot: the signal is empty")
    fig = Figure(figsize=(12, 5 if windows else 3.5), dpi=100, layout="constrained")
    axes = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1)) if windows else [fig.add_subplot()]
    t = np.arange(len(x)) / sample_rate
    axes[0].plot(t, x, linewidth=0.6, color="tab:blue")
    axes[0].set(ylabel="signal", title=title, xlim=(0, t[-1] if len(t) > 1 else 1))
    if primer_seconds:
        axes[0].axvspan(0, primer_seconds, color="0.5", alpha=0.15, linewidth=0)
        axes[0].text(primer_seconds / 2, 0.98, "primer", transform=axes[0].get_xaxis_transform(), ha="center",
                     va="top")
    if windows:
        starts = [w[0] for w in windows]
        axes[1].step(starts + [windows[-1][1]], [w[2] for w in windows] + [windows[-1][2]], where="post",
                     color="tab:orange")
        for start, end, _, anomaly in windows:
            if anomaly:
                for ax in axes:
                    ax.axvspan(start, end, color="tab:red", alpha=0.15, linewidth=0)
        if threshold is not None:
            axes[1].axhline(threshold, color="tab:red", linestyle="--", linewidth=1, label="threshold")
            axes[1].legend(loc="upper right", fontsize="small")
        axes[1].set(ylabel="bits/sample")
    axes[-1].set(xlabel="time (s)")
    _write(Path(path), lambda tmp: fig.savefig(tmp, format="png"))


Point = tuple[int, float, float]  # step, seconds of training, loss


def read_losses(metrics: Path) -> tuple[list[Point], list[Point]]:
    """The training and validation losses of a metrics.jsonl as (step, seconds, loss), in step order; records a
    resumed run wrote again for steps it had already logged replace the earlier ones."""
    if not metrics.is_file():
        raise SeqgenError(f"{metrics.parent}: no {metrics.name} (the trainer writes it while training)")
    series: dict[str, list[Point]] = {"train_loss": [], "val_loss": []}
    for n, line in enumerate(metrics.read_text(encoding="utf-8").splitlines(), 1):
        try:
            record = json.loads(line)
            found = [(key, (int(record["step"]), float(record["elapsed_s"]), float(record[key])))
                     for key in series if record.get(key) is not None]  # val_loss is null without validation data
        except (json.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
            raise SeqgenError(f"{metrics}: line {n} is not a metrics record (damaged file)") from None
        for key, point in found:
            points = series[key]
            while points and points[-1][0] >= point[0]:
                points.pop()
            points.append(point)
    return series["train_loss"], series["val_loss"]


def plot_training_curve(metrics: Path, path: Path, title: str = "") -> None:
    """Write a PNG of a run's training and validation loss against seconds of training (left) and steps (right),
    read from its metrics.jsonl, with the best validation loss marked."""
    train, val = read_losses(Path(metrics))
    if not train and not val:
        raise SeqgenError(f"{metrics}: no losses logged yet, nothing to plot")
    fig = Figure(figsize=(12, 4.5), dpi=100, layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    best = min(val, key=lambda p: p[2]) if val else None
    for ax, x, xlabel in zip(axes, (1, 0), ("seconds of training", "step"), strict=True):
        if train:
            ax.plot([p[x] for p in train], [p[2] for p in train], color="tab:blue", linewidth=1, label="training")
        if val:
            ax.plot([p[x] for p in val], [p[2] for p in val], color="tab:orange", marker="o", markersize=3,
                    label="validation")
        if best is not None:
            ax.plot(best[x], best[2], marker="*", markersize=12, color="tab:red", linestyle="none",
                    label=f"best validation {best[2]:.4f} (step {best[0]})")
        ax.set(xlabel=xlabel)
        ax.grid(color="0.9")
    axes[0].set(ylabel="loss (nats/token)")
    axes[0].legend(loc="upper right", fontsize="small")
    fig.suptitle(title)
    _write(Path(path), lambda tmp: fig.savefig(tmp, format="png"))


def _require_notes(pm: pretty_midi.PrettyMIDI) -> None:
    if not any(inst.notes for inst in pm.instruments):
        raise SeqgenError("nothing to render: the piece has no notes")


def _write(path: Path, write: Callable[[str], None]) -> None:
    """write_file, with soundfile's own errors reported the same way."""
    write_file(path, write, (sf.SoundFileError,))
