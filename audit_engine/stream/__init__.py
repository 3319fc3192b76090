"""Streaming audits: Parquet data of any size read in fixed chunks of rows.

Additive checks (performance, fairness) are computed from per-chunk tallies that merge
exactly; checks that need rows (explanations, detectors, uncertainty, shift tests) run on
a seeded hashed sample of ``sample_rows`` rows (:mod:`.sample`). Chunks are aligned to
global row indices (rows ``[k*R, (k+1)*R)``), so the figures do not depend on how the
files are split into row groups, nor on the backend (local or Ray) that scored them.
"""

from .source import ParquetSource, is_parquet_source

__all__ = ["ParquetSource", "is_parquet_source"]
