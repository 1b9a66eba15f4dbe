"""Screenshots of the `seqgen serve` page, one PNG per view, for the README and docs/serve/.

Starts `seqgen serve` on a free port over the models given, drives headless Chromium (Debian's chromium and
chromium-driver, through Selenium) through each view with the inputs below, and saves compose.png, write.png,
score.png and signals.png next to this file (or in --out). A view whose model is not given is left out.

    python docs/serve/screenshots.py --compose folk --write english --score english \\
        --signals ecg --recording path/to/record.hea
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))  # the server process and browser the browser tests drive
from serve_models import Page, chromium, running_server  # noqa: E402

HERE = Path(__file__).resolve().parent
WAIT_S = 300
SENTENCES = "The cat sat on the mat.\nThe mat sat on the cat.\nMat the on sat cat the.\nColourless green ideas sleep."


def run(page: Page, view: str) -> None:
    """Press the view's button, wait for the job, and stop on an error the page shows."""
    page.run(view)
    if page.error():
        raise SystemExit(f"{view}: {page.error()}")
    time.sleep(0.5)  # images decoded and laid out


def save(page: Page, path: Path) -> None:
    page.driver.save_screenshot(str(path))
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
    driver = chromium(args.width, args.height, "--hide-scrollbars", wait_s=WAIT_S)
    try:
        with running_server(list(dict.fromkeys(chosen.values())), Path.cwd()) as url:
            page = Page(driver, url, WAIT_S)
            if "compose" in chosen:
                page.use(chosen["compose"], "compose")
                page.fill("compose", seconds=20, num=2, seed=7, temperature=0.9)
                if args.abc:
                    page.fill("compose", abc=args.abc)
                run(page, "compose")
                save(page, args.out / "compose.png")
            if "write" in chosen:
                page.use(chosen["write"], "write")
                page.fill("write", prime=args.prime, length=300, num=2, seed=7)
                run(page, "write")
                save(page, args.out / "write.png")
            if "score" in chosen:
                page.use(chosen["score"], "score")
                page.fill("score", text=args.sentences)
                page.find("#score [name=sort]").click()
                run(page, "score")
                save(page, args.out / "score.png")
            if "signals" in chosen:
                page.use(chosen["signals"], "signals")
                files = [args.recording.resolve()]
                if files[0].suffix == ".hea":  # a WFDB record: its header and its signal file together
                    files.append(files[0].with_suffix(".dat"))
                page.find("#signals [name=recording]").send_keys("\n".join(str(f) for f in files))
                run(page, "signals")
                save(page, args.out / "signals.png")
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
