"""`seqgen serve`'s API against tiny models of every view (FastAPI's TestClient, no browser): compose writes MIDI,
WAV and a piano roll that download; write streams; score gives every token's surprisal; a recording upload gives
its windows; every bad request is a 4xx with one clear sentence, never a 500."""

from __future__ import annotations

import http.client
import io
import json
import math
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile
from click.testing import CliRunner
from helpers import assert_clean_error
from seqgen.cli.main import cli

import seqgen
from seqgen import domains
from seqgen.domains.waveform.signals import write_recording

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from seqgen.serve.app import create_app  # noqa: E402
from seqgen.serve.limits import Limits  # noqa: E402

pytest_plugins = ["serve_models"]
ROOT = Path(__file__).resolve().parents[1]
ABC = "X:1\nT:opening\nM:6/8\nL:1/8\nK:D\nA|dfa agf|efg fed|\n"


def ids(models: dict[str, Path]) -> list[str]:
    return [str(models[k]) for k in ("music", "text", "waveform", "dna")]


@pytest.fixture
def client(tiny_models: dict[str, Path]) -> Iterator[TestClient]:
    with TestClient(create_app(ids(tiny_models))) as c:
        yield c


def refused(response, status: int, *fragments: str) -> str:
    """A clear 4xx: the status, a JSON {"error": one line} holding each fragment, no traceback."""
    assert response.status_code == status, (response.status_code, response.text)
    message = response.json()["error"]
    assert "\n" not in message and "Traceback" not in message and "seqgen-serve-" not in message, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return message


def upload(client: TestClient, name: str, data: bytes, group: str | None = None) -> str:
    r = client.post("/api/upload", params={"name": name, **({"group": group} if group else {})}, content=data)
    assert r.status_code == 200, r.text
    return r.json()["upload"]


def test_the_page_and_its_files_ship_with_seqgen_and_fetch_nothing_from_the_internet(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "<title>seqgen</title>" in page.text
    for asset in ("/static/app.js", "/static/style.css"):
        r = client.get(asset)
        assert r.status_code == 200 and r.text
        assert "http://" not in r.text and "https://" not in r.text
    assert "http://" not in page.text and "https://" not in page.text


def test_models_are_listed_with_the_views_their_domain_declares(client: TestClient,
                                                                 tiny_models: dict[str, Path]) -> None:
    listed = client.get("/api/models").json()
    assert [m["id"] for m in listed["models"]] == ids(tiny_models)
    for m in listed["models"]:
        assert tuple(m["views"]) == domains.get(m["domain"]).page_views and m["views"]
    assert listed["limits"]["upload_bytes"] == Limits().upload_bytes


def test_compose_writes_midi_wav_and_a_piano_roll_that_download_and_the_seed_repeats_them(
        client: TestClient, tiny_models: dict[str, Path]) -> None:
    body = {"model": str(tiny_models["music"]), "num": 2, "seconds": 4, "seed": 10, "temperature": 1.0}
    first = client.post("/api/compose", json=body).json()
    assert first["seed"] == 10 and len(first["samples"]) == 2
    midi = []
    for sample in first["samples"]:
        files = sample["files"]
        if "notes" not in sample:  # a tiny model's sample may end before its first note: no files then
            assert files == {}
            continue
        assert set(files) == {"midi", "audio", "image"}, sample
        got = {kind: client.get(first["files_url"] + name) for kind, name in files.items()}
        assert all(r.status_code == 200 for r in got.values())
        assert got["midi"].content[:4] == b"MThd" and got["image"].content[:4] == b"\x89PNG"
        audio, rate = soundfile.read(io.BytesIO(got["audio"].content))
        assert rate == 44100 and len(audio) / rate > 0.5 and np.abs(audio).max() > 0.1
        midi.append(got["midi"].content)
    assert midi  # some sample has notes
    again = client.post("/api/compose", json=body).json()
    assert [client.get(again["files_url"] + s["files"]["midi"]).content for s in again["samples"]
            if s["files"]] == midi


def test_compose_continues_an_opening_typed_as_abc_or_uploaded(client: TestClient,
                                                               tiny_models: dict[str, Path]) -> None:
    for name, data in (("typed.abc", ABC.encode()), ("tune.mid", (tiny_models["music"].parent / "tunes" /
                                                                    "tune0.mid").read_bytes())):
        token = upload(client, name, data)
        r = client.post("/api/compose", json={"model": str(tiny_models["music"]), "seconds": 3, "seed": 1,
                                              "opening": token})
        assert r.status_code == 200, r.text
        (sample,) = r.json()["samples"]
        assert "midi" in sample["files"]


def test_write_streams_the_samples_step_by_step_and_ends_with_what_the_api_samples(
        client: TestClient, tiny_models: dict[str, Path]) -> None:
    body = {"model": str(tiny_models["text"]), "prime": "ROMEO:", "length": 60, "num": 2, "seed": 3,
            "temperature": 0.9}
    with client.stream("POST", "/api/write", json=body) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in r.iter_lines() if line]
    assert lines[0] == {"seed": 3, "prime": "ROMEO:"}
    steps = [line for line in lines if "step" in line]
    assert len(steps) == 60 and all(len(s["pieces"]) == 2 for s in steps)
    done = lines[-1]
    assert done["done"] and len(lines) == 62
    expected = seqgen.load(tiny_models["text"], device="cpu").sample(num=2, length=60, prime="ROMEO:", seed=3,
                                                                      temperature=0.9)
    assert done["samples"] == expected
    streamed = ["ROMEO:" + "".join(s["pieces"][i] for s in steps) for i in range(2)]
    assert streamed == expected


