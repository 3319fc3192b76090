"""Bad input: one clear sentence, a specific exception, exit code 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from onnx import TensorProto, helper, numpy_helper

import audit_engine as ae
from audit_engine.cli import main

from .conftest import data_path, logistic_model, model_path, save


@pytest.fixture
def table(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    frame["y"] = (frame["a"] > 0).astype(int)
    frame["g"] = rng.choice(["p", "q"], 60)
    path = tmp_path / "table.csv"
    frame.to_csv(path, index=False)
    return path


def _write_csv(tmp_path: Path, frame: pd.DataFrame) -> Path:
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    return path


def _cli(args: list[str], out: Path, capsys) -> tuple[int, str]:
    code = main([*args, "--out", str(out)] if args[0] == "run" else args)
    err = capsys.readouterr().err
    return code, err


def _assert_clean_failure(code: int, err: str, out: Path, phrase: str) -> None:
    assert code == 2
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1, err  # one line, no traceback
    assert lines[0].startswith("audit-engine: error: ")
    assert phrase in lines[0], lines[0]
    assert not out.exists() or not any(out.iterdir())


@pytest.fixture
def logistic3(tmp_path: Path) -> Path:
    return save(logistic_model(np.array([1.0, -1.0, 0.5])), tmp_path / "m.onnx")


def _truncated(tmp_path: Path, source: Path) -> Path:
    raw = source.read_bytes()
    path = tmp_path / "truncated.onnx"
    path.write_bytes(raw[: len(raw) // 2])
    return path


def _external_outside(tmp_path: Path) -> Path:
    folder = tmp_path / "model_dir"
    folder.mkdir()
    weights = numpy_helper.from_array(np.ones((3, 2), dtype=np.float32), "W")
    weights.data_location = TensorProto.EXTERNAL
    weights.ClearField("raw_data")
    for key, value in (("location", "../secret.bin"), ("offset", "0"), ("length", "24")):
        entry = weights.external_data.add()
        entry.key, entry.value = key, value
    (tmp_path / "secret.bin").write_bytes(np.ones(6, dtype=np.float32).tobytes())
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["input", "W"], ["p"])], "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("p", TensorProto.FLOAT, ["N", 2])], initializer=[weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = folder / "evil.onnx"
    path.write_bytes(model.SerializeToString())
    return path


MODEL_CASES = {
    "missing model": (lambda tmp, m: tmp / "nope.onnx", ae.ModelNotFoundError, "does not exist"),
    "not onnx": (lambda tmp, m: (tmp / "text.onnx").write_text("hello, not a model") and tmp / "text.onnx",
                 ae.ModelFormatError, "ONNX"),
    "truncated": (lambda tmp, m: _truncated(tmp, m), ae.ModelFormatError, "ONNX"),
    "external data outside": (lambda tmp, m: _external_outside(tmp), ae.ModelSecurityError, "outside the model's folder"),
}


@pytest.mark.parametrize("case", sorted(MODEL_CASES))
def test_bad_model_files(case, tmp_path, logistic3, table, capsys):
    make, error, phrase = MODEL_CASES[case]
    path = make(tmp_path, logistic3)
    with pytest.raises(error, match=phrase):
        ae.load_model(path)
    out = tmp_path / "out"
    code, err = _cli(["run", str(path), "--data", str(table), "--target", "y", "--features", "a", "b", "c"], out, capsys)
    _assert_clean_failure(code, err, out, phrase)


def test_unknown_provider_flag(logistic3, table, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["run", str(logistic3), "--data", str(table), "--provider", "tpu", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 or code is None
    assert "invalid choice: 'tpu'" in err and not out.exists()


def test_unknown_output_name(logistic3, table, tmp_path, capsys):
    out = tmp_path / "out"
    code, err = _cli(["run", str(logistic3), "--data", str(table), "--target", "y", "--features", "a", "b", "c",
                      "--output", "proba"], out, capsys)
    _assert_clean_failure(code, err, out, "no output named 'proba'")


def _frame(**changes):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(50, 3)), columns=["a", "b", "c"])
    frame["y"] = (frame["a"] > 0).astype(int)
    frame["g"] = rng.choice(["p", "q"], 50)
    for key, value in changes.items():
        value(frame)
    return frame


def _set(col, row, value):
    def apply(frame):
        frame[col] = frame[col].astype(object)
        frame.loc[row, col] = value
    return apply


DATA_CASES = {
    "missing target": (_frame(), ["--target", "label"], ae.ColumnError, "target column 'label' is not in the data"),
    "missing sensitive": (_frame(), ["--target", "y", "--sensitive", "race"], ae.ColumnError, "sensitive column 'race'"),
    "missing feature": (_frame(), ["--target", "y", "--features", "a", "b", "zz"], ae.ColumnError, "feature column 'zz'"),
    "wrong feature count": (_frame(extra=lambda f: f.insert(0, "d", 1.0)), ["--target", "y", "--sensitive", "g"],
                            ae.SchemaMismatchError, "expects 3 float32 features; the data has 4"),
    "string in numeric": (_frame(s=_set("b", 7, "seven")), ["--target", "y", "--sensitive", "g"],
                          ae.InvalidValueError, "holds the string 'seven' at row 7"),
    "nan in features": (_frame(n=_set("c", 3, np.nan)), ["--target", "y", "--sensitive", "g"],
                        ae.InvalidValueError, "NaN/inf"),
    "inf in features": (_frame(n=_set("c", 4, np.inf)), ["--target", "y", "--sensitive", "g"],
                        ae.InvalidValueError, "NaN/inf"),
    "single class target": (_frame(one=lambda f: f.__setitem__("y", 1)), ["--target", "y", "--sensitive", "g"],
                            ae.InvalidValueError, "single value"),
}


@pytest.mark.parametrize("case", sorted(DATA_CASES))
def test_bad_data(case, tmp_path, logistic3, capsys):
    frame, flags, error, phrase = DATA_CASES[case]
    path = _write_csv(tmp_path, frame)
    out = tmp_path / "out"
    code, err = _cli(["run", str(logistic3), "--data", str(path), *flags], out, capsys)
    _assert_clean_failure(code, err, out, phrase)
    args = dict(zip(flags[::2], flags[1::2]))
    with pytest.raises(error):
        config = ae.AuditConfig(target=args.get("--target"), sensitive=[a for a in [args.get("--sensitive")] if a],
                                features=flags[flags.index("--features") + 1:] if "--features" in flags else None)
        ae.audit(logistic3, path, config=config)


def test_empty_dataset(tmp_path, logistic3, capsys):
    path = tmp_path / "empty.csv"
    path.write_text("a,b,c,y\n")
    out = tmp_path / "out"
    code, err = _cli(["run", str(logistic3), "--data", str(path), "--target", "y"], out, capsys)
    _assert_clean_failure(code, err, out, "has no rows")
    (tmp_path / "blank.csv").write_text("")
    with pytest.raises(ae.InvalidValueError, match="is empty"):
        ae.load_data(tmp_path / "blank.csv")


def test_missing_data_file(tmp_path, logistic3, capsys):
    out = tmp_path / "out"
    code, err = _cli(["run", str(logistic3), "--data", str(tmp_path / "none.csv")], out, capsys)
    _assert_clean_failure(code, err, out, "does not exist")


def test_cuda_without_gpu_in_cli(tmp_path, logistic3, table, capsys):
    import os

    if os.path.exists("/dev/nvidia0"):
        pytest.skip("a GPU is present")
    out = tmp_path / "out"
    code, err = _cli(["run", str(logistic3), "--data", str(table), "--target", "y", "--features", "a", "b", "c",
                      "--provider", "cuda"], out, capsys)
    _assert_clean_failure(code, err, out, "CUDA was requested")


def test_bad_config_values(tmp_path, logistic3, table, capsys):
    config = tmp_path / "audit.toml"
    config.write_text('seed = 0\ntreshold = 0.3\n')
    out = tmp_path / "out"
    code, err = _cli(["run", str(logistic3), "--data", str(table), "--config", str(config)], out, capsys)
    _assert_clean_failure(code, err, out, "Did you mean 'threshold'")
    with pytest.raises(ae.ConfigError, match="'threshold' parameter must be in"):
        ae.AuditConfig(threshold=1.5)
    with pytest.raises(ae.ConfigError, match="severity"):
        ae.Policy.from_dict({"fairness": {"min_impact_ratio": {"threshold": 0.8, "severity": "panic"}}})


def test_positive_label_not_a_class(tmp_path, logistic3, table, capsys):
    out = tmp_path / "out"
    code, err = _cli(["run", str(logistic3), "--data", str(table), "--target", "y", "--features", "a", "b", "c",
                      "--positive-label", "yes"], out, capsys)
    _assert_clean_failure(code, err, out, "positive label 'yes'")


def test_favorable_label_not_a_class(tmp_path, logistic3, table, capsys):
    out = tmp_path / "out"
    code, err = _cli(["run", str(logistic3), "--data", str(table), "--target", "y", "--features", "a", "b", "c",
                      "--favorable-label", "approved"], out, capsys)
    _assert_clean_failure(code, err, out, "favourable label 'approved'")


def test_custom_domain_refused(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Evil", ["x"], ["y"], domain="com.attacker")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.attacker", 1)])
    path = tmp_path / "custom.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(ae.ModelSecurityError, match="custom domain 'com.attacker'"):
        ae.load_model(path)


def test_size_limit(logistic3):
    with pytest.raises(ae.ModelSecurityError, match="over the 10-byte limit"):
        ae.load_model(logistic3, max_bytes=10)


def test_image_shape_mismatch():
    npz = np.load(data_path("digits.npz"))
    with pytest.raises(ae.SchemaMismatchError, match="expects rows of shape"):
        ae.prepare(model_path("digits_cnn.onnx"), ae.load_data(npz["x"][:, 0], y=npz["y"]))
