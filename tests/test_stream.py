"""Streaming audits of Parquet data: the same figures as in memory, bounded tallies, the sample."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

import audit_engine as ae
from audit_engine.cli import main
from audit_engine.performance_tally import ClassificationTally, histogram_auc
from audit_engine.stream.sample import HashedSample
from audit_engine.data.parquet import ParquetSource, rebatch

from .conftest import data_path, model_path

COMPAS_NUMERIC = ("age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count")
EXACT = ("n", "confusion_matrix", "calibration", "task", "positive_label", "threshold")


@pytest.fixture(scope="module")
def compas_folder(tmp_path_factory):
    """COMPAS as three Parquet files with small row groups (chunks never align with them)."""
    df = pd.read_csv(data_path("compas.csv"))
    folder = tmp_path_factory.mktemp("compas_pq")
    for i, (lo, hi) in enumerate(((0, 1700), (1700, 3300), (3300, len(df)))):
        df.iloc[lo:hi].to_parquet(folder / f"part-{i}.parquet", row_group_size=333)
    return folder


def _config(**kw):
    return ae.AuditConfig(target="two_year_recid", sensitive=("race", "sex"), features=COMPAS_NUMERIC,
                          n_bootstrap=200, checks=("performance", "fairness"), **kw)


def _same_figures(a, b, *, rel=1e-12):
    """Every performance point value equal to float rounding, counts exactly; fairness identical."""
    pa, pb = a["performance"], b["performance"]
    for key in EXACT:
        assert pa.get(key) == pb.get(key), key
    assert pa["metrics"].keys() == pb["metrics"].keys()
    for name, est in pa["metrics"].items():
        assert pb["metrics"][name]["value"] == pytest.approx(est["value"], rel=rel, abs=1e-15), name
    assert json.dumps(a["fairness"], sort_keys=True) == json.dumps(b["fairness"], sort_keys=True)


def _close(a, b, path="performance"):
    """``a == b`` with floats compared to 1e-9 relative (sums over different chunkings)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), path
        for key in a:
            _close(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12), path
    else:
        assert a == b, path


def test_stream_equals_in_memory(compas_folder):
    memory = ae.audit(model_path("compas_logreg.onnx"), str(compas_folder), config=_config()).to_dict()
    streamed = ae.audit(model_path("compas_logreg.onnx"), str(compas_folder),
                        config=_config(stream=True, fairness={"chunk_rows": 777})).to_dict()
    ae.validate(streamed)
    assert "stream" not in memory["data"] and streamed["data"]["stream"]["files"] == 3
    assert streamed["data"]["rows"] == memory["data"]["rows"] == 5000
    assert streamed["data"]["sha256"] == memory["data"]["sha256"]
    _same_figures(memory, streamed)
    assert streamed["performance"]["streaming"]["auc"] == {"method": "exact", "bins": None, "error_bound": 0.0}
    # one implementation: the whole section is equal, intervals included, up to the float rounding of
    # sums taken over other chunks (1M rows in memory, 777 streamed); with equal chunks it is identical
    # (tests/test_sources.py)
    _close(streamed["performance"], memory["performance"])


def test_stream_independent_of_chunk_size_and_deterministic(compas_folder):
    docs = [ae.audit(model_path("compas_logreg.onnx"), str(compas_folder),
                     config=_config(stream=True, fairness={"chunk_rows": c})).to_dict() for c in (500, 5000)]
    _same_figures(*docs)
    again = ae.audit(model_path("compas_logreg.onnx"), str(compas_folder),
                     config=_config(stream=True, fairness={"chunk_rows": 500})).to_dict()
    assert again["performance"] == docs[0]["performance"]
    assert again["fairness"] == docs[0]["fairness"]


def test_histogram_auc_holds_its_bound():
    rng = np.random.default_rng(0)
    n = 20_000
    y = rng.integers(0, 2, n)
    p = 1 / (1 + np.exp(-(rng.normal(size=n) + 1.2 * y)))
    p = np.round(p, 3)  # ties and crowded bins
    proba = np.c_[1 - p, p]
    oracle = roc_auc_score(y, p)
    for bins in (64, 1 << 12, 1 << 20):
        tally = ClassificationTally(2, 1, 10, auc_bins=bins, exact_auc_values=0)
        for lo in range(0, n, 3000):
            sl = slice(lo, lo + 3000)
            tally.update(proba[sl], y[sl], (p[sl] >= 0.5).astype(int))
        (auc,), (bound,), method = tally.auc()
        assert method == "histogram"
        assert abs(auc - oracle) <= bound + 1e-12
        assert bound < 0.2
    # scores on a 1e-3 grid never share a 2^20-bin bin with another value: only true ties remain
    assert bound < 0.01
    a, b = histogram_auc(np.array([[1, 0, 2]]), np.array([[0, 3, 1]]))
    assert a[0] == pytest.approx((1 * 0 + 2 * (3 + 0.5 * 1)) / 12) and b[0] == pytest.approx(0.5 * 2 / 12)


