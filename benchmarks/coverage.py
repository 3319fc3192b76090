"""Coverage of every interval the performance and fairness checks write, measured by simulation.

A population whose true values are known (a logistic ONNX model on two Gaussian features,
a group attribute, labels drawn from a known logistic law) is sampled ``--samples`` times
per cell of a grid (scenario × n). Each sample goes through the public API
(``ae.load_model`` / ``ae.audit``, checks performance + fairness) and every interval in
its audit.json is compared with the true value:

- coverage: the share of samples whose interval holds the truth (goal 93–97%);
- point-inside violations: values outside their own interval (goal 0);
- null false-positive rate: under no disparity, the share of samples whose disparity test
  says "supports a gap" (goal <= 5%).

Monte Carlo error (Morris, White & Crowther 2019, "Using simulation studies to evaluate
statistical methods", Stat Med 38:2074–2102, §5.2 and Table 6): a coverage estimated from
S samples has standard error sqrt(p(1 − p)/S), ±1.1 points for a true 95% at S = 400, so
even a perfect interval shows a point estimate outside 93–97% in about 7% of cells. Each
cell is therefore judged by the Wilson 95% interval of its coverage estimate: it *misses*
only when that interval lies wholly outside [93, 97]; a point estimate outside 93–97 whose
interval still meets [93, 97] is *consistent with the goal given the Monte Carlo error*.
The null false-positive rates carry their Wilson intervals likewise.

True values: per-group rates and performance metrics from one audit of a huge sample
(``--truth-rows``, default 2,000,000, no intervals); exact where known — under the null
every group has the pooled rates, so gaps are 0 and ratios 1; for the calibrated model the
calibration errors are 0. A headline gap's truth is taken over the groups that the sample's
audit kept (small groups are left out of headline gaps by design).

Run: ``python benchmarks/coverage.py`` (400 samples per cell; ``--write`` puts the table
into BENCHMARKS.md between the coverage markers).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
import zlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pandas as pd
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import audit_engine as ae  # noqa: E402
from statsmodels.stats.proportion import proportion_confint  # noqa: E402
from audit_engine.fairness.metrics import gap_metrics  # noqa: E402

WEIGHTS = np.array([1.0, -0.8])
BEGIN = "<!-- coverage:begin (written by benchmarks/coverage.py --write) -->"
END = "<!-- coverage:end -->"


@dataclass(frozen=True)
class Scenario:
    """Groups with ``shares``; feature x1 shifted by ``shift`` per group; truth logit = slope · model logit + offset."""

    name: str
    shares: tuple[float, ...]
    shift: tuple[float, ...]
    slope: float = 1.4
    offset: float = 0.3
    null: bool = False  # no disparity of any rate: group independent of (x, y)
    second: tuple[float, ...] | None = None  # shares of a second attribute ("sex"), independent of everything

    @property
    def calibrated(self) -> bool:
        return self.slope == 1.0 and self.offset == 0.0


COMPAS_RACE = (0.51, 0.34, 0.08, 0.045, 0.008, 0.0055)  # shares of COMPAS's six race groups, unbalanced
TEN = (0.30, 0.22, 0.15, 0.10, 0.08, 0.05, 0.035, 0.03, 0.02, 0.015)  # several groups of 10–30 rows at n = 800
# selection = P(x1 − 0.8 x2 ≥ 0) = Φ(shift / 1.28): shifts for selection rates 0.03, 0.97 and a rare 0.06 / 0.0406 / 0.0404
_SEL = {0.03: -2.408, 0.97: 2.408, 0.06: -1.990, 0.0406: -2.232, 0.0404: -2.236}
SCENARIOS = {
    "null": Scenario("null", (0.5, 0.5), (0.0, 0.0), null=True),
    "disparity": Scenario("disparity", (0.6, 0.4), (0.0, 0.6)),
    "small_group": Scenario("small_group", (0.6, 0.35, 0.05), (0.0, 0.0, 0.6)),
    "calibrated": Scenario("calibrated", (0.5, 0.5), (0.0, 0.0), slope=1.0, offset=0.0, null=True),
    # issue 23's worlds
    "six_groups": Scenario("six_groups", COMPAS_RACE, (0.0, 0.4, 0.2, 0.4, 0.0, 0.3)),
    "ten_groups": Scenario("ten_groups", TEN, (0.0, 0.5, 0.0, 0.5, 0.0, 0.5, 0.0, 0.5, 0.25, 0.25)),
    "extreme_rates": Scenario("extreme_rates", (0.4, 0.3, 0.3), (_SEL[0.03], _SEL[0.03] + 0.25, _SEL[0.97])),
    "rare_tied": Scenario("rare_tied", (0.5, 0.25, 0.25), (_SEL[0.06], _SEL[0.0406], _SEL[0.0404])),
    "three_groups": Scenario("three_groups", (0.5, 0.3, 0.2), (0.0, 0.3, 0.6)),
    "multi_null": Scenario("multi_null", COMPAS_RACE, (0.0,) * 6, null=True, second=(0.8, 0.2)),
}
LABELS = tuple("abcdefghij")
SEX = ("M", "F")
# the cells of the published grid: every scenario at its own sample sizes
CELLS = {"null": (500, 5000), "disparity": (500, 5000), "small_group": (500, 5000), "calibrated": (500, 5000),
         "six_groups": (1000, 7000), "ten_groups": (800,), "extreme_rates": (2000,), "rare_tied": (2000,),
         "three_groups": (200,), "multi_null": (1000,)}


def logistic_onnx(path: Path) -> Path:
    """p(1) = sigmoid(x · WEIGHTS) as a [N, 2] probability output (float32)."""
    w = WEIGHTS.astype(np.float32).reshape(-1, 1)
    nodes = [
        helper.make_node("MatMul", ["input", "W"], ["z"]),
        helper.make_node("Mul", ["z", "zero_scalar"], ["zero"]),
        helper.make_node("Concat", ["zero", "z"], ["logits2"], axis=1),
        helper.make_node("Softmax", ["logits2"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes, "logistic", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2])],
        initializer=[numpy_helper.from_array(w, "W"), numpy_helper.from_array(np.zeros(1, np.float32), "zero_scalar")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="coverage")
    model.ir_version = 9  # readable by every onnxruntime this project supports
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


def sample(sc: Scenario, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """n rows of the scenario's population: x1, x2, group, y."""
    g = rng.choice(len(sc.shares), size=n, p=np.asarray(sc.shares) / sum(sc.shares))
    x = rng.standard_normal((n, 2))
    x[:, 0] += np.asarray(sc.shift)[g]
    p = 1.0 / (1.0 + np.exp(-(sc.slope * (x @ WEIGHTS) + sc.offset)))
    y = (rng.random(n) < p).astype(int)
    frame = pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "group": np.asarray(LABELS)[g], "y": y})
    if sc.second is not None:
        frame["sex"] = np.asarray(SEX)[rng.choice(len(sc.second), size=n, p=np.asarray(sc.second))]
    return frame


