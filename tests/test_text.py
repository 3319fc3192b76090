"""Text models and models with several inputs (issue 10): segments, tokenizer, token methods.

Oracles: onnxruntime run directly on feeds built here with ``tokenizers`` (model outputs,
token occlusion), the ``lime`` package's ``LimeTextExplainer`` (token LIME), and a spy on
every feed that proves discrete inputs are never noised.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.stats import spearmanr

import audit_engine as ae
from audit_engine.cli import main
from audit_engine.data import FeatureSpace, TextTokenizer
from audit_engine.errors import SchemaMismatchError
from audit_engine.evaluator.local import LocalEvaluator
from audit_engine.explain.api import explain_rows

from .conftest import ROOT, data_path, model_path

TOK = model_path("reviews_tokenizer.json")
TEXT_MODEL = model_path("reviews_transformer.onnx")
SEQ = 32


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _session(path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _direct_feeds(texts: list[str]) -> dict[str, np.ndarray]:
    """input_ids / attention_mask built here with tokenizers, independently of the engine."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(TOK))
    ids = np.zeros((len(texts), SEQ), dtype=np.int64)
    mask = np.zeros((len(texts), SEQ), dtype=np.int64)
    for i, enc in enumerate(tok.encode_batch(texts)):
        k = min(SEQ, len(enc.ids))
        ids[i, :k] = enc.ids[:k]
        mask[i, :k] = 1
    return {"input_ids": ids, "attention_mask": mask}


@pytest.fixture(scope="module")
def text():
    model = ae.load_model(TEXT_MODEL)
    data = ae.load_data(data_path("reviews.csv"), target="label", sensitive=["group"])
    space = FeatureSpace.bind(model, data, tokenizer=TOK)
    x = space.encode(data)
    ev = LocalEvaluator(model, space, probe_rows=x, y=data.y)
    return model, data, space, x, ev


def test_text_binding_segments_and_outputs_match_onnxruntime(text):
    _, data, space, x, ev = text
    assert space.layout == "segments" and space.row_shape == (2 * SEQ,)
    assert [(s.name, s.offset, s.kind) for s in space.segments] == [
        ("input_ids", 0, "discrete"), ("attention_mask", SEQ, "mask")]
    assert space.text.max_length == SEQ  # the model's static sequence length
    assert not space.has_continuous
    direct = _direct_feeds(list(data.frame.text))
    feeds = space.feeds(x)
    for name in ("input_ids", "attention_mask"):
        assert feeds[name].dtype == np.int64
        assert_array_equal(feeds[name], direct[name])
    want = _softmax(_session(TEXT_MODEL).run(None, direct)[0])
    assert_allclose(ev.predict(x), want, atol=1e-6)


def test_token_occlusion_matches_a_direct_computation(text):
    _, data, space, x, ev = text
    rows = [0, 5, 11]
    attr = explain_rows(ev, x, method="occlusion", rows=rows)
    sess = _session(TEXT_MODEL)
    direct = _direct_feeds([data.frame.text[r] for r in rows])
    for i in range(len(rows)):
        ids, mask = direct["input_ids"][i], direct["attention_mask"][i]
        n_tok = int(mask.sum())
        t = int(attr.targets[i])
        base = _softmax(sess.run(None, {"input_ids": ids[None], "attention_mask": mask[None]})[0])[0, t]
        pid, pmask = np.repeat(ids[None], n_tok, 0), np.repeat(mask[None], n_tok, 0)
        pid[np.arange(n_tok), np.arange(n_tok)] = 0  # [PAD]
        pmask[np.arange(n_tok), np.arange(n_tok)] = 0
        drop = base - _softmax(sess.run(None, {"input_ids": pid, "attention_mask": pmask})[0])[:, t]
        assert_allclose(attr.values[i, :n_tok], drop, atol=1e-6)
        assert_array_equal(attr.values[i, n_tok:], 0.0)  # padding and the mask segment: no attribution