def test_multiclass_and_regression_stream_like_memory(tmp_path):
    skl2onnx = pytest.importorskip("skl2onnx")
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    x = rng.normal(size=(3000, 4)).astype(np.float32)
    y = np.argmax(x[:, :3] + rng.normal(scale=0.8, size=(3000, 3)), axis=1)
    clf = LogisticRegression(max_iter=500).fit(x, y)
    onx = skl2onnx.convert_sklearn(clf, initial_types=[("input", FloatTensorType([None, 4]))],
                                   options={id(clf): {"zipmap": False}}, target_opset=17)
    path = tmp_path / "multi.onnx"
    path.write_bytes(onx.SerializeToString())
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"]).assign(y=y, group=rng.choice(["u", "v"], 3000))
    frame.to_parquet(tmp_path / "multi.parquet", row_group_size=400)
    cfg = ae.AuditConfig(target="y", sensitive=("group",), n_bootstrap=50, checks=("performance", "fairness"))
    memory = ae.audit(path, str(tmp_path / "multi.parquet"), config=cfg).to_dict()
    streamed = ae.audit(path, str(tmp_path / "multi.parquet"),
                        config=cfg.replace(stream=True, fairness={"chunk_rows": 1000})).to_dict()
    ae.validate(streamed)
    _same_figures(memory, streamed)
    for c, metrics in memory["performance"]["per_class"].items():
        for name, est in metrics.items():
            assert streamed["performance"]["per_class"][c][name]["value"] == pytest.approx(est["value"], rel=1e-12)

    diabetes = pd.read_csv(data_path("diabetes.csv")).assign(group=lambda d: np.where(d["sex"] > 0, "m", "f"))
    diabetes.to_parquet(tmp_path / "diabetes.parquet", row_group_size=100)
    cfg = ae.AuditConfig(target="target", sensitive=("group",), n_bootstrap=50, checks=("performance", "fairness"),
                         features=tuple(c for c in diabetes.columns if c not in ("target", "group")))
    memory = ae.audit(model_path("diabetes_linear.onnx"), str(tmp_path / "diabetes.parquet"), config=cfg).to_dict()
    streamed = ae.audit(model_path("diabetes_linear.onnx"), str(tmp_path / "diabetes.parquet"),
                        config=cfg.replace(stream=True)).to_dict()
    ae.validate(streamed)
    for name, est in memory["performance"]["metrics"].items():
        assert streamed["performance"]["metrics"][name]["value"] == pytest.approx(est["value"], rel=1e-10), name
    _close(streamed["performance"], memory["performance"])  # MAE, RMSE and R² intervals too
    assert streamed["performance"]["metrics"]["r2"]["ci_low"] is not None
    assert json.dumps(memory["fairness"], sort_keys=True) == json.dumps(streamed["fairness"], sort_keys=True)


def test_hashed_sample_does_not_depend_on_chunks():
    frame = pd.DataFrame({"i": np.arange(10_000)})
    proba = np.c_[np.zeros(10_000), np.ones(10_000)]
    picks = []
    for step in (1, 997, 4096, 10_000):
        s = HashedSample(500, 42)
        for lo in range(0, 10_000, step * 10 if step == 1 else step):
            s.offer(lo, frame.iloc[lo:lo + (step * 10 if step == 1 else step)].reset_index(drop=True),
                    proba[lo:lo + (step * 10 if step == 1 else step)])
        index, kept, _ = s.result()
        assert np.array_equal(kept["i"].to_numpy(), index) and np.all(np.diff(index) > 0)
        picks.append(index)
    assert all(np.array_equal(picks[0], p) for p in picks[1:])
    assert len(picks[0]) == 500 and 4000 < picks[0].mean() < 6000  # spread over the rows
    other = HashedSample(500, 43)
    other.offer(0, frame, proba)
    assert not np.array_equal(other.result()[0], picks[0])


