"""A small run of the coverage harness (benchmarks/coverage.py): intervals must cover."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[1] / "benchmarks" / "coverage.py"


def _harness():
    spec = importlib.util.spec_from_file_location("coverage_harness", HARNESS)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


def test_fairness_intervals_cover_in_a_small_simulation():
    cv = _harness()
    results = cv.run_grid(["small_group"], [500], samples=80, n_boot=100, seed=1, truth_rows=200_000,
                          checks=("fairness",))
    cell = results[("small_group", 500)]
    outside = sum(v[2] for name, v in cell.items() if not name.startswith("fairlearn"))
    assert outside == 0  # a value is always inside its own interval (fairlearn's percentile intervals need not be)
    assert cell["family: any supported gap (every gap of every view)"][4] == 80  # counted once per audit
    pooled = [0, 0]
    for name, (covered, total, *_rest) in cell.items():
        if total and not name.endswith("_plugin") and not name.startswith("fairlearn"):
            pooled[0] += covered
            pooled[1] += total
            # 80 samples at a true 95%: fewer than 85% covered has probability < 0.2%
            assert covered / total >= 0.85, (name, covered, total)
    assert 0.92 <= pooled[0] / pooled[1] <= 0.99, pooled
    # the 5% group (~25 rows at n=500) is left out of the headline gaps, so they are all defined
    assert cell["gap: demographic_parity_difference"][1] == 80


def test_monte_carlo_judgement_of_a_cell():
    cv = _harness()
    # 400 samples: Monte Carlo s.e. ±1.1 points at 95%
    assert cv.judge(380, 400) == "in"
    assert cv.judge(366, 400) == "consistent"  # 91.5%: its Wilson interval (88.4–93.9) meets 93–97
    assert cv.judge(356, 400) == "miss"  # 89.0%: 85.6–91.7
    assert cv.judge(399, 400) == "miss"  # 99.75%: 98.6–100
    assert cv.judge(392, 400) == "consistent"  # 98.0%: 96.1–99.0
    assert cv.judge(183, 200) == "consistent"  # 91.5% of 200 is weaker evidence than of 400
    low, high = cv.monte_carlo_interval(18, 400)  # a null false-positive rate of 4.5%
    assert low < 4.5 < high < 7.5
    results = {("null", 500): {"performance.accuracy": [366, 400, 0, 0, 400], "performance.log_loss": [356, 400, 0, 0, 400],
                               "performance.roc_auc": [380, 400, 0, 0, 400]}}
    text, misses, consistent = cv.table(results)
    assert [m.split(" in ")[0] for m in misses] == ["performance.log_loss"]
    assert [m.split(" in ")[0] for m in consistent] == ["performance.accuracy"]
    assert "**89.0** ✗" in text and "**91.5** |" in text and "| 95.0 |" in text


def test_parallel_workers_count_the_same_samples(tmp_path):
    # a fresh process each: --jobs 2 forks its workers before it starts ONNX Runtime
    args = ["--samples", "6", "--n", "300", "--scenarios", "null", "--bootstrap", "20", "--truth-rows", "20000",
            "--checks", "performance"]
    counts = []
    for jobs in ("1", "2"):
        out = tmp_path / f"jobs{jobs}.json"
        done = subprocess.run([sys.executable, str(HARNESS), *args, "--jobs", jobs, "--save", str(out)],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        counts.append(json.loads(out.read_text(encoding="utf-8"))["cells"])
    assert counts[0] == counts[1]
    assert counts[0]["null@300"]["performance.accuracy"][1] == 6
