"""Load the user's data into :class:`AuditData`: CSV, Parquet, NumPy (.npz/.npy), pandas.

AuditData keeps the raw columns; binding them to the model's inputs is the job of
:class:`~audit_engine.data.space.FeatureSpace`, which needs the model.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ColumnError, DataError, DataNotFoundError, InvalidValueError
from ..limits import check_data_file, not_a_file
from ..params import validate_params
from .csv_source import CSV_SEPARATORS, CsvSource, is_csv_source
from .csv_source import csv_header as _csv_header
from .csv_source import refuse_duplicates as _refuse_duplicates
from .parquet import ParquetSource, is_parquet_source

if TYPE_CHECKING:  # pandas is imported where data is read (0.4 s): inspect and `import audit_engine` skip it
    import pandas as pd

__all__ = ["AuditData", "load_data", "select_inputs"]

logger = logging.getLogger(__name__)


@dataclass
class AuditData:
    """The rows to audit.

    Exactly one of ``frame`` (tabular data; all columns, target and sensitive included),
    ``array`` (array data such as images, shape (n, ...)) and ``inputs`` (one array
    (n, ...) per model input name, from an .npz without ``x``) is set.

    Attributes
    ----------
    frame: pandas DataFrame with every column of the source, or None.
    array: numpy array (n, ...) for .npz/.npy sources, or None.
    target: name of the target column (``"y"`` for arrays), or None.
    y: target values (n,) or None.
    sensitive: DataFrame (n, s) of sensitive attributes as strings (missing stays NaN).
    features: names of the feature columns (tabular); None for arrays.
    path, sha256: where the data came from and its digest (of the file, or of the values).
    extra: arrays of an .npz beside ``x``, ``y`` and the sensitive ones.
    inputs: one array per model input name (see :func:`select_inputs`).
    ignored: arrays of the file that feed no model input (:func:`select_inputs`), by name.
    """

    frame: pd.DataFrame | None
    array: np.ndarray | None
    target: str | None
    y: np.ndarray | None
    sensitive: pd.DataFrame
    features: list[str] | None
    path: str | None
    sha256: str
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    inputs: dict[str, np.ndarray] | None = None
    ignored: tuple[str, ...] = ()

    @property
    def n_rows(self) -> int:
        if self.inputs is not None:
            return int(len(next(iter(self.inputs.values()))))
        return int(len(self.frame) if self.frame is not None else self.array.shape[0])  # type: ignore[union-attr]

    @property
    def sensitive_names(self) -> list[str]:
        return [str(c) for c in self.sensitive.columns]

    def take(self, index: np.ndarray) -> AuditData:
        """A new AuditData with the given rows (same columns), e.g. for a sample."""
        index = np.asarray(index)
        return AuditData(
            frame=None if self.frame is None else self.frame.iloc[index].reset_index(drop=True),
            array=None if self.array is None else self.array[index],
            target=self.target,
            y=None if self.y is None else self.y[index],
            sensitive=self.sensitive.iloc[index].reset_index(drop=True),
            features=self.features,
            path=self.path,
            sha256=self.sha256,
            extra={k: v[index] for k, v in self.extra.items()},
            inputs=None if self.inputs is None else {k: v[index] for k, v in self.inputs.items()},
            ignored=self.ignored,
        )

    def _replace_source(self, path: str, sha256: str) -> AuditData:
        self.path, self.sha256 = path, sha256
        return self

    def to_dict(self) -> dict[str, Any]:
        """The ``data`` block of audit.json."""
        return {
            "path": self.path,
            "sha256": self.sha256,
            "rows": self.n_rows,
            "features": list(self.features) if self.features is not None else [],
            "row_shape": None if self.array is None else list(self.array.shape[1:]),
            **({"inputs": {k: list(v.shape[1:]) for k, v in self.inputs.items()}} if self.inputs is not None else {}),
            "target": self.target,
            "sensitive": self.sensitive_names,
            **({"ignored_arrays": list(self.ignored)} if self.ignored else {}),
        }


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes (what audit.json's ``data.sha256`` holds for a file)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _frame_sha256(frame: pd.DataFrame) -> str:
    import pandas as pd
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    digest = hashlib.sha256(hashed.tobytes())
    digest.update("\x1f".join(map(str, frame.columns)).encode())
    return digest.hexdigest()


def _missing_column(kind: str, name: str, columns: Sequence[str]) -> ColumnError:
    close = difflib.get_close_matches(name, [str(c) for c in columns], n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    shown = ", ".join(repr(str(c)) for c in list(columns)[:12])
    more = ", ..." if len(columns) > 12 else ""
    return ColumnError(
        f"The {kind} column {name!r} is not in the data (columns: {shown}{more}).{hint}"
    )


def _read(path: Path) -> tuple[pd.DataFrame | None, dict[str, np.ndarray] | None]:
    import pandas as pd
    suffix = path.suffix.lower()
    check_data_file(path)  # declared sizes against the memory budget, pickles refused, before loading
    try:
        if suffix in CSV_SEPARATORS:
            sep = CSV_SEPARATORS[suffix]
            _refuse_duplicates(_csv_header(path, sep), f"The header of {str(path)!r}")
            return pd.read_csv(path, sep=sep), None
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path), None
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                return None, {k: npz[k] for k in npz.files}
        if suffix == ".npy":
            return None, {"x": np.load(path, allow_pickle=False)}
    except pd.errors.EmptyDataError as exc:
        raise InvalidValueError(f"The data file {str(path)!r} is empty; it needs a header and rows.") from exc
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise DataError(f"Cannot read {str(path)!r} as {suffix[1:]} ({exc}); check the file's format.") from exc
    except ImportError as exc:
        raise DataError(f"Reading {suffix} files needs pyarrow: pip install pyarrow ({exc}).") from exc
    raise DataError(
        f"Unknown data format {suffix or '(no extension)'!r} for {str(path)!r}; "
        "use .csv, .parquet, .npz (arrays x and optional y, or one array per model input) or .npy."
    )


@validate_params("load_data")
def load_data(
    source: str | os.PathLike[str] | pd.DataFrame | np.ndarray | AuditData,
    *,
    target: str | None = None,
    sensitive: Sequence[str] = (),
    features: Sequence[str] | None = None,
    y: np.ndarray | None = None,
) -> AuditData:
    """Load data for an audit.

    Parameters
    ----------
    source: a path (.csv, .parquet, .npz with ``x`` and optional ``y`` — or one array per
        model input name and optional ``y`` — .npy; a folder of Parquet or of CSV files, in
        sorted path order), a DataFrame, a numpy array (n, ...), or an AuditData (returned as is).
    target: the label column (tabular); for .npz the ``y`` array is the target.
    sensitive: columns holding protected attributes (kept as strings).
    features: feature columns; default every column but the target and sensitive ones.
    y: labels for an array source.

    Raises
    ------
    DataNotFoundError, ColumnError, InvalidValueError, DataError
    """
    import pandas as pd
    if isinstance(source, AuditData):
        return source
    sensitive = [sensitive] if isinstance(sensitive, str) else list(sensitive)
    path: str | None = None
    arrays: dict[str, np.ndarray] | None = None
    frame: pd.DataFrame | None = None
    if isinstance(source, pd.DataFrame):
        frame = source.reset_index(drop=True)
    elif isinstance(source, np.ndarray):
        arrays = {"x": source}
        if y is not None:
            arrays["y"] = np.asarray(y)
    else:
        file = Path(source)
        if file.is_dir() and not is_parquet_source(file) and is_csv_source(file):
            # a folder of CSV files, read whole through the streamed source's reader (one dtype per column)
            table = CsvSource.open(file)
            frame = pd.concat([f for _, f in table.chunks(table.n_rows)], ignore_index=True)
            return load_data(frame, target=target, sensitive=sensitive, features=features)._replace_source(
                str(file), table.sha256())
        if file.is_dir():  # a folder of Parquet files, read whole (the streamed source reads it in chunks)

            check_data_file(file)  # every footer: the files' schemas agree, the total fits the memory budget
            part = ParquetSource.open(file)
            try:
                frame = pd.concat([f for _, f in part.chunks(part.n_rows, columns=list(part.columns))],
                                  ignore_index=True)
            except (ValueError, TypeError, OSError) as exc:  # pyarrow's errors derive from these
                raise DataError(f"Cannot read the Parquet folder {str(file)!r} ({_one_line(exc)}); check that its "
                                "files share one schema.") from exc
            return load_data(frame, target=target, sensitive=sensitive, features=features)._replace_source(
                str(file), part.sha256())
        odd = not_a_file(file)
        if odd is not None:
            raise DataError(f"The data path {str(file)!r} is {odd}, not a file; pass a .csv, .parquet, .npz or .npy "
                            "file (or a folder of Parquet or CSV files).")
        if not file.is_file():
            raise DataNotFoundError(f"Data file {str(file)!r} does not exist; check the path.")
        path = str(file)
        frame, arrays = _read(file)

    if frame is not None:
        frame.columns = [str(c) for c in frame.columns]
        _refuse_duplicates([str(c) for c in frame.columns], f"The data{' in ' + repr(path) if path else ''}")
        if len(frame) == 0:
            raise InvalidValueError(
                f"The data{' in ' + repr(path) if path else ''} has no rows; an audit needs at least one."
            )
        if target is not None and target not in frame.columns:
            raise _missing_column("target", target, frame.columns)
        for name in sensitive:
            if name not in frame.columns:
                raise _missing_column("sensitive", name, frame.columns)
        if features is not None:
            for name in features:
                if name not in frame.columns:
                    raise _missing_column("feature", name, frame.columns)
            feature_list = list(features)
            _refuse_duplicates(feature_list, "The features list (--features / features)")
        else:
            skip = set(sensitive) | ({target} if target else set())
            feature_list = [c for c in frame.columns if c not in skip]
        if not feature_list:
            raise ColumnError("The data has no feature columns left after removing the target and sensitive columns.")
        _refuse_time_features(frame, feature_list)
        y_values = None
        if target is not None:
            y_values = frame[target].to_numpy()
            if pd.isna(frame[target]).any():
                bad = int(pd.isna(frame[target]).sum())
                raise InvalidValueError(
                    f"The target column {target!r} has {bad} missing values; drop or fill those rows."
                )
        sens = pd.DataFrame({name: _as_group_strings(frame[name]) for name in sensitive})
        sha = file_sha256(Path(path)) if path else _frame_sha256(frame)
        return AuditData(frame, None, target, y_values, sens, feature_list, path, sha)

    assert arrays is not None
    if "x" not in arrays:
        return _per_input(arrays, path, sensitive)
    x = np.asarray(arrays["x"])
    if x.ndim < 2:
        raise DataError(f"Array data must have shape (n, ...) with at least 2 dimensions; got {x.shape}.")
    if x.shape[0] == 0:
        raise InvalidValueError("The array data has no rows; an audit needs at least one.")
    y_values = arrays.get("y")
    if y_values is not None and len(y_values) != len(x):
        raise DataError(f"The arrays x ({len(x)} rows) and y ({len(y_values)} rows) differ in length.")
    sens = pd.DataFrame(index=range(len(x)))
    for name in sensitive:
        if name not in arrays:
            raise _missing_column("sensitive", name, list(arrays))
        sens[name] = _as_group_strings(pd.Series(arrays[name]))
    sha = file_sha256(Path(path)) if path else hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()
    extra = {k: v for k, v in arrays.items() if k not in ("x", "y") and k not in sensitive}
    return AuditData(None, x, "y" if y_values is not None else None, y_values, sens, None, path, sha, extra)


def _per_input(arrays: dict[str, np.ndarray], path: str | None, sensitive: Sequence[str]) -> AuditData:
    """An .npz with one array per model input name (no ``x``); ``y`` and sensitive arrays aside."""
    import pandas as pd
    inputs = {k: np.asarray(v) for k, v in arrays.items() if k != "y" and k not in sensitive}
    if not inputs:
        raise DataError(
            f"The .npz file {path!r} has arrays {sorted(arrays)}; it needs one named 'x', or one per "
            "model input name (and optionally 'y')."
        )
    lengths = {k: (v.shape[0] if v.ndim else 0) for k, v in inputs.items()}
    n = next(iter(lengths.values()))
    if any(v.ndim < 2 for v in inputs.values()) or len(set(lengths.values())) != 1:
        shapes = {k: list(v.shape) for k, v in inputs.items()}
        raise DataError(
            f"The arrays of {path!r} must each have shape (n, ...) with the same n rows; got {shapes}."
        )
    if n == 0:
        raise InvalidValueError("The array data has no rows; an audit needs at least one.")
    y_values = arrays.get("y")
    if y_values is not None and len(y_values) != n:
        raise DataError(f"The input arrays ({n} rows) and y ({len(y_values)} rows) differ in length.")
    sens = pd.DataFrame(index=range(n))
    for name in sensitive:
        if name not in arrays:
            raise _missing_column("sensitive", name, list(arrays))
        sens[name] = _as_group_strings(pd.Series(arrays[name]))
    if path:
        sha = file_sha256(Path(path))
    else:
        digest = hashlib.sha256()
        for k in sorted(inputs):
            digest.update(k.encode())
            digest.update(np.ascontiguousarray(inputs[k]).tobytes())
        sha = digest.hexdigest()
    return AuditData(None, None, "y" if y_values is not None else None, y_values, sens, None, path, sha, inputs=inputs)


def select_inputs(data: AuditData, names: Sequence[str]) -> AuditData:
    """Array data named by the model's inputs: arrays named after inputs win over the ``x`` convention.

    When every name in ``names`` (the model's inputs, in order) is an array of ``data`` (``x``
    and the arrays beside it, or the per-input arrays of an .npz without ``x``), the data is
    fed by name: one input reads its array as ``array`` (rows of any shape, as ``x`` would be),
    several read one array each as ``inputs``; every other array (``y`` and the sensitive
    arrays aside) is left out, listed in ``ignored`` and logged. Otherwise ``data`` is
    returned as is (the ``x`` convention, or the binding's own sentence on what is missing).

    Raises DataError when a named array does not have ``n`` rows of at least one dimension.
    """
    if data.inputs is not None:
        arrays = dict(data.inputs)
    elif data.array is not None:
        arrays = {"x": data.array, **data.extra}
    else:
        return data
    names = list(names)
    if not names or any(name not in arrays for name in names) or names == ["x"]:
        return data
    if data.inputs is not None and set(arrays) == set(names):
        return data
    n = data.n_rows
    chosen = {name: np.asarray(arrays[name]) for name in names}
    bad = {k: list(v.shape) for k, v in chosen.items() if v.ndim < 2 or v.shape[0] != n}
    if bad:
        raise DataError(f"The arrays of {data.path!r} named after the model's inputs must each have shape (n, ...) "
                        f"with the data's {n} rows; got {bad}.")
    ignored = tuple(sorted(k for k in arrays if k not in chosen))
    logger.warning("The data names every model input (%s); its other arrays %s are not model inputs and are ignored.",
                   ", ".join(names), list(ignored))
    if len(names) == 1:
        return dataclasses.replace(data, array=chosen[names[0]], inputs=None, extra={}, ignored=ignored)
    return dataclasses.replace(data, array=None, inputs=chosen, extra={}, ignored=ignored)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:297] + "..."


def _refuse_time_features(frame: pd.DataFrame, features: Sequence[str]) -> None:
    """Timestamps and durations are not numbers a model reads: converting them silently
    (nanoseconds since 1970) would audit a different input than the one the model was trained on."""
    import pandas as pd

    for name in features:
        dtype = frame[name].dtype
        if (pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype)
                or isinstance(dtype, pd.PeriodDtype)):
            raise InvalidValueError(
                f"Feature column {name!r} holds timestamps ({dtype}), which the model cannot read as they are; "
                "convert it to the numbers the model was trained on (e.g. days since a date) or leave it out "
                "with --features."
            )


def _as_group_strings(column: pd.Series) -> pd.Series:
    """Group labels as strings; missing values stay missing (NaN), never the text 'nan'."""
    import pandas as pd
    values = column.astype(object)
    out = values.where(values.isna(), values.map(_label))
    return out.reset_index(drop=True)


def _label(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