def test_score_gives_every_token_its_surprisal_for_text_and_dna(client: TestClient,
                                                                tiny_models: dict[str, Path]) -> None:
    for model, text in (("text", "The king is here.\nzqxj vvk\n\n"), ("dna", "ACGTAAT\nGGCC GGCC\n")):
        r = client.post("/api/score", json={"model": str(tiny_models[model]), "text": text})
        assert r.status_code == 200, r.text
        results = r.json()["results"]
        assert len(results) == 2
        for res in results:
            bits = [t["bits"] for t in res["surprisal"]]
            assert len(bits) == res["tokens"] and all(b >= 0 for b in bits)
            assert math.isclose(sum(bits), -res["logprob"] / math.log(2), rel_tol=1e-3)
            assert math.isclose(res["bits_per_token"], sum(bits) / len(bits), rel_tol=1e-3)
            assert res["perplexity"] == pytest.approx(2 ** res["bits_per_token"], rel=1e-3)
    assert [t["token"] for t in results[1]["surprisal"]] == list("GGCCGGCC") + ["<end>"]


@pytest.mark.parametrize("name", ["rec.wav", "rec.csv"])
def test_a_recording_upload_is_scored_window_by_window_with_the_burst_flagged(
        client: TestClient, tiny_models: dict[str, Path], tmp_path: Path, name: str) -> None:
    from serve_models import RATE, sine

    write_recording(tmp_path / name, sine(20, seed=5, burst=(8, 10)), RATE)
    token = upload(client, name, (tmp_path / name).read_bytes())
    r = client.post("/api/signal", json={"model": str(tiny_models["waveform"]), "upload": token, "window": 1})
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["seconds"] == 20 and len(result["windows"]) == 20 and result["threshold"] is not None
    worst = max(result["windows"], key=lambda w: w["bits_per_sample"])
    assert 8 <= worst["start"] < 10 and worst["anomaly"]
    assert result["flagged"] == sum(bool(w["anomaly"]) for w in result["windows"]) >= 1
    assert client.get(result["files_url"] + result["image"]).content[:4] == b"\x89PNG"


def test_a_wfdb_record_uploads_as_its_header_and_data_together(client: TestClient, tiny_models: dict[str, Path],
                                                                tmp_path: Path) -> None:
    wfdb = pytest.importorskip("wfdb")
    from serve_models import RATE, sine

    wfdb.wrsamp("rec", fs=RATE, units=["mV"], sig_name=["MLII"], p_signal=sine(12, seed=2)[:, None], fmt=["16"],
                write_dir=str(tmp_path))
    token = upload(client, "rec.dat", (tmp_path / "rec.dat").read_bytes())
    upload(client, "rec.hea", (tmp_path / "rec.hea").read_bytes(), group=token)
    r = client.post("/api/signal", json={"model": str(tiny_models["waveform"]), "upload": token})
    assert r.status_code == 200, r.text
    assert r.json()["file"] == "rec.hea" and len(r.json()["windows"]) == 12


def test_bad_requests_are_clear_4xx_errors(client: TestClient, tiny_models: dict[str, Path]) -> None:
    music, text = str(tiny_models["music"]), str(tiny_models["text"])
    not_music = upload(client, "notes.txt", b"just some words\n")
    refused(client.post("/api/compose", json={"model": music, "opening": not_music}), 400, "notes.txt",
            "not a music file")
    fake_midi = upload(client, "fake.mid", b"this is not MIDI")
    refused(client.post("/api/compose", json={"model": music, "opening": fake_midi}), 400, "fake.mid")
    refused(client.post("/api/compose", json={"model": music, "temperature": -0.5}), 422, "temperature",
            "greater than or equal to 0")
    refused(client.post("/api/compose", json={"model": "no-such-model"}), 404, "unknown model 'no-such-model'")
    refused(client.post("/api/score", json={"model": music, "text": "a"}), 422, "no score view")
    refused(client.post("/api/compose", json={"model": music, "num": 9}), 422, "at most 8 samples")
    refused(client.post("/api/compose", json={"model": music, "length": 10**6}), 422, "at most 4000 new tokens")
    refused(client.post("/api/write", json={"model": text, "prime": "\u00e9t\u00e9"}), 400, "never occur")
    refused(client.post("/api/score", json={"model": text, "text": "x" * 60_000}), 413, "at most 50,000 characters")
    refused(client.post("/api/score", json={"model": text, "text": "\n \n"}), 422, "nothing to score")
    refused(client.post("/api/compose", json={"model": music, "opening": "0123456789abcdef"}), 404,
            "upload the file again")
    refused(client.post("/api/upload", params={"name": "empty.mid"}, content=b""), 422, "empty")
    refused(client.get("/files/0123456789abcdef/../../etc/passwd"), 404)


