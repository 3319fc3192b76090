"""LIME for images (Ribeiro et al. 2016; ``lime.lime_image``), batched over images.

The image is cut into superpixels — here a regular grid of ``patch_size``×``patch_size``
cells, shared by all images, which suits small inputs such as 8×8 digits (lime's
quickshift needs larger images). Each sample switches every superpixel on or off with
probability 1/2 (sample 0: all on); "off" superpixels take their mean value over the
image (lime's ``hide_color=None``). Weights ``sqrt(exp(−D²/0.25²))`` with ``D`` the
cosine distance of the on/off vector to all-ones; a weighted ridge (α = 1) of the
target's probability on the on/off vector gives one weight per superpixel, painted back
onto its pixels so the heatmap has the image's shape ``row_shape``.
"""

from __future__ import annotations

import numpy as np

from ..data.space import FeatureSpace
from ._common import Predict, gather_scores
from ._image import grid_segments, spatial_shape, to_row_shape
from .surrogate import weighted_ridge

__all__ = ["lime_image"]


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
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-pixel LIME weights ``(t, n, *row_shape)`` with intervals, and the segments ``(H, W)``."""
    n = x.shape[0]
    seg = grid_segments(spatial_shape(space), patch_size)  # (H, W)
    k = int(seg.max()) + 1
    onehot = (seg.reshape(-1)[None, :] == np.arange(k)[:, None]).astype(np.float64)  # (K, HW)
    seg_full = to_row_shape(space, seg)  # (*row_shape)
    # "off" superpixels take their mean value over the image, per channel
    flat_seg = seg_full.reshape(-1)
    xs = x.reshape(n, -1)
    if space.image_layout == "NCHW":
        chan = np.indices(space.row_shape)[0]
    elif space.image_layout == "NHWC":
        chan = np.indices(space.row_shape)[-1]
    else:
        chan = np.zeros(space.row_shape, dtype=int)
    n_chan = int(chan.max()) + 1
    cell = flat_seg * n_chan + chan.reshape(-1)
    ncell = k * n_chan
    member = (cell[None, :] == np.arange(ncell)[:, None]).astype(np.float64)  # (cells, D)
    cell_mean = xs @ member.T / np.maximum(member.sum(axis=1), 1.0)  # (n, cells)
    fudged = cell_mean[:, cell]  # (n, D)
    on = np.stack([g.integers(0, 2, size=(n_samples, k)) for g in rngs]).astype(bool)  # (n, S, K)
    on[:, 0] = True
    pixel_on = on[:, :, flat_seg]  # (n, S, D)
    pert = np.where(pixel_on, xs[:, None, :], fudged[:, None, :])
    scores = predict(pert.reshape((n * n_samples,) + x.shape[1:]))
    y = gather_scores(scores, np.repeat(np.arange(n), n_samples), targets).reshape(n, n_samples, -1)
    z = on.astype(np.float64)
    nz = z.sum(axis=2)
    cos = np.sqrt(nz / k)  # cosine similarity of z with all-ones
    dist = 1.0 - cos
    w = np.sqrt(np.exp(-(dist**2) / kernel_width**2))
    fit = weighted_ridge(z, w, y, alpha=alpha, n_folds=n_folds, confidence=confidence)
    t = targets.shape[1]

    def paint(a: np.ndarray) -> np.ndarray:  # (n, K, t) -> (t, n, *row_shape)
        planes = np.einsum("nkt,kp->tnp", a, onehot).reshape((t, n) + seg.shape)
        return np.ascontiguousarray(to_row_shape(space, planes))

    return paint(fit.coef), paint(fit.ci_low), paint(fit.ci_high), seg
