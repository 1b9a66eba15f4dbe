"""The benchmark script keeps working: a very short run on the bundled text prints its three figures."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_benchmark_prints_all_figures(shakespeare):
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--text", str(shakespeare), "--cell", "gru",
           "--hidden", "32", "--layers", "1", "--batch", "8", "--seq-len", "16", "--seconds", "0.3", "--no-reference"]
    out = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    figures = out["seqgen"]
    for key in ("train_tokens_per_s", "sample_steps_per_s", "sample_int8_steps_per_s", "score_sequences_per_s",
                "peak_rss_mb"):
        assert figures[key] > 0, key
    assert out["config"]["cell"] == "gru" and "reference" not in out
    auto = figures["auto"]
    assert auto["chose"] in ("fp32", "bf16") and auto["because"]
    assert auto["train_tokens_per_s"] > 0 and auto["score_sequences_per_s"] > 0
    # auto trains exactly as the precision it chose: same weights, same windows, same steps
    assert auto["train_loss_nats"] == figures["train_loss_nats" if auto["chose"] == "fp32" else "train_bf16_loss_nats"]


def test_benchmark_says_on_stderr_when_the_yardstick_is_missing(shakespeare, tmp_path):
    missing = tmp_path / "reference.py"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--text", str(shakespeare), "--cell", "gru",
           "--hidden", "16", "--layers", "1", "--batch", "4", "--seq-len", "8", "--seconds", "0.1",
           "--reference", str(missing)]
    run = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert f"no yardstick at {missing}" in run.stderr, run.stderr
    assert "reference" not in json.loads(run.stdout)


def _baseline_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("music_baseline", ROOT / "benchmarks" / "music_baseline.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_kneser_ney_baseline_is_a_distribution_and_learns_a_pattern():
    mb = _baseline_module()
    train = [[0, 5, 6, 7, 5, 6, 7, 5, 6, 7, 1]] * 20 + [[0, 7, 6, 5, 1]]
    kn = mb.KneserNey(train, order=3, vocab=10)
    for history in [(), (0,), (5, 6), (9, 9), (mb.PAD, 0)]:
        assert sum(kn.prob(history, w) for w in range(10)) == pytest.approx(1.0, abs=1e-9)
    assert kn.prob((5, 6), 7) > 0.9 and kn.prob((5, 6), 5) < 0.05
    assert kn.nll([[0, 5, 6, 7, 1]]) < mb.unigram_nll(train, [[0, 5, 6, 7, 1]], 10)


def test_music_baseline_scores_the_held_out_pieces_per_note_and_second(tmp_path, monkeypatch):
    """Ten one-scale tunes in ten keys: two are held out; the figures are per note and second of those two."""
    from test_music_train import write_tune

    import seqgen
    from seqgen.score import LN2

    monkeypatch.setenv("SEQGEN_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "tunes"
    data.mkdir()
    for key in range(10):
        write_tune(data / f"tune{key}.mid", key - 4)  # 64 notes of 0.2 s each
    out = tmp_path / "model"
    seqgen.train(data, out, max_steps=40, cell="gru", layers=1, hidden=32, batch_size=4, seq_len=32, eval_every=40,
                 codec="performance", val_fraction=0.2, device="cpu")
    mb = _baseline_module()
    r = mb.measure(str(out), order=3)
    assert r["val_pieces"] == 2 and r["train_pieces"] == 8
    assert r["val_notes"] == 128 and r["val_seconds"] == pytest.approx(25.6, abs=0.05)
    for name, nll in r["nll_per_event"].items():
        assert r["bits_per_note"][name] == pytest.approx(nll * r["val_events"] / 128 / LN2, abs=1e-3)
        assert r["bits_per_second"][name] == pytest.approx(nll * r["val_events"] / 25.6 / LN2, abs=0.05)
    # the same scale in every key: an n-gram of three events knows far more than event frequencies do
    assert r["nll_per_event"]["kneser_ney_3"] < r["nll_per_event"]["unigram"] - 0.5
    table = mb.table([r], 3)
    assert table.splitlines()[2].startswith(f"| {out} | 2 | 128 |")


def test_half_precision_check_measures_both_losses_on_the_held_out_stream(trained):
    import importlib.util

    spec = importlib.util.spec_from_file_location("half_precision", ROOT / "benchmarks" / "half_precision.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    r = module.losses(str(trained))
    assert r["val_tokens"] > 1000 and 0 < r["fp32_nats_per_token"] < 5
    assert abs(r["difference"]) < 0.005  # a small character model loses nothing measurable in 16 bits
