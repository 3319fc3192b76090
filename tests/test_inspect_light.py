"""``inspect`` without onnx (issue 16): the same description as the onnx path, the same refusals.

``load_model(..., onnx_checker=False)`` parses with :mod:`audit_engine.model.proto`'s private
message classes and lets onnxruntime validate the model instead of ``onnx.checker``. The
oracles: the onnx path (onnx's classes + ``onnx.checker``) for every fixture model, and
``onnx.checker`` itself for what must be refused.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest
from numpy.testing import assert_allclose
from onnx import TensorProto, helper, numpy_helper

import audit_engine as ae
import audit_engine.model as model_pkg
from audit_engine.cli import main
from audit_engine.model import proto

from .conftest import MODELS, ROOT, model_path
from .test_bad_input import _external_model, _external_outside, _truncated

FIXTURE_MODELS = sorted(p.name for p in MODELS.glob("*.onnx"))


def _fresh(code: str) -> str:
    """Run ``code`` in a fresh interpreter (no onnx imported yet) from the repository root."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def light_descriptions() -> dict[str, dict]:
    """``inspect --json`` of every fixture model, from one fresh process that never imports onnx."""
    out = _fresh(f"""
        import contextlib, io, json, sys
        from audit_engine.cli import main
        docs = {{}}
        for name in {FIXTURE_MODELS!r}:
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                assert main(["inspect", "fixtures/models/" + name, "--json"]) == 0
            docs[name] = json.loads(buf.getvalue())
        assert "onnx" not in sys.modules, "inspect imported onnx"
        print(json.dumps(docs))
    """)
    return json.loads(out)