def config(seed: int, n_boot: int, *, truth: bool = False,
           checks: tuple[str, ...] = ("performance", "fairness"), second: bool = False) -> ae.AuditConfig:
    fairness: dict[str, Any] = {"sweep": False}
    if truth:
        fairness.update(min_group_size=1, min_class_rows=1)
    return ae.AuditConfig(seed=seed, target="y", sensitive=("group", "sex") if second else ("group",),
                          features=("x1", "x2"), checks=checks, n_bootstrap=n_boot, favorable_label=1,
                          fairness=fairness)


# ---------------------------------------------------------------------------- truth
@dataclass
class Truth:
    performance: dict[str, float]
    rates: dict[str, dict[str, float]]  # group -> rate -> true value


def true_values(model: Any, sc: Scenario, rows: int, seed: int) -> Truth:
    doc = ae.audit(model, sample(sc, rows, np.random.default_rng(seed)),
                   config=config(seed, 0, truth=True, second=sc.second is not None)).to_dict()
    perf = {k: v["value"] for k, v in doc.get("performance", {}).get("metrics", {}).items()}
    groups = doc["fairness"]["group"]["groups"]
    skip = {"n", "flags", "undefined", "ci", "vs_reference"}
    rates = {g: {k: v for k, v in e.items() if k not in skip} for g, e in groups.items()}
    if sc.null:  # every group has the pooled rates: average the huge sample's groups by size
        n = {g: groups[g]["n"] for g in groups}
        pooled = {k: sum(rates[g][k] * n[g] for g in rates) / sum(n.values()) for k in rates[next(iter(rates))]}
        rates = {g: dict(pooled) for g in rates}
    if sc.calibrated:
        for k in ("expected_calibration_error", "squared_calibration_error", "expected_calibration_error_plugin"):
            perf[k] = 0.0
        for g in rates:
            rates[g]["calibration_error"] = 0.0
            rates[g]["calibration_error_plugin"] = 0.0
    return Truth(perf, rates)


