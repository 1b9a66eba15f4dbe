"""Fine-tuning (`seqgen train DATA --from CKPT`): the base's weights and codec carry over, a text vocabulary grows
by the new characters (new rows at the mean, old rows untouched), config.json and `seqgen info` say where the run
started, a music base keeps its vocabulary, and options that would change the base are one clear error line."""

from __future__ import annotations

import json
from pathlib import Path

import pretty_midi
import pytest
import torch
from click.testing import CliRunner, Result
from helpers import assert_clean_error, assert_clean_exit
from seqgen.cli.main import cli

import seqgen
from seqgen.codecs import CharCodec
from seqgen.config import ModelConfig
from seqgen.finetune import grown_model
from seqgen.models import SequenceModel
from seqgen.progress import Progress

TINY = {"cell": "gru", "layers": 1, "hidden": 64, "embed": 16, "batch_size": 16, "seq_len": 32, "lr": 1e-2,
        "warmup_steps": 5, "device": "cpu"}
NEW = "éß"  # the characters text B has and text A lacks


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEQGEN_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def texts(tmp_path_factory: pytest.TempPathFactory, shakespeare: Path) -> tuple[Path, Path]:
    """Text A (the first 30,000 characters of Shakespeare) and text B (the next 15,000, with A's characters only,
    plus 'é' for "ee" and 'ß' for "ss"): close enough that a model of A has a head start on B."""
    whole = shakespeare.read_text(encoding="utf-8")
    a = whole[:30_000]
    b = "".join(c for c in whole[30_000:45_000] if c in set(a)).replace("ee", "é").replace("ss", "ß")
    folder = tmp_path_factory.mktemp("texts")
    (folder / "a.txt").write_text(a, encoding="utf-8")
    (folder / "b.txt").write_text(b, encoding="utf-8")
    return folder / "a.txt", folder / "b.txt"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, texts: tuple[Path, Path]) -> Path:
    """A tiny GRU trained on text A for 60 steps, with a model card beside its files."""
    out = tmp_path_factory.mktemp("base") / "a-gru"
    seqgen.train(texts[0], out, max_steps=60, eval_every=60, **TINY)
    (out / "MODEL_CARD.md").write_text("# a tiny model of text A\n")
    return out


