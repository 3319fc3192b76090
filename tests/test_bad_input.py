"""Bad input: one clear sentence, a specific exception, exit code 2, nothing written."""

from __future__ import annotations

import importlib
import json
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
                        ae.InvalidValueError, "does not handle them"),
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
    with pytest.raises(ae.ConfigError, match=r"'threshold' parameter of AuditConfig must be a number in the range \(0, 1\)"):
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


# =====================================================================================
# Hostile inputs (issue 11). Every case: the documented exit code, exactly one stderr line
# starting "audit-engine: error: ", no traceback, nothing written in or beside --out.
# =====================================================================================
import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import zipfile  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from audit_engine.outdir import MANIFEST, STAGING_PREFIX  # noqa: E402
from audit_engine.params import CHECK_PARAMS, SETTINGS  # noqa: E402

from .conftest import ROOT  # noqa: E402

RUN = ["--target", "y", "--features", "a", "b", "c", "--no-progress"]


def _main(args: list[str], capsys) -> tuple[int, str]:
    code = main(args)
    return code, capsys.readouterr().err


def _one_error_line(err: str, phrase: str = "") -> str:
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1, err
    assert lines[0].startswith("audit-engine: error: "), lines[0]
    assert "Traceback" not in err
    assert phrase in lines[0], lines[0]
    return lines[0]


def _nothing_left(out: Path) -> None:
    assert not out.exists() or not any(out.iterdir()), list(out.iterdir())
    leftovers = [p for p in out.parent.iterdir() if p.name.startswith(STAGING_PREFIX)]
    assert not leftovers, leftovers


