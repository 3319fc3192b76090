"""Hostile inputs of issue #24: exit 2 with one sentence, and nothing the user owns changes.

Every case runs the CLI on tiny models built with onnx.helper and tiny tables, and checks
three things: the exit code, one ``audit-engine: error:`` line naming the problem, and the
disk (inputs byte-identical, nothing left in or beside ``--out``). The oracle for "nothing
changed" is a snapshot of every file under the test's folder (path -> bytes) taken before
the run.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audit_engine.cli import main
from audit_engine.outdir import MANIFEST, STAGING_PREFIX

from .conftest import ROOT, logistic_model, save

RUN = ["--target", "y", "--features", "a", "b", "c", "--checks", "performance", "--bootstrap", "20", "--no-progress"]


# ----------------------------------------------------------------------------- helpers
@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A folder with m.onnx (logistic, 3 inputs), d.csv (60 rows: a, b, c, y, g) and audit.toml."""
    save(logistic_model(np.array([1.0, -1.0, 0.5])), tmp_path / "m.onnx")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    frame["y"] = (frame["a"] > 0).astype(int)
    frame["g"] = rng.choice(["p", "q"], 60)
    frame.to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "audit.toml").write_text("seed = 0\n")
    return tmp_path


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every entry under ``folder``: files by content, folders and links as None."""
    out: dict[str, bytes | None] = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        out[key] = path.read_bytes() if path.is_file() and not path.is_symlink() else None
    return out


def _main(args: list[str], capsys) -> tuple[int, str]:
    code = main(args)
    return code, capsys.readouterr().err


def _one_line(err: str, phrase: str) -> str:
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1, err
    assert lines[0].startswith("audit-engine: error: "), lines[0]
    assert phrase in lines[0], lines[0]
    return lines[0]


def _refused(args: list[str], work: Path, capsys, phrase: str) -> str:
    """Run ``args``; expect exit 2, one line holding ``phrase``, and the folder unchanged."""
    before = _snapshot(work)
    code, err = _main(args, capsys)
    assert code == 2, err
    line = _one_line(err, phrase)
    assert _snapshot(work) == before, set(_snapshot(work)) ^ set(before)
    return line


def _run(work: Path, *extra: str) -> list[str]:
    return ["run", str(work / "m.onnx"), "--data", str(work / "d.csv"), *RUN, *extra]


# ----------------------------------------------------------------------------- 1. data loss
@pytest.mark.parametrize("victim", ["m.onnx", "d.csv", "audit.toml", "ref.csv", "out/audit.json", "out/report.html"])
def test_junit_never_replaces_an_input_or_an_output_of_the_run(victim, work, capsys):
    (work / "ref.csv").write_bytes((work / "d.csv").read_bytes())
    phrase = "which --out writes too" if victim.startswith("out/") else "never replaces or writes into its own inputs"
    _refused(_run(work, "--config", str(work / "audit.toml"), "--reference", str(work / "ref.csv"),
                  "--out", str(work / "out"), "--junit", str(work / victim)), work, capsys, phrase)


def test_junit_over_a_previous_output_folder_file_keeps_the_audit(work, capsys):
    out = work / "out"
    assert _main(_run(work, "--out", str(out)), capsys)[0] == 0
    _refused(_run(work, "--out", str(out), "--junit", str(out / "audit.json")), work, capsys, "which --out writes too")


def test_junit_refuses_a_users_file_and_replaces_its_own(work, capsys):
    mine = work / "results.xml"
    mine.write_text("<results>mine</results>")
    _refused(_run(work, "--out", str(work / "out"), "--junit", str(mine)), work, capsys, "did not write")
    ours = work / "verdicts.xml"
    for _ in range(2):  # the second run replaces the file the first one wrote (it carries the engine's mark)
        code, err = _main(_run(work, "--out", str(work / "out"), "--junit", str(ours)), capsys)
        assert code == 0, err
    assert '<testsuites name="audit-engine"' in ours.read_text()
    assert mine.read_text() == "<results>mine</results>"
    assert not [p for p in work.iterdir() if p.name.startswith(STAGING_PREFIX)]


def test_junit_inside_out_is_committed_with_it_and_listed(work, capsys):
    out = work / "out"
    code, err = _main(_run(work, "--out", str(out), "--junit", str(out / "verdicts.xml")), capsys)
    assert code == 0, err
    assert json.loads((out / MANIFEST).read_text())["files"] == ["audit.json", "report.html", "verdicts.xml"]


def test_render_never_replaces_its_own_input(work, capsys):
    out = work / "out"
    assert _main(_run(work, "--out", str(out)), capsys)[0] == 0
    _refused(["render", str(out / "audit.json"), "--out", str(out / "audit.json")], work, capsys,
             "is the audit.json to render")
    _refused(["render", str(out / "audit.json"), "--out", str(out / "audit.json"), "--overwrite"], work, capsys,
             "is the audit.json to render")  # --overwrite or not
    _refused(["render", str(out / "audit.json"), "--out", str(work / "m.onnx")], work, capsys, "did not write")


def test_compare_junit_on_an_input_audit(work, capsys):
    out = work / "out"
    assert _main(_run(work, "--out", str(out)), capsys)[0] == 0
    a = out / "audit.json"
    _refused(["compare", str(a), str(a), "--out", str(work / "cmp"), "--junit", str(a)], work, capsys,
             "is the model or audit A")


def test_out_inside_a_data_folder_is_refused(work, capsys):
    folder = work / "parts"
    folder.mkdir()
    pd.read_csv(work / "d.csv").to_parquet(folder / "part-0.parquet")
    _refused(["run", str(work / "m.onnx"), "--data", str(folder), *RUN, "--out", str(folder)], work, capsys,
             "the data")


def test_a_folder_where_report_html_goes_is_refused_before_anything_is_replaced(work, capsys):
    out = work / "out"
    assert _main(_run(work, "--out", str(out)), capsys)[0] == 0
    (out / "report.html").unlink()
    (out / "report.html").mkdir()
    _refused(_run(work, "--out", str(out), "--overwrite"), work, capsys, "holds a folder named 'report.html'")


def test_bad_junit_is_refused_before_any_work(work, capsys):
    (work / "afile").write_text("x")
    # The model does not exist: the --junit error must come first, and nothing is created.
    _refused(["run", str(work / "missing.onnx"), "--data", str(work / "d.csv"), *RUN, "--out", str(work / "out"),
              "--junit", str(work / "afile" / "j.xml")], work, capsys, "--junit")
    _refused(["run", str(work / "missing.onnx"), "--data", str(work / "d.csv"), *RUN, "--out", str(work / "out"),
              "--junit", str(work)], work, capsys, "is a folder")


def _enospc_render(monkeypatch, code: int) -> None:
    import audit_engine.report as report

    def full(result, path, **kw):
        Path(path).write_text("<html>half")  # a partial file, as a full disk leaves one
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(report, "render", full)


@pytest.mark.parametrize("code, phrase", [(errno.ENOSPC, "the disk is full"),
                                          (errno.EFBIG, "the file size limit"), (errno.EDQUOT, "quota")])
def test_a_full_disk_is_exit_2_and_leaves_nothing(code, phrase, work, capsys, monkeypatch):
    _enospc_render(monkeypatch, code)
    _refused(_run(work, "--out", str(work / "out")), work, capsys, phrase)


def test_a_full_disk_keeps_the_previous_audit(work, capsys, monkeypatch):
    out = work / "out"
    assert _main(_run(work, "--out", str(out)), capsys)[0] == 0
    _enospc_render(monkeypatch, errno.ENOSPC)
    _refused(_run(work, "--out", str(out), "--junit", str(work / "j.xml")), work, capsys, "the disk is full")


def test_file_size_limit_in_a_real_process(work):
    """``ulimit -f``: the write fails with EFBIG (Python ignores SIGXFSZ); exit 2, nothing left."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))

    out = work / "out"
    before = _snapshot(work)
    proc = subprocess.run([sys.executable, "-m", "audit_engine", *_run(work, "--out", str(out))], cwd=ROOT,
                          capture_output=True, text=True, preexec_fn=limit, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2, proc.stderr
    _one_line(proc.stderr, "file size limit")
    assert _snapshot(work) == before


def test_a_concurrent_run_into_the_same_out_is_refused_before_the_work(work, capsys):
    out = work / "out"
    out.mkdir()
    fd = os.open(out, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what a running audit holds
    try:
        _refused(["run", str(work / "missing.onnx"), "--data", str(work / "d.csv"), *RUN, "--out", str(out)],
                 work, capsys, "being written by another audit-engine run")
    finally:
        os.close(fd)


def test_staging_left_by_a_killed_run_is_removed_by_the_next(work, capsys):
    out = work / "out"
    assert _main(_run(work, "--out", str(out)), capsys)[0] == 0
    stale = out / f"{STAGING_PREFIX}999999-abc"
    stale.mkdir()
    (stale / "audit.json").write_text("{half")
    assert _main(_run(work, "--out", str(out)), capsys)[0] == 0
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "audit.json", "report.html"]


def test_an_overlong_out_name_and_a_dangling_symlink(work, capsys):
    _refused(_run(work, "--out", str(work / ("x" * 300))), work, capsys, "over the 255-byte limit")
    (work / "link").symlink_to(work / "nowhere")
    _refused(_run(work, "--out", str(work / "link")), work, capsys, "which does not exist")
    _refused(_run(work, "--out", str(work / "out"), "--junit", str(work / ("j" * 300 + ".xml"))), work, capsys,
             "over the 255-byte limit")


def test_a_crash_log_goes_to_a_temp_folder_when_out_is_full(work, capsys, monkeypatch):
    import audit_engine.audit  # noqa: F401 - the module, for the patch below
    import audit_engine.outdir as outdir

    def crash(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(sys.modules["audit_engine.audit"], "audit", crash)
    monkeypatch.setattr(outdir.OutputFolder, "log_folder", lambda self: Path("/proc/self/no-log"))  # unwritable, even for root
    code, err = _main(_run(work, "--out", str(work / "out")), capsys)
    assert code == 3
    log = Path(err.split("the log ")[1].rstrip(".\n"))
    assert log.is_file() and "boom" in log.read_text()
    assert log.parent.name.startswith("audit-engine-log-") and not (work / "out").exists()


@pytest.fixture
def tiny_tmpfs(tmp_path: Path):
    """A 16 KiB tmpfs (root only; skipped where mounting is not allowed)."""
    mount = tmp_path / "full"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


def test_a_really_full_disk(work, tiny_tmpfs, capsys):
    code, err = _main(_run(work, "--out", str(tiny_tmpfs / "o")), capsys)
    assert code == 2, err
    _one_line(err, "the disk is full")
    assert list(tiny_tmpfs.iterdir()) == []
    code, err = _main(_run(work, "--out", str(work / "out"), "--junit", str(tiny_tmpfs / "j.xml")), capsys)
    assert code == 0, err  # a JUnit file fits in 16 KiB
    assert [p.name for p in tiny_tmpfs.iterdir()] == ["j.xml"]


# ----------------------------------------------------------------------------- 2. external data in subgraphs
def _external(tensor, location: str, length: int, offset: int = 0):
    from onnx import TensorProto

    tensor.data_location = TensorProto.EXTERNAL
    tensor.ClearField("raw_data")
    for key, value in (("location", location), ("offset", str(offset)), ("length", str(length))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def _if_model(location: str, length: int = 24):
    """probabilities = softmax(If(true) { input @ W } else { input @ W }), with W (3, 2) float32 kept
    as external data of the *branch* graphs (not of the main graph)."""
    from onnx import TensorProto, helper, numpy_helper

    def branch(name: str):
        weights = _external(numpy_helper.from_array(np.zeros((3, 2), dtype=np.float32), f"W_{name}"), location, length)
        return helper.make_graph([helper.make_node("MatMul", ["input", f"W_{name}"], [f"z_{name}"])], name, [],
                                 [helper.make_tensor_value_info(f"z_{name}", TensorProto.FLOAT, ["N", 2])],
                                 initializer=[weights])

    graph = helper.make_graph(
        [helper.make_node("If", ["cond"], ["z"], then_branch=branch("then"), else_branch=branch("else")),
         helper.make_node("Softmax", ["z"], ["probabilities"], axis=1)],
        "if_model", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2])],
        initializer=[numpy_helper.from_array(np.array(True), "cond")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    return model


def _write_model(folder: Path, model, name: str = "sub.onnx") -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_bytes(model.SerializeToString())
    return path


def test_subgraph_external_data_is_read_from_the_models_folder_not_the_cwd(work, monkeypatch):
    import audit_engine as ae

    mine = np.array([[1.0, -1.0], [0.5, 2.0], [-1.0, 0.0]], dtype=np.float32)
    model = _write_model(work / "model", _if_model("w64.bin"))
    (work / "model" / "w64.bin").write_bytes(mine.tobytes())
    elsewhere = work / "cwd"
    elsewhere.mkdir()
    (elsewhere / "w64.bin").write_bytes(np.full((3, 2), 9.0, dtype=np.float32).tobytes())
    monkeypatch.chdir(elsewhere)
    loaded = ae.load_model(model)
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    got = loaded.session.run(None, {"input": x})[0]
    z = x.astype(np.float64) @ mine
    expected = np.exp(z - z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(got, expected / expected.sum(axis=1, keepdims=True), rtol=1e-5)
    assert ae.load_model(model, onnx_checker=False).session.run(None, {"input": x})[0].tolist() == got.tolist()


@pytest.mark.parametrize("command", ["run", "inspect"])
def test_subgraph_external_data_counts_against_max_model_bytes(command, work, capsys):
    model = _write_model(work / "model", _if_model("big.bin", length=300 * 2**20))
    with open(work / "model" / "big.bin", "wb") as fh:  # sparse: 300 MB declared, nothing on disk
        fh.truncate(300 * 2**20)
    args = ([command, str(model), "--data", str(work / "d.csv"), *RUN, "--out", str(work / "out")]
            if command == "run" else [command, str(model)])
    _refused([*args, "--max-model-bytes", "10MB"], work, capsys, "bytes of external data, over the")


def _loop_link(folder: Path) -> str:
    folder.mkdir(exist_ok=True)
    (folder / "loop").symlink_to(folder / "loop")
    return "loop"


def _link_out(folder: Path) -> str:
    folder.mkdir(exist_ok=True)
    (folder / "w.bin").symlink_to(folder.parent / "d.csv")  # a name inside the folder, a file outside it
    return "w.bin"


ODD_LOCATIONS = {
    "symlink pointing out": (_link_out, "outside the model's folder"),
    "NUL byte": (lambda folder: "w\x00.bin", "NUL byte"),
    "5,000 characters": (lambda folder: "a" * 5000, "5000 characters"),
    "symlink loop": (_loop_link, "cannot be resolved"),
    "outside the folder": (lambda folder: "../d.csv", "outside the model's folder"),
}


@pytest.mark.parametrize("case", sorted(ODD_LOCATIONS))
@pytest.mark.parametrize("command", ["run", "inspect"])
def test_odd_external_data_locations_are_exit_2(case, command, work, capsys):
    make, phrase = ODD_LOCATIONS[case]
    folder = work / "model"
    model = _write_model(folder, _if_model(make(folder)))
    args = ([command, str(model), "--data", str(work / "d.csv"), *RUN, "--out", str(work / "out")]
            if command == "run" else [command, str(model)])
    _refused(args, work, capsys, phrase)


# ----------------------------------------------------------------------------- 3. silently wrong audits
def _identity_model(k: int = 3, *, zipmap_labels: list[int] | None = None, input_type: int | None = None):
    """output = input (rows are the 'probabilities' the data holds); optionally wrapped in a ZipMap,
    or reading an integer input (cast to float)."""
    from onnx import TensorProto, helper

    in_type = TensorProto.FLOAT if input_type is None else input_type
    nodes = [helper.make_node("Cast", ["input"], ["p"], to=TensorProto.FLOAT) if input_type is not None
             else helper.make_node("Identity", ["input"], ["p"])]
    outputs = [helper.make_tensor_value_info("p", TensorProto.FLOAT, ["N", k])]
    opsets = [helper.make_opsetid("", 17)]
    if zipmap_labels is not None:
        nodes.append(helper.make_node("ZipMap", ["p"], ["zip"], domain="ai.onnx.ml", classlabels_int64s=zipmap_labels))
        outputs = [helper.make_tensor_value_info("label_dummy", TensorProto.INT64, ["N"]),
                   helper.make_value_info("zip", helper.make_sequence_type_proto(
                       helper.make_map_type_proto(TensorProto.INT64, helper.make_tensor_type_proto(TensorProto.FLOAT, []))))]
        nodes.append(helper.make_node("ArgMax", ["p"], ["label_dummy"], axis=1, keepdims=0))
        opsets.append(helper.make_opsetid("ai.onnx.ml", 3))
    graph = helper.make_graph(nodes, "identity", [helper.make_tensor_value_info("input", in_type, ["N", k])], outputs)
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 9
    return model


def _probability_rows(n: int = 90, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Dirichlet rows (n, 3) as float32, a few one-hot rows among them, and labels drawn from them."""
    rng = np.random.default_rng(seed)
    p = rng.dirichlet([1.0, 1.0, 1.0], size=n)
    p[:5] = np.eye(3)[rng.integers(0, 3, 5)]
    y = np.array([rng.choice(3, p=row) for row in p])
    return p.astype(np.float32), y


def _probability_table(work: Path, p: np.ndarray, y: np.ndarray) -> Path:
    frame = pd.DataFrame(p.astype(np.float64), columns=["a", "b", "c"])
    frame["y"] = y
    path = work / "probs.csv"
    frame.to_csv(path, index=False, float_format="%.9g")
    return path


def test_probabilities_off_by_float32_rounding_are_renormalised_not_softmaxed(work, capsys):
    from sklearn.metrics import log_loss

    p, y = _probability_rows()
    scaled = (p.astype(np.float64) * (1 + 5e-6)).astype(np.float32)  # rows sum to 1 + 5e-6; one-hot rows hold 1.000005
    model = _write_model(work / "model", _identity_model(), "identity.onnx")
    out = work / "out"
    code, err = _main(["run", str(model), "--data", str(_probability_table(work, scaled, y)), "--target", "y",
                       "--checks", "performance", "--bootstrap", "0", "--no-progress", "--out", str(out)], capsys)
    assert code in (0, 1), err
    doc = json.loads((out / "audit.json").read_text())
    assert doc["model"]["output_kind"] == "probabilities"
    q = scaled.astype(np.float64)
    q = np.clip(q, 0, 1) / np.clip(q, 0, 1).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(doc["performance"]["metrics"]["log_loss"]["value"],
                               log_loss(y, np.clip(q, 1e-15, 1), labels=[0, 1, 2]), rtol=1e-6)


@pytest.mark.parametrize("case, change, phrase", [
    ("sums to 1.001", lambda p: p * 1.001, "more than float32 rounding"),  # one-hot rows then hold 1.001
    ("sums to 1.02", lambda p: p * 1.02, "holds the value 1.01999998 in column"),
    ("negative probabilities", lambda p: p + np.array([-0.2, 0.1, 0.1], dtype=np.float32), "outside [0, 1]"),
])
def test_probabilities_beyond_rounding_are_exit_2(case, change, phrase, work, capsys):
    p, y = _probability_rows()
    if case == "negative probabilities":
        p[:5] = np.float32(1 / 3)  # no one-hot rows: a negative column everywhere
    model = _write_model(work / "model", _identity_model(), "identity.onnx")
    data = _probability_table(work, change(p).astype(np.float32), y)
    _refused(["run", str(model), "--data", str(data), "--target", "y", "--checks", "performance",
              "--bootstrap", "0", "--no-progress", "--out", str(work / "out")], work, capsys, phrase)


def test_a_zipmap_whose_labels_do_not_match_the_columns(work, capsys):
    p, y = _probability_rows()
    model = _write_model(work / "model", _identity_model(zipmap_labels=[0, 1]), "zip.onnx")
    _refused(["run", str(model), "--data", str(_probability_table(work, p, y)), "--target", "y", "--checks",
              "performance", "--bootstrap", "0", "--no-progress", "--out", str(work / "out")], work, capsys,
             "ZipMap names 2 classes (0, 1) but the probability tensor it wraps has 3 columns")


def test_a_timestamp_feature_column(work, capsys):
    frame = pd.read_csv(work / "d.csv")
    frame["c"] = pd.date_range("2024-01-01", periods=len(frame), freq="h")
    frame.to_parquet(work / "t.parquet")
    _refused(["run", str(work / "m.onnx"), "--data", str(work / "t.parquet"), *RUN, "--out", str(work / "out")],
             work, capsys, "Feature column 'c' holds timestamps")


def test_fractional_data_for_an_int64_input(work, capsys):
    from onnx import TensorProto

    p, y = _probability_rows()
    model = _write_model(work / "model", _identity_model(input_type=TensorProto.INT64), "int.onnx")
    _refused(["run", str(model), "--data", str(_probability_table(work, p, y)), "--target", "y", "--checks",
              "performance", "--bootstrap", "0", "--no-progress", "--out", str(work / "out")], work, capsys,
             "but the model input 'input' is int64 and would truncate them")


def test_a_duplicated_feature_name(work, capsys):
    text = (work / "d.csv").read_text().splitlines()
    header = text[0].split(",")
    header[1] = "a"  # a, a, c, y, g
    (work / "dup.csv").write_text("\n".join([",".join(header), *text[1:]]) + "\n")
    _refused(["run", str(work / "m.onnx"), "--data", str(work / "dup.csv"), "--target", "y", "--no-progress",
              "--out", str(work / "out")], work, capsys, "names the column 'a' twice")
    _refused(["run", str(work / "m.onnx"), "--data", str(work / "d.csv"), "--target", "y", "--features", "a", "a",
              "b", "--no-progress", "--out", str(work / "out")], work, capsys, "names the column 'a' twice")


# ----------------------------------------------------------------------------- 4. exit codes and one line
def test_a_model_or_config_path_that_is_a_folder_and_a_data_fifo(work, capsys):
    (work / "folder.onnx").mkdir()
    _refused(["run", str(work / "folder.onnx"), "--data", str(work / "d.csv"), *RUN, "--out", str(work / "out")],
             work, capsys, "is a folder, not a file; pass the .onnx file inside it")
    (work / "conf").mkdir()
    _refused(_run(work, "--config", str(work / "conf"), "--out", str(work / "out")), work, capsys,
             "The config path")
    os.mkfifo(work / "pipe.csv")
    line = _refused(["run", str(work / "m.onnx"), "--data", str(work / "pipe.csv"), *RUN, "--out", str(work / "out")],
                    work, capsys, "is a named pipe (FIFO), not a file")
    assert "does not exist" not in line


def test_a_toml_of_3000_nested_inline_tables(work, capsys):
    (work / "deep.toml").write_text("a = " + "{b = " * 3000 + "1" + "}" * 3000 + "\n")
    _refused(_run(work, "--config", str(work / "deep.toml"), "--out", str(work / "out")), work, capsys,
             "nests tables or arrays deeper")


def test_a_parquet_folder_whose_files_disagree_on_a_column_type(work, capsys):
    folder = work / "parts"
    folder.mkdir()
    frame = pd.read_csv(work / "d.csv")
    frame.iloc[:30].to_parquet(folder / "part-0.parquet")
    other = frame.iloc[30:].copy()
    other["b"] = other["b"].astype(str)
    other.to_parquet(folder / "part-1.parquet")
    _refused(["run", str(work / "m.onnx"), "--data", str(folder), *RUN, "--out", str(work / "out")], work, capsys,
             "disagree on column 'b': double in")


def test_an_error_line_is_capped(work, capsys):
    (work / "long.toml").write_text(f'[[policy.rules]]\nmetric = "{"x" * 200_000}"\nmin = 0.5\n')
    line = _refused(_run(work, "--config", str(work / "long.toml"), "--out", str(work / "out")), work, capsys,
                    "more characters cut")
    assert len(line) <= 1000


def test_numpy_warnings_never_precede_the_error_line(work):
    """In a real process (pytest would capture the warning itself): a numpy RuntimeWarning
    raised on the way to an error does not reach stderr; the error line is all there is."""
    script = ("import numpy as np, sys\n"
              "import audit_engine.cli as cli\n"
              "from audit_engine.errors import ConfigError\n"
              "def warn_then_fail(args):\n"
              "    np.log(np.zeros(2))\n"
              "    raise ConfigError('A planted error.')\n"
              "cli._tracker = warn_then_fail  # called right after the config is read\n"
              "cli.entry()\n")
    proc = subprocess.run([sys.executable, "-W", "default", "-c", script, *_run(work, "--out", str(work / "out"))],
                          cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == ["audit-engine: error: A planted error."]


_HOSTILE_GROUPS = ["p\x1b[31m", "q\x1b]0;owned\x07", "r\x0b\x01"]


def test_control_characters_in_group_names_are_escaped_on_the_terminal_and_in_junit(work, capsys):
    import xml.etree.ElementTree as ET

    frame = pd.read_csv(work / "d.csv")
    frame["g"] = [_HOSTILE_GROUPS[i % 3] for i in range(len(frame))]
    frame.to_csv(work / "g.csv", index=False)
    (work / "policy.toml").write_text('[[policy.rules]]\nmetric = "fairness.g.groups.*.selection_rate"\nmin = 0.99\n')
    junit = work / "j.xml"
    code = main(["run", str(work / "m.onnx"), "--data", str(work / "g.csv"), "--target", "y", "--sensitive", "g",
                 "--features", "a", "b", "c", "--checks", "fairness", "--bootstrap", "20", "--no-progress",
                 "--config", str(work / "policy.toml"), "--out", str(work / "out"), "--junit", str(junit)])
    captured = capsys.readouterr()
    assert code == 1, captured.err
    shown = captured.out + captured.err
    assert "\\x1b" in shown  # the fail verdicts name the groups, escaped
    assert not any(ch in shown for ch in "\x1b\x07\x0b\x01")
    names = [case.get("name") for case in ET.parse(junit).getroot().iter("testcase")]  # well-formed
    assert any("\\x1b]0;owned\\x07" in name for name in names), names
    code, err = _main(["run", str(work / "m.onnx"), "--data", str(work / "g.csv"), "--target", "y",
                       "--sensitive", "\x1b]0;owned\x07", "--out", str(work / "out2")], capsys)
    assert code == 2 and "\x1b" not in err and "\\x1b]0;owned\\x07" in err


def test_a_fixed_batch_of_2_to_the_40(work, capsys):
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Softmax", ["input"], ["probabilities"], axis=1)], "fixed",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [2**40, 3])],
                              [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [2**40, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    path = _write_model(work / "model", model, "fixed.onnx")
    line = _refused(["run", str(path), "--data", str(work / "d.csv"), *RUN, "--out", str(work / "out")], work,
                    capsys, "fixes its batch dimension at 1099511627776 rows")
    assert "lime_samples" not in line


# ----------------------------------------------------------------------------- 5. memory bounds that bound
def test_an_npz_member_without_the_npy_suffix_is_measured(work, capsys):
    import io
    import zipfile

    from numpy.lib import format as npformat

    header = io.BytesIO()
    npformat.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (2**28, 8)})  # 16 GiB
    with zipfile.ZipFile(work / "big.npz", "w") as archive:
        archive.writestr("x", header.getvalue() + b"\0" * 64)
        archive.writestr("y.npy", np.zeros(4).tobytes())
    line = _refused(["run", str(work / "m.onnx"), "--data", str(work / "big.npz"), "--target", "y",
                     "--max-memory", "100MB", "--out", str(work / "out")], work, capsys, "over the memory budget")
    assert "16.0 GiB" in line


def test_a_parquet_file_of_long_strings_is_measured_by_its_bytes(work, capsys):
    frame = pd.read_csv(work / "d.csv").head(20)
    frame["text"] = [("a" * 1_000_000) + str(i) for i in range(len(frame))]  # 20 MB of text, a small file
    frame.to_parquet(work / "long.parquet", compression="zstd")
    assert (work / "long.parquet").stat().st_size < 2_000_000
    _refused(["run", str(work / "m.onnx"), "--data", str(work / "long.parquet"), *RUN, "--max-memory", "5MB",
              "--out", str(work / "out")], work, capsys, "over the memory budget of 4.8 MiB")


def test_a_parquet_folder_is_measured(work, capsys):
    folder = work / "parts"
    folder.mkdir()
    pd.read_csv(work / "d.csv").to_parquet(folder / "part-0.parquet")
    _refused(["run", str(work / "m.onnx"), "--data", str(folder), *RUN, "--max-memory", "1KB",
              "--out", str(work / "out")], work, capsys, "Parquet files (about")


# ----------------------------------------------------------------------------- 6. time bounds and signals
def test_timeout_acts_while_the_session_is_built(work, capsys, monkeypatch):
    """A session build that blocks in C code (here libc sleep, as onnxruntime's constant folding
    does) no longer holds --timeout off: the run stops while the build is still going."""
    import ctypes

    import audit_engine.model.providers as providers

    state = {"finished": False}

    def blocking_build(model_bytes, provider="auto", *, threads=None):
        ctypes.CDLL(None).sleep(4)  # holds no GIL, cannot be interrupted
        state["finished"] = True
        raise RuntimeError("the build ended")

    monkeypatch.setattr(providers, "_create_session", blocking_build)
    _refused(_run(work, "--out", str(work / "out"), "--timeout", "0.5"), work, capsys, "ran past --timeout (0.5 s)")
    assert not state["finished"]  # the run stopped before the build returned


def test_inspect_is_bounded(work, capsys):
    from .test_bad_input import _slow_model

    model = save(_slow_model(), work / "slow.onnx")
    _refused(["inspect", str(model), "--timeout", "1"], work, capsys, "ran past --timeout (1 s)")


def test_a_model_call_that_never_returns_is_bounded_without_timeout(work, capsys, monkeypatch):
    import audit_engine.runtime as runtime

    from .test_bad_input import _slow_model

    monkeypatch.setattr(runtime, "DEFAULT_CALL_SECONDS", 0.5)
    model = save(_slow_model(), work / "slow.onnx")
    _refused(["run", str(model), "--data", str(work / "d.csv"), *RUN, "--out", str(work / "out")], work, capsys,
             "One model call ran for over 0.5 s and was stopped")


def test_ctrl_c_before_the_handlers_is_one_line(work):
    """Ctrl-C in the first tenth of a second (here: while the parser is built) exits 130 in one line."""
    script = ("import audit_engine.cli as cli\n"
              "def interrupted(): raise KeyboardInterrupt\n"
              "cli.build_parser = interrupted\n"
              "cli.entry()\n")
    proc = subprocess.run([sys.executable, "-c", script, "run", "m.onnx"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.strip().splitlines() == ["audit-engine: interrupted (Ctrl-C); no partial output is left."]


def test_junit_never_replaces_the_models_external_data_even_with_overwrite(work, capsys):
    model = _write_model(work / "model", _if_model("w64.bin"))
    (work / "model" / "w64.bin").write_bytes(np.ones((3, 2), dtype=np.float32).tobytes())
    _refused(["run", str(model), "--data", str(work / "d.csv"), *RUN, "--out", str(work / "out"),
              "--junit", str(work / "model" / "w64.bin"), "--overwrite"], work, capsys,
             "is the external data file of the model")


@pytest.mark.parametrize("case, extra, phrase", [
    ("single group", [], "has a single group ('p')"),
    ("unknown reference group", ["--reference-group", "zzz"], "The reference group 'zzz' is not a group"),
])
@pytest.mark.parametrize("source", ["csv", "parquet-streamed"])
def test_bad_groups_are_refused_before_any_model_call(case, extra, phrase, source, work, capsys):
    """The model never returns (a Loop of 10^12 trips): the refusal must come before the first call,
    for data in memory and for a streamed source (its groups counted over every row first)."""
    from .test_bad_input import _slow_model

    frame = pd.read_csv(work / "d.csv")
    if case == "single group":
        frame["g"] = "p"
    if source == "csv":
        frame.to_csv(work / "g.csv", index=False)
        data, stream = work / "g.csv", []
    else:
        frame.to_parquet(work / "g.parquet", index=False)
        data, stream = work / "g.parquet", ["--stream"]
    model = save(_slow_model(), work / "slow.onnx")
    _refused(["run", str(model), "--data", str(data), "--target", "y", "--sensitive", "g", "--features",
              "a", "b", "c", "--no-progress", "--timeout", "60", *stream, *extra, "--out", str(work / "out")], work,
             capsys, phrase)


@pytest.mark.parametrize("words", [["inspect", "fixtures/models/compas_pipeline.onnx"], ["--help"],
                                   ["inspect", "fixtures/models/compas_pipeline.onnx", "--json"]])
def test_a_reader_that_leaves_the_pipe_is_no_internal_error(words):
    """``audit-engine inspect m.onnx | head -1``: the reader leaves early; that is no bug (was exit 3
    with "internal error: BrokenPipeError"). ``| true`` closes the pipe before the first line."""
    import shlex

    command = " ".join(shlex.quote(w) for w in [sys.executable, "-m", "audit_engine", *words])
    proc = subprocess.run(["bash", "-c", f"set -o pipefail; {command} | true"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
