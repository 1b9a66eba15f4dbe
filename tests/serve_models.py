"""Tiny models of every page view, trained once per test session for the `seqgen serve` tests (hidden 32, a few
dozen steps: seconds on a CPU), the recordings and tunes the tests upload, and the server process and headless
browser the browser tests (and docs/serve/screenshots.py) drive. Loaded with `pytest_plugins`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import seqgen
from seqgen.domains.waveform.signals import write_recording

ROOT = Path(__file__).resolve().parents[1]
SHAKESPEARE = ROOT / "tests" / "data" / "shakespeare-60k.txt"
RATE = 100  # Hz, of the tiny waveform model
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
TINY = {"cell": "gru", "layers": 1, "hidden": 32, "batch_size": 4, "seq_len": 32, "device": "cpu",
        "precision": "fp32"}  # the same numerics on any CPU


def write_tune(path: Path, key: int, repeats: int = 6) -> None:
    """A scale pattern in a key, as MIDI (the tiny music model's training data)."""
    from seqgen.midi import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=150)
    inst = pretty_midi.Instrument(program=0)
    t = 0.0
    for _ in range(repeats):
        for p in (60, 62, 64, 65, 67, 69, 71, 72):
            inst.notes.append(pretty_midi.Note(velocity=80, pitch=p + key, start=t, end=t + 0.2))
            t += 0.2
    pm.instruments.append(inst)
    pm.write(str(path))


def sine(seconds: float, seed: int, burst: tuple[float, float] | None = None) -> np.ndarray:
    """A 1.2 Hz sine with a little noise at RATE; with `burst`, loud noise from its start to end second."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    x = np.sin(2 * np.pi * 1.2 * t) + 0.02 * rng.standard_normal(len(t))
    if burst is not None:
        span = slice(int(burst[0] * RATE), int(burst[1] * RATE))
        x[span] = rng.uniform(-1, 1, span.stop - span.start)
    return x


def train_tiny_models(root: Path) -> dict[str, Path]:
    """A checkpoint per domain with a view: music (performance codec), text, waveform, DNA."""
    tunes = root / "tunes"
    tunes.mkdir()
    for key in range(6):
        write_tune(tunes / f"tune{key}.mid", key - 2)
    text = root / "lines.txt"
    text.write_text(SHAKESPEARE.read_text()[:4000])
    signal = root / "sine.csv"
    write_recording(signal, sine(120, seed=0), RATE)
    rng = np.random.default_rng(3)
    bases = "".join(rng.choice(list("ACGT"), size=6000, p=[0.4, 0.1, 0.1, 0.4]))
    genome = root / "genome.fa"
    genome.write_text(">chr1\n" + "\n".join(bases[i:i + 60] for i in range(0, len(bases), 60)) + "\n")
    models = {"music": root / "tiny-music", "text": root / "tiny-text", "waveform": root / "tiny-ecg",
              "dna": root / "tiny-dna"}
    seqgen.train(tunes, models["music"], max_steps=20, eval_every=20, codec="performance", **TINY)
    seqgen.train(text, models["text"], max_steps=30, eval_every=30, **TINY)
    seqgen.train(signal, models["waveform"], max_steps=30, eval_every=30, lr=0.01, **TINY)
    seqgen.train(genome, models["dna"], max_steps=20, eval_every=20, **TINY)
    return models


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("serve-models")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQGEN_CACHE", str(root / "cache"))
        return train_tiny_models(root)


@contextmanager
def running_server(models: list[str], cwd: Path) -> Iterator[str]:
    """`seqgen serve` as a real process on a free port, serving `models`; yields its URL (as it printed it) and
    stops it (SIGTERM: uvicorn shuts down and the temporary folder goes)."""
    args = [sys.executable, "-m", "seqgen", "serve", "--port", "0", *(a for m in models for a in ("-c", m))]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd, env=env)
    try:
        line = proc.stdout.readline()  # "seqgen: serving on http://127.0.0.1:PORT (Ctrl+C stops)"
        found = re.search(r"serving on (http://\S+)", line)
        if found is None:
            proc.kill()
            raise AssertionError(f"seqgen serve did not start: {line!r} {proc.communicate()[1][-3000:]}")
        yield found.group(1)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def server(tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a real `seqgen serve` over the tiny models, for the whole session."""
    with running_server([str(tiny_models[k]) for k in ("music", "text", "waveform", "dna")],
                        tmp_path_factory.mktemp("serve-cwd")) as url:
        yield url


def chromium(width: int, height: int, *extra: str, wait_s: float) -> Any:
    """Headless Chromium through Selenium, `width` x `height`, muted, with `extra` command-line switches."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}",
                "--mute-audio", *extra):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_script_timeout(wait_s)
    return driver


class Page:
    """The seqgen page in the browser, with the few moves the tests and docs/serve/screenshots.py make."""

    def __init__(self, driver: Any, url: str, wait_s: float):
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver, self.url = driver, url
        self.wait = WebDriverWait(driver, wait_s)
        driver.get(url)
        self.until("document.body.classList.contains('ready')")

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def until(self, condition: str, *args: Any) -> Any:
        """Wait until a JavaScript expression (its value returned) is truthy."""
        return self.wait.until(lambda d: d.execute_script(f"return {condition};", *args))

    def find(self, selector: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def use(self, model: str, view: str) -> None:
        from selenium.webdriver.support.ui import Select

        Select(self.find("#model")).select_by_value(model)
        self.find(f"#views button[data-view={view}]").click()
        assert self.find(f"#{view}").is_displayed()

    def fill(self, view: str, **values: Any) -> None:
        for name, value in values.items():
            field = self.find(f"#{view} [name={name}]")
            field.clear()
            field.send_keys(str(value))

    def run(self, view: str) -> None:
        """Press the view's button and wait for the job to end (the page no longer busy)."""
        self.find(f"#{view}-go").click()
        self.until("!document.body.classList.contains('busy')")

    def error(self) -> str:
        return self.js("const e = document.querySelector('#error'); return e.hidden ? '' : e.textContent;")