def _lime_text(texts, labels, seed, n_samples):
    from lime.lime_text import LimeTextExplainer

    tok = TextTokenizer.from_file(TOK)
    sess = _session(TEXT_MODEL)

    def classify(strings):
        enc = tok.encode(list(strings), SEQ)
        return _softmax(sess.run(None, {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]})[0])

    out = []
    for text_, label in zip(texts, labels, strict=True):
        explainer = LimeTextExplainer(random_state=seed, feature_selection="none")
        k = len(set(text_.split()))
        exp = explainer.explain_instance(text_, classify, labels=(int(label),), num_features=k, num_samples=n_samples)
        out.append(dict(exp.as_list(label=int(label))))
    return out


def test_token_lime_agrees_with_lime_text(text):
    _, data, space, x, ev = text
    rows = np.arange(0, 96, 8)
    ours = explain_rows(ev, x, method="lime", rows=rows, n_samples=1000, seed=3)
    texts = [data.frame.text[r] for r in rows]
    a = _lime_text(texts, ours.targets, 1, 1000)
    b = _lime_text(texts, ours.targets, 2, 1000)
    tok = TextTokenizer.from_file(TOK)
    mine = []
    for i, r in enumerate(rows):
        tokens = tok.tokens(np.rint(x[r, :SEQ]).astype(np.int64))
        weights: dict[str, float] = {}
        for j in range(int(x[r, SEQ:].sum())):
            weights.setdefault(tokens[j], float(ours.values[i, j]))
        mine.append(weights)

    def med(p, q):
        rhos = []
        for u, v in zip(p, q, strict=True):
            words = sorted(u)
            assert sorted(v) == words  # the same interpretable features: the distinct words
            rhos.append(spearmanr([u[w] for w in words], [v[w] for w in words])[0])
        return float(np.median(rhos))

    self_agreement = med(a, b)
    assert self_agreement > 0.5
    assert med(mine, a) >= self_agreement - 0.05
    assert med(mine, b) >= self_agreement - 0.05
    # same meaning, same magnitude
    flat = [np.abs([w for d in group for w in d.values()]).mean() for group in (mine, a)]
    print(f"median spearman: engine-lime {med(mine, a):.3f}, lime-lime {self_agreement:.3f}; "
          f"mean |w| {flat[0]:.4f} vs {flat[1]:.4f}")
    assert_allclose(flat[0], flat[1], rtol=0.15)


SMALL = """
[explanations]
n_rows = 5
lime_samples = 200
stability_seeds = 0
[ood]
odin_tune_rows = 40
odin_samples = 4
"""


def test_text_audit_end_to_end_from_the_cli(tmp_path):
    cfg = tmp_path / "audit.toml"
    cfg.write_text(SMALL)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "audit_engine", "run", str(TEXT_MODEL), "--data", str(data_path("reviews.csv")),
         "--tokenizer", str(TOK), "--target", "label", "--sensitive", "group",
         "--ood-data", str(data_path("reviews_ood.csv")), "--config", str(cfg), "--bootstrap", "200",
         "--out", str(out), "--no-progress"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "audit.json").read_text())
    ae.validate(doc)
    frame = pd.read_csv(data_path("reviews.csv"))
    proba = _softmax(_session(TEXT_MODEL).run(None, _direct_feeds(list(frame.text)))[0])
    accuracy = float((proba.argmax(1) == frame.label.to_numpy()).mean())
    assert_allclose(doc["performance"]["metrics"]["accuracy"]["value"], accuracy, atol=1e-12)
    sel = {g: float((proba.argmax(1)[frame.group == g] == 1).mean()) for g in ("north", "south")}
    for g, v in sel.items():
        assert_allclose(doc["fairness"]["group"]["groups"][g]["selection_rate"], v, atol=1e-12)
    assert doc["checks"]["explanations.smoothgrad"]["status"] == "skipped"
    assert "discrete" in doc["checks"]["explanations.smoothgrad"]["reason"]
    assert doc["checks"]["ood.odin"]["status"] == "skipped"
    assert set(doc["explanations"]) == {"lime", "occlusion"}
    local = doc["explanations"]["occlusion"]["local"][0]
    assert [t["token"] for t in local["tokens"]] == frame.text[local["row"]].split()
    msp = doc["ood"]["scores"]["msp"]
    assert msp["auroc"]["ci_low"] <= msp["auroc"]["value"] <= msp["auroc"]["ci_high"]
    html = (out / "report.html").read_text()
    assert "token-attr" in html and f'>{local["tokens"][0]["token"]}</span>' in html
    # the token view is rebuilt from audit.json alone, and a hostile token is escaped
    doc["explanations"]["occlusion"]["local"][0]["tokens"][0]["token"] = "<img src=x onerror=alert(1)>"
    (tmp_path / "hostile.json").write_text(json.dumps(doc))
    assert main(["render", str(tmp_path / "hostile.json"), "--out", str(tmp_path / "hostile.html")]) == 0
    page = (tmp_path / "hostile.html").read_text()
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "<img src=x" not in page


