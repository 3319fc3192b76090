"""Agreement of the pathwise linear models and attention maps with their fixture-time torch oracles.

Run from the repository root: python benchmarks/pathwise_oracles.py (numbers quoted in /work/notes/path15.md;
the same comparisons are asserted in tests/test_pathwise.py and tests/test_attention.py).
"""
import numpy as np, audit_engine as ae, time
from audit_engine.data.space import FeatureSpace
from audit_engine.evaluator.local import LocalEvaluator
from audit_engine.explain.pathwise import pathwise
from audit_engine.explain.attention import attention_explain
O = np.load("fixtures/data/pathwise_oracle.npz")
for name in ["digits04_mlp", "digits_cnn", "pathwise_cnn"]:
    m = ae.load_model(f"fixtures/models/{name}.onnx"); d = ae.load_data(O["x"]); sp = FeatureSpace.bind(m, d); x = sp.encode(d)
    ev = LocalEvaluator(m, sp, probe_rows=x); k = O[f"{name}_logits"].shape[1]
    t = time.perf_counter(); pw = pathwise(ev, x, np.tile(np.arange(k), (len(x), 1))); dt = time.perf_counter() - t
    print(f"{name}: max|W-autograd|={np.abs(pw.W - O[f'{name}_jacobian']).max():.1e} max|Wx+b-logit|={np.abs(pw.logit - O[f'{name}_logits']).max():.1e} "
          f"numpy-vs-model={pw.max_error:.1e} bias_share(pred) median={np.median(np.take_along_axis(pw.bias_share, O[f'{name}_logits'].argmax(1)[:, None], 1)):.3f} time(16 rows, {k} classes)={dt:.3f}s")
A = np.load("fixtures/data/attention_oracle.npz")
m = ae.load_model("fixtures/models/tiny_transformer.onnx"); d = ae.load_data("fixtures/data/tiny_text.npz", target="y"); sp = FeatureSpace.bind(m, d); x = sp.encode(d)
ev = LocalEvaluator(m, sp, probe_rows=x, y=d.y)
ex = attention_explain(ev, x, ev.predict(x).argmax(1))
print(f"tiny_transformer: max|attention-torch|={np.abs(ex.attention - A['attention']).max():.1e} max|rollout-reference|={np.abs(ex.rollout_matrix - A['rollout']).max():.1e} "
      f"Spearman vs occlusion over 48 rows: last-layer {np.nanmean(ex.spearman_last):.3f}, rollout {np.nanmean(ex.spearman_rollout):.3f}")
