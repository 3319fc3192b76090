"""LIME for images (Ribeiro et al. 2016; ``lime.lime_image``), batched over images.

Each image is cut into superpixels. As lime does, they follow the image's content:
scikit-image's SLIC (Achanta et al. 2012; lime's default, quickshift, is the same family)
with ``n_segments`` segments on the image rescaled to [0, 1] (CIELAB for RGB). Images
smaller than 32 pixels a side, or where SLIC finds fewer than two segments, fall back to
a regular grid of ``patch_size``×``patch_size`` cells, and the reason is recorded.

Each sample switches every superpixel on or off with probability 1/2 (sample 0: all on);
"off" superpixels take their mean value over the image, per channel (lime's
``hide_color=None``). Weights ``sqrt(exp(−D²/0.25²))`` with ``D`` the cosine distance of
the on/off vector to all-ones; a weighted ridge (α = 1) of the target's probability on
the on/off vector gives one weight per superpixel, painted back onto its pixels so the
heatmap has the image's shape ``row_shape``.

Memory: the perturbed images are built and scored ``max_bytes`` at a time (never all
``n × n_samples`` at once); each row's on/off draws come from its own stream, so the
result does not depend on the budget. Rows with fewer superpixels than the most
segmented row are padded with never-on columns, whose ridge weight is exactly 0 and
which do not touch the other weights (the normal equations are block-diagonal in them).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from ..data.space import FeatureSpace
from ._common import DEFAULT_MAX_BYTES, Predict, chunks, gather_scores
from ._image import copy_where_planes, feed_dtype, grid_segments, spatial_shape, to_row_shape
from .surrogate import weighted_ridge

__all__ = ["lime_image", "superpixels", "MIN_SLIC_SIDE"]

MIN_SLIC_SIDE = 32


def _channels_last(space: FeatureSpace, img: np.ndarray) -> np.ndarray:
    if space.image_layout == "NCHW":
        return np.moveaxis(img, 0, -1)
    if space.image_layout == "NHWC":
        return img
    return img[..., None]


def superpixels(x: np.ndarray, space: FeatureSpace, *, method: str = "auto", n_segments: int = 50,
                patch_size: int = 4) -> tuple[np.ndarray, dict[str, Any]]:
    """Superpixel labels ``(n, H, W)`` (0..K_i−1 per image) and what was used.

    method: ``"auto"`` (SLIC when the image is at least ``MIN_SLIC_SIDE`` a side, else
    the grid), ``"slic"`` or ``"grid"``.
    """
    n = x.shape[0]
    hw = spatial_shape(space)
    grid = np.broadcast_to(grid_segments(hw, patch_size), (n, *hw))
    if method == "grid":
        return np.ascontiguousarray(grid), {"segmentation": "grid", "patch_size": patch_size}
    if min(hw) < MIN_SLIC_SIDE:
        reason = f"the image is {hw[0]}x{hw[1]} pixels, under {MIN_SLIC_SIDE} a side, too small for SLIC superpixels"
        return np.ascontiguousarray(grid), {"segmentation": "grid", "patch_size": patch_size, "fallback": reason}
    try:
        from skimage.segmentation import slic
    except ImportError:  # pragma: no cover - scikit-image is a dependency
        return np.ascontiguousarray(grid), {"segmentation": "grid", "patch_size": patch_size,
                                            "fallback": "scikit-image is not installed"}
    out = np.empty((n, *hw), dtype=np.intp)
    fell_back = 0
    for i in range(n):  # segmentation is per image (as in lime); everything after it is batched
        labels = _slic_labels(slic, space, x[i], n_segments)
        if labels is None:
            labels, fell_back = grid[i], fell_back + 1
        out[i] = labels
    info: dict[str, Any] = {"segmentation": "slic", "n_segments": n_segments,
                            "segments_per_image": [int(out[i].max()) + 1 for i in range(n)]}
    if fell_back:
        info["fallback"] = f"SLIC found a single segment in {fell_back} image(s); those use the grid"
    return out, info


_SLIC_CACHE: OrderedDict[tuple[Any, ...], np.ndarray | None] = OrderedDict()
_SLIC_LOCK = threading.Lock()
_SLIC_CACHE_SIZE = 64  # images; an audit re-segments its explained rows for the extra seed and each sanity step


def _slic_labels(slic: Any, space: FeatureSpace, image: np.ndarray, n_segments: int) -> np.ndarray | None:
    """SLIC labels ``(H, W)`` (0..K−1) of one image, or None when SLIC finds a single segment.

    SLIC is deterministic, and an audit asks for the same images again (the rank-stability
    seed, every sanity-check step): the labels of the last ``_SLIC_CACHE_SIZE`` images are
    kept, keyed by the image's bytes.
    """
    image = np.ascontiguousarray(image)
    key = (hashlib.blake2b(image.tobytes(), digest_size=16).digest(), image.shape, image.dtype.str,
           space.image_layout, int(n_segments))
    with _SLIC_LOCK:
        hit = _SLIC_CACHE.get(key, False)
        if hit is not False:
            _SLIC_CACHE.move_to_end(key)
    if hit is not False:
        return None if hit is None else hit.astype(np.intp)
    img = _channels_last(space, np.asarray(image, dtype=np.float64))
    lo, hi = img.min(), img.max()
    img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    rgb = img.shape[-1] == 3
    labels = slic(img, n_segments=n_segments, compactness=10.0 if rgb else 0.1, convert2lab=rgb,
                  channel_axis=-1, start_label=0, enforce_connectivity=True)
    _, labels = np.unique(labels, return_inverse=True)
    labels = labels.reshape(img.shape[:2])
    found = None if labels.max() < 1 else labels
    with _SLIC_LOCK:
        _SLIC_CACHE[key] = None if found is None else found.astype(np.int32)
        while len(_SLIC_CACHE) > _SLIC_CACHE_SIZE:
            _SLIC_CACHE.popitem(last=False)
    return found


def lime_image(
    predict: Predict,
    x: np.ndarray,
    targets: np.ndarray,
    *,
    space: FeatureSpace,
    patch_size: int,
    n_samples: int,
    rngs: list[np.random.Generator],
    kernel_width: float = 0.25,
    alpha: float = 1.0,
    n_folds: int = 10,
    confidence: float = 0.95,
    segmentation: str = "auto",
    n_segments: int = 50,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """Per-pixel LIME weights ``(t, n, *row_shape)`` with intervals, and the segmentation used."""
    n = x.shape[0]
    hw = spatial_shape(space)
    seg, info = superpixels(x, space, method=segmentation, n_segments=n_segments, patch_size=patch_size)
    ks = seg.reshape(n, -1).max(axis=1) + 1  # (n,) superpixels per image
    k_max = int(ks.max())
    seg_full = np.ascontiguousarray(to_row_shape(space, seg)).reshape(n, -1)  # (n, D) segment of each value
    if space.image_layout == "NCHW":
        chan = np.indices(space.row_shape)[0]
    elif space.image_layout == "NHWC":
        chan = np.indices(space.row_shape)[-1]
    else:
        chan = np.zeros(space.row_shape, dtype=int)
    chan = chan.reshape(-1)
    n_chan = int(chan.max()) + 1
    xs = x.reshape(n, -1)
    # "off" superpixels take their mean value over the image, per channel
    fudged = np.empty_like(xs, dtype=np.float64)
    for i in range(n):
        cell = seg_full[i] * n_chan + chan
        total = np.bincount(cell, weights=xs[i], minlength=k_max * n_chan)
        count = np.bincount(cell, minlength=k_max * n_chan)
        fudged[i] = (total / np.maximum(count, 1))[cell]
    on = np.zeros((n, n_samples, k_max), dtype=bool)
    for i, g in enumerate(rngs):
        on[i, :, : ks[i]] = g.integers(0, 2, size=(n_samples, int(ks[i]))).astype(bool)
        on[i, 0, : ks[i]] = True
    owner = np.repeat(np.arange(n), n_samples)
    t = targets.shape[1]
    y = np.empty((n * n_samples, t))
    seg_flat = seg.reshape(n, -1)
    dt = feed_dtype(space)
    xs_f = xs.astype(dt).reshape((n,) + x.shape[1:])
    fudged_f = fudged.astype(dt).reshape((n,) + x.shape[1:])
    pieces = chunks(n * n_samples, 3 * xs[0].nbytes, max_bytes)  # items (row, sample), row-major
    # One buffer for every piece: a fresh one per piece costs its page faults again (as much
    # time as filling it); predict() reads the piece and keeps no reference to it.
    step = max((b - a for a, b in pieces), default=0)
    buf = np.empty((step,) + x.shape[1:], dtype=dt)
    pix_buf = np.empty((step, seg_flat.shape[1]), dtype=bool)
    for a, b in pieces:
        pert = buf[: b - a]
        for i in range(a // n_samples, (b - 1) // n_samples + 1):  # the rows this piece touches (1 or 2)
            s0, s1 = max(a, i * n_samples) - i * n_samples, min(b, (i + 1) * n_samples) - i * n_samples
            part = pert[i * n_samples + s0 - a: i * n_samples + s1 - a]
            pix = pix_buf[: s1 - s0]
            np.take(on[i, s0:s1], seg_flat[i], axis=1, out=pix)  # (m, H·W) superpixel on/off per pixel
            np.copyto(part, fudged_f[i])
            copy_where_planes(space, part, xs_f[i], pix.reshape((s1 - s0, *hw)))
        y[a:b] = gather_scores(predict(pert), owner[a:b], targets)
    y = y.reshape(n, n_samples, t)
    z = on.astype(np.float64)
    nz = z.sum(axis=2)
    cos = np.sqrt(nz / ks[:, None])  # cosine similarity of z with all-ones
    dist = 1.0 - cos
    w = np.sqrt(np.exp(-(dist**2) / kernel_width**2))
    fit = weighted_ridge(z, w, y, alpha=alpha, n_folds=n_folds, confidence=confidence)

    def paint(a: np.ndarray) -> np.ndarray:  # (n, K, t) -> (t, n, *row_shape)
        per_pixel = np.take_along_axis(a, seg_flat[:, :, None], axis=1)  # (n, HW, t)
        planes = np.moveaxis(per_pixel, -1, 0).reshape((t, n) + hw)
        return np.ascontiguousarray(to_row_shape(space, planes))

    info["superpixels"] = int(k_max)
    return paint(fit.coef), paint(fit.ci_low), paint(fit.ci_high), info
