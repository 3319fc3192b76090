"""Streaming audits: the pieces only a streamed source needs.

- :mod:`.sample`: the seeded hashed sample of ``sample_rows`` rows the row-needing checks
  (explanations, detectors, uncertainty) run on;
- :mod:`.ray_backend`: Ray Data reading and Ray actors scoring with the driver's binding.

The streamed source itself (:class:`audit_engine.sources.ParquetChunks`, on
:class:`audit_engine.data.parquet.ParquetSource`) feeds the same :func:`audit_engine.audit.prepare`
and the same tallies as data in memory; no check knows which source fed it.
"""
