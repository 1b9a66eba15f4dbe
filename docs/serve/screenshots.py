"""Screenshots of the `seqgen serve` page, one PNG per view, for the README and docs/serve/.

Starts `seqgen serve` on a free port over the models given, drives headless Chromium (Debian's chromium and
chromium-driver, through Selenium) through each view with the inputs below, and saves compose.png, write.png,
score.png and signals.png next to this file (or in --out). A view whose model is not given is left out.

    python docs/serve/screenshots.py --compose folk --write english --score english \\
        --signals ecg --recording path/to/record.hea
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
WAIT_S = 300
SENTENCES = "The cat sat on the mat.\nThe mat sat on the cat.\nMat the on sat cat the.\nColourless green ideas sleep."


@contextmanager
def serving(models: list[str]) -> Iterator[str]:
    """`seqgen serve --port 0` over `models` (from the current folder); yields the URL it printed."""
    args = [sys.executable, "-m", "seqgen", "serve", "--port", "0", *(a for m in models for a in ("-c", m))]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        found = re.search(r"serving on (http://\S+)", proc.stdout.readline())
        if found is None:
            raise SystemExit("seqgen serve did not start")
        yield found.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def browser(width: int, height: int) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}",
                "--hide-scrollbars", "--mute-audio"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


class Page:
    def __init__(self, driver: Any, url: str):
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver, self.wait = driver, WebDriverWait(driver, WAIT_S)
        driver.get(url)
        self.until("document.body.classList.contains('ready')")

    def until(self, condition: str) -> Any:
        return self.wait.until(lambda d: d.execute_script(f"return {condition};"))

    def find(self, selector: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def view(self, model: str, view: str) -> None:
        from selenium.webdriver.support.ui import Select

        Select(self.find("#model")).select_by_value(model)
        self.find(f"#views button[data-view={view}]").click()

    def fill(self, view: str, **values: Any) -> None:
        for name, value in values.items():
            field = self.find(f"#{view} [name={name}]")
            field.clear()
            field.send_keys(str(value))

    def run(self, view: str) -> None:
        self.find(f"#{view}-go").click()
        self.until("!document.body.classList.contains('busy')")
        error = self.driver.execute_script("return document.querySelector('#error').textContent")
        if error:
            raise SystemExit(f"{view}: {error}")
        time.sleep(0.5)  # images decoded and laid out

    def save(self, path: Path) -> None:
        self.driver.save_screenshot(str(path))
        print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compose", help="music model (a shipped name or a checkpoint folder)")
    parser.add_argument("--abc", help="an ABC opening typed into the compose view", default=None)
    parser.add_argument("--write", help="text model for the write view")
    parser.add_argument("--prime", default="ROMEO:", help="what the write view's samples continue")
    parser.add_argument("--score", help="text or DNA model for the score view")
    parser.add_argument("--sentences", default=SENTENCES, help="lines the score view scores")
    parser.add_argument("--signals", help="waveform model for the signals view")
    parser.add_argument("--recording", type=Path, help="the recording the signals view uploads")
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1000)
    args = parser.parse_args()
    if args.signals and not args.recording:
        parser.error("--signals needs --recording FILE")
    chosen = {v: getattr(args, v) for v in ("compose", "write", "score", "signals") if getattr(args, v)}
    if not chosen:
        parser.error("give a model for at least one view (--compose, --write, --score, --signals)")
    args.out.mkdir(parents=True, exist_ok=True)
    driver = browser(args.width, args.height)
    try:
        with serving(list(dict.fromkeys(chosen.values()))) as url:
            page = Page(driver, url)
            if "compose" in chosen:
                page.view(chosen["compose"], "compose")
                page.fill("compose", seconds=20, num=2, seed=7, temperature=0.9)
                if args.abc:
                    page.fill("compose", abc=args.abc)
                page.run("compose")
                page.save(args.out / "compose.png")
            if "write" in chosen:
                page.view(chosen["write"], "write")
                page.fill("write", prime=args.prime, length=300, num=2, seed=7)
                page.run("write")
                page.save(args.out / "write.png")
            if "score" in chosen:
                page.view(chosen["score"], "score")
                page.fill("score", text=args.sentences)
                page.find("#score [name=sort]").click()
                page.run("score")
                page.save(args.out / "score.png")
            if "signals" in chosen:
                page.view(chosen["signals"], "signals")
                files = [args.recording.resolve()]
                if files[0].suffix == ".hea":  # a WFDB record: its header and its signal file together
                    files.append(files[0].with_suffix(".dat"))
                page.find("#signals [name=recording]").send_keys("\n".join(str(f) for f in files))
                page.run("signals")
                page.save(args.out / "signals.png")
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
