"""`seqgen serve` end to end in a real browser: the command runs as a process on a free port over tiny models, and
headless Chromium (Debian's chromium and chromium-driver, through Selenium) composes, plays and downloads, writes
(the text grows as it streams), scores (tokens coloured, values on hover) and uploads a recording; bad requests show
their message in the page. Skipped, saying why, where the browser, its driver or Selenium is missing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serve_models import CHROMIUM, DRIVER, Page, chromium

from seqgen.domains.waveform.signals import write_recording

pytest_plugins = ["serve_models"]
WAIT_S = 60
ABC = "X:1\nT:opening\nM:6/8\nL:1/8\nK:D\nA|dfa agf|efg fed|\n"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).is_file() and Path(DRIVER).is_file()):
        pytest.skip("no headless browser: install Debian's chromium and chromium-driver (.ci/run does)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.skip("selenium is not installed: pip install -e '.[test]'")
    driver = chromium(1400, 1000, "--autoplay-policy=no-user-gesture-required", wait_s=WAIT_S)
    yield driver
    driver.quit()


@pytest.fixture
def page(browser: Any, server: str) -> Page:
    return Page(browser, server, WAIT_S)


def test_compose_plays_shows_the_roll_and_downloads_the_midi(page: Page, tiny_models: dict[str, Path]) -> None:
    page.use(str(tiny_models["music"]), "compose")
    page.fill("compose", seconds=4, num=2, seed=10, temperature=1)
    page.run("compose")
    assert page.error() == ""
    assert page.until("document.querySelectorAll('#compose-results .card').length") == 2  # side by side
    assert page.js("return document.querySelectorAll('#compose-results audio').length") >= 1
    assert "Seed 10" in page.find("#compose-seed").text
    duration = page.driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const audio = document.querySelector('#compose-results audio');
        const played = async () => { await audio.play(); setTimeout(() => done(audio.duration), 300); };
        if (audio.readyState >= 2) played(); else audio.addEventListener('canplay', played, {once: true});
        audio.addEventListener('error', () => done(-1), {once: true});""")
    assert duration > 0.5
    assert page.js("return document.querySelector('#compose-results audio').currentTime") > 0
    assert page.until("[...document.querySelectorAll('#compose-results img.roll')].every(i => i.naturalWidth > 0)")
    midi = page.driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const link = [...document.querySelectorAll('#compose-results a')].find(a => a.textContent === 'MIDI');
        fetch(link.href).then(r => r.arrayBuffer()).then(b => done([link.download, new TextDecoder().decode(
            new Uint8Array(b).slice(0, 4))]));""")
    assert midi[0].endswith(".mid") and midi[1] == "MThd"


def test_compose_from_typed_abc(page: Page, tiny_models: dict[str, Path]) -> None:
    page.use(str(tiny_models["music"]), "compose")
    page.fill("compose", seconds=3, num=1, seed=1, abc=ABC)
    page.run("compose")
    assert page.error() == ""
    assert page.js("return document.querySelectorAll('#compose-results .card').length") == 1


def test_write_shows_the_text_as_it_streams(page: Page, tiny_models: dict[str, Path]) -> None:
    page.use(str(tiny_models["text"]), "write")
    page.fill("write", prime="ROMEO:", length=1500, num=2, seed=4)
    page.js("""window.lengths = [];
        new MutationObserver(() => { const pre = document.querySelector('#write-results pre');
            if (pre) window.lengths.push(pre.textContent.length); })
        .observe(document.querySelector('#write-results'), {childList: true, subtree: true, characterData: true});""")
    page.run("write")
    assert page.error() == ""
    texts = page.js("return [...document.querySelectorAll('#write-results pre.done')].map(p => p.textContent)")
    assert len(texts) == 2 and all(t.startswith("ROMEO:") for t in texts)
    lengths = page.js("return window.lengths")
    growing = sorted(set(lengths))
    assert len(growing) > 5 and growing[0] < 200 and growing[-1] > 1000, growing  # shown piece by piece


def test_score_colours_every_token_by_its_surprisal(page: Page, tiny_models: dict[str, Path]) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    page.use(str(tiny_models["text"]), "score")
    page.fill("score", text="zqxv jjk\nThe king is here.")
    page.find("#score [name=sort]").click()
    page.run("score")
    assert page.error() == ""
    rows = page.js("""return [...document.querySelectorAll('#score-results tr.scored')].map(r => ({
        text: [...r.querySelectorAll('.tok')].map(t => t.textContent).join(''),
        logprob: Number(r.children[1].textContent),
        tokens: [...r.querySelectorAll('.tok')].map(t => [t.title, t.dataset.bits, t.style.backgroundColor])}))""")
    assert len(rows) == 2
    assert rows[0]["logprob"] >= rows[1]["logprob"]  # sorted by score, most likely first
    for row in rows:
        for title, bits, colour in row["tokens"]:
            assert title.endswith(f"{float(bits):.2f} bits") and colour.startswith("rgb")
        assert len({colour for _, _, colour in row["tokens"]}) > 1  # surprise differs token by token
    token = page.find("#score-results .tok")
    ActionChains(page.driver).move_to_element(token).perform()
    assert "bits" in token.get_attribute("title")


def test_a_recording_upload_draws_the_signal_and_marks_flagged_windows(page: Page, tiny_models: dict[str, Path],
                                                                       tmp_path: Path) -> None:
    from serve_models import RATE, sine

    recording = tmp_path / "burst.wav"
    write_recording(recording, sine(20, seed=5, burst=(8, 10)), RATE)
    page.use(str(tiny_models["waveform"]), "signals")
    page.find("#signals [name=recording]").send_keys(str(recording))
    page.run("signals")
    assert page.error() == ""
    assert page.until("document.querySelector('#signals-results img.signal')?.naturalWidth > 0")
    summary = page.find("#signals-summary").text
    assert "burst.wav: 20 s at 100 Hz" in summary and "windows flagged" in summary
    flagged = page.js("return [...document.querySelectorAll('#signals-results li')].map(li => li.textContent)")
    assert flagged and any(f.startswith(("8.00", "9.00")) for f in flagged), flagged


def test_bad_requests_show_a_clear_message_in_the_page(page: Page, tiny_models: dict[str, Path],
                                                       tmp_path: Path) -> None:
    music = str(tiny_models["music"])
    page.use(music, "compose")
    (tmp_path / "notes.txt").write_text("not music at all\n")
    page.find("#compose [name=opening]").send_keys(str(tmp_path / "notes.txt"))
    page.run("compose")
    assert "notes.txt: not a music file" in page.error()

    with (tmp_path / "huge.mid").open("wb") as f:  # 200 MB, sparse
        f.truncate(200 * 2**20)
    page.find("#compose [name=opening]").send_keys(str(tmp_path / "huge.mid"))
    page.run("compose")
    assert "huge.mid is larger than the 20 MB limit" in page.error()  # the page checks before it sends
    refused = page.driver.execute_async_script("""const done = arguments[arguments.length - 1];
        fetch('/api/upload?name=huge.mid', {method: 'POST', body: new Blob([new Uint8Array(200 * 2 ** 20)])})
            .then(async r => done([r.status, (await r.json()).error]), e => done([0, String(e)]));""")
    assert refused == [413, "the upload is larger than the 20 MB limit"]  # and the server, sent it anyway

    page.driver.refresh()
    page.until("document.body.classList.contains('ready')")
    page.use(music, "compose")
    page.fill("compose", temperature=-1, seconds=2)
    page.run("compose")
    assert "temperature: input should be greater than or equal to 0" in page.error()

    page.fill("compose", temperature=1)
    page.js("const s = document.querySelector('#model'); s.add(new Option('gone', 'no-such-model')); "
            "s.value = 'no-such-model';")
    page.run("compose")
    assert "unknown model 'no-such-model'" in page.error()

    # two composes at once: a long one runs in this tab, showing its progress; a second tab's is refused
    page.use(music, "compose")
    page.fill("compose", length=4000, num=3, seconds="", seed=1)
    page.js("window.statuses = []; new MutationObserver(() => window.statuses.push("
            "document.querySelector('#status').textContent)).observe(document.querySelector('#status'), "
            "{childList: true, subtree: true, characterData: true});")
    page.find("#compose-go").click()
    page.until("window.statuses.some(s => s.includes('step'))")
    first = page.driver.current_window_handle
    page.driver.switch_to.new_window("tab")
    other = Page(page.driver, page.url, WAIT_S)
    other.use(music, "compose")
    other.fill("compose", seconds=2)
    other.run("compose")
    assert "busy: composing with" in other.error() and "try again when it ends" in other.error()
    page.driver.close()
    page.driver.switch_to.window(first)
    page.until("!document.body.classList.contains('busy')")
    assert page.error() == ""
    assert page.js("return document.querySelectorAll('#compose-results .card').length") == 3
    assert any(f"composing with {music}: step" in s and "of at most 4000" in s for s in page.js(
        "return window.statuses")), page.js("return window.statuses")