def _true_arrays(truth: Truth, labels: list[str], left_out: dict[str, Any]) -> dict[str, np.ndarray]:
    names = truth.rates[labels[0]].keys()
    out = {}
    for k in names:
        x = np.array([truth.rates[g][k] if truth.rates[g][k] is not None else np.nan for g in labels], dtype=float)
        out[k] = np.where([k in left_out.get(g, {}).get("rates", []) for g in labels], np.nan, x)
    return out


# ---------------------------------------------------------------------------- one sample
def check_sample(doc: dict[str, Any], truth: Truth, sc: Scenario,
                 frame: pd.DataFrame | None = None, n_boot: int = 0, seed: int = 0) -> dict[str, tuple[int, ...]]:
    """interval name -> (covered, total, point outside, supports gap, truth below, truth above) for one audit.

    ``family: any supported gap`` counts the audit once when any gap of any view says
    "supports a gap" (the family-wise false-flag rate under the null). With ``frame`` and
    ``n_boot``, fairlearn's MetricFrame bootstrap is scored beside on the same sample
    (:func:`fairlearn_bootstrap`).
    """
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0])

    def record(name: str, est: dict[str, Any], true: float | None) -> None:
        value, lo, hi = est.get("value"), est.get("ci_low"), est.get("ci_high")
        if value is None or lo is None or hi is None:
            return
        cell = out[name]
        cell[2] += int(not (lo - 1e-12 <= value <= hi + 1e-12))
        cell[3] += int(bool(est.get("supports_gap")))
        if true is None or not math.isfinite(true):
            return
        cell[0] += int(lo - 1e-9 <= true <= hi + 1e-9)
        cell[1] += 1
        cell[4] += int(true < lo - 1e-9)
        cell[5] += int(true > hi + 1e-9)

    for k, est in doc.get("performance", {}).get("metrics", {}).items():
        record(f"performance.{k}", est, truth.performance.get(k))
    if "fairness" not in doc:  # a performance-only run
        return {k: tuple(v) for k, v in out.items()}
    view = doc["fairness"]["group"]
    labels = list(view["groups"])
    left = view.get("left_out", {})
    ref = view["reference_group"]
    full = _true_arrays(truth, labels, {})
    masked = _true_arrays(truth, labels, left)
    masked["impact_ratio"] = full["selection_rate"] / np.nanmax(masked["selection_rate"])
    full["impact_ratio"] = masked["impact_ratio"]
    # The sample's most-selected group has impact ratio 1 by construction (its rate over itself):
    # not an estimate, so it is left out of the impact-ratio row (it would be covered always).
    top = max((g for g in labels if g not in left), key=lambda g: view["groups"][g]["selection_rate"], default=None)
    for gi, g in enumerate(labels):
        e = view["groups"][g]
        for k, ci in e["ci"].items():
            if k == "impact_ratio" and g == top:
                continue
            record(f"group rate: {k}", {"value": e[k], **ci}, float(full[k][gi]) if k in full else None)
        for k, est in e.get("vs_reference", {}).items():
            record(f"group vs reference: {k}", est, float(full[k][gi] - full[k][labels.index(ref)]))
    gaps = {k: float(x[0]) for k, x in gap_metrics({k: x[None] for k, x in masked.items()}).items()}
    ref_gaps = {k: float(x[0]) for k, x in gap_metrics({k: x[None] for k, x in masked.items()}, ref=labels.index(ref)).items()}
    if sc.null:  # exact: no gap at all
        gaps = {k: (1.0 if k.endswith("ratio") else 0.0) if math.isfinite(v) else v for k, v in gaps.items()}
        ref_gaps = {k: (1.0 if k.endswith("ratio") else 0.0) if math.isfinite(v) else v for k, v in ref_gaps.items()}
    for k, est in view["metrics"].items():
        record(f"gap: {k}", est, gaps.get(k))
    for k, est in view.get("reference_metrics", {}).items():
        record(f"gap to reference: {k}", est, ref_gaps.get(k))
    flagged = any(bool(est.get("supports_gap")) for v in doc["fairness"].values()
                  for block in ("metrics", "reference_metrics") for est in (v.get(block) or {}).values())
    out["family: any supported gap (every gap of every view)"][3] += int(flagged)
    if frame is not None and n_boot > 0:
        full_gaps = {k: float(x[0]) for k, x in gap_metrics({k: x[None] for k, x in full.items()}).items()}
        if sc.null:
            full_gaps = {k: 0.0 if math.isfinite(v) else v for k, v in full_gaps.items()}
        for k, (lo, hi, value) in fairlearn_bootstrap(frame, n_boot, seed).items():
            record(f"fairlearn bootstrap: {k}", {"value": value, "ci_low": lo, "ci_high": hi}, full_gaps.get(k))
    return {k: tuple(v) for k, v in out.items()}


