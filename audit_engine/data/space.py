"""FeatureSpace: how rows of the user's data become the model's input tensors.

Every method works on rows in *feature space*: a float64 array ``(n, *row_shape)``.

- Tabular data: ``row_shape == (d,)``, one column per feature. Numeric features hold
  their values; categorical (string) features hold the integer code of the category in
  ``Feature.categories``, so perturbation methods can sample categories with numpy and
  never touch strings. :meth:`FeatureSpace.feeds` turns codes back into strings.
- Array data (images): ``row_shape`` is the model input's per-row shape, e.g.
  ``(1, 8, 8)`` for NCHW or ``(8, 8, 1)`` for NHWC.

Three bindings (``layout``):

``columns``  one model input per data column, matched by name (skl2onnx pipelines with
             ``[None, 1]`` float or string inputs).
``matrix``   one ``[None, d]`` input fed the feature columns in order (checked against d).
``array``    one input fed array data whose per-row shape matches it.
``segments`` several inputs (an .npz with one array per input name), an integer input
             (token ids), or text tokenised by a ``tokenizer.json``: each row is one flat
             float64 vector of named segments (:mod:`.segments`); ``space.segments`` says
             which part is which input and whether it is continuous, discrete or a mask.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..errors import InvalidValueError, SchemaMismatchError
from ..params import invalid
from ..model.loader import OnnxModel, TensorSpec
from .loader import AuditData
from .segments import Segment, check_row_shape, pack, segments_for, unpack
from .tokenizer import DEFAULT_MAX_LENGTH, TextTokenizer

if TYPE_CHECKING:  # imported where tabular data is bound or encoded; array data needs no pandas
    import pandas as pd

__all__ = ["Feature", "FeatureSpace", "TextBinding"]

_STRING_DTYPES = ("string",)


@dataclass(frozen=True)
class Feature:
    """One tabular feature: ``kind`` is ``numeric`` or ``categorical``.

    For categorical features ``categories`` lists the category strings; the feature's
    value in feature space is the index into that tuple.
    """

    name: str
    kind: Literal["numeric", "categorical"]
    categories: tuple[str, ...] = ()

    @property
    def is_categorical(self) -> bool:
        return self.kind == "categorical"


@dataclass(frozen=True)
class TextBinding:
    """How a text column becomes a text model's inputs.

    ``ids`` / ``mask`` / ``types`` name the model inputs that take the token ids, the
    attention mask and the token type ids (the last two may be absent).
    """

    tokenizer: TextTokenizer
    column: str
    max_length: int
    ids: str
    mask: str | None = None
    types: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**self.tokenizer.to_dict(), "text_column": self.column, "max_length": self.max_length,
                "inputs": {"ids": self.ids, "mask": self.mask, "types": self.types}}


@dataclass(frozen=True)
class FeatureSpace:
    """The binding between data rows and model inputs (see the module docstring)."""

    layout: Literal["columns", "matrix", "array", "segments"]
    row_shape: tuple[int, ...]
    features: tuple[Feature, ...]
    inputs: tuple[TensorSpec, ...]
    image_layout: str | None = None  # "NCHW" / "NHWC" for image-like arrays
    _categories: tuple[np.ndarray, ...] = field(default=(), repr=False, compare=False)
    segments: tuple[Segment, ...] = ()  # layout "segments": one per model input
    text: TextBinding | None = None  # text models: the tokenizer and the input roles

    # ----------------------------------------------------------------- description
    @property
    def n_features(self) -> int:
        return int(np.prod(self.row_shape))

    @property
    def feature_names(self) -> list[str]:
        """Names of the features in order: column names, or ``x[i,j,...]`` for arrays."""
        if self.features:
            return [f.name for f in self.features]
        if self.segments:
            return [name for seg in self.segments for name in seg.feature_names()]
        if len(self.row_shape) == 1:
            return [f"x{i}" for i in range(self.row_shape[0])]
        return ["x[" + ",".join(map(str, idx)) + "]" for idx in np.ndindex(*self.row_shape)]

    @property
    def categorical_mask(self) -> np.ndarray:
        """Boolean (d,) mask of categorical features (all False for arrays).

        With segments, every discrete or mask segment counts as categorical: methods then
        draw its values from the data or leave it, and never add noise to it.
        """
        if self.segments:
            return np.concatenate([np.full(seg.size, not seg.is_continuous) for seg in self.segments])
        if not self.features:
            return np.zeros(self.n_features, dtype=bool)
        return np.array([f.is_categorical for f in self.features], dtype=bool)

    @property
    def is_image(self) -> bool:
        return self.image_layout is not None

    @property
    def continuous_mask(self) -> np.ndarray:
        """Boolean ``row_shape`` mask of the features noise and gradients may move."""
        return ~self.categorical_mask.reshape(self.row_shape)

    @property
    def has_continuous(self) -> bool:
        """False when every feature is discrete (token ids, codes): gradients do not apply."""
        return bool(self.continuous_mask.any())

    def segment(self, name: str) -> Segment:
        return next(s for s in self.segments if s.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "layout": self.layout,
            "row_shape": list(self.row_shape),
            "image_layout": self.image_layout,
            **({"segments": [seg.to_dict() for seg in self.segments]} if self.segments else {}),
            **({"text": self.text.to_dict()} if self.text is not None else {}),
            "features": [
                {"name": f.name, "kind": f.kind, **({"categories": list(f.categories)} if f.categories else {})}
                for f in self.features
            ],
        }

    # ----------------------------------------------------------------- binding
    @classmethod
    def bind(
        cls,
        model: OnnxModel,
        data: AuditData,
        *,
        features: Sequence[str] | None = None,
        also: Sequence[AuditData] = (),
        tokenizer: TextTokenizer | str | None = None,
        text_column: str = "text",
        max_length: int | None = None,
    ) -> FeatureSpace:
        """Bind ``data`` to ``model``'s inputs.

        ``also`` lists further datasets (reference, OOD) encoded in the same space: their
        categories are included so they can be encoded too. With a ``tokenizer`` (a
        :class:`TextTokenizer` or the path of a ``tokenizer.json``) the ``text_column`` of
        tabular data is tokenised to ``max_length`` tokens (default: the model's static
        sequence length, else 128) for the model's ids / attention-mask / token-type inputs.
        """
        inputs = tuple(model.session_inputs)
        if tokenizer is not None:
            if not isinstance(tokenizer, TextTokenizer):
                tokenizer = TextTokenizer.from_file(tokenizer)
            return cls._bind_text(inputs, [data, *also], tokenizer, text_column, max_length)
        if data.inputs is not None:
            return cls._bind_segments(inputs, data, also)
        if data.frame is not None and _holds_arrays(data.frame, inputs):  # Parquet / DataFrame list columns
            return cls._bind_segments(inputs, _with_inputs(data, inputs), [_with_inputs(d, inputs) for d in also])
        if data.frame is not None:
            names = {i.name for i in inputs}
            columns = set(data.frame.columns)
            if len(inputs) > 1 or (len(inputs) == 1 and _is_column_input(inputs[0]) and inputs[0].name in columns):
                missing = [i.name for i in inputs if i.name not in columns]
                if missing:
                    raise SchemaMismatchError(
                        f"The model takes one input per column, and the data has no column for "
                        f"input(s) {', '.join(repr(m) for m in missing)}; add or rename those columns."
                    )
                bad = [i for i in inputs if not _is_column_input(i)]
                if bad:
                    raise SchemaMismatchError(
                        f"Model input {bad[0].name!r} has shape {list(bad[0].shape or [])}; "
                        "with several inputs each must take one column ([None, 1] or [None])."
                    )
                return cls._bind_columns(inputs, [data, *also], names)
            return cls._bind_matrix(inputs[0], [data, *also], features)
        return cls._bind_array(inputs, data, also)

    @classmethod
    def _bind_columns(cls, inputs: tuple[TensorSpec, ...], datas: list[AuditData], names: set[str]) -> FeatureSpace:
        import pandas as pd
        feats = []
        for spec in inputs:
            if spec.dtype in _STRING_DTYPES:
                values = pd.concat([_column(d, spec.name) for d in datas], ignore_index=True)
                _check_missing(values, spec.name, categorical=True)
                cats = tuple(sorted({_category(v) for v in values}))
                feats.append(Feature(spec.name, "categorical", cats))
            else:
                if spec.numpy_dtype is None:
                    raise SchemaMismatchError(
                        f"Model input {spec.name!r} has type {spec.type}, which audit-engine cannot feed from a column."
                    )
                feats.append(Feature(spec.name, "numeric"))
        return cls("columns", (len(feats),), tuple(feats), inputs,
                   _categories=tuple(np.array(f.categories, dtype=object) for f in feats))

    @classmethod
    def _bind_matrix(cls, spec: TensorSpec, datas: list[AuditData], features: Sequence[str] | None) -> FeatureSpace:
        data = datas[0]
        assert data.frame is not None
        if spec.shape is None or len(spec.shape) != 2:
            raise SchemaMismatchError(
                f"Model input {spec.name!r} has shape {list(spec.shape or [])}, which tabular data cannot "
                "fill; tabular data needs a [None, d] input or one [None, 1] input per column."
            )
        cols = list(features) if features is not None else list(data.features or [])
        for name in cols:
            if name not in data.frame.columns:
                raise SchemaMismatchError(f"The feature column {name!r} is not in the data.")
        d = spec.shape[1]
        if isinstance(d, int) and d != len(cols):
            raise SchemaMismatchError(
                f"Model input {spec.name!r} expects {d} {spec.dtype} features; the data has "
                f"{len(cols)} feature columns ({', '.join(repr(c) for c in cols[:8])}"
                f"{', ...' if len(cols) > 8 else ''}); list the model's columns with "
                "features=[...] (or --features / 'features' in the config)."
            )
        if spec.dtype in _STRING_DTYPES:
            raise SchemaMismatchError(
                f"Model input {spec.name!r} is a [None, d] string tensor; audit-engine feeds string "
                "features as one [None, 1] input per column."
            )
        for other in datas[1:]:
            if other.frame is None:
                raise SchemaMismatchError("Reference or OOD data must be tabular like the audited data.")
            missing = [c for c in cols if c not in other.frame.columns]
            if missing:
                raise SchemaMismatchError(
                    f"The extra dataset {other.path or ''!r} lacks feature column(s) {missing}; "
                    "it must have the same columns as the audited data."
                )
        feats = tuple(Feature(c, "numeric") for c in cols)
        return cls("matrix", (len(cols),), feats, (spec,))

    @classmethod
    def _bind_text(cls, inputs: tuple[TensorSpec, ...], datas: list[AuditData], tokenizer: TextTokenizer,
                   column: str, max_length: int | None) -> FeatureSpace:
        for d in datas:
            if d.frame is None or column not in d.frame.columns:
                cols = [] if d.frame is None else list(d.frame.columns)[:8]
                raise SchemaMismatchError(
                    f"With a tokenizer the data must be a table with a text column {column!r}; "
                    f"{d.path or 'the data'!r} has columns {cols}; name it with --text-column."
                )
        roles: dict[str, str] = {}
        for spec in inputs:
            lname = spec.name.lower()
            role = "mask" if "mask" in lname else "types" if "type" in lname else "ids"
            if spec.dtype.startswith("float") or spec.dtype == "string" or role in roles:
                raise SchemaMismatchError(
                    f"A text model takes integer input_ids, attention_mask and token_type_ids; input "
                    f"{spec.name!r} ({spec.dtype}) is not one of them; audit this model with array data instead."
                )
            roles[role] = spec.name
        if "ids" not in roles:
            raise SchemaMismatchError(
                f"The model's inputs ({', '.join(i.name for i in inputs)}) have no token-id input; "
                "a tokenizer needs a model that takes input_ids."
            )
        ids_spec = next(i for i in inputs if i.name == roles["ids"])
        static = ids_spec.shape[1] if ids_spec.shape and len(ids_spec.shape) == 2 else None
        if max_length is None:
            max_length = static if isinstance(static, int) else DEFAULT_MAX_LENGTH
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
            raise InvalidValueError(invalid("max_length", "FeatureSpace.bind", "an int in the range [1, inf)", max_length))
        if isinstance(static, int) and static != max_length:
            raise SchemaMismatchError(
                f"Model input {ids_spec.name!r} takes exactly {static} tokens; max_length is {max_length}; "
                f"set max_length = {static} or leave it out."
            )
        segs = segments_for(inputs, {i.name: (max_length,) for i in inputs})
        binding = TextBinding(tokenizer, column, max_length, roles["ids"], roles.get("mask"), roles.get("types"))
        return cls("segments", (segs[-1].stop,), (), inputs, segments=segs, text=binding)

    @classmethod
    def _bind_segments(cls, inputs: tuple[TensorSpec, ...], data: AuditData, also: Sequence[AuditData]) -> FeatureSpace:
        assert data.inputs is not None
        missing = [i.name for i in inputs if i.name not in data.inputs]
        if missing:
            raise SchemaMismatchError(
                f"The data has arrays {sorted(data.inputs)}; the model also needs "
                f"{', '.join(repr(m) for m in missing)}; save one array per model input name in the .npz."
            )
        segs = segments_for(inputs, {i.name: tuple(data.inputs[i.name].shape[1:]) for i in inputs})
        for other in also:
            if other.inputs is None or any(tuple(other.inputs.get(s.name, np.empty((0,))).shape[1:]) != s.shape
                                           for s in segs):
                raise SchemaMismatchError(
                    f"The extra dataset {other.path or ''!r} must hold the same arrays as the audited data "
                    f"({', '.join(f'{s.name} {list(s.shape)}' for s in segs)})."
                )
        return cls("segments", (segs[-1].stop,), (), inputs, segments=segs)

    @classmethod
    def _bind_array(cls, inputs: tuple[TensorSpec, ...], data: AuditData, also: Sequence[AuditData]) -> FeatureSpace:
        assert data.array is not None
        if len(inputs) != 1:
            raise SchemaMismatchError(
                f"Array data 'x' can feed a model with one input; this model has {len(inputs)} "
                f"({', '.join(i.name for i in inputs)}): save one array per input name in the .npz "
                "(np.savez(path, " + ", ".join(f"{i.name}=..." for i in inputs) + ", y=...))."
            )
        spec = inputs[0]
        # (n, L) integers are token ids / codes: a discrete segment. Integer images (uint8 pixels,
        # rank 2-3 rows) stay arrays: their values are intensities, and image methods suit them.
        if spec.dtype.startswith(("int", "uint", "bool")) and data.array.ndim == 2:
            row = tuple(int(s) for s in data.array.shape[1:])
            segs = segments_for(inputs, {spec.name: row})
            for other in also:
                if other.array is None or tuple(other.array.shape[1:]) != row:
                    raise SchemaMismatchError(
                        f"The extra dataset {other.path or ''!r} must have rows of shape {list(row)} like the audited data."
                    )
            return cls("segments", (segs[-1].stop,), (), inputs, segments=segs)
        row = tuple(int(s) for s in data.array.shape[1:])
        check_row_shape(spec, row, "the array data")
        for other in also:
            if other.array is None or tuple(other.array.shape[1:]) != row:
                got = None if other.array is None else list(other.array.shape[1:])
                raise SchemaMismatchError(
                    f"The extra dataset {other.path or ''!r} has rows of shape {got}; "
                    f"it must match the audited data's {list(row)}."
                )
        return cls._array(inputs, row)

    @classmethod
    def for_float_rows(cls, model: OnnxModel, row_shape: tuple[int, ...]) -> FeatureSpace:
        """The space :meth:`bind` makes for float array data with rows of ``row_shape`` fed
        to the model's single input, without the data (no AuditData, so no pandas: it is
        what ``inspect``'s probe binds its synthetic rows with)."""
        inputs = tuple(model.session_inputs)
        if len(inputs) != 1 or inputs[0].dtype not in ("float16", "float32", "float64"):
            raise SchemaMismatchError("Float rows can only feed a model with one float input; bind real data instead.")
        row = tuple(int(s) for s in row_shape)
        check_row_shape(inputs[0], row, "the array data")
        return cls._array(inputs, row)

    @classmethod
    def _array(cls, inputs: tuple[TensorSpec, ...], row: tuple[int, ...]) -> FeatureSpace:
        image = None
        if len(row) == 3:
            image = "NCHW" if row[0] in (1, 3, 4) and row[2] not in (1, 3, 4) else "NHWC" if row[2] in (1, 3, 4) else "NCHW"
        elif len(row) == 2:
            image = "HW"
        return cls("array", row, (), inputs, image_layout=image)

    # ----------------------------------------------------------------- conversion
    def encode(self, data: AuditData) -> np.ndarray:
        """Rows of ``data`` in feature space, float64 ``(n, *row_shape)``.

        Raises InvalidValueError for NaN/inf, strings in numeric features and unknown
        categories; SchemaMismatchError when a column is missing.
        """
        import pandas as pd
        if self.layout == "segments":
            return self._encode_segments(data)
        if self.layout == "array":
            if data.array is None:
                raise SchemaMismatchError("This model was bound to array data; pass array data here too.")
            x = np.asarray(data.array)
            if tuple(x.shape[1:]) != self.row_shape:
                raise SchemaMismatchError(
                    f"Rows of shape {list(x.shape[1:])} do not match the model's {list(self.row_shape)}."
                )
            if not np.issubdtype(x.dtype, np.number):
                raise InvalidValueError(f"Array data must be numeric; got dtype {x.dtype}.")
            x = x.astype(np.float64)
            _check_finite(x, "the array data")
            return x
        if data.frame is None:
            raise SchemaMismatchError("This model was bound to tabular data; pass tabular data here too.")
        out = np.empty((len(data.frame), len(self.features)), dtype=np.float64)
        for j, feat in enumerate(self.features):
            column = _column(data, feat.name)
            if feat.is_categorical:
                _check_missing(column, feat.name, categorical=True)
                codes = pd.Categorical(column.map(_category), categories=list(feat.categories)).codes
                if (codes < 0).any():
                    unknown = column.map(_category)[codes < 0].iloc[0]
                    raise InvalidValueError(
                        f"Column {feat.name!r} holds the category {unknown!r}, unseen when the data was "
                        "bound; pass that dataset to FeatureSpace.bind(also=...)."
                    )
                out[:, j] = codes
            else:
                out[:, j] = _numeric(column, feat.name)
        return out

    def _encode_segments(self, data: AuditData) -> np.ndarray:
        if self.text is not None:
            if data.frame is None or self.text.column not in data.frame.columns:
                raise SchemaMismatchError(f"The data has no text column {self.text.column!r} to tokenise.")
            texts = data.frame[self.text.column]
            _check_missing(texts, self.text.column)
            enc = self.text.tokenizer.encode(texts.astype(str).tolist(), self.text.max_length)
            role = {self.text.ids: "input_ids", self.text.mask: "attention_mask", self.text.types: "token_type_ids"}
            return pack(self.segments, {s.name: enc[role[s.name]] for s in self.segments})
        if data.inputs is not None:
            arrays = data.inputs
        elif data.frame is not None:
            arrays = _with_inputs(data, self.inputs).inputs or {}
        elif data.array is not None and len(self.segments) == 1:
            arrays = {self.segments[0].name: data.array}
        else:
            raise SchemaMismatchError(
                f"This model was bound to arrays {[s.name for s in self.segments]}; pass data with those arrays."
            )
        missing = [s.name for s in self.segments if s.name not in arrays]
        if missing:
            raise SchemaMismatchError(f"The data lacks the array(s) {missing} that the model takes as input.")
        out = pack(self.segments, arrays)
        _check_finite(out, "the array data")
        return out

    def feeds(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """The model's input tensors for rows in feature space ``(m, *row_shape)``."""
        if self.layout == "segments":
            return unpack(self.segments, rows)
        if self.layout == "columns":
            feeds = {}
            for j, (feat, spec) in enumerate(zip(self.features, self.inputs, strict=True)):
                values = rows[:, j]
                if feat.is_categorical:
                    arr = self._categories[j][values.astype(np.intp)]
                else:
                    arr = values.astype(spec.numpy_dtype)
                feeds[spec.name] = arr.reshape(-1, 1) if spec.shape is None or len(spec.shape) != 1 else arr
            return feeds
        spec = self.inputs[0]
        return {spec.name: np.ascontiguousarray(rows, dtype=spec.numpy_dtype)}

    def bytes_per_row(self) -> int:
        """Bytes of input tensors per row, used to size chunks (strings counted at 64)."""
        if self.segments:
            return sum(s.size * np.dtype(s.dtype).itemsize for s in self.segments)
        if self.layout == "columns":
            return sum(64 if f.is_categorical else np.dtype(s.numpy_dtype).itemsize for f, s in zip(self.features, self.inputs, strict=True))
        spec = self.inputs[0]
        return int(np.prod(self.row_shape)) * np.dtype(spec.numpy_dtype).itemsize


def _holds_arrays(frame: pd.DataFrame, inputs: Sequence[TensorSpec]) -> bool:
    """True when some model input is a column whose cells hold arrays (lists)."""
    for spec in inputs:
        if spec.name in frame.columns and len(frame) and frame[spec.name].dtype == object:
            if isinstance(frame[spec.name].iloc[0], (list, tuple, np.ndarray)):
                return True
    return False


def _with_inputs(data: AuditData, inputs: Sequence[TensorSpec]) -> AuditData:
    """``data`` with one array per model input taken from its columns (cells holding arrays)."""
    import dataclasses

    if data.frame is None:
        return data
    arrays = {}
    for spec in inputs:
        if spec.name not in data.frame.columns:
            continue  # reported by the binding, which names every missing input
        column = data.frame[spec.name]
        if column.dtype == object:
            a = np.stack([_cell_array(v) for v in column.tolist()])
        else:
            a = column.to_numpy()[:, None]
        want = tuple(spec.shape[1:]) if spec.shape else ()
        if (want and all(isinstance(w, int) for w in want) and tuple(a.shape[1:]) != want
                and int(np.prod(a.shape[1:])) == int(np.prod(want))):
            a = a.reshape((a.shape[0], *want))  # a flat list fills a fixed-shape input in C order
        arrays[spec.name] = a
    return dataclasses.replace(data, inputs=arrays)


def _cell_array(value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray) and value.dtype == object:
        return np.stack([_cell_array(v) for v in value])
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], (list, tuple, np.ndarray)):
        return np.stack([_cell_array(v) for v in value])
    return np.asarray(value)