def test_discrete_inputs_are_never_noised(tmp_path, monkeypatch):
    """Every feed of a whole audit of a one-input int64 token model holds valid token ids."""
    model = ae.load_model(model_path("reviews_ids_only.onnx"))
    vocab = TextTokenizer.from_file(TOK)._tok.get_vocab_size()
    original = FeatureSpace.feeds
    seen = []

    def spy(self, rows):
        feeds = original(self, rows)
        r = np.asarray(rows)
        assert np.all(r == np.rint(r)), "a token id was moved off the integers"
        assert feeds["input_ids"].min() >= 0 and feeds["input_ids"].max() < vocab
        seen.append(r.shape[0])
        return feeds

    monkeypatch.setattr(FeatureSpace, "feeds", spy)
    config = ae.AuditConfig(target="y", explanations={"n_rows": 4, "lime_samples": 100, "stability_seeds": 0})
    result = ae.audit(model, data_path("reviews_ids.npz"), config=config)
    doc = result.to_dict()
    ae.validate(doc)
    assert sum(seen) > 1000
    assert doc["checks"]["explanations.smoothgrad"] == {
        "status": "skipped", "reason": "every model input is discrete (integer ids or codes); gradients do not apply"}
    assert doc["checks"]["ood.odin"]["status"] == "skipped"
    assert "lime" in doc["explanations"] and "occlusion" in doc["explanations"]


def test_smoothgrad_on_token_ids_is_refused_with_the_reason(text):
    _, _, _, x, ev = text
    with pytest.raises(ae.ConfigError, match="gradients do not apply"):
        explain_rows(ev, x, method="smoothgrad", rows=[0])


# ----------------------------------------------------------------- image + tabular, two inputs
SIDE = model_path("digits_side.onnx")


def test_two_input_npz_binds_by_name_and_matches_onnxruntime():
    model = ae.load_model(SIDE)
    data = ae.load_data(data_path("digits_side.npz"))
    assert data.inputs is not None and set(data.inputs) == {"image", "side"} and data.target == "y"
    space = FeatureSpace.bind(model, data)
    assert [(s.name, s.shape, s.offset, s.kind) for s in space.segments] == [
        ("image", (1, 8, 8), 0, "continuous"), ("side", (3,), 64, "continuous")]
    assert space.feature_names[0] == "image[0,0,0]" and space.feature_names[-1] == "side[2]"
    x = space.encode(data)
    ev = LocalEvaluator(model, space, probe_rows=x, y=data.y, max_chunk_bytes=4096)
    with np.load(data_path("digits_side.npz")) as npz:
        want = _softmax(_session(SIDE).run(None, {"image": npz["image"], "side": npz["side"]})[0])
    assert_allclose(ev.predict(x), want, atol=1e-6)