def fairlearn_bootstrap(frame: pd.DataFrame, n_boot: int, seed: int) -> dict[str, tuple[float, float, float]]:
    """fairlearn's MetricFrame bootstrap of the demographic-parity and equalized-odds differences.

    ``MetricFrame(n_boot=..., ci_quantiles=[0.025, 0.975])`` resamples the rows with
    replacement (``DataFrame.sample(frac=1, replace=True)``, fairlearn/metrics/_bootstrap.py)
    and takes the percentiles of ``difference()`` over all groups present. The same scheme
    from the sample's group × truth × prediction counts (a multinomial draw of n rows per
    replicate) — identical in law, 1000× faster than MetricFrame's per-replicate pandas
    work (26 s for 200 replicates of 1000 rows on this machine). A rate undefined in a
    replicate (a group with no positives) leaves that group out of its gap, as fairlearn's
    NaN-skipping max/min do. Returns name -> (low, high, point value).
    """
    labels = sorted(frame["group"].unique())
    g = frame["group"].map({k: i for i, k in enumerate(labels)}).to_numpy()
    y = frame["y"].to_numpy().astype(int)
    pred = ((frame[["x1", "x2"]].to_numpy() @ WEIGHTS) >= 0).astype(int)  # the model's decision at 0.5
    cells = np.bincount(g * 4 + y * 2 + pred, minlength=len(labels) * 4).astype(float)
    rng = np.random.default_rng(seed)
    draws = np.vstack([cells[None], rng.multinomial(int(cells.sum()), cells / cells.sum(), size=n_boot)])
    m = draws.reshape(-1, len(labels), 2, 2)  # (r, g, y, pred)
    with np.errstate(invalid="ignore", divide="ignore"):
        n = m.sum(axis=(2, 3))
        rates = {"selection_rate": np.where(n > 0, m[..., 1].sum(axis=2) / n, np.nan),
                 "tpr": m[:, :, 1, 1] / m[:, :, 1].sum(axis=2), "fpr": m[:, :, 0, 1] / m[:, :, 0].sum(axis=2)}
    gaps = gap_metrics(rates)
    out = {}
    for k in ("demographic_parity_difference", "equalized_odds_difference"):
        reps = gaps[k][1:]
        reps = reps[np.isfinite(reps)]
        if reps.size and np.isfinite(gaps[k][0]):
            lo, hi = np.quantile(reps, [0.025, 0.975])
            out[k] = (float(lo), float(hi), float(gaps[k][0]))
    return out


_MODEL: Any = None
_LIMITS: Any = None
_THREADS: int | None = None  # per-worker intra-op threads (1 when --jobs > 1: the workers share the cores)


def _worker(args: tuple) -> dict[str, tuple[int, int, int, int]]:
    global _MODEL
    model_file, sc_name, n, seed, n_boot, truth, checks = args
    if _MODEL is None:  # once per process: the session is reused by every sample it runs
        _MODEL = ae.load_model(model_file, provider="cpu", threads=_THREADS)
    sc = SCENARIOS[sc_name]
    rng = np.random.default_rng(seed)
    frame = sample(sc, n, rng)
    doc = ae.audit(_MODEL, frame, config=config(seed % (2**31), n_boot, checks=checks,
                                                second=sc.second is not None)).to_dict()
    return check_sample(doc, truth, sc, frame if "fairness" in checks else None, n_boot, seed % (2**31))