def test_rebatch_aligns_chunks():
    frames = [pd.DataFrame({"v": np.arange(a, b)}) for a, b in ((0, 3), (3, 10), (10, 11), (11, 25))]
    out = list(rebatch(frames, 4))
    assert [s for s, _ in out] == [0, 4, 8, 12, 16, 20, 24]
    assert np.array_equal(np.concatenate([f["v"].to_numpy() for _, f in out]), np.arange(25))


def test_row_checks_run_on_the_sample(compas_folder):
    cfg = _config(stream=True, sample_rows=800).replace(checks=("performance", "fairness", "explanations"),
                                                        explanations={"methods": ["permutation"], "n_rows": 5})
    doc = ae.audit(model_path("compas_logreg.onnx"), str(compas_folder), config=cfg).to_dict()
    ae.validate(doc)
    assert doc["data"]["stream"]["sample"]["size"] == 800
    assert doc["performance"]["n"] == 5000 and doc["checks"]["explanations"]["status"] == "ran"


def test_auto_streams_large_parquet(compas_folder, monkeypatch):
    from audit_engine import sources

    monkeypatch.setattr(sources, "AUTO_STREAM_BYTES", 1000)
    doc = ae.audit(model_path("compas_logreg.onnx"), str(compas_folder), config=_config()).to_dict()
    assert doc["data"]["stream"]["backend"] == "local"
    doc = ae.audit(model_path("compas_logreg.onnx"), str(compas_folder), config=_config(stream=False)).to_dict()
    assert "stream" not in doc["data"]