@pytest.mark.parametrize("name", FIXTURE_MODELS)
def test_fast_path_describes_every_fixture_as_the_onnx_path(name, light_descriptions, capsys, monkeypatch):
    """Oracle: the same ``inspect --json`` with onnx's classes and onnx.checker (ZipMap pipelines,
    CNNs, the text models, several inputs, fixed batch, fp16/int8 included)."""
    real = model_pkg.load_model
    monkeypatch.setattr(model_pkg, "load_model", lambda *a, **k: real(*a, **{**k, "onnx_checker": True}))
    assert main(["inspect", str(Path("fixtures/models") / name), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == light_descriptions[name]


def test_private_messages_read_the_same_fields_as_onnx():
    raw = model_path("compas_pipeline.onnx").read_bytes()
    light = proto._private_messages().ModelProto.FromString(raw)
    real = onnx.load_model_from_string(raw)
    assert type(light) is not type(real)  # a private pool: not onnx's registered classes
    assert light.SerializeToString() == real.SerializeToString()
    assert [n.op_type for n in light.graph.node] == [n.op_type for n in real.graph.node]
    assert proto.messages().ModelProto is onnx.ModelProto  # onnx imported: its own classes


def test_inspect_then_import_onnx_then_a_full_audit_in_one_process(tmp_path):
    """The private pool must not clash with the real onnx package imported later."""
    out = _fresh(f"""
        import contextlib, io, json, sys
        from audit_engine.cli import main
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["inspect", "fixtures/models/compas_logreg.onnx", "--json"]) == 0
            assert main(["inspect", "fixtures/models/digits04_dropout.onnx"]) == 0
        assert "onnx" not in sys.modules
        import onnx
        from audit_engine.model.dropout import rewrite_dropout
        rewritten, sites = rewrite_dropout(onnx.load("fixtures/models/digits04_dropout.onnx"))
        onnx.checker.check_model(rewritten, full_check=True)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            code = main(["run", "fixtures/models/compas_logreg.onnx", "--data", "fixtures/data/compas.csv",
                         "--config", "fixtures/compas_logreg.toml", "--out", {str(tmp_path / "out")!r},
                         "--bootstrap", "50"])
        print(code, len(sites))
    """)
    code, sites = out.split()
    assert code in ("0", "1") and sites == "1"
    doc = json.loads((tmp_path / "out" / "audit.json").read_text())
    ae.validate(doc)
    assert doc["model"]["opset"] == 17 and doc["performance"]


# ------------------------------------------------------------------ refusals
def _model(nodes=None, *, inputs=None, outputs=None, initializer=None, opset: int = 17) -> onnx.ModelProto:
    nodes = nodes or [helper.make_node("MatMul", ["x", "W"], ["z"]), helper.make_node("Softmax", ["z"], ["p"], axis=1)]
    graph = helper.make_graph(
        nodes, "g", inputs or [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        outputs or [helper.make_tensor_value_info("p", TensorProto.FLOAT, ["N", 2])],
        initializer=initializer or [numpy_helper.from_array(np.ones((3, 2), np.float32), "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def _edited(edit) -> onnx.ModelProto:
    model = _model()
    edit(model)
    return model


def _nodes(*nodes) -> onnx.ModelProto:
    return _model(list(nodes))


# Models onnx.checker refuses; the last three onnxruntime would load (checked in _check_structure).
CHECKER_REFUSES = {
    "undefined input": _nodes(helper.make_node("MatMul", ["x", "Q"], ["z"]), helper.make_node("Softmax", ["z"], ["p"])),
    "unknown operator": _nodes(helper.make_node("MatMulX", ["x", "W"], ["p"])),
    "unknown attribute": _nodes(helper.make_node("MatMul", ["x", "W"], ["p"], foo=1)),
    "attribute of the wrong type": _edited(lambda m: setattr(m.graph.node[1].attribute[0], "type", 1)),
    "ir_version past the checker's": _edited(lambda m: setattr(m, "ir_version", 99)),
    "no opset_import": _edited(lambda m: m.opset_import.pop()),
    "not in SSA form": _nodes(helper.make_node("MatMul", ["x", "W"], ["z"]), helper.make_node("Softmax", ["z"], ["z"])),
    "output nothing produces": _model(outputs=[helper.make_tensor_value_info("q", TensorProto.FLOAT, ["N", 2])]),
    "initializer shorter than its shape": _edited(lambda m: setattr(m.graph.initializer[0], "raw_data", b"\0" * 5)),
    "initializer of undefined type": _edited(lambda m: setattr(m.graph.initializer[0], "data_type", 0)),
    "input without a name": _edited(lambda m: setattr(m.graph.input[0], "name", "")),
    "ir_version not set": _edited(lambda m: setattr(m, "ir_version", 0)),
    "graph without a name": _edited(lambda m: setattr(m.graph, "name", "")),
    "nodes not topologically sorted": _nodes(helper.make_node("Softmax", ["z"], ["p"]),
                                             helper.make_node("MatMul", ["x", "W"], ["z"])),
}


@pytest.mark.parametrize("case", sorted(CHECKER_REFUSES))
def test_what_the_checker_refuses_the_fast_path_refuses(case, tmp_path, capfd):
    model = CHECKER_REFUSES[case]
    with pytest.raises(onnx.checker.ValidationError):  # the oracle refuses it
        onnx.checker.check_model(model)
    path = tmp_path / "bad.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(ae.ModelFormatError):
        ae.load_model(path, onnx_checker=False)
    assert main(["inspect", str(path)]) == 2
    err = capfd.readouterr().err.strip()  # fd 2: onnxruntime's own log of the refusal stays hidden
    assert len(err.splitlines()) == 1 and err.endswith("."), err


def test_a_valid_model_passes_both_paths(tmp_path):
    path = tmp_path / "ok.onnx"
    path.write_bytes(_model().SerializeToString())
    onnx.checker.check_model(str(path))
    assert ae.load_model(path, onnx_checker=False).to_dict() == ae.load_model(path).to_dict()


BAD_FILES = {
    "not onnx": (lambda tmp: (tmp / "text.onnx").write_text("hello, not a model") and tmp / "text.onnx", "ONNX"),
    "truncated": (lambda tmp: _truncated(tmp, model_path("compas_mlp.onnx")), "ONNX"),
    "external data outside": (_external_outside, "outside the model's folder"),
    "external length past end of file": (lambda tmp: _external_model(tmp / "m", 24_000, 24), "past the end"),
    "over the size limit": (lambda tmp: model_path("compas_mlp.onnx"), "over the 100-byte limit"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_inspect_refuses_bad_files_in_one_sentence(case, tmp_path, capsys):
    make, phrase = BAD_FILES[case]
    flags = ["--max-model-bytes", "100"] if case == "over the size limit" else []
    assert main(["inspect", str(make(tmp_path)), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and phrase in err, err


def test_external_data_is_read_at_its_offset(tmp_path):
    """Closed form: softmax(x @ W) with W stored after 8 unrelated bytes of its data file."""
    w = np.arange(6, dtype=np.float32).reshape(3, 2) / 10
    (tmp_path / "weights.bin").write_bytes(b"\xff" * 8 + w.tobytes())
    model = _model()
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "weights.bin"), ("offset", "8"), ("length", "24")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    path = tmp_path / "ext.onnx"
    path.write_bytes(model.SerializeToString())
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    z = x @ w
    expected = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    for checker in (False, True):
        loaded = ae.load_model(path, onnx_checker=checker)
        assert_allclose(loaded.session.run(["p"], {"x": x})[0], expected, rtol=1e-5)


@pytest.mark.parametrize("name", FIXTURE_MODELS)
def test_probe_binds_synthetic_rows_as_bind_would(name):
    """Oracle: FeatureSpace.bind on the same rows loaded as array data (the probe's old path)."""
    from audit_engine.data import FeatureSpace, load_data
    from audit_engine.probe import synthetic_rows

    model = ae.load_model(model_path(name), provider="cpu", onnx_checker=False)
    rows = synthetic_rows(model)
    if rows is None:
        pytest.skip("no synthetic rows for this model's inputs")
    data = load_data(rows)
    bound = FeatureSpace.bind(model, data)
    fast = FeatureSpace.for_float_rows(model, rows.shape[1:])
    assert fast.to_dict() == bound.to_dict() and fast.image_layout == bound.image_layout
    assert_allclose(bound.encode(data), rows, rtol=0, atol=0)