def run_grid(scenarios: Iterable[str], ns: Iterable[int] | None, *, samples: int, n_boot: int, seed: int = 0,
             truth_rows: int = 2_000_000, jobs: int = 1,
             checks: tuple[str, ...] = ("performance", "fairness")) -> dict[tuple[str, int], dict[str, list[int]]]:
    """(scenario, n) -> interval name -> [covered, total, point outside, supports gap, samples, truth below, truth above]."""
    results: dict[tuple[str, int], dict[str, list[int]]] = {}
    scenarios = list(scenarios)
    pool = None
    if jobs > 1:
        import multiprocessing as mp

        # forked before this process starts ONNX Runtime: a child forked from a process with a live
        # ORT environment (its thread pools and locks) hangs when it builds its own session
        pool = mp.get_context("fork").Pool(jobs, initializer=_single_threaded)
    with tempfile.TemporaryDirectory() as tmp:
        model_file = logistic_onnx(Path(tmp) / "logistic.onnx")
        model = ae.load_model(model_file, provider="cpu")
        # seeded by the scenario's place in SCENARIOS, so a subset run has the full grid's truths
        truths = {s: true_values(model, SCENARIOS[s], truth_rows, seed + 10_000 + list(SCENARIOS).index(s))
                  for s in scenarios}
        tasks = []
        for s, n in ((s, n) for s in scenarios for n in (CELLS[s] if ns is None else ns)):
            # keyed by the cell, not its position: a subset run draws the full grid's samples of its cells
            cell_key = [seed, zlib.crc32(s.encode()), n]
            seeds = np.random.SeedSequence(cell_key).generate_state(samples, dtype=np.uint64)
            tasks += [((s, n), (model_file, s, n, int(x), n_boot, truths[s], checks)) for x in seeds]
        if pool is not None:
            with pool:
                outs = pool.map(_worker, [t for _, t in tasks], chunksize=max(1, min(16, len(tasks) // (4 * jobs))))
        else:
            outs = [_worker(t) for _, t in tasks]
        for (cell, _), got in zip(tasks, outs, strict=True):
            acc = results.setdefault(cell, defaultdict(lambda: [0] * 7))
            for name, v in got.items():  # [covered, total, outside, supports, samples, truth below, truth above]
                for i in range(4):
                    acc[name][i] += v[i]
                acc[name][4] += 1
                acc[name][5] += v[4]
                acc[name][6] += v[5]
    return results


def _single_threaded() -> None:
    """Pool initializer: one intra-op thread for ONNX Runtime and BLAS in each worker."""
    global _THREADS
    _THREADS = 1
    try:
        from threadpoolctl import threadpool_limits

        global _LIMITS
        _LIMITS = threadpool_limits(1)  # kept: the limit holds for the worker's life
    except ImportError:  # BLAS keeps its threads; slower, same numbers
        pass


# ---------------------------------------------------------------------------- table
def _fmt(cov: int, tot: int) -> str:
    return "–" if tot == 0 else f"{100 * cov / tot:.1f}"


def monte_carlo_interval(hits: int, total: int) -> tuple[float, float]:
    """Wilson 95% interval, in %, of a share estimated from ``total`` independent samples."""
    low, high = proportion_confint(hits, total, alpha=0.05, method="wilson")
    return 100 * float(low), 100 * float(high)


def judge(covered: int, total: int, *, lo: float = 93.0, hi: float = 97.0) -> str:
    """``"in"`` (estimate in [lo, hi]), ``"consistent"`` (outside, but its Monte Carlo interval meets
    [lo, hi]) or ``"miss"`` (the Wilson 95% interval of the coverage lies wholly outside [lo, hi])."""
    pct = 100 * covered / total
    if lo <= pct <= hi:
        return "in"
    low, high = monte_carlo_interval(covered, total)
    return "miss" if high < lo or low > hi else "consistent"


def table(results: dict[tuple[str, int], dict[str, list[int]]], *, lo: float = 93.0,
          hi: float = 97.0) -> tuple[str, list[str], list[str]]:
    """Markdown coverage table (rows: intervals; columns: cells), the misses and the consistent cells.

    Bold: the point estimate is outside [lo, hi]; ✗: a miss (:func:`judge`).
    """
    cells = list(results)
    names = sorted({k for r in results.values() for k in r}, key=lambda k: (k.split(":")[0].split(".")[0], k))
    head = "| interval | " + " | ".join(f"{s} n={n}" for s, n in cells) + " |"
    lines = [head, "|" + "---|" * (len(cells) + 1)]
    misses, consistent = [], []
    for name in names:
        if name.startswith("family:"):
            continue  # a false-flag count, not an interval (null_table)
        row = []
        for cell in cells:
            got = results[cell].get(name, [0, 0, 0, 0, 0])
            cov, tot, outside = got[0], got[1], got[2]
            text = _fmt(cov, tot)
            if tot and len(got) > 6:  # coverage ± its Monte Carlo s.e., then the misses by side
                p = cov / tot
                text += f" ±{100 * math.sqrt(p * (1 - p) / tot):.1f} ({100 * got[5] / tot:.1f}↓ {100 * got[6] / tot:.1f}↑)"
            if tot:
                verdict = judge(cov, tot, lo=lo, hi=hi)
                if verdict != "in":
                    low, high = monte_carlo_interval(cov, tot)
                    head, _, tail = text.partition(" ")
                    text = f"**{head}**" + (" ✗" if verdict == "miss" else "") + (f" {tail}" if tail else "")
                    line = f"{name} in {cell[0]} n={cell[1]}: {100 * cov / tot:.1f}% of {tot} (Monte Carlo 95%: {low:.1f}–{high:.1f})"
                    (misses if verdict == "miss" else consistent).append(line)
            if outside:
                text += f" ({outside} outside)"
            row.append(text)
        lines.append(f"| {name} | " + " | ".join(row) + " |")
    return "\n".join(lines), misses, consistent


def null_table(results: dict[tuple[str, int], dict[str, list[int]]]) -> str:
    """Share of samples whose disparity test said 'supports a gap', per gap metric and cell."""
    cells = list(results)
    names = sorted({k for r in results.values() for k in r if k.startswith("gap: ")})
    names.append("family: any supported gap (every gap of every view)")
    lines = ["| disparity test: share 'supports a gap' | " + " | ".join(f"{s} n={n}" for s, n in cells) + " |",
             "|" + "---|" * (len(cells) + 1)]
    for name in names:
        row = []
        for cell in cells:
            _, _, _, yes, count = results[cell].get(name, [0, 0, 0, 0, 0])[:5]
            text = "–" if not count else f"{100 * yes / count:.1f}"
            if count and SCENARIOS[cell[0]].null:  # a false-positive rate: with its Monte Carlo interval
                low, high = monte_carlo_interval(yes, count)
                text = (f"**{text}**" if low > 5.0 else text) + f"* ({low:.1f}–{high:.1f})"
            row.append(text)
        lines.append(f"| {name[5:] if name.startswith('gap: ') else '**' + name[8:] + '**'} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def write_section(text: str, path: Path = ROOT / "BENCHMARKS.md") -> None:
    doc = path.read_text(encoding="utf-8")
    block = f"{BEGIN}\n{text}\n{END}"
    if BEGIN in doc and END in doc:
        doc = doc[: doc.index(BEGIN)] + block + doc[doc.index(END) + len(END):]
    else:
        doc = doc.rstrip("\n") + "\n\n## Interval coverage\n\n" + block + "\n"
    path.write_text(doc, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=400, help="samples per cell (default 400)")
    parser.add_argument("--n", type=int, nargs="+", default=None,
                        help="sample sizes for every scenario (default: each scenario's own, CELLS)")
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    parser.add_argument("--bootstrap", type=int, default=200, help="posterior draws / permutations / bootstrap replicates")
    parser.add_argument("--truth-rows", type=int, default=2_000_000)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checks", nargs="+", default=["performance", "fairness"], choices=["performance", "fairness"])
    parser.add_argument("--write", action="store_true", help="write the section into BENCHMARKS.md")
    parser.add_argument("--save", default=None, help="also save the raw counts as JSON (to merge runs)")
    parser.add_argument("--load", nargs="+", default=None, help="make the table from saved JSON runs instead")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    if args.load:
        import json

        results, commands, seconds = {}, [], 0.0
        for file in args.load:
            saved = json.loads(Path(file).read_text(encoding="utf-8"))
            commands.append(saved["command"])
            seconds += saved["seconds"]
            for key, cell in saved["cells"].items():  # runs of the same cell add up
                scenario, n = key.rsplit("@", 1)
                acc = results.setdefault((scenario, int(n)), {})
                for name, counts in cell.items():
                    acc[name] = [a + b for a, b in zip(acc.get(name, [0] * len(counts)), counts, strict=True)]
        command = "` then `".join(commands)
    else:
        if args.samples < 400:
            print(f"note: {args.samples} samples per cell; issue 9 asks for at least 400", file=sys.stderr)
        results = run_grid(args.scenarios, args.n, samples=args.samples, n_boot=args.bootstrap, seed=args.seed,
                           truth_rows=args.truth_rows, jobs=args.jobs, checks=tuple(args.checks))
        seconds = time.perf_counter() - t0
        command = (f"python benchmarks/coverage.py --samples {args.samples}"
                   + ("" if args.n is None else f" --n {' '.join(map(str, args.n))}")
                   + f" --scenarios {' '.join(args.scenarios)} --bootstrap {args.bootstrap} --jobs {args.jobs}"
                   + ("" if args.checks == ["performance", "fairness"] else f" --checks {' '.join(args.checks)}"))
        if args.save:
            import json

            Path(args.save).write_text(json.dumps({"command": command, "seconds": seconds, "cells": {
                f"{s}@{n}": {k: list(v) for k, v in cell.items()} for (s, n), cell in results.items()}}), encoding="utf-8")
    cov, misses, consistent = table(results)
    samples = sorted({v[4] for cell in results.values() for v in cell.values()})
    s_min = min(samples) if samples else 0
    se = 100 * math.sqrt(0.95 * 0.05 / s_min) if s_min else float("nan")
    text = (f"Command: `{command}` ({seconds:.0f} s of wall time on a shared 2-core machine). Coverage of nominal "
            f"95% intervals in % of {'/'.join(map(str, samples))} samples per cell (bold: the estimate is outside "
            f"93–97%; ✗: a miss, the Wilson 95% interval of the estimate lies wholly outside 93–97%; "
            f"'(k outside)': k values outside their own interval). Each cell: coverage ±its Monte Carlo s.e. "
            f"(misses with the truth below the interval ↓, above it ↑; each side's goal ≤ 2.5%). Rows "
            f"'fairlearn bootstrap: …' score fairlearn's MetricFrame bootstrap (rows resampled, percentiles of "
            f"difference(), all groups) on the same samples, against the gap over all groups. Group rows pool the groups of a cell, so their "
            f"samples are not independent and their Monte Carlo error is larger than the judgement assumes; the "
            f"impact-ratio row leaves out each sample's most-selected group, whose ratio is 1 by construction. "
            f"Monte Carlo standard error of a true 95% from {s_min} samples: ±{se:.1f} points (Morris, White & "
            f"Crowther 2019, Stat Med 38:2074); a perfect interval shows an estimate outside 93–97% in some cells by "
            f"chance, which is why a cell is judged by its interval, not its estimate.\n\n{cov}\n\n"
            f"Disparity tests (`supports_gap`: permutation X² tests, Holm-adjusted over every test of the audit "
            f"at 5%); * marks cells with no true disparity, where this is the false-positive rate (goal <= 5%), "
            f"with its Wilson 95% Monte Carlo interval (bold: the interval lies wholly above 5%). The last row is "
            f"the family-wise false-flag rate: the share of audits with any 'supports a gap' in any view "
            f"(multi_null: two attributes and their intersection):\n\n{null_table(results)}\n\n"
            f"Missing (Monte Carlo interval wholly outside 93–97%): {len(misses)}."
            + "".join(f"\n- {m}" for m in misses)
            + f"\n\nOutside 93–97% but consistent with it given the Monte Carlo error: {len(consistent)}."
            + "".join(f"\n- {m}" for m in consistent))
    print(text)
    if args.write:
        write_section(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
