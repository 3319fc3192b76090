"""Perturbations built piece by piece: the same numbers whatever the memory budget;
image LIME on SLIC superpixels (grid fallback with its reason)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from audit_engine.audit import prepare
from audit_engine.config import AuditConfig
from audit_engine.explain._common import chunks, row_rngs
from audit_engine.explain import Rows, get_explainer
from audit_engine.explain.faithfulness import deletion_insertion
from audit_engine.explain.lime_image import lime_image, superpixels
from audit_engine.explain.occlusion import occlusion_image
from audit_engine.explain.smoothgrad import smoothgrad
from audit_engine.ood.odin import odin_gradient

from .conftest import FIXTURES, data_path, model_path

sys.path.insert(0, str(FIXTURES))
from shapes import shape_images  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    ctx = prepare(model_path("digits_cnn.onnx"), data_path("digits.npz"))
    return ctx


class Counting:
    """predict() that records the largest batch it was given."""

    def __init__(self, predict):
        self.predict, self.largest = predict, 0

    def __call__(self, rows):
        self.largest = max(self.largest, rows.shape[0])
        return self.predict(rows)


def test_chunks_cover_and_respect_the_budget():
    assert chunks(10, 3, 7) == [(0, 2), (2, 4), (4, 6), (6, 8), (8, 10)]
    assert chunks(3, 100, 1) == [(0, 1), (1, 2), (2, 3)]
    assert chunks(0, 8, 64) == []


def test_image_occlusion_is_independent_of_the_budget(digits):
    x = digits.rows[:6]
    targets = digits.proba[:6].argmax(1)[:, None]
    big, _ = occlusion_image(digits.evaluator.predict, x, targets, space=digits.space, patch_size=2, stride=1)
    small_p = Counting(digits.evaluator.predict)
    small, _ = occlusion_image(small_p, x, targets, space=digits.space, patch_size=2, stride=1,
                               max_bytes=5 * 64 * 8 * 2)
    np.testing.assert_allclose(small, big, atol=1e-12)
    assert small_p.largest <= 6  # the 6 unperturbed rows; occluded pieces hold 5 images
    # against onnxruntime directly: one patch of one image
    import onnxruntime as ort

    sess = ort.InferenceSession(str(model_path("digits_cnn.onnx")), providers=["CPUExecutionProvider"])
    z0 = sess.run(None, {"image": x[:1].astype(np.float32)})[0]
    occ = x[:1].copy()
    occ[0, 0, 0:2, 0:2] = 0.0
    z1 = sess.run(None, {"image": occ.astype(np.float32)})[0]
    soft = lambda z: np.exp(z - z.max()) / np.exp(z - z.max()).sum()  # noqa: E731
    drop = soft(z0[0])[targets[0, 0]] - soft(z1[0])[targets[0, 0]]
    np.testing.assert_allclose(big[0, 0, 0, 0, 0], drop, atol=1e-6)  # pixel (0,0) is covered by that patch only


def test_image_lime_and_smoothgrad_are_independent_of_the_budget(digits):
    x = digits.rows[:4]
    targets = np.stack([digits.proba[:4].argmax(1), digits.proba[:4].argsort(1)[:, -2]], axis=1)
    ids = np.arange(4)
    kw = dict(space=digits.space, patch_size=2, n_samples=60, n_folds=5)
    a = lime_image(digits.evaluator.predict, x, targets, rngs=row_rngs(0, "lime", ids), **kw)
    b = lime_image(digits.evaluator.predict, x, targets, rngs=row_rngs(0, "lime", ids), max_bytes=7 * 64 * 8 * 3, **kw)
    for u, v in zip(a[:3], b[:3]):
        np.testing.assert_allclose(u, v, atol=1e-12)
    assert a[3]["segmentation"] == "grid" and "too small for SLIC" in a[3]["fallback"]
    bg = digits.rows
    mask = np.ones(digits.space.row_shape, dtype=bool)
    s1 = smoothgrad(digits.evaluator.predict, x, targets, background=bg, mask=mask, noise_level=0.1, n_samples=8,
                    rngs=row_rngs(0, "sg", ids), estimator="stein")
    s2 = smoothgrad(digits.evaluator.predict, x, targets, background=bg, mask=mask, noise_level=0.1, n_samples=8,
                    rngs=row_rngs(0, "sg", ids), estimator="stein", max_bytes=1)
    for u, v in zip(s1[:3], s2[:3]):
        np.testing.assert_allclose(u, v, atol=1e-12)


def test_faithfulness_and_odin_are_independent_of_the_budget(digits):
    x = digits.rows[:5]
    attr = np.random.default_rng(1).normal(size=x.shape)
    t = digits.proba[:5].argmax(1)[:, None]
    base = np.zeros(digits.space.row_shape)
    a = deletion_insertion(digits.evaluator.predict, x, attr, t, baseline=base, n_steps=6, rng=np.random.default_rng(3))
    b = deletion_insertion(digits.evaluator.predict, x, attr, t, baseline=base, n_steps=6, rng=np.random.default_rng(3),
                           max_bytes=1)
    for key in a:
        np.testing.assert_allclose(a[key], b[key], atol=1e-12)
    # random rankings drawn as one (n_random, n, d) block before: the same stream
    rng = np.random.default_rng(3)
    _ = rng.random((3, 5, 64))
    ev = digits.evaluator
    g1 = odin_gradient(ev, x, temperature=10.0, gradient="stein", n_samples=4, rng=np.random.default_rng(5))
    old = ev.max_chunk_bytes
    try:
        ev.max_chunk_bytes = 1
        g2 = odin_gradient(ev, x, temperature=10.0, gradient="stein", n_samples=4, rng=np.random.default_rng(5))
    finally:
        ev.max_chunk_bytes = old
    np.testing.assert_allclose(g1, g2, atol=1e-12)


def test_slic_superpixels_follow_the_image():
    x, _ = shape_images(2, seed=2, size=64)
    ctx = prepare(model_path("cnn224.onnx"), shape_images(2, seed=2)[0])
    seg, info = superpixels(x, ctx.space.__class__("array", (3, 64, 64), (), ctx.space.inputs, "NCHW"), n_segments=20)
    assert info["segmentation"] == "slic" and seg.shape == (2, 64, 64)
    assert all(4 <= k <= 60 for k in info["segments_per_image"])
    # a superpixel is not a grid cell: boundaries follow the drawn shape, not a regular lattice
    from skimage.segmentation import slic

    img = np.moveaxis((x[0] - x[0].min()) / (x[0].max() - x[0].min()), 0, -1)
    ref = slic(img, n_segments=20, compactness=10.0, convert2lab=True, channel_axis=-1, start_label=0)
    assert np.unique(ref).size == info["segments_per_image"][0]


def test_lime_on_224_images_uses_slic_and_stays_in_budget():
    x, _ = shape_images(2, seed=2)
    ctx = prepare(model_path("cnn224.onnx"), x, config=AuditConfig(max_chunk_bytes=8 * 1024**2))
    pred = Counting(ctx.evaluator.predict)
    ctx.evaluator.predict = pred  # type: ignore[method-assign]
    targets = ctx.proba.argmax(1)[:, None]
    attr = get_explainer("lime").explain(ctx.evaluator, Rows.select(ctx.rows, np.arange(2)), targets=targets,
                                         seed=0, params={"n_samples": 64})
    p, v = attr.params, attr.stacked()
    assert p["segmentation"] == "slic" and p["superpixels"] >= 10 and "segmentation_fallback" not in p
    assert v.shape == (1, 2, 3, 224, 224)
    # 8 MiB of float64 perturbations (3 copies) is at most 3 images per piece
    assert pred.largest <= max(2, 8 * 1024**2 // (3 * 3 * 224 * 224 * 8))


def test_slic_labels_are_reused_and_equal_a_fresh_segmentation():
    from audit_engine.explain import lime_image as li

    x, _ = shape_images(2, seed=4, size=64)
    ctx = prepare(model_path("cnn224.onnx"), shape_images(2, seed=2)[0])
    space = ctx.space.__class__("array", (3, 64, 64), (), ctx.space.inputs, "NCHW")
    li._SLIC_CACHE.clear()
    first, _ = superpixels(x, space, n_segments=20)
    assert len(li._SLIC_CACHE) == 2
    again, _ = superpixels(x, space, n_segments=20)  # from the cache
    np.testing.assert_array_equal(first, again)
    li._SLIC_CACHE.clear()
    fresh, _ = superpixels(x, space, n_segments=20)
    np.testing.assert_array_equal(first, fresh)
    other, _ = superpixels(x, space, n_segments=10)  # another setting is another entry
    assert len(li._SLIC_CACHE) == 4 and other.max() < first.max()
    changed = x.copy()
    changed[0, :, :32] = 0.0  # another image is another entry
    seg, _ = superpixels(changed, space, n_segments=20)
    np.testing.assert_array_equal(seg[1], first[1])
    assert not np.array_equal(seg[0], first[0])


@pytest.mark.parametrize("method", ["smoothgrad", "lime", "occlusion"])
def test_interval_targets_keep_the_first_targets_intervals(digits, method):
    x_ids = np.arange(3)
    targets = np.stack([digits.proba[:3].argmax(1), digits.proba[:3].argsort(1)[:, -2]], axis=1)
    params = {"smoothgrad": {"n_samples": 8, "estimator": "stein"}, "lime": {"n_samples": 60, "n_folds": 5},
              "occlusion": {}}[method]
    def attribute(**kw):
        attr = get_explainer(method).explain(digits.evaluator, Rows.select(digits.rows, x_ids), targets=targets,
                                             seed=3, params=params, **kw)
        return attr.stacked("values"), attr.stacked("ci_low"), attr.stacked("ci_high")

    v, lo, hi = attribute()
    v1, lo1, hi1 = attribute(interval_targets=1)
    v0, lo0, hi0 = attribute(interval_targets=0)
    np.testing.assert_allclose(v1, v, rtol=0, atol=1e-15)
    np.testing.assert_allclose(v0, v, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(lo1[0], lo[0])
    np.testing.assert_array_equal(hi1[0], hi[0])
    assert np.isnan(lo1[1]).all() and np.isnan(hi1[1]).all()
    assert np.isnan(lo0).all() and np.isnan(hi0).all()
    assert np.isfinite(lo).all() and (lo[0] <= v[0]).all() and (v[0] <= hi[0]).all()
