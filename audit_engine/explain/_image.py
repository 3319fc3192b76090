"""Image geometry in feature space: where the spatial axes are, and patch / segment masks."""

from __future__ import annotations

import numpy as np

from ..data.space import FeatureSpace
from ..errors import ConfigError

__all__ = ["spatial_shape", "to_row_shape", "copy_where_planes", "grid_segments", "patch_masks", "pooled", "feed_dtype", "MAX_STORED_SIDE"]

MAX_STORED_SIDE = 64
"""Heatmaps and inputs stored in audit.json are block-averaged to at most this many
pixels a side (a 3×224×224 map would be 150528 numbers per row)."""


def feed_dtype(space: FeatureSpace) -> np.dtype:
    """The dtype perturbed images are built in: the model input's when it is float32
    (the Evaluator then feeds them without a copy; float64 values would be cast to the
    same float32 numbers anyway), else float64."""
    spec = space.inputs[0] if space.inputs else None
    return np.dtype(np.float32) if spec is not None and spec.numpy_dtype is np.float32 else np.dtype(np.float64)


def pooled(space: FeatureSpace, a: np.ndarray, max_side: int = MAX_STORED_SIDE) -> np.ndarray:
    """Block-average the spatial axes of ``a`` ``(..., *row_shape)`` to at most ``max_side``
    pixels a side (blocks of ``ceil(side / max_side)`` pixels; the last may be smaller)."""
    h, w = spatial_shape(space)
    fh, fw = -(-h // max_side), -(-w // max_side)
    if fh == 1 and fw == 1:
        return a
    lead = a.ndim - len(space.row_shape)
    if space.image_layout == "NCHW":
        ax = (lead + 1, lead + 2)
    elif space.image_layout == "NHWC":
        ax = (lead, lead + 1)
    else:
        ax = (lead, lead + 1)
    out = a
    for axis, f, side in ((ax[0], fh, h), (ax[1], fw, w)):
        starts = np.arange(0, side, f)
        sizes = np.diff(np.append(starts, side)).astype(np.float64)
        shape = [1] * out.ndim
        shape[axis] = sizes.size
        out = np.add.reduceat(out, starts, axis=axis) / sizes.reshape(shape)
    return out


def spatial_shape(space: FeatureSpace) -> tuple[int, int]:
    """(H, W) of an image feature space (NCHW, NHWC or HW)."""
    shape = space.row_shape
    if space.image_layout == "NCHW":
        return shape[1], shape[2]
    if space.image_layout == "NHWC":
        return shape[0], shape[1]
    if space.image_layout == "HW":
        return shape[0], shape[1]
    raise ConfigError(f"Rows of shape {list(shape)} are not images (NCHW, NHWC or HW); use a tabular method.")


def to_row_shape(space: FeatureSpace, planes: np.ndarray) -> np.ndarray:
    """Broadcast ``(..., H, W)`` planes to ``(..., *row_shape)`` over the channel axis."""
    shape = space.row_shape
    if space.image_layout == "NCHW":
        return np.broadcast_to(planes[..., None, :, :], planes.shape[:-2] + shape)
    if space.image_layout == "NHWC":
        return np.broadcast_to(planes[..., None], planes.shape[:-2] + shape)
    return planes


def copy_where_planes(space: FeatureSpace, out: np.ndarray, src: np.ndarray, planes: np.ndarray) -> None:
    """``out[i] = src`` where ``planes[i]`` is True, on every channel, in place.

    out: ``(m, *row_shape)``; src: an image ``row_shape``, images ``(m, *row_shape)`` or
    one value per image ``(m,)``; planes: ``(m, H, W)`` bool. One masked copy per channel:
    the plane mask is then read as it is, about 1.6x faster than ``np.copyto`` with the
    mask broadcast over the channel axis.
    """
    src = np.asarray(src)
    if src.ndim == 1:  # a value per image
        value = src.reshape((-1, 1, 1))
        plane = lambda c: value  # noqa: E731
    elif space.image_layout == "NCHW":
        plane = lambda c: src[..., c, :, :]  # noqa: E731
    elif space.image_layout == "NHWC":
        plane = lambda c: src[..., c]  # noqa: E731
    else:
        plane = lambda c: src  # noqa: E731
    if space.image_layout == "NCHW":
        for c in range(out.shape[1]):
            np.copyto(out[:, c], plane(c), where=planes)
    elif space.image_layout == "NHWC":
        for c in range(out.shape[-1]):
            np.copyto(out[..., c], plane(c), where=planes)
    else:
        np.copyto(out, plane(0), where=planes)


def grid_segments(hw: tuple[int, int], size: int) -> np.ndarray:
    """``(H, W)`` integer labels of a grid of ``size``×``size`` cells (the last ones may be smaller)."""
    h, w = hw
    if size < 1:
        raise ConfigError(f"The 'patch_size' parameter must be an int >= 1; got {size!r}.")
    rows = np.arange(h) // size
    cols = np.arange(w) // size
    return rows[:, None] * (-(-w // size)) + cols[None, :]


def patch_masks(hw: tuple[int, int], size: int, stride: int) -> np.ndarray:
    """``(P, H, W)`` bool masks of the sliding ``size``×``size`` windows (Zeiler & Fergus 2014)."""
    h, w = hw
    if size < 1 or stride < 1:
        raise ConfigError(f"'patch_size' and 'stride' must be ints >= 1; got {size!r} and {stride!r}.")
    size = min(size, h, w)
    tops = list(range(0, max(1, h - size + 1), stride))
    lefts = list(range(0, max(1, w - size + 1), stride))
    if tops[-1] + size < h:
        tops.append(h - size)
    if lefts[-1] + size < w:
        lefts.append(w - size)
    t = np.array(tops)[:, None]
    l_ = np.array(lefts)[None, :]
    ii = np.arange(h)[None, None, :, None]
    jj = np.arange(w)[None, None, None, :]
    m = ((ii >= t[..., None, None]) & (ii < t[..., None, None] + size)
         & (jj >= l_[..., None, None]) & (jj < l_[..., None, None] + size))
    return m.reshape(-1, h, w)
