"""Image geometry in feature space: where the spatial axes are, and patch / segment masks."""

from __future__ import annotations

import numpy as np

from ..data.space import FeatureSpace
from ..errors import ConfigError

__all__ = ["spatial_shape", "to_row_shape", "grid_segments", "patch_masks"]


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
