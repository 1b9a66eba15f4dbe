"""One typed configuration: the resolution order, one source for defaults (dataclasses, CLI, README), and --val."""

import json
import re
from dataclasses import fields
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from helpers import assert_clean_error, assert_clean_exit
from seqgen.cli.main import cli

import seqgen
from seqgen import domains
from seqgen.config import (
    MODEL_OPTIONS,
    TRAIN_OPTIONS,
    ModelConfig,
    TrainConfig,
    cli_options,
    help_text,
    markdown_table,
    resolve,
)
from seqgen.presets import Preset

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--layers", "1", "--hidden", "32", "--embed", "16", "-b", "8", "-t", "32", "-q", "--device", "cpu"]
MUSIC = domains.get("music")
CHORALES = domains.get_corpus("chorales")  # its defaults: transpose 3, dropout 0.2


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_each_source_wins_over_the_ones_after_it():
    preset = Preset("p", "a test preset", "any", {"dropout": 0.5, "cell": "lstm", "step_ms": 20.0})
    s = resolve({"cell": "rnn_tanh", "hidden": None}, MUSIC, preset=preset, corpora=[CHORALES])
    assert s.model.cell == "rnn_tanh" and s.sources["cell"] == "given"  # given beats the preset
    assert s.model.dropout == 0.5 and s.sources["dropout"] == "preset p"  # the preset beats the corpus
    assert s.train.transpose == 3 and s.sources["transpose"] == "corpus chorales"  # the corpus beats the library
    assert s.codec["step_ms"] == 20.0 and s.sources["step_ms"] == "preset p"  # the preset beats the domain
    assert s.codec["codec"] == "auto" and s.sources["codec"] == "domain music"
    assert "velocity_bins" not in s.codec  # the performance codec's settings: only when given (they choose it)
    assert s.model.hidden == 256 and s.sources["hidden"] == "library"  # None means not given
    assert s.read == {} and set(s.sources) >= {o.name for o in (*MODEL_OPTIONS, *TRAIN_OPTIONS)}


def test_a_given_budget_replaces_the_budgets_of_the_preset_and_of_the_default_run():
    preset = Preset("p", "", "", {"max_time": 900.0, "layers": 3})
    s = resolve({"max_steps": 7}, MUSIC, preset=preset, run_defaults={"max_time": 240.0})
    assert (s.train.max_steps, s.train.max_time, s.train.epochs, s.model.layers) == (7, None, None, 3)
    s = resolve({}, MUSIC, preset=preset, run_defaults={"max_time": 240.0})
    assert s.train.max_time == 900.0 and s.sources["max_time"] == "preset p"
    assert resolve({}, MUSIC).train.epochs == 10.0  # no budget at all: ten passes


def test_unknown_foreign_and_out_of_range_settings_are_refused():
    with pytest.raises(TypeError, match="unknown training option"):
        resolve({"hiden": 3}, MUSIC)
    with pytest.raises(ValueError, match="--rate, --sample-rate: for waveform data; this data is music"):
        resolve({"rate": 8000, "sample_rate": 250.0}, MUSIC)
    with pytest.raises(ValueError, match="velocity_bins=0"):
        resolve({"velocity_bins": 0}, MUSIC)
    with pytest.raises(ValueError, match="invalid setting dropout=1.0"):
        resolve({"dropout": 1.0}, MUSIC)
    with pytest.raises(ValueError, match="invalid setting cell='lstmm'.*lstm, gru"):
        ModelConfig(vocab_size=5, cell="lstmm")
    with pytest.raises(ValueError, match="invalid setting lr=True"):  # a bool is no number
        TrainConfig(lr=True)


def test_the_dataclasses_the_cli_and_the_api_share_one_default_for_every_setting():
    command = cli.commands["train"]
    params = {p.name: p for p in command.params if isinstance(p, click.Option)}
    shown = 0
    for option in cli_options():
        param = params[option.name]
        assert param.default is None  # so the library can tell a value given from one to resolve
        assert param.help == help_text(option)
        assert option.flag in param.opts + param.secondary_opts
        if option.shown_default() is not None and option.default_text is None:
            assert param.help.endswith(f"[default: {option.shown_default()}]")
            shown += 1
    assert shown >= 20
    for cls, options in ((ModelConfig, MODEL_OPTIONS), (TrainConfig, TRAIN_OPTIONS)):
        defaults = {f.name: f.default for f in fields(cls) if f.name != "vocab_size"}
        assert defaults == {o.name: o.default for o in options}
    assert ModelConfig().cell == "gru" and "[default: gru]" in params["cell"].help  # they once disagreed
    assert {o.name for o in TRAIN_OPTIONS if not o.cli} == {"min_lr_ratio", "log_every"}  # API-only, on purpose


