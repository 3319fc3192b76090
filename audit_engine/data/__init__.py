"""Data loading (CSV, Parquet, NumPy, pandas) and the binding of data to model inputs."""

from .loader import AuditData, load_data
from .space import Feature, FeatureSpace

__all__ = ["AuditData", "Feature", "FeatureSpace", "load_data"]
