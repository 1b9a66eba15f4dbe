"""Shipped models: packed from a checkpoint in 16 bits, found by name, listed, checked against their checksums,
used when the user has no checkpoint of their own, and carried by the wheel."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import assert_clean_error, assert_clean_exit
from seqgen.cli.main import cli
from test_music_train import write_tune

import seqgen
from seqgen import catalog
from seqgen.checkpoint import newest
from seqgen.errors import SeqgenError

ROOT = Path(__file__).resolve().parents[1]
CARD = "# Tunes in C\n\nA tiny test model of one scale in ten keys.\n"


def run(*args: object) -> object:
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def tunes_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tunes")
    for key in range(6):
        write_tune(folder / f"tune{key}.mid", key - 2)
    out = folder.parent / "tunes-model"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQGEN_CACHE", str(folder.parent / "cache"))
        seqgen.train(folder, out, max_steps=20, cell="gru", layers=1, hidden=32, batch_size=4, seq_len=32,
                     eval_every=20, codec="performance", device="cpu")
    return out


@pytest.fixture
def shipped(tunes_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A shipped-models folder holding the tiny model as `tunes`, in place of the real one."""
    root = tmp_path / "shipped"
    catalog.pack(tunes_model, "tunes", CARD, root)
    monkeypatch.setattr(catalog, "shipped_root", lambda: root)
    monkeypatch.setattr(catalog, "DEFAULT", "tunes")
    return root


def test_a_packed_model_is_16_bit_checksummed_and_scores_as_the_original(shipped: Path, tunes_model: Path) -> None:
    from safetensors.torch import load_file

    assert catalog.names() == ["tunes"] and catalog.verify("tunes") == []
    assert sorted(p.name for p in (shipped / "tunes").iterdir()) == ["MODEL_CARD.md", "config.json",
                                                                     "model.safetensors"]
    assert {str(t.dtype) for t in load_file(shipped / "tunes" / "model.safetensors").values()} == {"torch.float16"}
    sums = catalog.checksums()
    assert sorted(sums) == ["tunes/MODEL_CARD.md", "tunes/config.json", "tunes/model.safetensors"]
    d = catalog.describe("tunes")
    assert d["domain"] == "music" and d["title"] == "Tunes in C" and d["summary"].startswith("A tiny test model")
    original, packed = seqgen.load(tunes_model, device="cpu"), seqgen.load("tunes", device="cpu")
    assert packed.path == shipped / "tunes" and packed.config["shipped"] == {"name": "tunes", "weights": "float16"}
    piece = Path(original.config["data"]["inputs"][0]) / "tune1.mid"
    a, b = original.score_music([piece])[0][0], packed.score_music([piece])[0][0]
    assert abs(a.result.nll_per_token - b.result.nll_per_token) < 0.005  # nats per event


def test_a_changed_file_is_refused_by_name(shipped: Path) -> None:
    weights = shipped / "tunes" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert catalog.verify("tunes") == ["tunes/model.safetensors does not match its checksum"]
    assert_clean_error(run("info", "-c", "tunes"), "shipped model 'tunes': tunes/model.safetensors does not match "
                                                   "its checksum; reinstall seqgen")


def test_models_lists_and_a_folder_of_the_same_name_wins(shipped: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    r = run("models")
    assert_clean_exit(r)
    assert r.stdout.startswith("tunes      music     gru 1x32") and "Tunes in C" in r.stdout
    listed = json.loads(run("models", "--json").stdout)
    assert listed["name"] == "tunes" and listed["path"] == str(shipped / "tunes")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tunes").mkdir()  # the user's own folder called tunes is what -c tunes means
    assert_clean_error(run("info", "-c", "tunes"), "tunes: not a seqgen checkpoint")


def test_without_a_checkpoint_of_their_own_users_get_the_shipped_model(shipped: Path, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    r = run("sample", "--midi", "tune.mid", "--seed", "1", "--length", "50", "--min-length", "0")
    assert_clean_exit(r)
    assert "using the shipped model 'tunes'" in r.stderr and (tmp_path / "tune.mid").is_file()
    # no shipped text model here: scoring words keeps the error that says what to do
    assert_clean_error(run("score", "The apple and pear salad"), "no checkpoint under checkpoints/")


def test_the_default_model_comes_first_among_its_domain(shipped: Path, tunes_model: Path) -> None:
    catalog.pack(tunes_model, "anthems", "# Anthems\n\nAnother music model, first by name.\n", shipped)
    assert catalog.names() == ["anthems", "tunes"]
    assert catalog.fallback() == "tunes" and catalog.fallback("music") == "tunes" and catalog.fallback("text") is None


def test_newest_never_takes_a_shipped_model_for_the_users_own(shipped: Path, tunes_model: Path) -> None:
    assert catalog.shipped_root() == shipped and (shipped / "tunes" / "config.json").is_file()
    with pytest.raises(SeqgenError, match="no checkpoint under"):
        newest(shipped)


def test_every_shipped_model_matches_the_checksums_in_the_repository() -> None:
    root = ROOT / "checkpoints"
    sums = catalog.checksums(root)
    shipped = catalog.names(root)
    assert {key.split("/")[0] for key in sums} == set(shipped), "SHA256SUMS and the shipped folders disagree"
    for name in shipped:
        assert catalog.verify(name, root) == [], name


@pytest.mark.slow
def test_the_wheel_carries_the_command_line_and_the_shipped_models(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                        str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    wheel = next(tmp_path.glob("seqgen-*.whl"))
    files = set(zipfile.ZipFile(wheel).namelist())
    assert {"seqgen/cli/main.py", "seqgen/shipped/__init__.py", "seqgen/catalog.py"} <= files
    shipped = catalog.names(ROOT / "checkpoints")
    expected = {f"seqgen/shipped/{name}/{file}" for name in shipped for file in catalog.FILES}
    assert expected <= files, sorted(expected - files)
    if shipped:
        assert "seqgen/shipped/SHA256SUMS" in files