def test_the_readme_table_of_training_options_is_the_generated_one():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- train-options -->\n(.*?)\n<!-- /train-options -->", readme, re.S)
    assert block is not None, "README lacks the generated table of training options"
    assert block.group(1) == markdown_table(), "regenerate it: python -c 'import seqgen.config as c; " \
                                               "print(c.markdown_table())'"


@pytest.fixture(scope="module")
def split_text(shakespeare, tmp_path_factory):
    text = shakespeare.read_text(encoding="utf-8")
    folder = tmp_path_factory.mktemp("split")
    (folder / "train.txt").write_text(text[:60_000], encoding="utf-8")
    (folder / "val.txt").write_text(text[-12_000:], encoding="utf-8")
    return folder


def test_val_data_validates_instead_of_the_tail_and_the_checkpoint_records_it(tmp_path, split_text):
    out = tmp_path / "ck"
    result = run("train", split_text / "train.txt", "--val", split_text / "val.txt", "--max-steps", 30,
                 "--eval-every", 30, "--out", out, *TINY)
    assert_clean_exit(result)
    config = json.loads((out / "config.json").read_text())
    data = config["data"]
    assert data["val_inputs"] == [str((split_text / "val.txt").resolve())]
    # every document follows a newline token: all of DATA trains, all of the --val file validates
    assert data["val_tokens"] == 12_001 and data["train_tokens"] == 60_001
    assert config["train"]["val_fraction"] == 0.0 and config["settings_from"]["layers"] == "given"
    assert config["model"] == ModelConfig.from_dict(config["model"]).to_dict()  # stored as the dataclass is
    assert config["train"] == TrainConfig.from_dict(config["train"]).to_dict()
    losses = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert any(r.get("val_loss") is not None for r in losses)

    info = run("info", "-c", out)
    assert_clean_exit(info)
    assert f"validation  --val {(split_text / 'val.txt').resolve()} (12,001 tokens)" in info.stdout

    # a resume keeps validating on the recorded data
    assert_clean_exit(run("train", "--resume", out, "--max-steps", 40, "-q"))
    assert json.loads((out / "config.json").read_text())["data"]["val_tokens"] == 12_001


def test_val_data_errors_are_one_line(tmp_path, split_text):
    assert_clean_error(run("train", split_text / "train.txt", "--val", split_text / "val.txt", "--val-fraction", 0.2,
                           "--out", tmp_path / "a", *TINY), "drop --val-fraction")
    tune = tmp_path / "tune.abc"
    tune.write_text("X:1\nT:t\nM:4/4\nL:1/8\nK:D\ndefg abag|\n")
    assert_clean_error(run("train", split_text / "train.txt", "--val", tune, "--out", tmp_path / "b", *TINY),
                       f"--val {tune}: is music, but the training data is text")
    assert_clean_error(run("train", split_text / "train.txt", "--val", tmp_path / "missing.txt",
                           "--out", tmp_path / "c", *TINY), "missing.txt")
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


def test_the_api_takes_the_same_settings_and_val(tmp_path, split_text):
    result = seqgen.train(split_text / "train.txt", tmp_path / "api", val=split_text / "val.txt", layers=1,
                          hidden=32, embed=16, batch_size=8, seq_len=32, max_steps=20, eval_every=20, device="cpu")
    assert result.final_val_loss is not None
    config = json.loads((tmp_path / "api" / "config.json").read_text())
    assert config["model"]["cell"] == "gru" and config["settings_from"]["cell"] == "library"


def test_info_says_where_settings_came_from(tmp_path, split_text):
    out = tmp_path / "p"
    assert_clean_exit(run("train", split_text / "train.txt", "--preset", "shakespeare-cpu", "--max-steps", 5,
                          "--out", out, *TINY))
    shown = run("info", "-c", out).stdout
    assert "validation  10% of the data held out" in shown
    assert "settings    cell from preset shakespeare-cpu" in shown and "layers from" not in shown  # given
