"""`--precision auto`: each branch of the decision forced (CPU flags without native bf16; native flags or none,
where the cached probe decides; Arm; CUDA), what is printed and stored, the same losses as the precision it chose,
a resume on other hardware, and the fp32 LSTM fallback where oneDNN has no bf16 LSTM (CPUs below AVX-512)."""

import json
import os
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner
from seqgen.cli.main import cli

import seqgen
from seqgen import models, precision
from seqgen.errors import SeqgenError
from seqgen.models import ModelConfig, SequenceModel
from seqgen.precision import decide
from seqgen.score import score_sequences

CPU = torch.device("cpu")
X86_BF16 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n"
X86_PLAIN = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw\n"
ARM_BF16 = "processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n"
TINY = dict(cell="gru", layers=1, hidden=16, embed=8, batch_size=8, seq_len=32, eval_every=5, device="cpu")


@pytest.fixture
def cpuinfo(tmp_path, monkeypatch):
    """Point the decision at a /proc/cpuinfo written by the test, on a machine whose probe finds bf16 twice as fast
    as fp32 (tests that need another probe set their own)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "probe-cache"))
    monkeypatch.setattr(precision, "_time_step", lambda p: {"fp32": 2.0, "bf16": 1.0}[p])

    def write(text: str | None) -> None:
        path = tmp_path / "cpuinfo"
        if text is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(text)
        monkeypatch.setattr(precision, "CPUINFO", path)
    return write


def test_auto_takes_bf16_where_the_cpu_reports_native_bf16_and_it_measures_faster(cpuinfo):
    cpuinfo(X86_BF16)
    d = decide("auto", CPU)
    assert (d.chosen, d.warning) == ("bf16", None)
    assert d.note() == "precision bf16 (auto: the CPU reports avx512_bf16; a measured bf16 step ran 2.00x fp32)"
    cpuinfo(ARM_BF16)
    assert decide("auto", CPU).chosen == "bf16"
    assert "bf16" in decide("auto", CPU).reason


def test_native_flags_alone_do_not_choose_bf16_where_it_measures_slower(cpuinfo, monkeypatch):
    """A CPU that reports avx512_bf16 yet runs bf16 autocast slower than fp32 (a 2-core Intel Xeon trained a GRU at
    0.45x the fp32 speed) trains in fp32, and an explicit bf16 there warns."""
    monkeypatch.setattr(precision, "_time_step", lambda p: {"fp32": 1.0, "bf16": 1.25}[p])
    cpuinfo(X86_BF16)
    d = decide("auto", CPU)
    assert d.chosen == "fp32" and d.reason == "the CPU reports avx512_bf16; a measured bf16 step ran 0.80x fp32"
    assert "slower than fp32" in decide("bf16", CPU).warning


def test_auto_takes_fp32_without_native_bf16_and_an_explicit_bf16_warns(cpuinfo):
    cpuinfo(X86_PLAIN)
    d = decide("auto", CPU)
    assert (d.chosen, d.warning) == ("fp32", None)
    assert "no avx512_bf16, amx_bf16 in" in d.note()
    forced = decide("bf16", CPU)
    assert forced.chosen == "bf16"  # it still runs as asked ...
    assert "emulated" in forced.warning and "slower" in forced.warning  # ... with the reason it will be slow
    asked_fp32 = decide("fp32", CPU)
    assert (asked_fp32.chosen, asked_fp32.reason) == ("fp32", "as asked")


def test_without_cpu_flags_a_measured_probe_decides_once_per_machine(cpuinfo, tmp_path, monkeypatch):
    cpuinfo(None)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    timed = []
    monkeypatch.setattr(precision, "_time_step", lambda p: timed.append(p) or {"fp32": 2.0, "bf16": 1.0}[p])
    d = decide("auto", CPU)
    assert d.chosen == "bf16" and "2.00x fp32" in d.reason
    assert timed == ["fp32", "bf16"]
    assert (tmp_path / "cache" / "seqgen" / "precision-probe.json").is_file()
    monkeypatch.setattr(precision, "_time_step", lambda p: pytest.fail("the cached probe was measured again"))
    assert decide("auto", CPU).chosen == "bf16"

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "other-cache"))  # a slower bf16 on another machine
    monkeypatch.setattr(precision, "_time_step", lambda p: {"fp32": 1.0, "bf16": 2.8}[p])
    assert decide("auto", CPU).chosen == "fp32"


def test_fp16_is_refused_on_a_cpu_by_training_and_by_scoring(tmp_path, shakespeare):
    with pytest.raises(SeqgenError, match="fp16 runs on CUDA GPUs only"):
        decide("fp16", CPU)
    model = SequenceModel(ModelConfig(vocab_size=5, cell="gru", layers=1, hidden=8, embed=4))
    with pytest.raises(SeqgenError, match="fp16"):  # it used to score in fp32 without a word
        score_sequences(model, [[1, 2, 3]], precision="fp16")
    with pytest.raises(SeqgenError, match="fp16"):
        seqgen.train(shakespeare, tmp_path / "ck", max_steps=2, precision="fp16", **TINY)
    assert not (tmp_path / "ck").exists()


@pytest.mark.parametrize("native, bf16_units, major, chosen", [
    (True, True, 8, "bf16"), (False, True, 7, "fp16"), (False, False, 6, "fp32")])
def test_auto_on_cuda_follows_the_gpus_units(monkeypatch, native, bf16_units, major, chosen):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=None: "a test GPU")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: (major, 0))
    monkeypatch.setattr(torch.cuda, "is_bf16_supported",
                        lambda including_emulation=True: native or (including_emulation and bf16_units))
    cuda = torch.device("cuda")
    d = decide("auto", cuda)
    assert d.chosen == chosen and "a test GPU" in d.reason
    assert decide("fp16", cuda).chosen == "fp16"
    if not bf16_units:
        with pytest.raises(SeqgenError, match="no bfloat16 support"):
            decide("bf16", cuda)
    elif not native:
        assert "emulated" in decide("bf16", cuda).warning


@pytest.mark.parametrize("flags, chosen", [(X86_BF16, "bf16"), (X86_PLAIN, "fp32")])
def test_auto_trains_exactly_as_the_precision_it_chose(cpuinfo, tmp_path, shakespeare, flags, chosen):
    cpuinfo(flags)
    auto = seqgen.train(shakespeare, tmp_path / "auto", max_steps=10, seed=3, precision="auto", **TINY)
    same = seqgen.train(shakespeare, tmp_path / "same", max_steps=10, seed=3, precision=chosen, **TINY)
    assert auto.final_train_loss == same.final_train_loss and auto.final_val_loss == same.final_val_loss
    stored = json.loads((tmp_path / "auto" / "config.json").read_text())
    assert stored["train"]["precision"] == "auto"
    assert stored["precision"]["asked"] == "auto" and stored["precision"]["chosen"] == chosen


def test_train_prints_the_choice_once_and_a_resume_elsewhere_says_what_changed(cpuinfo, tmp_path, shakespeare):
    cpuinfo(X86_BF16)
    args = ["train", str(shakespeare), "--out", str(tmp_path / "ck"), "--cell", "gru", "--layers", "1",
            "--hidden", "16", "--embed", "8", "-b", "8", "-t", "32", "--max-steps", "5", "--device", "cpu"]
    r = CliRunner().invoke(cli, [*args, "-q"])
    assert r.exit_code == 0 and r.exception is None and "precision" not in r.stderr, r.stderr  # quiet is quiet
    r = CliRunner().invoke(cli, [*args, "--overwrite"])
    assert r.exit_code == 0 and r.exception is None, r.output
    lines = [ln for ln in r.stderr.splitlines() if "precision" in ln]
    assert lines == ["precision bf16 (auto: the CPU reports avx512_bf16; a measured bf16 step ran 2.00x fp32)"], \
        r.stderr

    cpuinfo(X86_PLAIN)  # the same run resumed on a machine without bf16 units
    r = CliRunner().invoke(cli, ["train", "--resume", str(tmp_path / "ck"), "--max-steps", "8", "--device", "cpu"])
    assert r.exit_code == 0 and r.exception is None, r.output
    lines = [ln for ln in r.stderr.splitlines() if "precision" in ln]
    assert len(lines) == 1 and lines[0].startswith("precision fp32 (auto: no avx512_bf16"), r.stderr
    assert lines[0].endswith("changed: until this resume the run trained in bf16"), lines
    config = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert config["train"]["precision"] == "auto" and config["precision"]["chosen"] == "fp32"

    r = CliRunner().invoke(cli, ["train", "--resume", str(tmp_path / "ck"), "--max-steps", "10", "-q",
                                 "--device", "cpu", "--precision", "bf16"])
    assert r.exit_code == 0 and r.exception is None, r.output
    warnings = [ln for ln in r.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and "emulated or slow here and usually slower than fp32" in warnings[0], r.stderr


def test_score_warns_once_about_an_emulated_bf16(cpuinfo, tmp_path, shakespeare):
    seqgen.train(shakespeare, tmp_path / "ck", max_steps=3, **TINY)
    cpuinfo(X86_PLAIN)
    r = CliRunner().invoke(cli, ["score", "-c", str(tmp_path / "ck"), "to be", "--precision", "bf16"])
    assert r.exit_code == 0 and r.exception is None, r.output
    assert r.stderr.count("warning:") == 1 and "emulated" in r.stderr, r.stderr
    r = CliRunner().invoke(cli, ["score", "-c", str(tmp_path / "ck"), "to be"])  # auto: fp32 here, no warning
    assert r.exit_code == 0 and r.exception is None and r.stderr == "", r.stderr


def test_an_lstm_runs_in_fp32_under_bf16_autocast_where_onednn_has_no_bf16_lstm(monkeypatch):
    monkeypatch.setattr(models, "cpu_lstm_runs_bf16", lambda: False)
    torch.manual_seed(0)
    model = SequenceModel(ModelConfig(vocab_size=12, cell="lstm", layers=2, hidden=16, embed=8)).eval()
    x = torch.randint(0, 12, (3, 10))
    exact, _ = model(x)
    with precision.autocast(CPU, "bf16"):
        logits, (h, c) = model(x)
    assert h.dtype == c.dtype == torch.float32  # the recurrent layers ran outside autocast
    assert logits.dtype == torch.bfloat16  # the output layer still ran in bf16
    torch.testing.assert_close(logits.float(), exact, atol=0.05, rtol=0.05)


def test_bf16_lstm_training_runs_where_onednn_is_limited_to_avx2(tmp_path):
    """The real failure: oneDNN capped at AVX2 has no bf16 LSTM primitive, and autocast used to crash on it."""
    code = ("import torch; from seqgen.models import ModelConfig, SequenceModel; "
            "from seqgen.precision import autocast, cpu_lstm_runs_bf16; "
            "m = SequenceModel(ModelConfig(vocab_size=12, cell='lstm', layers=1, hidden=16, embed=8)); "
            "x = torch.randint(0, 12, (2, 6)); ctx = autocast(torch.device('cpu'), 'bf16'); ctx.__enter__(); "
            "y, _ = m(x); ctx.__exit__(None, None, None); y.float().sum().backward(); "
            "print(cpu_lstm_runs_bf16(), y.dtype)")
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "torch.bfloat16"], r.stdout
