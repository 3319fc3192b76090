"""Data loading (CSV, Parquet, NumPy, pandas) and the binding of data to model inputs."""

from .loader import AuditData, load_data
from .segments import Segment
from .space import Feature, FeatureSpace, TextBinding
from .tokenizer import TextTokenizer

__all__ = ["AuditData", "Feature", "FeatureSpace", "Segment", "TextBinding", "TextTokenizer", "load_data"]
