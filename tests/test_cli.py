"""End-to-end command-line tests through click's runner, plus the installed entry points."""

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import assert_clean_error, assert_clean_exit, assert_clean_process_error
from seqgen.cli.main import cli

TINY = ["--cell", "gru", "--layers", "1", "--hidden", "32", "--embed", "16", "-b", "8", "-t", "32", "-q"]


def run(*args, input=None):
    result = CliRunner().invoke(cli, [str(a) for a in args], input=input)
    return result


def test_train_sample_score_info_end_to_end(tmp_path, shakespeare, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run("train", shakespeare, *TINY, "--max-steps", 40, "--eval-every", 20)
    assert_clean_exit(r)
    assert "checkpoint: checkpoints/shakespeare-60k-gru" in r.stdout
    assert "validation loss:" in r.stdout and "nats/token" in r.stdout

    a = run("sample", "--num", 2, "--length", 50, "--seed", 4)
    assert a.exit_code == 0 and a.stdout == run("sample", "--num", 2, "--length", 50, "--seed", 4).stdout
    assert "==> sample 1/2 <==" in a.stdout and "==> sample 2/2 <==" in a.stdout
    out = run("sample", "--num", 3, "--length", 20, "--seed", 1, "--json").stdout
    js = [json.loads(line) for line in out.splitlines()]
    assert [j["index"] for j in js] == [1, 2, 3] and all(j["seed"] == 1 for j in js)
    fast = run("sample", "--length", 50, "--seed", 4, "--int8")
    assert fast.exit_code == 0 and len(fast.stdout.rstrip("\n")) == 50

    s = run("score", "The king is here.", "eht gikn si ereh.", "--json", "--per-token")
    rows = [json.loads(line) for line in s.stdout.splitlines()]
    assert len(rows) == 2
    for row in rows:
        assert {"text", "tokens", "logprob", "log10prob", "perplexity", "bits_per_token", "token_logprobs"} <= set(row)
        assert row["tokens"] == len(row["token_logprobs"]) == 17
    half = [json.loads(line) for line in run("score", "The king is here.", "--json", "--precision", "bf16").stdout
            .splitlines()]
    assert abs(half[0]["logprob"] - rows[0]["logprob"]) < 0.02 * abs(rows[0]["logprob"])
    lines = tmp_path / "lines.txt"
    lines.write_text("First line\n\nSecond line\n")
    assert len(run("score", "--file", lines, "--json").stdout.splitlines()) == 2
    assert len(run("score", "--file", "-", "--json", input="one\ntwo\nthree\n").stdout.splitlines()) == 3
    assert len(run("score", "--file", lines, "--document", "--json").stdout.splitlines()) == 1

    info = json.loads(run("info", "--json").stdout)
    assert info["domain"] == "text" and info["progress"]["step"] == 40 and info["model"]["cell"] == "gru"
    text = run("info").stdout
    assert "best val" in text and "parameters" in text

    again = run("train", "--resume", "checkpoints/shakespeare-60k-gru", "--max-steps", 50, "-q")
    assert_clean_exit(again)
    assert json.loads(run("info", "--json").stdout)["progress"]["step"] == 50


@pytest.fixture
def ckpt_args(trained):
    return ["-c", trained]


def test_bad_sampling_options(ckpt_args):
    assert_clean_error(run("sample", *ckpt_args, "--temperature", "-1"), "--temperature")
    assert_clean_error(run("sample", *ckpt_args, "--top-p", "1.5"), "--top-p", "1.5")
    assert_clean_error(run("sample", *ckpt_args, "--prime", "Zürich ☃"), "--prime", "'ü'", "'☃'")


def test_bad_checkpoints(tmp_path, trained, monkeypatch):
    assert_clean_error(run("sample", "-c", tmp_path / "missing"), "missing: no such checkpoint folder")
    (tmp_path / "plain").mkdir()
    assert_clean_error(run("info", "-c", tmp_path / "plain"), "plain: not a seqgen checkpoint")
    cut = tmp_path / "cut"
    cut.mkdir()
    (cut / "config.json").write_text((trained / "config.json").read_text())
    (cut / "model.safetensors").write_bytes((trained / "model.safetensors").read_bytes()[:1000])
    assert_clean_error(run("score", "-c", cut, "hello"), "model.safetensors: damaged or truncated")
    monkeypatch.chdir(tmp_path)
    # no checkpoint of the user's: the shipped folk model stands in, and says so (then asks where its music goes)
    r = run("sample")
    assert r.exit_code == 1 and isinstance(r.exception, SystemExit), r.stderr
    assert "using the shipped model 'folk'" in r.stderr and "is a music model: give --midi" in r.stderr


def test_bad_training_data_leaves_nothing_behind(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_clean_error(run("train", "nope.txt", *TINY), "nope.txt: no such file or folder")
    (tmp_path / "empty.txt").write_text("")
    assert_clean_error(run("train", "empty.txt", *TINY), "empty.txt", "no text to train on")
    (tmp_path / "latin1.txt").write_bytes("na\xefve caf\xe9\n".encode("latin-1"))
    assert_clean_error(run("train", "latin1.txt", *TINY), "latin1.txt: not UTF-8")
    (tmp_path / "emptydir").mkdir()
    assert_clean_error(run("train", "emptydir", *TINY), "emptydir: the folder holds no files")
    assert_clean_error(run("train", "empty.txt", "--cell", "transformer"), "--cell")
    assert not (tmp_path / "checkpoints").exists()  # nothing half-written


def test_existing_output_is_not_overwritten_by_accident(tmp_path, shakespeare, trained):
    assert_clean_error(run("train", shakespeare, "--out", trained, *TINY), "already exists")
    assert_clean_error(run("train", "--resume", tmp_path, *TINY[:2]), "not a seqgen checkpoint")


def test_score_needs_input(ckpt_args):
    assert_clean_error(run("score", *ckpt_args), "nothing to score")
    assert_clean_error(run("score", *ckpt_args, "--file", "absent.txt"), "absent.txt")


def test_default_training_data_is_the_folk_music_corpus(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEQGEN_CACHE", str(tmp_path / "cache"))
    r = run("train", *TINY, "--max-files", 3, "--max-steps", 3, "--eval-every", 3)
    assert_clean_exit(r)
    info = json.loads(run("info", "--json").stdout)
    assert info["domain"] == "music" and info["data"]["inputs"] == ["folk"] and info["data"]["max_files"] == 3
    assert info["data"]["documents"] >= 3 and info["path"].endswith("folk-gru")


@pytest.mark.slow
def test_module_and_console_script_entry_points():
    out = subprocess.run([sys.executable, "-m", "seqgen", "--help"], capture_output=True, text=True, check=True)
    assert "train" in out.stdout and "sample" in out.stdout and "score" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "seqgen", "sample", "--top-p", "1.5"], capture_output=True, text=True)
    assert bad.returncode == 2
    assert_clean_process_error(bad, "--top-p", "1.5")


def test_unusable_device_and_output_paths(tmp_path, shakespeare):
    import torch

    if not torch.cuda.is_available():
        result = run("train", shakespeare, *TINY, "--device", "cuda", "--out", tmp_path / "c")
        assert_clean_error(result, "--device cuda")
        assert not (tmp_path / "c").exists()
    (tmp_path / "file").write_text("x")
    assert_clean_error(run("train", shakespeare, *TINY, "--out", tmp_path / "file"), "is a file")
    ckpt = tmp_path / "half"
    assert_clean_exit(run("train", shakespeare, *TINY, "--max-steps", 2, "--out", ckpt))
    (ckpt / "trainer.pt").write_bytes((ckpt / "trainer.pt").read_bytes()[:100])
    assert_clean_error(run("train", "--resume", ckpt, "-q"), "trainer.pt: damaged trainer state")


def test_failed_runs_leave_nothing_and_overwrite_keeps_the_old_checkpoint_until_a_new_one_exists(
        tmp_path, shakespeare, trained):
    import shutil

    out = tmp_path / "diverge"
    assert_clean_error(run("train", shakespeare, *TINY, "--lr", "1e30", "--out", out), "diverged", "nothing was saved")
    assert not out.exists()
    old = tmp_path / "old"
    shutil.copytree(trained, old)
    before = (old / "model.safetensors").read_bytes()
    assert_clean_error(run("train", shakespeare, *TINY, "--lr", "1e30", "--out", old, "--overwrite"), "diverged")
    assert (old / "model.safetensors").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    ok = run("train", shakespeare, *TINY, "--max-steps", 2, "--out", old, "--overwrite")
    assert ok.exit_code == 0 and (old / "model.safetensors").read_bytes() != before


def test_damaged_configs_and_trainer_states_fail_cleanly(tmp_path, trained):
    import shutil

    import torch

    good = json.loads((trained / "config.json").read_text())
    damages = {
        "version": {**good, "format_version": "2"},
        "model": {**good, "model": []},
        "codec": {**good, "codec": "x"},
        "vocab": {**good, "codec": {**good["codec"], "chars": good["codec"]["chars"][:-5]}},
    }
    for name, config in damages.items():
        folder = tmp_path / name
        shutil.copytree(trained, folder)
        (folder / "config.json").write_text(json.dumps(config))
        assert_clean_error(run("info", "-c", folder), "damaged checkpoint config")
    folder = tmp_path / "state"
    shutil.copytree(trained, folder)
    torch.save({}, folder / "trainer.pt")
    assert_clean_error(run("train", "--resume", folder, "--max-steps", 999), "damaged trainer state")


def test_resume_budgets_batch_shape_and_refused_options(tmp_path, shakespeare):
    ckpt = tmp_path / "run"
    assert_clean_exit(run("train", shakespeare, *TINY, "--epochs", "0.02", "--out", ckpt))
    step = json.loads((ckpt / "config.json").read_text())["progress"]["step"]
    assert_clean_error(run("train", "--resume", ckpt), "meets its budget", "--epochs 0.02")
    assert_clean_error(run("train", "--resume", ckpt, "--out", tmp_path / "x"), "drop --out")
    more = run("train", "--resume", ckpt, "--max-steps", step + 5, "-b", 4, "-q")  # new budget, new batch shape
    assert_clean_exit(more)
    config = json.loads((ckpt / "config.json").read_text())
    assert config["progress"]["step"] == step + 5 and config["train"]["epochs"] is None


def test_temperature_edge_cases_and_stdin_encoding(trained):
    assert_clean_error(run("sample", "-c", trained, "-T", "nan"), "temperature")
    assert_clean_error(run("sample", "-c", trained, "-T", "inf"), "temperature")
    tiny = run("sample", "-c", trained, "-T", "1e-40", "--length", 40, "--seed", 1).stdout
    assert tiny and tiny == run("sample", "-c", trained, "-T", "0", "--length", 40).stdout
    result = CliRunner().invoke(cli, ["score", "-c", str(trained), "--file", "-"], input=b"\xff\xfeabc\n")
    assert_clean_error(result, "standard input: not UTF-8")


def test_help_without_arguments_and_unknown_commands():
    r = run()
    assert r.exit_code == 0 and "Commands:" in r.stdout
    assert_clean_error(run("bogus"), "bogus", "(see: seqgen --help)")


def test_data_paths_with_glob_characters_and_folders_holding_checkpoints(tmp_path, shakespeare, monkeypatch):
    import shutil

    monkeypatch.chdir(tmp_path)
    shutil.copy(shakespeare, tmp_path / "plays[1].txt")
    assert_clean_exit(run("train", "plays[1].txt", *TINY, "--max-steps", 2))
    assert_clean_exit(run("train", ".", *TINY, "--max-steps", 2))  # ./checkpoints/* is not training data
    info = json.loads(run("info", "--json").stdout)
    assert info["data"]["documents"] == 1
    (tmp_path / "books").mkdir()
    shutil.copy(shakespeare, tmp_path / "books" / "a.txt")
    r = run("train", "books/*.txt", *TINY, "--max-steps", 2)
    assert "checkpoint: checkpoints/books-gru" in r.stdout


def console_script(*args: str, cwd) -> subprocess.CompletedProcess:
    """The installed `seqgen` script beside this interpreter, importing this checkout's code."""
    script = Path(sys.executable).parent / "seqgen"
    if not script.is_file():
        pytest.skip(f"no installed console script at {script} (pip install -e . puts it there)")
    root = str(Path(__file__).resolve().parents[1])  # this checkout, ahead of wherever the package is installed from
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    return subprocess.run([str(script), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def test_the_installed_seqgen_command_helps_and_fails_in_one_line(tmp_path):
    helped = console_script("--help", cwd=tmp_path)
    assert helped.returncode == 0 and helped.stderr == "", helped.stderr
    assert helped.stdout.startswith("Usage: seqgen [OPTIONS] COMMAND [ARGS]..."), helped.stdout
    commands = helped.stdout.split("Commands:")[1].split()
    assert {"train", "sample", "score", "info", "plot", "datasets"} <= set(commands), helped.stdout
    bad = console_script("train", "missing.txt", cwd=tmp_path)
    assert bad.returncode == 1 and bad.stdout == "", bad.stdout
    assert_clean_process_error(bad, "missing.txt: no such file or folder")
    assert not (tmp_path / "checkpoints").exists()
    usage = console_script("sample", "--top-p", "1.5", cwd=tmp_path)
    assert usage.returncode == 2
    assert_clean_process_error(usage, "--top-p", "1.5", "(see: seqgen sample --help)")


def test_the_command_line_installs_as_seqgen_cli_and_a_users_cli_folder_changes_nothing(tmp_path):
    root = Path(__file__).resolve().parents[1]
    setup = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setup["package-dir"] == {"seqgen.cli": "cli", "seqgen.shipped": "checkpoints"}
    folders = {".".join(p.parent.relative_to(root).parts) for p in (root / "seqgen").rglob("__init__.py")}
    assert set(setup["packages"]) == folders and not any(p.split(".")[0] == "cli" for p in setup["packages"])
    assert "cli" not in sys.modules and sys.modules["seqgen.cli.main"].__file__ == str(root / "cli" / "main.py")
    (tmp_path / "cli").mkdir()  # a user's own cli/ package in the working directory, first on sys.path under -m
    for name in ("__init__.py", "main.py"):
        (tmp_path / "cli" / name).write_text("raise SystemExit('the user cli/ folder was imported')\n")
    env = {**os.environ, "PYTHONPATH": str(root)}
    r = subprocess.run([sys.executable, "-m", "seqgen", "--help"], capture_output=True, text=True, cwd=tmp_path,
                       env=env, timeout=120)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert r.stdout.startswith("Usage: seqgen [OPTIONS] COMMAND [ARGS]..."), r.stdout


HEAVY = ("torch", "matplotlib", "music21", "librosa", "pretty_midi")


def _imported_modules(*args: str) -> set[str]:
    """The modules `python -X importtime -m seqgen ARGS` imported, read from its importtime lines on stderr."""
    root = str(Path(__file__).resolve().parents[1])
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "seqgen", *args], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": root}, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = [line for line in r.stderr.splitlines() if line.startswith("import time:")]
    assert len(lines) > 10 and "seqgen.cli.main" in r.stderr, r.stderr[-2000:]
    return {line.rsplit("|", 1)[1].strip() for line in lines}


@pytest.mark.parametrize("args", [("--help",), ("train", "--help"), ("datasets", "list")])
def test_help_and_corpus_list_import_neither_torch_nor_the_music_and_plotting_libraries(args):
    modules = _imported_modules(*args)
    assert {"seqgen.cli.train", "seqgen.cli.datasets"} <= modules
    assert not {m for m in modules if m.split(".")[0] in HEAVY}, sorted(m for m in modules if m.split(".")[0] in HEAVY)


def test_import_seqgen_loads_no_music_waveform_or_plotting_library():
    code = ("import sys, seqgen; print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'matplotlib', 'music21', 'librosa', 'pretty_midi')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert r.returncode == 0 and r.stdout.strip() == "[]", (r.stdout, r.stderr)
    code = "import sys, seqgen; seqgen.load; print('torch' in sys.modules, callable(seqgen.train), seqgen.__all__)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert r.returncode == 0 and r.stdout.startswith("True True"), r.stderr  # the API is there when asked for
