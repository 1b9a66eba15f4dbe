"""Download recipes against a local HTTP server laid out like PhysioNet (tiny WFDB records and a SHA256SUMS.txt)."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import wfdb
from click.testing import CliRunner
from seqgen.cli.main import cli

from seqgen.domains.waveform.signals import read_recording
from seqgen.download import RECIPES, Recipe, RemoteFile, fetch, train_command
from seqgen.errors import SeqgenError

SHAKESPEARE = Path(__file__).parent / "data" / "shakespeare-60k.txt"
MITDB = RECIPES["mitdb"]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_record(folder: Path, name: str, signals: list[str], seconds: float = 2.0) -> None:
    """A tiny two-channel 360 Hz WFDB record (format 212, as in mitdb) with a beat annotation file."""
    t = np.arange(int(360 * seconds)) / 360
    ecg = np.sin(2 * np.pi * 1.2 * t) ** 15 + 0.05 * np.sin(2 * np.pi * 7 * t)
    wfdb.wrsamp(name, fs=360, units=["mV", "mV"], sig_name=signals, p_signal=np.stack([ecg, 0.5 * ecg], axis=1),
                fmt=["212", "212"], write_dir=str(folder))
    wfdb.wrann(name, "atr", np.array([100, 400]), symbol=["N", "N"], write_dir=str(folder))


def _write_manifest(folder: Path, leave_out: tuple[str, ...] = ()) -> None:
    """SHA256SUMS.txt as PhysioNet publishes it, with entries for files a fetch does not ask for."""
    lines = [f"{_sha(p)}  {p.name}" for p in sorted(folder.iterdir()) if p.name not in leave_out]
    lines += [f"{'0' * 64}  RECORDS", f"{'1' * 64}  x_mitdb/x_108.hea"]
    (folder / "SHA256SUMS.txt").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def physionet(tmp_path_factory) -> Path:
    """Records 100 and 101 (MLII, V5) and 102 (V5, V2: no MLII, as in mitdb), with their manifest."""
    folder = tmp_path_factory.mktemp("physionet")
    for name, signals in (("100", ["MLII", "V5"]), ("101", ["MLII", "V1"]), ("102", ["V5", "V2"])):
        _write_record(folder, name, signals)
    _write_manifest(folder)
    return folder


class _Handler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
        pass

    def do_GET(self) -> None:
        self.server.requests.append(self.path)  # type: ignore[attr-defined]
        if self.path == "/truncated.bin":  # promises 1,000 bytes, sends 10 and hangs up
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture
def server(physionet, tmp_path):
    """A local HTTP server over this test's own copy of the PhysioNet-like folder: (base URL, folder, requests)."""
    root = tmp_path / "server"
    shutil.copytree(physionet, root)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", root, httpd.requests
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if p.name.endswith(".part")]


def test_fetch_verifies_and_writes_the_chosen_records(server, tmp_path):
    url, root, requests = server
    events = []
    dest = tmp_path / "data" / "mitdb"
    result = fetch(MITDB, dest, base_url=url, progress=events.append, records=["100", "101"])
    names = {f"{r}.{s}" for r in ("100", "101") for s in ("hea", "dat", "atr")}
    assert {p.name for p in dest.iterdir()} == names | {"SHA256SUMS.txt"}
    assert all((dest / n).read_bytes() == (root / n).read_bytes() for n in names)
    assert {p.name for p in result.fetched} == names and result.present == [] and not _leftovers(dest)
    assert sorted(requests) == sorted(["/SHA256SUMS.txt"] + [f"/{n}" for n in names])
    last = {e.message: e for e in events if e.kind == "download"}
    assert last["100.dat"].step == last["100.dat"].total == (root / "100.dat").stat().st_size
    recording = read_recording(dest / "101.hea", channel="MLII")
    assert recording.sample_rate == 360 and len(recording.samples) == 720
    assert train_command(MITDB, result) == f"seqgen train {dest} --channel MLII"


