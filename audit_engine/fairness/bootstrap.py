"""Poisson bootstrap on cell counts: replicates that cost nothing per row.

In the Poisson bootstrap (Hanley & MacGibbon 2006; Chamandy et al. 2012) every row gets
an independent Poisson(1) weight per replicate. The replicate count of a cell holding c
rows is then a sum of c independent Poisson(1) draws, i.e. exactly Poisson(c). So a
replicate of every group metric is obtained by drawing one Poisson(c) per *cell* — the
cost of 1000 replicates depends on the number of cells, never on the number of rows, and
the draws are the same however the rows were chunked.

Weighted counts and score sums follow the replicate row count in proportion (each cell's
mean weight and mean score are held at their observed values); with unit weights and
score bins this is exact for counts and a within-bin approximation for score sums.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .counts import GroupCounts

__all__ = ["CellReplicate", "poisson_cell_replicates", "BLOCK_CELLS"]

BLOCK_CELLS = 4_000_000


class CellReplicate:
    """A block of replicated cell arrays with a leading replicate axis ``(r, *cells)``."""

    __slots__ = ("counts", "score_sums")

    def __init__(self, counts: np.ndarray, score_sums: np.ndarray | None) -> None:
        self.counts = counts
        self.score_sums = score_sums


def point(gc: GroupCounts) -> CellReplicate:
    """The observed counts as a single 'replicate' ``(1, *cells)``."""
    return CellReplicate(gc.counts[None], None if gc.score_sums is None else gc.score_sums[None])


def poisson_cell_replicates(gc: GroupCounts, n_boot: int, rng: np.random.Generator) -> Iterator[CellReplicate]:
    """Yield blocks of Poisson-bootstrap replicates of ``gc``'s cells, ``n_boot`` in all.

    Each block holds at most about ``BLOCK_CELLS`` numbers, so memory is bounded whatever
    the number of replicates; the draws depend only on the seed, the cells and n_boot.
    """
    rows = gc.rows.astype(np.float64)
    cells = rows.size
    occupied = rows > 0
    mean_weight = np.divide(gc.counts, rows, out=np.zeros_like(rows), where=occupied)
    mean_score = None
    if gc.score_sums is not None:
        mean_score = np.divide(gc.score_sums, gc.counts, out=np.zeros_like(rows), where=gc.counts > 0)
    per_block = max(1, BLOCK_CELLS // max(1, cells))
    done = 0
    while done < n_boot:
        r = min(per_block, n_boot - done)
        draws = rng.poisson(np.broadcast_to(rows, (r,) + rows.shape)).astype(np.float64)
        counts = draws * mean_weight
        sums = None if mean_score is None else counts * mean_score
        yield CellReplicate(counts, sums)
        done += r