def test_stream_needs_a_table(tmp_path, capsys):
    arrays = tmp_path / "rows.npz"
    np.savez(arrays, x=np.zeros((10, 5), dtype=np.float32), y=np.arange(10) % 2)
    code = main(["run", str(model_path("compas_logreg.onnx")), "--data", str(arrays),
                 "--stream", "--out", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err
    assert "Parquet or CSV" in err and "drop --stream" in err
    assert not (tmp_path / "o" / "audit.json").exists()


def test_stream_reads_compas_csv_like_memory(tmp_path):
    """The CSV streamed in chunks (local backend) gives the in-memory audit of the same file, digest included."""
    memory = ae.audit(model_path("compas_logreg.onnx"), data_path("compas.csv"), config=_config(stream=False)).to_dict()
    doc = ae.audit(model_path("compas_logreg.onnx"), data_path("compas.csv"), config=_config(stream=True)).to_dict()
    assert doc["data"]["stream"]["backend"] == "local" and doc["data"]["stream"]["files"] == 1
    assert doc["data"]["sha256"] == memory["data"]["sha256"]
    for key in ("data", "performance", "fairness", "verdicts", "status"):
        got = doc[key] if key != "data" else {k: v for k, v in doc[key].items() if k != "stream"}
        assert got == memory[key], key


def _awkward_csv_lines(n: int = 1000) -> list[str]:
    """Columns whose dtype pandas infers differently chunk by chunk: integers with one blank late, booleans
    with one blank late, numbers then a word late, an empty column, plain text, plain floats, plain booleans."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"i": rng.integers(0, 9, n), "x": rng.normal(size=n) / 3, "b": rng.random(n) > 0.5,
                          "t": rng.integers(0, 5, n).astype(str), "s": rng.choice(["a", "b"], n), "e": [""] * n,
                          "bb": rng.random(n) > 0.5})
    lines = frame.to_csv(index=False).splitlines()
    cells = lines[900].split(",")
    cells[0] = cells[2] = ""
    cells[3] = "zz"
    lines[900] = ",".join(cells)
    return lines


@pytest.mark.parametrize("scan_rows", [100, 1 << 16])
def test_csv_source_chunks_equal_pandas_whole_read(tmp_path, scan_rows):
    """Oracle: ``pd.read_csv`` of the whole file (what load_data does): every chunk has its dtypes, and the
    chunks put together are that frame, for a file and for the same rows cut into a folder of files."""
    from audit_engine.data.csv_source import CsvSource

    lines = _awkward_csv_lines()
    (tmp_path / "one.csv").write_text("\n".join(lines) + "\n")
    whole = pd.read_csv(tmp_path / "one.csv")
    assert whole["i"].dtype == np.float64 and whole["b"].dtype == object and whole["t"].dtype != object
    folder = tmp_path / "parts"
    (folder / "b").mkdir(parents=True)
    (folder / "a.csv").write_text("\n".join(lines[:400]) + "\n")  # sorted paths: a.csv, b/c.tsv
    (folder / "b" / "c.tsv").write_text("\n".join(line.replace(",", "\t") for line in [lines[0], *lines[400:]]) + "\n")
    for path in (tmp_path / "one.csv", folder):
        src = CsvSource.open(path, scan_rows=scan_rows)
        assert src.n_rows == len(whole) and src.columns == tuple(whole.columns)
        for size in (128, 1000, 4096):
            chunks = [frame for _, frame in src.chunks(size)]
            assert [len(f) for f in chunks] == [min(size, len(whole) - k) for k in range(0, len(whole), size)]
            for frame in chunks:
                pd.testing.assert_series_equal(frame.dtypes, whole.dtypes)
            pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)
        index = np.array([0, 5, 399, 400, 401, 900, 999])
        pd.testing.assert_frame_equal(src.take(index, ["t", "x"]), whole.iloc[index][["t", "x"]].reset_index(drop=True))
    # the folder read whole by load_data is the same frame, with the folder's digest
    data = ae.load_data(folder)
    pd.testing.assert_frame_equal(data.frame, whole)
    assert data.sha256 == CsvSource.open(folder).sha256() != ae.load_data(tmp_path / "one.csv").sha256


def test_source_reads_exact_chunks(compas_folder):
    src = ParquetSource.open(compas_folder)
    assert src.n_rows == 5000 and len(src.files) == 3
    sizes = [len(f) for _, f in src.chunks(1234, columns=["age"])]
    assert sizes == [1234] * 4 + [5000 - 4 * 1234]


def test_source_take_matches_chunks(compas_folder):
    src = ParquetSource.open(compas_folder)
    whole = pd.concat([f for _, f in src.chunks(5000, columns=["age", "race"])], ignore_index=True)
    index = np.array([0, 1, 332, 333, 1699, 1700, 3299, 3300, 4999])
    pd.testing.assert_frame_equal(src.take(index, ["age", "race"]), whole.iloc[index].reset_index(drop=True))


def test_streamed_shift_tests_equal_scipy(compas_folder):
    """Shift tests counted over the stream: KS / chi2 / PSI as ks_2samp and friends give them in memory."""
    df = pd.read_csv(data_path("compas.csv"))
    reference = df.iloc[:1500].assign(age=lambda d: d["age"] + 2, priors_count=lambda d: d["priors_count"] // 2)
    cfg = _config(ood={"scores": ["msp", "mahalanobis"]}).replace(checks=("ood",))
    memory = ae.audit(model_path("compas_logreg.onnx"), str(compas_folder), config=cfg, reference=reference).to_dict()
    streamed = ae.audit(model_path("compas_logreg.onnx"), str(compas_folder), reference=reference,
                        config=cfg.replace(stream=True, fairness={"chunk_rows": 999})).to_dict()
    ae.validate(streamed)
    assert "ood.shift" in streamed["data"]["stream"]["streamed_checks"]
    a, b = memory["ood"]["shift"], streamed["ood"]["shift"]
    assert a.keys() == b.keys() and len(a) == len(COMPAS_NUMERIC)
    for feature, test in a.items():
        for key in ("statistic", "p_value", "p_adjusted", "psi"):
            assert b[feature][key] == pytest.approx(test[key], rel=1e-9, abs=1e-12), (feature, key)
        assert b[feature]["drifted"] == test["drifted"]
    assert memory["ood"]["shift_summary"] == streamed["ood"]["shift_summary"]


def test_shift_tally_large_samples_and_categories():
    from scipy import stats

    from audit_engine.ood.shift import ShiftTally

    rng = np.random.default_rng(3)
    ref = np.c_[rng.normal(size=12_000), rng.integers(0, 4, 12_000)]
    cur = np.c_[rng.normal(0.03, 1, 30_000).round(2), rng.choice(4, 30_000, p=[0.3, 0.3, 0.2, 0.2])]
    tally = ShiftTally(ref, np.array([False, True]))
    for lo in range(0, 30_000, 7000):
        tally.update(cur[lo:lo + 7000])
    ks, chi = tally.results(["x", "c"])
    oracle = stats.ks_2samp(ref[:, 0], cur[:, 0])
    assert ks.statistic == pytest.approx(oracle.statistic, rel=1e-12) and ks.p_value == pytest.approx(oracle.pvalue, rel=1e-9)
    table = np.stack([np.bincount(ref[:, 1].astype(int)), np.bincount(cur[:, 1].astype(int))])
    assert chi.statistic == pytest.approx(stats.chi2_contingency(table, correction=False).statistic, rel=1e-12)