def run(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_a_char_codec_grows_by_appending_new_characters_and_keeps_its_ids():
    codec = CharCodec.fit(["abc\n"])
    grown = codec.with_chars(["cab ßé", "a"])
    assert grown.itos[: codec.vocab_size] == codec.itos and grown.itos[codec.vocab_size :] == [" ", "ß", "é"]
    assert grown.encode("abc") == codec.encode("abc")
    assert CharCodec.from_dict(grown.to_dict()).itos == grown.itos  # the order survives a checkpoint
    assert codec.with_chars(["cab"]) is codec
    assert CharCodec.fit(["ab\nc"], boundaries=True).with_chars(["x\ny"]).chars == ["a", "b", "c", "x", "y"]


@pytest.mark.parametrize("embed, tie", [(8, False), (8, True), (0, False)])
def test_a_grown_model_keeps_the_base_rows_and_starts_new_tokens_at_the_mean(embed, tie):
    torch.manual_seed(0)
    net = SequenceModel(ModelConfig(vocab_size=5, cell="lstm", layers=2, hidden=8, embed=embed, tie_weights=tie))
    with torch.no_grad():
        net.decoder.bias.copy_(torch.randn(5))
    grown = grown_model(net, 7)
    old, new = net.state_dict(), grown.state_dict()
    assert grown.config.vocab_size == 7 and grown.training
    for name, t in old.items():  # every base weight is there, unchanged
        assert torch.equal(new[name][tuple(slice(0, n) for n in t.shape)], t), name
    assert torch.equal(new["decoder.bias"][5:], old["decoder.bias"].min().expand(2))
    assert torch.allclose(new["decoder.weight"][5:], old["decoder.weight"].mean(0).expand(2, -1))
    if embed:
        assert torch.allclose(new["embedding.weight"][5:], old["embedding.weight"].mean(0).expand(2, -1))
        assert (grown.decoder.weight is grown.embedding.weight) == tie
    else:
        columns = old["rnn.weight_ih_l0"].mean(1, keepdim=True).expand(-1, 2)  # [gates * hidden, 2]
        assert torch.allclose(new["rnn.weight_ih_l0"][:, 5:], columns)
    probs = grown(torch.tensor([[1, 2, 6]]))[0].softmax(-1)  # new tokens in and out: possible, and rarer than most
    assert torch.all(probs[..., 5:] > 0) and torch.all(probs[..., 5:] <= probs[..., :5].median(-1).values[..., None])
    assert torch.equal(grown_model(net, 5).state_dict()["decoder.bias"], old["decoder.bias"])


def test_fine_tuning_grows_the_vocabulary_and_beats_training_from_scratch(base, texts, tmp_path):
    notes: list[str] = []

    def progress(p: Progress) -> None:
        if p.kind == "note":
            notes.append(p.message)

    steps = {"max_steps": 30, "eval_every": 30}
    tuned = seqgen.train(texts[1], tmp_path / "tuned", start_from=base, progress=progress, **steps, **TINY)
    scratch = seqgen.train(texts[1], tmp_path / "scratch", **steps, **TINY)
    assert tuned.final_val_loss < scratch.final_val_loss - 0.1, (tuned.final_val_loss, scratch.final_val_loss)

    before, after = seqgen.load(base, device="cpu"), seqgen.load(tmp_path / "tuned", device="cpu")
    assert after.codec.itos == before.codec.itos + sorted(NEW)
    assert notes[0] == "--from: added 2 characters the base never saw: 'ß', 'é'"
    config = json.loads((tmp_path / "tuned" / "config.json").read_text(encoding="utf-8"))
    assert config["from"] == {"path": str(base.resolve()),
                              "best_val_loss": before.config["progress"]["best_val_loss"],
                              "model_card": str((base / "MODEL_CARD.md").resolve()), "added_tokens": sorted(NEW)}
    assert config["progress"]["step"] == 30
    assert config["model"] == {**before.config["model"], "vocab_size": before.codec.vocab_size + 2}
    assert config["train"]["lr"] == TINY["lr"] and config["settings_from"]["hidden"] == "base"

    shown = run("info", "-c", tmp_path / "tuned")
    assert_clean_exit(shown)
    row = next(line for line in shown.stdout.splitlines() if line.startswith("from "))
    assert row.startswith(f"from        {base.resolve()} (") and "'ß' 'é'" in row and "MODEL_CARD.md" in row


def test_a_music_fine_tune_keeps_the_vocabulary(tmp_path):
    for name, keys in (("a", range(0, 4)), ("b", range(5, 8))):
        (tmp_path / name).mkdir()
        for key in keys:
            pm = pretty_midi.PrettyMIDI(initial_tempo=150)
            inst = pretty_midi.Instrument(program=0)
            inst.notes = [pretty_midi.Note(80, p + key, i * 0.2, i * 0.2 + 0.2)
                          for i, p in enumerate([60, 62, 64, 65, 67, 65, 64, 62] * 4)]
            pm.instruments.append(inst)
            pm.write(str(tmp_path / name / f"tune{key}.mid"))
    opts = {"cell": "gru", "layers": 1, "hidden": 16, "batch_size": 4, "seq_len": 16, "eval_every": 5,
            "max_steps": 5, "device": "cpu"}
    seqgen.train(tmp_path / "a", tmp_path / "base", **opts)
    seqgen.train(tmp_path / "b", tmp_path / "tuned", start_from=tmp_path / "base", **opts)
    before, after = seqgen.load(tmp_path / "base", device="cpu"), seqgen.load(tmp_path / "tuned", device="cpu")
    assert after.codec.to_dict() == before.codec.to_dict() and after.config["from"]["added_tokens"] == []
    assert after.config["from"]["model_card"] is None

    assert_clean_error(run("train", tmp_path / "b", "--from", tmp_path / "base", "--step-ms", "20"),
                       "--from keeps the base model's codec; drop --step-ms")
    (tmp_path / "t.txt").write_text("some text to read\n" * 50)
    assert_clean_error(run("train", tmp_path / "t.txt", "--from", tmp_path / "base"),
                       "is text, but --from", "is a music model")


def test_options_that_would_change_the_base_are_one_clear_error(base, texts, tmp_path):
    b = texts[1]
    assert_clean_error(run("train", b, "--from", base, "--hidden", "512"),
                       "--from keeps the base model's architecture; drop --hidden")
    assert_clean_error(run("train", b, "--from", base, "--resume", base),
                       "--resume continues a run, --from starts a new one")
    assert_clean_error(run("train", b, "--from", base, "--sentences"), "--from keeps the base model's codec")
    (tmp_path / "empty").mkdir()
    assert_clean_error(run("train", b, "--from", tmp_path / "empty"), "not a seqgen checkpoint")
    assert_clean_error(run("train", "--from", base), "needs DATA")
