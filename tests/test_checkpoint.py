import json

import pytest
import torch

import seqgen
from seqgen import checkpoint
from seqgen.errors import SeqgenError


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "config.json"
    target.write_text("old")

    def broken(tmp):
        with open(tmp, "w") as f:
            f.write("half of the new conte")
        raise KeyboardInterrupt  # killed mid-write

    with pytest.raises(KeyboardInterrupt):
        checkpoint.atomic_write(target, broken)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]  # no temp file left behind


def test_checkpoint_folder_layout_and_weights_only_trainer_state(trained):
    assert {"config.json", "model.safetensors", "trainer.pt", "metrics.jsonl"} <= {p.name for p in trained.iterdir()}
    config = json.loads((trained / "config.json").read_text())
    assert config["format"] == "seqgen-checkpoint" and config["domain"] == "text"
    assert config["progress"]["best_val_loss"] is not None
    state = torch.load(trained / "trainer.pt", weights_only=True)
    assert state["loop"]["step"] == 200 and "optimizer" in state


def test_damaged_checkpoints_fail_clearly(tmp_path, trained):
    with pytest.raises(SeqgenError, match="not a seqgen checkpoint"):
        seqgen.load(tmp_path)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((trained / "config.json").read_text())
    data = (trained / "model.safetensors").read_bytes()
    (broken / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(SeqgenError, match="damaged or truncated weights"):
        seqgen.load(broken)
    (broken / "config.json").write_text('{"format": "seqgen-checkpoint", "mod')
    with pytest.raises(SeqgenError, match="damaged checkpoint config"):
        seqgen.load(broken)


def test_newest_checkpoint_is_the_default(tmp_path, trained, monkeypatch):
    import shutil

    root = tmp_path / "checkpoints"
    shutil.copytree(trained, root / "old")
    shutil.copytree(trained, root / "new")
    (root / "new" / "config.json").touch()
    monkeypatch.chdir(tmp_path)
    assert seqgen.load().path.name == "new"
    (root / "new" / "model.safetensors").unlink()
    assert seqgen.load().path.name == "old"


def test_tidy_removes_what_an_interrupted_save_or_append_left(tmp_path):
    (tmp_path / ".trainer.pt.abc123.tmp").write_bytes(b"half")
    (tmp_path / "notes.tmp").write_text("not ours")
    (tmp_path / "metrics.jsonl").write_text('{"step": 10}\n{"step": 20}\n{"st')
    checkpoint.tidy(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.jsonl", "notes.tmp"]
    assert (tmp_path / "metrics.jsonl").read_text() == '{"step": 10}\n{"step": 20}\n'