def _is_column_input(spec: TensorSpec) -> bool:
    if spec.shape is None:
        return False
    if len(spec.shape) == 1:
        return True
    return len(spec.shape) == 2 and spec.shape[1] == 1


def _column(data: AuditData, name: str) -> pd.Series:
    assert data.frame is not None
    if name not in data.frame.columns:
        raise SchemaMismatchError(f"The data has no column {name!r}, which the model needs as input.")
    return data.frame[name]


def _category(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _check_missing(values: pd.Series, name: str, *, categorical: bool = False) -> None:
    """Refuse missing values in a column fed to the model as strings (categories or text).

    A string input cannot carry "missing": the engine would have to invent the string, and
    a model never trained on it reads it as an unknown category (an all-zero one-hot or an
    error), so the audit would describe inputs the model never sees in use. The user
    knows which string the pipeline was trained to read as missing, so the sentence asks
    for it instead of guessing. (Numeric NaN passes: the audit probes whether the model
    accepts it.)
    """
    import pandas as pd
    missing = pd.isna(values)
    if missing.any():
        first = int(np.flatnonzero(missing.to_numpy())[0])
        if categorical:
            raise InvalidValueError(
                f"Column {name!r} has {int(missing.sum())} missing values (first at row {first}), and a categorical "
                "column reaches the model as strings, which cannot be missing; fill them with the category your "
                f"model was trained to read as missing (e.g. df[{name!r}].fillna('missing')) or drop those rows."
            )
        raise InvalidValueError(
            f"Column {name!r} has {int(missing.sum())} missing values (first at row {first}); fill or drop them before auditing."
        )


def _numeric(column: pd.Series, name: str) -> np.ndarray:
    import pandas as pd
    if column.dtype == object or pd.api.types.is_string_dtype(column.dtype):
        converted = pd.to_numeric(column, errors="coerce")
        bad = converted.isna() & column.notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise InvalidValueError(
                f"Column {name!r} must be numeric for the model but holds the string "
                f"{str(column.iloc[row])!r} at row {row}; clean the column or export the model "
                "with an encoder for it."
            )
        column = converted
    if pd.api.types.is_bool_dtype(column.dtype):
        column = column.astype(np.float64)
    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    # missing values (NaN) pass: the audit decides whether the model accepts them
    # (audit.check_missing runs it on those rows); inf is never a value
    _check_finite(values, f"column {name!r}", allow_nan=True)
    return values


def _check_finite(values: np.ndarray, where: str, *, allow_nan: bool = False) -> None:
    bad = np.isinf(values) if allow_nan else ~np.isfinite(values)
    if bad.any():
        first = np.argwhere(bad)[0]
        kind = "NaN" if np.isnan(values[tuple(first)]) else "inf"
        raise InvalidValueError(
            f"{where[0].upper() + where[1:]} holds {int(bad.sum())} NaN/inf values (first: {kind} at row "
            f"{int(first[0])}); fill or drop them before auditing."
        )