def test_a_rerun_keeps_verified_files_and_fetches_only_missing_or_damaged_ones(server, tmp_path):
    url, root, requests = server
    fetch(MITDB, tmp_path, base_url=url, records=["100", "101"])
    requests.clear()
    notes = []
    again = fetch(MITDB, tmp_path, base_url=url, records=["100", "101"], progress=notes.append)
    assert requests == ["/SHA256SUMS.txt"] and again.fetched == [] and len(again.present) == 6
    assert [n.message for n in notes if n.kind == "note"] == [f"6 of 6 files were already in {tmp_path} with "
                                                              "the right SHA-256: kept"]
    requests.clear()
    (tmp_path / "100.dat").unlink()
    (tmp_path / "101.atr").write_bytes(b"half a file")
    resumed = fetch(MITDB, tmp_path, base_url=url, records=["100", "101"])
    assert sorted(requests) == ["/100.dat", "/101.atr", "/SHA256SUMS.txt"]
    assert {p.name for p in resumed.fetched} == {"100.dat", "101.atr"}
    assert (tmp_path / "101.atr").read_bytes() == (root / "101.atr").read_bytes()


def test_a_corrupted_file_on_the_server_is_named_and_nothing_of_it_is_kept(server, tmp_path):
    url, root, _ = server
    expected = _sha(root / "101.dat")
    data = bytearray((root / "101.dat").read_bytes())
    data[10] ^= 0xFF
    (root / "101.dat").write_bytes(bytes(data))
    with pytest.raises(SeqgenError, match="101.dat: checksum mismatch") as e:
        fetch(MITDB, tmp_path, base_url=url, records=["100", "101"])
    assert expected in str(e.value) and hashlib.sha256(bytes(data)).hexdigest() in str(e.value)
    assert not (tmp_path / "101.dat").exists() and not _leftovers(tmp_path)
    assert (tmp_path / "100.dat").read_bytes() == (root / "100.dat").read_bytes()  # verified before it: kept


def test_a_missing_file_on_the_server_is_a_clean_error_with_the_url(server, tmp_path):
    url, root, _ = server
    (root / "101.atr").unlink()
    with pytest.raises(SeqgenError, match=rf"could not download {url}101\.atr: HTTP 404"):
        fetch(MITDB, tmp_path, base_url=url, records=["101"])
    assert not _leftovers(tmp_path) and not (tmp_path / "101.atr").exists()
    dest = tmp_path / "new" / "mitdb"
    with pytest.raises(SeqgenError, match=r"nowhere/SHA256SUMS\.txt: HTTP 404"):
        fetch(MITDB, dest, base_url=url + "nowhere")
    assert not (tmp_path / "new").exists()  # the folders the failed fetch made are gone again


def test_a_connection_that_breaks_off_or_an_interrupt_leaves_nothing_behind(server, tmp_path):
    url, _, _ = server
    recipe = Recipe("t", "text", "", "", "", url, (RemoteFile("truncated.bin", "0" * 64),), "")
    with pytest.raises(SeqgenError, match=rf"download {url}truncated\.bin: the connection ended after 10 of 1,000"):
        fetch(recipe, tmp_path / "a")
    assert not (tmp_path / "a").exists()

    def interrupt(p):
        if p.kind == "download" and p.message == "100.dat" and p.step:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fetch(MITDB, tmp_path / "b", base_url=url, records=["100"], progress=interrupt)
    assert {p.name for p in (tmp_path / "b").iterdir()} == {"SHA256SUMS.txt", "100.hea"}  # complete files only


def test_a_file_the_manifest_does_not_list_is_refused_before_any_download(server, tmp_path):
    url, root, requests = server
    _write_manifest(root, leave_out=("101.atr", "SHA256SUMS.txt"))
    with pytest.raises(SeqgenError, match="does not list 101.atr, so it cannot be verified"):
        fetch(MITDB, tmp_path, base_url=url, records=["100", "101"])
    assert requests == ["/SHA256SUMS.txt"]


