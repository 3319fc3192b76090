"""One pipeline, three sources: the same audit.json from data in memory, streamed Parquet and Ray.

Oracle: the in-memory audit of the same rows. Streaming and Ray differ from it only in where
rows and scores come from (:mod:`audit_engine.sources`); every check reads the same tallies
(:func:`audit_engine.audit.prepare`), so the documents must be equal except for what
describes the run itself: ``created``, the evaluations and per-check timings / call counts,
``data.stream`` and the ``stream`` / ``backend`` settings that asked for it.

Cases: (a) a scikit-learn pipeline exported by skl2onnx with a ZipMap output whose width the
graph leaves unknown (the Ray actors used to re-resolve it as one column and exit 3);
(b) a multiclass model; (c) a regression model, whose R² keeps its interval when streamed.
Each case as Parquet files and as CSV (a folder of CSV files, a .tsv file, one .csv file):
the streamed CSV is read in chunks by pandas locally and sent to Ray actors by the driver,
and must give the in-memory audit of the same CSV, digest included.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import audit_engine as ae

from .conftest import data_path, model_path

skl2onnx = pytest.importorskip("skl2onnx")

CHUNK = 150  # several chunks per source, never aligned with the files or their row groups


def _folder(frame: pd.DataFrame, folder) -> str:
    folder.mkdir()
    cut = len(frame) // 3
    for i, (lo, hi) in enumerate(((0, cut), (cut, len(frame)))):
        frame.iloc[lo:hi].to_parquet(folder / f"part-{i}.parquet", row_group_size=70)
    return str(folder)


def _zipmap_case(tmp_path):
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import load_breast_cancer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    x, y = load_breast_cancer(return_X_y=True)
    x = x[:, :6].astype(np.float32)
    pipe = make_pipeline(StandardScaler(), DecisionTreeClassifier(max_depth=4, random_state=0)).fit(x, y)
    onx = skl2onnx.convert_sklearn(pipe, initial_types=[("input", FloatTensorType([None, 6]))], target_opset=17)
    path = tmp_path / "tree_zipmap.onnx"
    path.write_bytes(onx.SerializeToString())
    model = ae.load_model(path)
    assert model.output_kind == "zipmap" and not model.output_spec().shape  # width unknown to the graph
    names = [f"f{i}" for i in range(6)]
    frame = pd.DataFrame(x, columns=names).assign(target=y, size=np.where(x[:, 0] > 14, "large", "small"))
    reference = frame.iloc[::4][names].reset_index(drop=True)
    return path, frame, dict(target="target", sensitive=("size",), features=tuple(names)), reference


def _multiclass_case(tmp_path):
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_wine(return_X_y=True)
    x = x[:, :5].astype(np.float32)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y)
    onx = skl2onnx.convert_sklearn(clf, initial_types=[("input", FloatTensorType([None, 5]))],
                                   options={id(clf.steps[-1][1]): {"zipmap": False}}, target_opset=17)
    path = tmp_path / "wine.onnx"
    path.write_bytes(onx.SerializeToString())
    names = [f"w{i}" for i in range(5)]
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(x, columns=names).assign(cultivar=y, site=rng.choice(["north", "south"], len(y)))
    reference = frame.iloc[::3][names].reset_index(drop=True)
    return path, frame, dict(target="cultivar", sensitive=("site",), features=tuple(names)), reference


def _regression_case(tmp_path):
    frame = pd.read_csv(data_path("diabetes.csv")).assign(group=lambda d: np.where(d["sex"] > 0, "m", "f"))
    names = tuple(c for c in frame.columns if c not in ("target", "group"))
    reference = frame.iloc[::5][list(names)].reset_index(drop=True)
    return model_path("diabetes_linear.onnx"), frame, dict(target="target", sensitive=("group",), features=names), \
        reference


CASES = {"zipmap_pipeline": _zipmap_case, "multiclass": _multiclass_case, "regression": _regression_case}


def _stable(doc: dict) -> dict:
    """The document without what describes the run rather than the model and data."""
    out = json.loads(json.dumps(doc))
    for key in ("created", "evaluations"):
        out.pop(key)
    out["checks"] = {name: {k: v for k, v in entry.items() if k not in ("seconds", "model_calls", "rows_evaluated")}
                     for name, entry in out["checks"].items()}
    out["config"] = {k: v for k, v in out["config"].items() if k not in ("stream", "backend")}
    out["data"].pop("stream", None)
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_in_memory_streamed_and_ray_audits_are_equal(case, tmp_path, ray_local):
    model, frame, columns, reference = CASES[case](tmp_path)
    folder = _folder(frame, tmp_path / "data")
    cfg = ae.AuditConfig(**columns, checks=("performance", "fairness", "ood"), n_bootstrap=60,
                         sample_rows=10_000, fairness={"chunk_rows": CHUNK}, ood={"scores": ["knn", "mahalanobis"]})
    memory = ae.audit(model, folder, config=cfg.replace(stream=False), reference=reference).to_dict()
    streamed = ae.audit(model, folder, config=cfg.replace(stream=True), reference=reference).to_dict()
    on_ray = ae.audit(model, folder, config=cfg.replace(backend="ray"), reference=reference).to_dict()
    for doc in (memory, streamed, on_ray):
        ae.validate(doc)
        assert all(entry["status"] == "ran" for entry in doc["checks"].values()), doc["checks"]
    assert "stream" not in memory["data"]
    assert streamed["data"]["stream"]["backend"] == "local" and on_ray["data"]["stream"]["backend"] == "ray"
    assert on_ray["evaluations"]["rows_evaluated"] == len(frame)
    assert _stable(memory) == _stable(streamed)
    assert _stable(memory) == _stable(on_ray)
    assert memory["ood"]["shift_summary"]["status"] == "ran"
    metrics = streamed["performance"]["metrics"]
    held = [name for name, est in metrics.items() if name != "expected_calibration_error_plugin"]
    for name in held:  # every metric keeps an interval, whatever the source
        assert metrics[name]["ci_low"] is not None and metrics[name]["ci_high"] is not None, name
    if case == "regression":
        r2 = metrics["r2"]
        assert r2["ci_low"] < r2["value"] < r2["ci_high"] < 1.0


CSV_LAYOUTS = {"zipmap_pipeline": "folder", "multiclass": "tsv", "regression": "file"}


def _csv(frame: pd.DataFrame, layout: str, tmp_path) -> str:
    """``frame`` as CSV: a folder of two files (the second's rows after the first's), a .tsv or a .csv file."""
    if layout == "folder":
        folder = tmp_path / "csv"
        folder.mkdir()
        cut = len(frame) // 3
        frame.iloc[:cut].to_csv(folder / "part-0.csv", index=False)
        frame.iloc[cut:].to_csv(folder / "part-1.csv", index=False)
        return str(folder)
    path = tmp_path / ("data.tsv" if layout == "tsv" else "data.csv")
    frame.to_csv(path, index=False, sep="\t" if layout == "tsv" else ",")
    return str(path)


@pytest.mark.parametrize("case", sorted(CASES))
def test_csv_in_memory_streamed_and_ray_audits_are_equal(case, tmp_path, ray_local):
    model, frame, columns, reference = CASES[case](tmp_path)
    # a second group column of integer codes with blanks in the last rows only: pandas reads it as int64 in the
    # first chunks and float64 in the last, the whole file as float64 (the dtype every chunk must be cast to)
    codes = pd.array(np.arange(len(frame)) % 2, dtype="Int64")
    codes[-40::7] = pd.NA
    frame = frame.assign(band=codes)
    columns = dict(columns, sensitive=(*columns["sensitive"], "band"))
    path = _csv(frame, CSV_LAYOUTS[case], tmp_path)
    cfg = ae.AuditConfig(**columns, checks=("performance", "fairness", "ood"), n_bootstrap=60,
                         sample_rows=10_000, fairness={"chunk_rows": CHUNK}, ood={"scores": ["knn", "mahalanobis"]})
    memory = ae.audit(model, path, config=cfg, reference=reference).to_dict()  # auto: a CSV is read whole
    streamed = ae.audit(model, path, config=cfg.replace(stream=True), reference=reference).to_dict()
    on_ray = ae.audit(model, path, config=cfg.replace(backend="ray"), reference=reference).to_dict()
    for doc in (memory, streamed, on_ray):
        ae.validate(doc)
        assert all(entry["status"] == "ran" for entry in doc["checks"].values()), doc["checks"]
    assert "stream" not in memory["data"]
    assert streamed["data"]["stream"]["backend"] == "local" and on_ray["data"]["stream"]["backend"] == "ray"
    assert on_ray["evaluations"]["rows_evaluated"] == len(frame)
    assert memory["data"]["sensitive"] == list(columns["sensitive"])
    assert _stable(memory) == _stable(streamed)
    assert _stable(memory) == _stable(on_ray)
