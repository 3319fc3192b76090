"""Raw text to a text model's inputs, with Hugging Face ``tokenizers``.

``tokenizer.json`` is the file that Hugging Face / optimum export beside an ONNX text
model. :class:`TextTokenizer` reads it with ``tokenizers.Tokenizer.from_file`` and turns
a column of strings into ``input_ids`` and ``attention_mask`` (and ``token_type_ids``),
int64 ``(n, max_length)``, truncated and right-padded with the pad id.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError

__all__ = ["TextTokenizer", "DEFAULT_MAX_LENGTH"]

DEFAULT_MAX_LENGTH = 128
_PAD_TOKENS = ("[PAD]", "<pad>", "<|pad|>", "<PAD>")
_MASK_TOKENS = ("[MASK]", "<mask>", "<|mask|>", "<MASK>")


@dataclass(frozen=True)
class TextTokenizer:
    """A loaded ``tokenizer.json``.

    Attributes
    ----------
    path: the file it was read from.
    pad_id: id of the padding token (the padding config's, else ``[PAD]`` / ``<pad>``).
    mask_id: id of the mask token (``[MASK]`` / ``<mask>``), else the pad id.
    special_ids: ids of the special (added) tokens: never explained, never removed.
    """

    path: str
    pad_id: int
    mask_id: int
    special_ids: frozenset[int]
    _tok: Any = field(repr=False, compare=False)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> TextTokenizer:
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"Tokenizer file {str(file)!r} does not exist; pass the tokenizer.json exported with the model.")
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise ConfigError(f"Reading a tokenizer needs the 'tokenizers' package: pip install tokenizers ({exc}).") from exc
        try:
            tok = Tokenizer.from_file(str(file))
        except Exception as exc:  # tokenizers raises its own Exception type
            raise DataError(f"Cannot read {str(file)!r} as a Hugging Face tokenizer.json ({exc}); check the file.") from exc
        tok.no_padding()
        tok.no_truncation()
        vocab = tok.get_vocab(with_added_tokens=True)
        pad = next((vocab[t] for t in _PAD_TOKENS if t in vocab), None)
        if pad is None:
            raise DataError(
                f"The tokenizer {str(file)!r} has no padding token ([PAD] or <pad>); the audit needs one "
                "to pad and to occlude tokens."
            )
        mask = next((vocab[t] for t in _MASK_TOKENS if t in vocab), pad)
        special = frozenset(int(i) for i, t in tok.get_added_tokens_decoder().items() if t.special)
        return cls(str(file), int(pad), int(mask), special, tok)

    def encode(self, texts: list[str], max_length: int) -> dict[str, np.ndarray]:
        """``input_ids``, ``attention_mask``, ``token_type_ids``: int64 ``(n, max_length)``."""
        n = len(texts)
        ids = np.full((n, max_length), self.pad_id, dtype=np.int64)
        mask = np.zeros((n, max_length), dtype=np.int64)
        types = np.zeros((n, max_length), dtype=np.int64)
        # the tokenizer truncates (keeping its special tokens, e.g. a final [SEP]); padding is ours
        self._tok.enable_truncation(max_length)
        for i, enc in enumerate(self._tok.encode_batch([str(t) for t in texts])):  # tokenizers is batched in Rust
            k = min(len(enc.ids), max_length)
            ids[i, :k] = enc.ids[:k]
            mask[i, :k] = enc.attention_mask[:k]
            types[i, :k] = enc.type_ids[:k]
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}

    def tokens(self, ids: np.ndarray) -> list[str]:
        """Token strings of one row's ids ``(L,)``."""
        return [self._tok.id_to_token(int(i)) or "" for i in np.asarray(ids).tolist()]

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "pad_id": self.pad_id, "mask_id": self.mask_id}
