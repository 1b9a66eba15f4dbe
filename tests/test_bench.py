"""The benchmark script keeps working: a very short run on the bundled text prints its three figures."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_benchmark_prints_all_figures(shakespeare):
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--text", str(shakespeare), "--cell", "gru",
           "--hidden", "32", "--layers", "1", "--batch", "8", "--seq-len", "16", "--seconds", "0.3", "--no-reference"]
    out = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    figures = out["seqgen"]
    for key in ("train_tokens_per_s", "sample_steps_per_s", "score_sequences_per_s", "peak_rss_mb"):
        assert figures[key] > 0, key
    assert out["config"]["cell"] == "gru" and "reference" not in out