def test_a_200_mb_upload_is_refused_while_it_streams_in(client: TestClient) -> None:
    big = 200 * 2**20
    declared = client.post("/api/upload", params={"name": "huge.mid"}, content=b"\0" * 1024,
                           headers={"Content-Length": str(big)})
    refused(declared, 413, "larger than the 20 MB limit")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the body is counted as it arrives (TestClient sends it
        block = b"\0" * 2**20  # all; test_a_real_server_refuses_a_chunked_upload_early shows a real server stop early)
        for _ in range(big // len(block)):
            yield block

    refused(client.post("/api/upload", params={"name": "huge.mid"}, content=chunks()), 413, "20 MB")
    uploads = client.app.state.workdir / "uploads"
    assert not any(p.stat().st_size > 21 * 2**20 for p in uploads.rglob("*") if p.is_file())


def test_a_real_server_refuses_a_chunked_upload_early(server: str) -> None:
    host, port = server.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.putrequest("POST", "/api/upload?name=huge.wav")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    block, sent = b"\0" * 2**20, 0
    try:
        while sent < 200 * 2**20:
            conn.send(b"%x\r\n%s\r\n" % (len(block), block))
            sent += len(block)
        conn.send(b"0\r\n\r\n")
    except OSError:  # the server answered and closed the connection
        pass
    response = conn.getresponse()
    assert response.status == 413 and "20 MB" in json.loads(response.read())["error"]
    assert sent < 100 * 2**20, sent


def test_two_jobs_at_once_the_second_is_refused_with_429(client: TestClient, tiny_models: dict[str, Path]) -> None:
    music = str(tiny_models["music"])
    first: dict = {}
    long_one = threading.Thread(target=lambda: first.update(r=client.post(
        "/api/compose", json={"model": music, "length": 3000, "temperature": 1.0, "seed": 1, "num": 4})))
    long_one.start()
    deadline = time.monotonic() + 30
    while client.get("/api/status").json()["job"] is None and long_one.is_alive() and time.monotonic() < deadline:
        time.sleep(0.005)
    second = client.post("/api/compose", json={"model": music, "seconds": 2})
    long_one.join()
    assert first["r"].status_code == 200, first["r"].text
    refused(second, 429, "busy", "composing with")
    assert client.get("/api/status").json()["job"] is None


def test_work_past_the_time_limit_stops_with_a_clear_error(tiny_models: dict[str, Path]) -> None:
    with TestClient(create_app([str(tiny_models["music"])], limits=Limits(request_seconds=0.0))) as c:
        refused(c.post("/api/compose", json={"model": str(tiny_models["music"]), "length": 100}), 422,
                "time limit")
        assert c.get("/api/status").json()["job"] is None


def test_uploads_and_outputs_live_in_a_temporary_folder_removed_at_shutdown(tiny_models: dict[str, Path]) -> None:
    with TestClient(create_app([str(tiny_models["music"])])) as c:
        workdir = c.app.state.workdir
        upload(c, "typed.abc", ABC.encode())
        c.post("/api/compose", json={"model": str(tiny_models["music"]), "seconds": 2, "seed": 1})
        assert any((workdir / "uploads").iterdir()) and any((workdir / "jobs").iterdir())
    assert not workdir.exists()


def test_serve_help_is_quick_and_a_port_in_use_is_one_clear_error(tiny_models: dict[str, Path]) -> None:
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "seqgen", "serve", "--help"], capture_output=True,
                       text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert r.returncode == 0 and "--port" in r.stdout and "--host" in r.stdout
    imported = {line.rsplit("|", 1)[1].strip().split(".")[0] for line in r.stderr.splitlines() if "|" in line}
    assert not imported & {"fastapi", "uvicorn", "starlette", "torch"}, imported
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["serve", "--port", str(port), "-c", str(tiny_models["music"])])
    assert_clean_error(result, f"port {port} on 127.0.0.1 is in use")