def test_two_input_audit_from_the_cli(tmp_path):
    cfg = tmp_path / "audit.toml"
    cfg.write_text(SMALL)
    out = tmp_path / "out"
    assert main(["run", str(SIDE), "--data", str(data_path("digits_side.npz")), "--target", "y",
                 "--config", str(cfg), "--bootstrap", "200", "--out", str(out), "--no-progress"]) == 0
    doc = json.loads((out / "audit.json").read_text())
    ae.validate(doc)
    with np.load(data_path("digits_side.npz")) as npz:
        proba = _softmax(_session(SIDE).run(None, {"image": npz["image"], "side": npz["side"]})[0])
        y = npz["y"]
    assert_allclose(doc["performance"]["metrics"]["accuracy"]["value"], float((proba.argmax(1) == y).mean()), atol=1e-12)
    assert doc["data"]["layout"] == "segments"
    assert doc["checks"]["explanations"]["status"] == "ran" and "explanations.smoothgrad" not in doc["checks"]
    assert "side[0]" in doc["explanations"]["smoothgrad"]["local"][0]["attributions"]
    assert "odin" in doc["ood"]["scores"]


def test_two_input_model_with_a_missing_array_says_which(tmp_path, capsys):
    with np.load(data_path("digits_side.npz")) as npz:
        np.savez(tmp_path / "only_image.npz", image=npz["image"], y=npz["y"])
        np.savez(tmp_path / "x.npz", x=npz["image"], y=npz["y"])
    model = ae.load_model(SIDE)
    with pytest.raises(SchemaMismatchError, match="'side'"):
        FeatureSpace.bind(model, ae.load_data(tmp_path / "only_image.npz"))
    with pytest.raises(SchemaMismatchError, match=r"np\.savez\(path, image=\.\.\., side=\.\.\."):
        FeatureSpace.bind(model, ae.load_data(tmp_path / "x.npz"))
    assert main(["run", str(SIDE), "--data", str(tmp_path / "only_image.npz"), "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o" / "audit.json").exists()


def test_tokenizer_errors_are_input_errors(tmp_path):
    assert main(["run", str(TEXT_MODEL), "--data", str(data_path("reviews.csv")), "--tokenizer",
                 str(tmp_path / "missing.json"), "--out", str(tmp_path / "o")]) == 2
    assert main(["run", str(TEXT_MODEL), "--data", str(data_path("reviews.csv")), "--tokenizer", str(TOK),
                 "--text-column", "body", "--out", str(tmp_path / "p")]) == 2


def test_parquet_list_columns_feed_each_input_by_name(tmp_path):
    with np.load(data_path("digits_side.npz")) as npz:
        image, side, y = npz["image"], npz["side"], npz["y"]
    frame = pd.DataFrame({"image": [r.reshape(-1).tolist() for r in image], "side": [r.tolist() for r in side], "y": y})
    frame.to_parquet(tmp_path / "side.parquet")
    config = ae.AuditConfig(target="y", checks=("performance",), n_bootstrap=50)
    ctx = ae.prepare(SIDE, tmp_path / "side.parquet", config=config)
    assert ctx.space.layout == "segments" and ctx.space.segments[0].shape == (1, 8, 8)
    want = _softmax(_session(SIDE).run(None, {"image": image, "side": side})[0])
    assert_allclose(ctx.proba, want, atol=1e-6)


def _bag_model_with_token_types(path):
    """logits = Σ_j mask_j (W[ids_j] + T[type_j]): a text model taking all three inputs."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    vocab = TextTokenizer.from_file(TOK)._tok.get_vocab_size()
    w = numpy_helper.from_array(rng.normal(size=(vocab, 2)).astype(np.float32), "W")
    t = numpy_helper.from_array(rng.normal(size=(2, 2)).astype(np.float32), "T")
    axes2 = numpy_helper.from_array(np.array([2], dtype=np.int64), "axes2")
    axes1 = numpy_helper.from_array(np.array([1], dtype=np.int64), "axes1")
    nodes = [
        helper.make_node("Gather", ["W", "input_ids"], ["g"]),
        helper.make_node("Gather", ["T", "token_type_ids"], ["tt"]),
        helper.make_node("Add", ["g", "tt"], ["s"]),
        helper.make_node("Cast", ["attention_mask"], ["mf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mf", "axes2"], ["m3"]),
        helper.make_node("Mul", ["s", "m3"], ["sm"]),
        helper.make_node("ReduceSum", ["sm", "axes1"], ["logits"], keepdims=0),
    ]
    ins = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", SEQ])
           for n in ("input_ids", "attention_mask", "token_type_ids")]
    out = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 2])
    graph = helper.make_graph(nodes, "bag", ins, [out], initializer=[w, t, axes2, axes1])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


def test_token_type_ids_are_bound_and_occlusion_matches(tmp_path):
    path = _bag_model_with_token_types(tmp_path / "bag.onnx")
    model = ae.load_model(path, output_kind="logits")  # a ReduceSum head: said, not guessed (it could be an embedding)
    data = ae.load_data(data_path("reviews.csv"), target="label")
    space = FeatureSpace.bind(model, data, tokenizer=TOK)
    assert [(s.name, s.kind) for s in space.segments] == [
        ("input_ids", "discrete"), ("attention_mask", "mask"), ("token_type_ids", "discrete")]
    x = space.encode(data)
    ev = LocalEvaluator(model, space, probe_rows=x, y=data.y)
    direct = _direct_feeds(list(data.frame.text[:4]))
    direct["token_type_ids"] = np.zeros_like(direct["input_ids"])
    sess = _session(path)
    assert_allclose(ev.predict(x[:4]), _softmax(sess.run(None, direct)[0]), atol=1e-6)
    attr = explain_rows(ev, x, method="occlusion", rows=[0])
    n_tok = int(direct["attention_mask"][0].sum())
    t = int(attr.targets[0])
    base = _softmax(sess.run(None, {k: v[:1] for k, v in direct.items()})[0])[0, t]
    feeds = {k: np.repeat(v[:1], n_tok, 0) for k, v in direct.items()}
    feeds["input_ids"][np.arange(n_tok), np.arange(n_tok)] = 0
    feeds["attention_mask"][np.arange(n_tok), np.arange(n_tok)] = 0
    drop = base - _softmax(sess.run(None, feeds)[0])[:, t]
    assert_allclose(attr.values[0, :n_tok], drop, atol=1e-6)
    # LIME over tokens runs on the three-input model too, and its surrogate fits an additive model well
    lime = explain_rows(ev, x, method="lime", rows=[0, 1], n_samples=500)
    assert lime.values.shape == (2, 3 * SEQ)
    assert lime.params["surrogate_r2_median"] > 0.5


def test_text_explanations_are_deterministic_and_seed_dependent():
    def run(seed):
        config = ae.AuditConfig(seed=seed, target="label", tokenizer=str(TOK), checks=("explanations",),
                                explanations={"n_rows": 3, "lime_samples": 150, "stability_seeds": 0,
                                              "methods": ["lime"]})
        return ae.audit(TEXT_MODEL, data_path("reviews.csv"), config=config).to_dict()["explanations"]["lime"]

    a, b, c = run(0), run(0), run(1)
    assert a["local"] == b["local"]
    assert a["local"] != c["local"]


def test_token_lime_does_not_depend_on_the_row_grouping(text):
    from audit_engine.explain._common import row_rngs
    from audit_engine.explain.text import lime_tokens

    _, _, space, x, ev = text
    rows = np.array([2, 9, 30])
    targets = ev.predict(x[rows]).argmax(1)[:, None]
    one = lime_tokens(ev.predict, x[rows], targets, space=space, n_samples=200, rngs=row_rngs(5, "lime", rows))
    small = lime_tokens(ev.predict, x[rows], targets, space=space, n_samples=200, rngs=row_rngs(5, "lime", rows),
                        max_bytes=1)
    for a, b in zip(one, small, strict=True):
        assert_allclose(a, b, atol=1e-10)