def _run_fails(args: list[str], out: Path, capsys, phrase: str = "", code: int = 2) -> str:
    got, err = _main(["run", *args, "--out", str(out)], capsys)
    assert got == code, err
    line = _one_error_line(err, phrase)
    _nothing_left(out)
    return line


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if value != value else ("inf" if value == float("inf") else "-inf" if value == float("-inf") else repr(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def _toml(path: Path, key: str, value, table: str | None = None) -> Path:
    line = f"{key} = {_toml_value(value)}\n"
    path.write_text(f"[{table}]\n{line}" if table else line)
    return path


# ----------------------------------------------------------------- 1. config values
CONFIG_CASES = {
    "threshold string": ("threshold", "0.5", None, "The 'threshold' parameter of AuditConfig must be a number in the range (0, 1)"),
    "threshold nan": ("threshold", float("nan"), None, "'threshold' parameter"),
    "sensitive int": ("sensitive", 5, None, "The 'sensitive' parameter of AuditConfig must be a string or a list of strings. Got 5 (an int) instead"),
    "checks with an int": ("checks", ["fairness", 5], None, "The 'checks' parameter"),
    "negative bootstrap": ("n_bootstrap", -5, None, "with --bootstrap"),
    "huge bootstrap": ("n_bootstrap", 1_000_000_000, None, "[0, 100_000]"),
    "string seed": ("seed", "zero", None, "'seed' parameter"),
    "calibration_bins 1e9": ("calibration_bins", 1e9, "performance", "The 'calibration_bins' parameter of the performance check must be an int in the range [1, 1000]"),
    "negative lime samples": ("lime_samples", -10, "explanations", "'lime_samples' parameter of the explanations check"),
    "string where a number goes": ("min_group_size", "thirty", "fairness", "Got 'thirty' (a string) instead"),
    "bool where an int goes": ("passes", True, "uncertainty", "Got True (a bool) instead"),
    "quantile out of range": ("threshold_quantile", 1.5, "ood", "'threshold_quantile' parameter of the ood check"),
    "unknown check parameter": ("lime_sample", 100, "explanations", "Did you mean 'lime_samples'"),
    "provider int": ("provider", 3, None, "'provider' parameter of AuditConfig must be one of 'auto', 'cpu', 'cuda'"),
    "table not a table": ("fairness", 5, None, "The 'fairness' parameter of AuditConfig must be a table"),
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_config_values_of_wrong_type_or_range(case, tmp_path, logistic3, table, capsys):
    key, value, section, phrase = CONFIG_CASES[case]
    config = _toml(tmp_path / "audit.toml", key, value, section)
    out = tmp_path / "out"
    _run_fails([str(logistic3), "--data", str(table), *RUN, "--config", str(config)], out, capsys, phrase)


FLAG_CASES = {
    "--bootstrap 1e9": (["--bootstrap", "1000000000"], "The 'n_bootstrap' parameter of AuditConfig must be an int in the range [0, 100_000]"),
    "--bootstrap -1": (["--bootstrap", "-1"], "with --bootstrap"),
    "--threshold 2": (["--threshold", "2"], "with --threshold"),
    "--threshold abc": (["--threshold", "abc"], "invalid float value"),
    "--seed -3": (["--seed", "-3"], "with --seed"),
    "--timeout 0": (["--timeout", "0"], "The 'timeout' parameter of audit-engine must be a number in the range (0, 10_000_000] (seconds)"),
    "--max-memory lots": (["--max-memory", "lots"], "The 'max_memory' parameter"),
    "--max-model-bytes 0": (["--max-model-bytes", "0"], "The 'max_model_bytes' parameter"),
    "--checks bogus": (["--checks", "bogus"], "invalid choice"),
}


@pytest.mark.parametrize("case", sorted(FLAG_CASES))
def test_flag_values_out_of_range(case, tmp_path, logistic3, table, capsys):
    flags, phrase = FLAG_CASES[case]
    out = tmp_path / "out"
    _run_fails([str(logistic3), "--data", str(table), *RUN, *flags], out, capsys, phrase)


def test_config_is_checked_before_the_model_is_loaded(tmp_path, table, capsys):
    config = _toml(tmp_path / "audit.toml", "threshold", "0.5")
    out = tmp_path / "out"
    # The model does not even exist: the config error must come first.
    _run_fails([str(tmp_path / "missing.onnx"), "--data", str(table), "--config", str(config)], out, capsys,
               "'threshold' parameter")


_WRONG = st.one_of(
    st.text(max_size=8), st.integers(min_value=-10**12, max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.lists(st.one_of(st.integers(), st.text(max_size=4)), max_size=3),
    st.dictionaries(st.text(min_size=1, max_size=4), st.integers(), max_size=2),
)
_ALL_KEYS = [(None, k) for k in SETTINGS if k not in ("policy",)] + [
    (check, k) for check, table in CHECK_PARAMS.items() for k in table
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(_ALL_KEYS), _WRONG)
def test_property_any_value_for_any_key_is_accepted_or_refused_in_one_line(key, value):
    """Random values of any type for every key: either a valid config, or one ConfigError line."""
    section, name = key
    table = {section: {name: value}} if section else {name: value}
    setting = CHECK_PARAMS[section][name] if section else SETTINGS[name]
    try:
        config = ae.AuditConfig.from_dict(table)
    except ae.ConfigError as exc:
        assert "\n" not in str(exc) and str(exc).endswith(".")
        assert (repr(name) in str(exc) or f"'{section}.{name}'" in str(exc) or f"'{name}'" in str(exc)
                or f"[{name}]" in str(exc) or f"{name} parameter" in str(exc)), str(exc)  # a table names itself
        assert (not setting.is_satisfied_by(value) or name in ("sensitive", "features", "checks", "classes")
                or any(type(c).__name__ == "Table" for c in setting.constraints))  # plus semantic checks (distinct, known keys)
        return
    assert setting.is_satisfied_by(value)
    assert isinstance(config, ae.AuditConfig)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(_ALL_KEYS), st.one_of(st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=6),
                                             st.floats(allow_nan=True),
                                             st.integers(min_value=-10**15, max_value=10**15), st.booleans()))
def test_property_cli_exits_0_to_2_never_a_traceback(tmp_path_factory, capsys, key, value):
    """The same through the CLI and a TOML file: exit 2 with one line, or the audit proceeds."""
    folder = tmp_path_factory.mktemp("prop")
    section, name = key
    setting = CHECK_PARAMS[section][name] if section else SETTINGS[name]
    if setting.is_satisfied_by(value):
        return  # valid values would run a whole audit; the property is about refusals
    if name == "sensitive" and isinstance(value, str):
        return
    config = _toml(folder / "audit.toml", name, value, section)
    out = folder / "out"
    # A missing model: a config that passes validation would fail on it with exit 2 too.
    code, err = _main(["run", str(folder / "m.onnx"), "--data", str(folder / "d.csv"), "--config", str(config),
                       "--out", str(out)], capsys)
    assert code == 2
    line = _one_error_line(err)
    assert "parameter" in line or "config entry" in line or "Did you mean" in line, line
    _nothing_left(out)


# ----------------------------------------------------------------- 2. --out pre-flight
def _good_run(logistic3: Path, table: Path) -> list[str]:
    return [str(logistic3), "--data", str(table), *RUN, "--checks", "performance", "--bootstrap", "20"]


def test_out_is_an_existing_file(tmp_path, logistic3, table, capsys):
    out = tmp_path / "report.txt"
    out.write_text("mine")
    code, err = _main(["run", *_good_run(logistic3, table), "--out", str(out)], capsys)
    assert code == 2
    _one_error_line(err, "is an existing file")
    assert out.read_text() == "mine"


def test_out_holding_user_files_is_refused_then_overwrite_keeps_them(tmp_path, logistic3, table, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "audit.json").write_text("my own notes")
    (out / "thesis.tex").write_text("do not touch")
    code, err = _main(["run", *_good_run(logistic3, table), "--out", str(out)], capsys)
    assert code == 2
    _one_error_line(err, "did not write")
    assert (out / "audit.json").read_text() == "my own notes"
    assert not [p for p in out.iterdir() if p.name.startswith(STAGING_PREFIX)]
    code, err = _main(["run", *_good_run(logistic3, table), "--out", str(out), "--overwrite"], capsys)
    assert code == 0, err
    assert (out / "thesis.tex").read_text() == "do not touch"
    assert json.loads((out / "audit.json").read_text())["schema_version"] == ae.SCHEMA_VERSION


def test_out_dot_never_overwrites_the_users_files(tmp_path, logistic3, table, capsys, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (work / "report.html").write_text("<p>mine</p>")
    monkeypatch.chdir(work)
    code, err = _main(["run", *_good_run(logistic3, table), "--out", "."], capsys)
    assert code == 2
    _one_error_line(err, "(the current folder)")
    assert (work / "report.html").read_text() == "<p>mine</p>"
    assert sorted(p.name for p in work.iterdir()) == ["report.html"]
    code, err = _main(["run", *_good_run(logistic3, table), "--out", ""], capsys)
    assert code == 2
    _one_error_line(err, "--out is empty")


def test_previous_output_is_recognised_by_its_manifest(tmp_path, logistic3, table, capsys):
    out = tmp_path / "out"
    assert _main(["run", *_good_run(logistic3, table), "--out", str(out)], capsys)[0] == 0
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["files"] == ["audit.json", "report.html"]
    (out / "notes.md").write_text("kept")
    assert _main(["run", *_good_run(logistic3, table), "--out", str(out)], capsys)[0] == 0  # rerun: fine
    assert (out / "notes.md").read_text() == "kept"
    # render may replace a file the engine wrote, but not a user's file
    assert _main(["render", str(out / "audit.json"), "--out", str(out / "report.html")], capsys)[0] == 0
    code, err = _main(["render", str(out / "audit.json"), "--out", str(out / "notes.md")], capsys)
    assert code == 2
    _one_error_line(err, "did not write")
    assert (out / "notes.md").read_text() == "kept"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_out(tmp_path, logistic3, table, capsys):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        code, err = _main(["run", *_good_run(logistic3, table), "--out", str(parent / "out")], capsys)
        assert code == 2
        _one_error_line(err, "not writable")
    finally:
        parent.chmod(0o755)


def test_unwritable_out(tmp_path, logistic3, table, capsys):
    out = Path("/proc/self/audit-out")  # not writable even for root
    code, err = _main(["run", *_good_run(logistic3, table), "--out", str(out)], capsys)
    assert code == 2
    _one_error_line(err, "not writable")


def test_progress_is_one_line_per_check_off_a_terminal(tmp_path, logistic3, table, capsys):
    out = tmp_path / "out"
    args = [str(logistic3), "--data", str(table), "--target", "y", "--features", "a", "b", "c",
            "--checks", "performance", "ood", "--bootstrap", "20", "--out", str(out)]
    assert main(["run", *args]) == 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == ["audit-engine: running check performance", "audit-engine: running check ood"]
    assert main(["run", *args, "--no-progress"]) == 0
    assert capsys.readouterr().err == ""


def test_progress_bar_on_a_terminal_waits_a_second(capsys):
    from audit_engine.cli import _Progress

    progress = _Progress(terminal=True)
    progress.start_check("explanations")
    progress(50, 100)
    assert progress.bar is not None and progress.bar.desc == "explanations" and progress.bar.delay == 1.0
    progress(100, 100)
    assert progress.bar is None
    assert capsys.readouterr().err == ""  # a call shorter than a second draws nothing


def test_out_is_checked_before_the_audit_runs(tmp_path, table, capsys):
    out = tmp_path / "f"
    out.write_text("x")
    # A model that would take forever: pre-flight refuses --out before it is even loaded.
    model = save(_slow_model(), tmp_path / "slow.onnx")
    code, err = _main(["run", str(model), "--data", str(table), *RUN, "--out", str(out)], capsys)
    assert code == 2
    _one_error_line(err, "existing file")


# ----------------------------------------------------------------- 3. runtime errors
def _reshape_fails():
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["input", "shape"], ["r"], name="bad_reshape"),
         helper.make_node("Softmax", ["r"], ["probabilities"], axis=1)],
        "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2])],
        initializer=[numpy_helper.from_array(np.array([-1, 7], dtype=np.int64), "shape")],
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 9
    return m


def _nan_model():
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["input", "W"], ["z"]), helper.make_node("Log", ["z"], ["l"]),
         helper.make_node("Softmax", ["l"], ["probabilities"], axis=1)],
        "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2])],
        initializer=[numpy_helper.from_array(np.array([[1, 1], [0, 0], [0, 0]], dtype=np.float32), "W")],
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 9
    return m