def test_records_are_checked_against_the_recipe():
    with pytest.raises(SeqgenError, match="mitdb has no record 999"):
        fetch(MITDB, "unused", records=["100", "999"])
    with pytest.raises(SeqgenError, match="tinyshakespeare is not made of records"):
        fetch(RECIPES["tinyshakespeare"], "unused", records=["100"])


def test_a_pinned_checksum_is_checked_over_file_urls(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(SHAKESPEARE, served / "input.txt")
    pinned = RECIPES["tinyshakespeare"]
    with pytest.raises(SeqgenError, match=f"input.txt: checksum mismatch \\(expected SHA-256 "
                                          f"{pinned.files[0].sha256}, got {_sha(SHAKESPEARE)}\\)"):
        fetch(pinned, tmp_path / "a", base_url=served.as_uri())
    assert not (tmp_path / "a").exists()
    recipe = dataclasses.replace(pinned, files=(RemoteFile("input.txt", _sha(SHAKESPEARE)),))
    result = fetch(recipe, tmp_path / "b", base_url=served.as_uri())
    assert (tmp_path / "b" / "input.txt").read_bytes() == SHAKESPEARE.read_bytes()
    assert result.bytes == SHAKESPEARE.stat().st_size
    assert train_command(recipe, result) == f"seqgen train {tmp_path / 'b'}"


def test_the_training_hint_leaves_out_a_channel_some_records_lack(server, tmp_path):
    url, _, _ = server
    result = fetch(MITDB, tmp_path, base_url=url, records=["100", "102"])
    hint = train_command(MITDB, result)
    assert hint.startswith(f"seqgen train {tmp_path}   (first channel") and "102, which has no MLII" in hint


def test_cli_fetch_writes_readable_records_and_says_how_to_train(server, tmp_path):
    url, _, _ = server
    dest = tmp_path / "mitdb"
    r = CliRunner().invoke(cli, ["datasets", "fetch", "mitdb", "--records", "100", "--to", str(dest),
                                 "--base-url", url])
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [f"3 files in {dest} (3 downloaded, 0 already there); train on them with: "
                                     f"seqgen train {dest} --channel MLII"]
    assert read_recording(dest / "100.hea", channel="MLII").sample_rate == 360


def test_cli_fetch_of_an_unknown_name_is_one_error_line(tmp_path):
    r = CliRunner().invoke(cli, ["datasets", "fetch", "nonesuch", "--to", str(tmp_path / "x")])
    assert r.exit_code != 0 and r.stdout == ""
    assert r.stderr.splitlines() == ["seqgen: error: no download recipe named 'nonesuch' "
                                     "(known: tinyshakespeare, mitdb, nstdb)"]
    assert not (tmp_path / "x").exists()


def test_datasets_list_shows_the_recipes_in_a_section_of_their_own():
    text = CliRunner().invoke(cli, ["datasets", "list"]).stdout
    corpora, recipes = text.split("\nto download (seqgen datasets fetch NAME")
    assert "chorales" in corpora and "mitdb" not in corpora and "nstdb" in recipes
    rows = [json.loads(line) for line in CliRunner().invoke(cli, ["datasets", "list", "--json"]).stdout.splitlines()]
    downloads = {d["name"]: d for d in rows if d.get("download")}
    assert set(downloads) == set(RECIPES) and len(downloads["mitdb"]["records"]) == 48
    assert downloads["nstdb"]["files"] == 3 * 2 + 12 * 3 and downloads["tinyshakespeare"]["checksums"] == "pinned"


def test_recipes_are_well_formed():
    for recipe in RECIPES.values():
        assert isinstance(recipe, Recipe) and recipe.base_url.endswith("/")
        assert recipe.manifest or all(f.sha256 for f in recipe.files)
        assert len({f.path for f in recipe.files}) == len(recipe.files)