def _slow_model(trips: int = 10**12):
    """Valid [N, 3] -> [N, 2] classifier that first spins a Loop ``trips`` times (forever)."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Add", ["acc_in", "one"], ["acc_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []), helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []), helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [1])],
        initializer=[numpy_helper.from_array(np.array([1.0], np.float32), "one")],
    )
    graph = helper.make_graph(
        [helper.make_node("Loop", ["trips", "cond", "acc0"], ["acc"], body=body, name="spin"),
         helper.make_node("Mul", ["acc", "zero"], ["nil"]), helper.make_node("MatMul", ["input", "W"], ["xw"]),
         helper.make_node("Add", ["xw", "nil"], ["z"]), helper.make_node("Softmax", ["z"], ["probabilities"], axis=1)],
        "slow", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2])],
        initializer=[numpy_helper.from_array(np.array(trips, np.int64), "trips"),
                     numpy_helper.from_array(np.array(True), "cond"),
                     numpy_helper.from_array(np.array([0.0], np.float32), "acc0"),
                     numpy_helper.from_array(np.array([0.0], np.float32), "zero"),
                     numpy_helper.from_array(np.array([[1, -1], [0.5, 0], [0, 0.2]], np.float32), "W")],
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 9
    return m


def test_output_without_one_row_per_input_row(tmp_path, table, capsys):
    broken = _reshape_fails()
    broken.graph.initializer[0].CopyFrom(numpy_helper.from_array(np.array([-1, 2], dtype=np.int64), "shape"))
    model = save(broken, tmp_path / "rows.onnx")
    _run_fails([str(model), "--data", str(table), *RUN], tmp_path / "out", capsys, "has shape [90, 2] for 60 input rows")


def test_onnxruntime_failure_names_the_node_and_shapes(tmp_path, table, capsys):
    model = save(_reshape_fails(), tmp_path / "reshape.onnx")
    line = _run_fails([str(model), "--data", str(table), *RUN], tmp_path / "out", capsys, "node 'bad_reshape' (Reshape)")
    assert "input [60, 3] float32" in line
    with pytest.raises(ae.ModelRuntimeError, match="bad_reshape"):
        ae.audit(model, table, config=ae.AuditConfig(target="y", features=("a", "b", "c")))


def _huge_allocation():
    graph = helper.make_graph(
        [helper.make_node("ConstantOfShape", ["shape"], ["big"], name="huge_alloc"),
         helper.make_node("ReduceSum", ["big"], ["s"], keepdims=0),
         helper.make_node("MatMul", ["input", "W"], ["xw"]), helper.make_node("Add", ["xw", "s"], ["z"]),
         helper.make_node("Softmax", ["z"], ["probabilities"], axis=1)],
        "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2])],
        initializer=[numpy_helper.from_array(np.array([2**20, 2**20], np.int64), "shape"),  # 4 TiB of float32
                     numpy_helper.from_array(np.ones((3, 2), np.float32), "W")],
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 9
    return m


def test_allocation_failing_during_inference(tmp_path, table, capsys):
    model = save(_huge_allocation(), tmp_path / "alloc.onnx")
    _run_fails([str(model), "--data", str(table), *RUN], tmp_path / "out", capsys,
               "could not run node 'huge_alloc' (ConstantOfShape)")


def test_nan_outputs_name_the_rows(tmp_path, capsys):
    frame = pd.DataFrame({"a": [1.0, -1.0, 2.0, -3.0] * 5, "b": 0.0, "c": 0.0, "y": [1, 0] * 10})
    data = _write_csv(tmp_path, frame)
    model = save(_nan_model(), tmp_path / "nan.onnx")
    line = _run_fails([str(model), "--data", str(data), *RUN], tmp_path / "out", capsys, "is NaN for 10 of 20 rows")
    assert "(rows 1, 3, 5, 7, 9 and 5 more)" in line


def test_values_overflowing_float32_name_the_column(tmp_path, logistic3, capsys):
    frame = _frame()
    frame.loc[11, "b"] = 1e300
    data = _write_csv(tmp_path, frame)
    _run_fails([str(logistic3), "--data", str(data), *RUN], tmp_path / "out", capsys,
               "Column 'b' of the data holds 1e+300 at row 11")


def test_nothing_else_exits_1_an_unexpected_error_exits_3_with_a_log(tmp_path, logistic3, table, capsys, monkeypatch):
    import audit_engine.performance as performance

    def boom(ctx):
        raise ZeroDivisionError("planted bug")

    monkeypatch.setattr(performance, "run", boom)
    out = tmp_path / "out"
    code, err = _main(["run", *_good_run(logistic3, table), "--out", str(out)], capsys)
    assert code == 3
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("audit-engine: internal error"), err
    assert "please report it with the log" in lines[0]
    log = Path(lines[0].rsplit("the log ", 1)[1].rstrip("."))
    assert log.is_file() and "ZeroDivisionError: planted bug" in log.read_text() and "Traceback" in log.read_text()
    assert log.parent == out  # --out was usable, so the log is there
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(STAGING_PREFIX)]
    monkeypatch.undo()
    assert _main(["run", *_good_run(logistic3, table), "--out", str(out)], capsys)[0] == 0  # a crash log does not block a rerun


def test_a_check_with_status_error_exits_3(tmp_path, logistic3, table, capsys, monkeypatch):
    import audit_engine.cli as cli
    explanations = importlib.import_module("audit_engine.explain.check")  # ae.explain is the function
    import audit_engine.performance as performance

    def boom(ctx):
        raise ValueError("planted")

    monkeypatch.setattr(performance, "run", boom)
    monkeypatch.setattr(explanations, "run", lambda ctx: [][1])
    out = tmp_path / "out"
    code, err = _main(["run", *_good_run(logistic3, table), "--checks", "performance", "explanations",
                       "--out", str(out)], capsys)
    assert code == 3, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "internal error in check performance: ValueError: planted (and 1 more)" in lines[0] and "please report" in lines[0]
    doc = json.loads((out / "audit.json").read_text())  # the other checks' results are kept
    assert doc["status"] == "error" and cli.EXIT_CODES[3].startswith("internal error")
    assert doc["checks"]["explanations"]["status"] == "error"
    assert doc["checks"]["performance"] == {**doc["checks"]["performance"], "status": "error", "error": "ValueError: planted"}
    log = next(p for p in out.iterdir() if p.name.startswith("audit-engine-error-"))
    assert "ValueError: planted" in log.read_text() and "IndexError" in log.read_text()


# ----------------------------------------------------------------- 4. resource limits
def _external_model(folder: Path, declared: int, actual: int) -> Path:
    folder.mkdir(exist_ok=True)
    weights = numpy_helper.from_array(np.ones((3, 2), dtype=np.float32), "W")
    weights.data_location = TensorProto.EXTERNAL
    weights.ClearField("raw_data")
    for key, value in (("location", "weights.bin"), ("offset", "0"), ("length", str(declared))):
        entry = weights.external_data.add()
        entry.key, entry.value = key, value
    with open(folder / "weights.bin", "wb") as fh:  # sparse: no disk or memory is used
        fh.truncate(actual)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["input", "W"], ["z"]), helper.make_node("Softmax", ["z"], ["p"], axis=1)], "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("p", TensorProto.FLOAT, ["N", 2])], initializer=[weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = folder / "model.onnx"
    path.write_bytes(model.SerializeToString())
    return path


LIMIT_CASES = {
    "external length past end of file": (lambda t: _external_model(t / "m", 24_000, 24), [], "past the end of that 24-byte file"),
    "external data over --max-model-bytes": (lambda t: _external_model(t / "m", 3 * 2**30, 3 * 2**30), [],
                                             "bytes of external data, over the 2147483648-byte limit"),
    "external data past protobuf's limit": (lambda t: _external_model(t / "m", 2_300_000_000, 2_300_000_000),
                                            ["--max-model-bytes", "4GiB"], "past protobuf's 2 GiB limit"),
}


@pytest.mark.parametrize("case", sorted(LIMIT_CASES))
def test_model_size_limits_count_external_data(case, tmp_path, table, capsys):
    make, flags, phrase = LIMIT_CASES[case]
    path = make(tmp_path)
    _run_fails([str(path), "--data", str(table), *RUN, *flags], tmp_path / "out", capsys, phrase)


def _npz_declaring(path: Path, shape: tuple[int, ...], payload: int = 1 << 20) -> Path:
    """An .npz whose 'x' header declares ``shape`` float64 but holds only ``payload`` bytes."""
    from numpy.lib import format as npformat

    import io

    buf = io.BytesIO()
    npformat.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("x.npy", buf.getvalue() + b"\0" * payload)
    return path


def test_npz_declaring_12_gib_in_a_small_file(tmp_path, logistic3, capsys):
    path = _npz_declaring(tmp_path / "big.npz", (1_610_612_736, 1))  # 12 GiB of float64
    line = _run_fails([str(logistic3), "--data", str(path), "--no-progress", "--max-memory", "4GiB"],
                      tmp_path / "out", capsys, "declares arrays of 12.0 GiB")
    assert "over the memory budget of 4.0 GiB" in line
    with pytest.raises(ae.ResourceLimitError):
        ae.load_data(path)  # the default budget (half the available memory) refuses it too, before loading


def test_pickled_arrays_are_refused(tmp_path, logistic3, capsys):
    path = tmp_path / "pickled.npz"
    np.savez(path, x=np.array([{"a": 1}, None], dtype=object))
    _run_fails([str(logistic3), "--data", str(path), "--no-progress"], tmp_path / "out", capsys,
               "holds Python objects (a pickle)")


def test_parquet_over_the_memory_budget(tmp_path, logistic3, capsys):
    frame = _frame()
    path = tmp_path / "t.parquet"
    frame.to_parquet(path)
    _run_fails([str(logistic3), "--data", str(path), *RUN, "--max-memory", "1KiB"], tmp_path / "out", capsys,
               "50 rows × 5 columns")


def test_timeout_stops_a_model_that_runs_forever(tmp_path, table, capsys):
    model = save(_slow_model(), tmp_path / "slow.onnx")
    _run_fails([str(model), "--data", str(table), *RUN, "--timeout", "1"], tmp_path / "out", capsys,
               "ran past --timeout (1 s)")


def test_timeout_also_stops_python_code(tmp_path, logistic3, table, capsys, monkeypatch):
    import time

    import audit_engine.performance as performance

    def spin(ctx):  # a check stuck in Python, outside any model call
        while True:
            time.sleep(0.01)

    monkeypatch.setattr(performance, "run", spin)
    _run_fails([*_good_run(logistic3, table), "--timeout", "0.5"], tmp_path / "out", capsys, "ran past --timeout (0.5 s)")


# ----------------------------------------------------------------- 5. signals
def _start(folder: Path, table: Path) -> tuple[subprocess.Popen, Path]:
    folder.mkdir()
    model = save(_slow_model(), folder / "slow.onnx")
    out = folder / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "audit_engine", "run", str(model), "--data", str(table), *RUN, "--out", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    return proc, out


def test_signals_stop_inference_and_remove_the_staging_folder(tmp_path, table):
    """SIGINT -> 130, SIGTERM -> 143 while onnxruntime spins in a Loop; no staging folder left.

    Both runs start at once (the start-up dominates the test's time); each gets its signal
    once it has printed its provider line, i.e. once the model is loaded and about to run.
    """
    import time

    runs = {sig: _start(tmp_path / sig.name, table) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig, (proc, out) in runs.items():
        first = proc.stdout.readline()  # "Running the model on CPU ..." after load_model
        assert first.startswith("Running the model"), (first, proc.communicate())
    time.sleep(0.3)  # now inside session.run (the Loop never ends by itself)
    for sig, (proc, out) in runs.items():
        assert proc.poll() is None
        proc.send_signal(sig)
    for sig, (proc, out) in runs.items():
        try:
            _, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError(f"the run did not stop after {sig.name}") from None
        assert proc.returncode == {signal.SIGINT: 130, signal.SIGTERM: 143}[sig], err
        assert "Traceback" not in err
        assert err.strip().splitlines()[-1].startswith("audit-engine: ")
        assert not out.exists()
        assert not [p for p in out.parent.iterdir() if p.name.startswith(STAGING_PREFIX)]


# ----------------------------------------------------------------- 6. damaged audit.json
def _audit_json(tmp_path: Path, logistic3: Path, table: Path, capsys) -> Path:
    out = tmp_path / "good"
    assert _main(["run", *_good_run(logistic3, table), "--out", str(out)], capsys)[0] == 0
    return out / "audit.json"


DAMAGE = {
    "truncated": lambda text: text[: len(text) // 2],
    "not an object": lambda text: "[1, 2, 3]",
    "verdicts not a list": lambda text: json.dumps({**json.loads(text), "verdicts": 5}),
    "performance entry a string": lambda text: json.dumps({**json.loads(text), "performance": "broken"}),
    "seed a string": lambda text: json.dumps({**json.loads(text), "seed": "zero"}),
    "binary junk": lambda text: "\udcff",
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_damaged_audit_json_for_render_and_compare(case, tmp_path, logistic3, table, capsys):
    good = _audit_json(tmp_path, logistic3, table, capsys)
    bad = tmp_path / "bad.json"
    text = DAMAGE[case](good.read_text())
    if case == "binary junk":
        bad.write_bytes(b"\xff\xfe\x00garbage")
    else:
        bad.write_text(text)
    code, err = _main(["render", str(bad), "--out", str(tmp_path / "r.html")], capsys)
    assert code == 2, err
    _one_error_line(err)
    assert not (tmp_path / "r.html").exists()
    out = tmp_path / "cmp"
    code, err = _main(["compare", str(good), str(bad), "--out", str(out)], capsys)
    assert code == 2, err
    _one_error_line(err)
    _nothing_left(out)


def test_a_signal_while_outputs_are_moved_into_place_waits_for_the_move(tmp_path, logistic3, table, capsys, monkeypatch):
    import audit_engine.outdir as outdir

    real = outdir._write_manifest

    def manifest_then_signal(folder, files):
        os.kill(os.getpid(), signal.SIGTERM)  # arrives mid-commit: held until the folder is complete
        real(folder, files)

    monkeypatch.setattr(outdir, "_write_manifest", manifest_then_signal)
    out = tmp_path / "out"
    code, err = _main(["run", *_good_run(logistic3, table), "--out", str(out)], capsys)
    assert code == 143, err
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "audit.json", "report.html"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(STAGING_PREFIX)]


def test_missing_value_in_a_categorical_string_column_names_the_fix():
    """A string input cannot be missing: the sentence asks for the category the model reads as missing."""
    frame = pd.read_csv(data_path("compas.csv")).head(200)
    frame.loc[7, "sex"] = None
    cfg = ae.AuditConfig(target="two_year_recid", sensitive=["race"], checks=("performance",), n_bootstrap=0)
    with pytest.raises(ae.InvalidValueError, match=r"Column 'sex' has 1 missing values \(first at row 7\).*"
                                                   r"fillna\('missing'\)"):
        ae.audit(model_path("compas_pipeline.onnx"), frame, config=cfg)
