"""Text for people: numbers, intervals, metric and attribute names.

The checks compute and never format text; the templates lay out and never compute. The
section modules format through these functions only, so one number reads the same everywhere.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .. import catalog
from .blocks import Block, Cell, Chart, MAX_TABLE_ROWS, Paragraph, STATUSES, Section, Table


SECTION_TITLES = catalog.SECTION_TITLES  # one name per check, from the metric catalogue


def fmt_number(value: Any, *, digits: int = 3, percent: bool = False) -> str:
    """Text for a number: ``—`` when undefined, thousands separators for ints, ``digits`` significant digits."""
    if value is None or isinstance(value, bool):
        return "—" if value is None else ("yes" if value else "no")
    if not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "—"
    if percent:
        return f"{100.0 * value:.{max(digits - 2, 1)}f}%"
    if isinstance(value, int):
        return f"{value:,}"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 10 ** digits:
        return f"{value:,.0f}"
    if magnitude < 1e-3:
        return f"{value:.2e}"
    text = f"{value:.{digits}g}"
    return text


def fmt_estimate(est: Any, *, percent: bool = False) -> str:
    """``0.648 (95% CI 0.636 to 0.660)`` or just the value when there is no interval."""
    value, low, high = _estimate(est)
    text = fmt_number(value, percent=percent)
    if low is not None and high is not None:
        text += f" ({_interval_text(est, percent=percent)})"
    return text


def metric_name(key: str) -> str:
    """A readable name for a metric key, from the metric catalogue (unknown keys: underscores become spaces)."""
    return catalog.label(key)


def attribute_name(key: str) -> str:
    """``race*sex`` → ``race × sex``."""
    return " × ".join(str(key).split("*"))


def fmt_p(p: Any) -> str:
    """A p-value for people: ``p < 0.001`` below a thousandth, else ``p = 0.032`` (two significant digits)."""
    if p is None or not isinstance(p, (int, float)) or not math.isfinite(float(p)):
        return "no p-value"
    if p < 0.001:
        return "p < 0.001"
    return f"p = {float(p):.2g}" if p < 0.1 else f"p = {float(p):.2f}"


def path_name(path: str) -> str:
    """An audit.json / compare.json path in words.

    ``fairness.race.groups.Asian.selection_rate`` → ``Selection rate of Asian (race)``;
    ``fairness.race*sex.metrics.impact_ratio`` → ``Impact ratio (race × sex)``;
    ``performance.metrics.roc_auc`` → ``ROC AUC``; ``ood.scores.knn.auroc`` → ``k-NN distance: AUROC``.
    """
    parts = str(path).split(".")
    if parts[:2] == ["performance", "metrics"] and len(parts) == 3:
        return metric_name(parts[2])
    if parts[0] == "fairness" and len(parts) >= 4:
        if parts[2] == "groups" and len(parts) >= 5:
            group = ".".join(parts[3:-1])
            return f"{metric_name(parts[-1])} of {attribute_name(group)} ({attribute_name(parts[1])})"
        if parts[2] == "metrics":
            return f"{metric_name(parts[3])} ({attribute_name(parts[1])})"
    if parts[:2] == ["ood", "scores"] and len(parts) == 4:
        return f"{metric_name(parts[2])}: {metric_name(parts[3])}"
    return metric_name(parts[-1]) + (f" ({' '.join(parts[:-1])})" if len(parts) > 1 else "")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))


def _estimate(v: Any) -> tuple[float | None, float | None, float | None]:
    """(value, ci_low, ci_high) from an estimate dict, a typed estimate (``stats.Estimate`` or a record with
    ``value``/``ci_low``/``ci_high``) or a plain number; Nones when absent or not finite."""
    if not isinstance(v, Mapping) and all(hasattr(v, k) for k in ("value", "ci_low", "ci_high")):
        v = {"value": v.value, "ci_low": v.ci_low, "ci_high": v.ci_high}
    if isinstance(v, Mapping):
        value = v.get("value")
        low, high = v.get("ci_low"), v.get("ci_high")
        return (
            float(value) if _is_number(value) else None,
            float(low) if _is_number(low) else None,
            float(high) if _is_number(high) else None,
        )
    if _is_number(v):
        return float(v), None, None
    return None, None, None


def _num(v: Any) -> float | None:
    return _estimate(v)[0]


def _numbers(seq: Any) -> list[float | None] | None:
    """A list of numbers (None where undefined), or None if ``seq`` is not such a list."""
    if not isinstance(seq, Sequence) or isinstance(seq, (str, bytes)) or not seq:
        return None
    out: list[float | None] = []
    for v in seq:
        if v is None:
            out.append(None)
        elif _is_number(v):
            out.append(float(v))
        else:
            return None
    return out


def _status(value: Any) -> str:
    return value if value in STATUSES else "unknown"


def _cls_for(value: Any) -> str:
    return "num" if _is_number(value) or _estimate(value)[0] is not None else ""


class _Ids:
    """Assigns chart ids in document order so they never come from data."""

    def __init__(self) -> None:
        self.n = 0

    def chart(self, chart: str, title: str, alt: str, data: dict[str, Any]) -> Chart:
        self.n += 1
        return Chart(chart=chart, title=title, alt=alt, data=data, id=f"chart-{self.n}")


def _ci(est: Any) -> str:
    """The interval as a second line for a table cell ("" when there is none)."""
    text = _interval_text(est)
    return "" if text == "—" else text


def interval_ends(low: float, high: float, *, percent: bool = False) -> tuple[str, str] | None:
    """The two ends as text, with as many significant digits (3 to 6) as it takes for them to differ.

    None when they are equal (a degenerate resampling interval: every replicate gave one
    value), so no view ever prints a zero-width interval such as "1 to 1" (issue 22, defect 7).
    """
    if low == high:
        return None
    for digits in range(3, 7):
        a, b = fmt_number(low, digits=digits, percent=percent), fmt_number(high, digits=digits, percent=percent)
        if a != b:
            return a, b
    return None


def _interval_text(est: Any, *, percent: bool = False) -> str:
    _, low, high = _estimate(est)
    if low is None or high is None:
        return "—"
    ends = interval_ends(low, high, percent=percent)
    if ends is None:
        return f"no interval (every resample gave {fmt_number(low, percent=percent)})"
    return f"{ends[0]} to {ends[1]}"


def _cell_text(v: Any) -> str:
    if isinstance(v, Mapping):
        return fmt_estimate(v) if "value" in v else ", ".join(f"{k}: {_cell_text(x)}" for k, x in v.items())
    return fmt_number(v) if _is_number(v) or v is None or isinstance(v, bool) else str(v)


# ------------------------------------------------------------------ humane text (res12-core)
_SNAKE = re.compile(r"(?<![\w./-])([a-z][a-z0-9]*(?:_[a-z0-9]+)+)(?![\w/(])")
_ACRONYM_START = ("AUROC", "ROC", "FPR", "ODIN", "R²", "MC", "SmoothGrad", "LIME")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


def humane(text: str, keep: Iterable[str] = ()) -> str:
    """Text with snake_case metric keys written as names (``impact_ratio`` → ``impact ratio``);
    flags (``--positive-label``), paths, ``key = value`` settings and the names in ``keep``
    (data columns) stay as they are; the first letter is upper case."""
    kept = set(keep)

    def name(m: re.Match[str]) -> str:
        token = m.group(1)
        if token in kept:
            return token
        after = text[m.end():m.end() + 3]
        if after.startswith(" =") or after.startswith("="):
            return token  # a config setting the reader types in
        words = metric_name(token)
        return words if words.startswith(_ACRONYM_START) else words[:1].lower() + words[1:]

    out = _SNAKE.sub(name, str(text))
    return out[:1].upper() + out[1:]


# Command-line flags as words, for the first screen (a document a regulator reads; the
# sections below keep the flags for whoever reruns the audit).
_FLAG_WORDS = (
    (re.compile(r"\s*\(pass --sensitive COL \.\.\.\)"), ""),
    (re.compile(r"\bno --reference data\b", re.I), "no reference data (such as the training data)"),
    (re.compile(r"\bno --ood-data of known out-of-distribution rows\b"), "no known out-of-distribution rows were given"),
    (re.compile(r"--reference\b"), "reference data"),
    (re.compile(r"--ood-data\b"), "known out-of-distribution data"),
    (re.compile(r"\(--target\)"), ""),
    (re.compile(r"\(?\[uncertainty\] models = \[\.\.\.\]\)?"), "in the audit settings"),
    (re.compile(r"--favorable-label\b"), "the favourable outcome setting"),
    (re.compile(r"\s*\([^()]*logsumexp\([^()]*\)[^()]*\)"), ""),  # a formula, not a reason
)


def plain(text: str) -> str:
    """``text`` without command-line flags or config syntax (the first screen of a report)."""
    out = str(text)
    for pattern, words in _FLAG_WORDS:
        out = pattern.sub(words, out)
    return " ".join(out.split())


def shape_text(shape: Any) -> str:
    """A tensor shape for people: ``[None, 5]`` → ``rows × 5``; ``['batch', 1, 8, 8]`` → ``rows × 1 × 8 × 8``."""
    if shape is None:
        return "any shape"
    dims = list(shape)
    if not dims:
        return "one value"
    words = ["rows" if i == 0 and not isinstance(d, int) else ("any" if not isinstance(d, int) else f"{d:,}")
             for i, d in enumerate(dims)]
    return " × ".join(words)


def fmt_datetime(stamp: Any) -> str:
    """``2026-12-01T14:03:00+00:00`` → ``1 December 2026, 14:03 UTC`` (other offsets kept as ``UTC+02:00``)."""
    import datetime as _dt

    try:
        when = _dt.datetime.fromisoformat(str(stamp))
    except ValueError:
        return str(stamp)
    zone = ""
    if when.tzinfo is not None:
        offset = when.utcoffset() or _dt.timedelta(0)
        minutes = int(offset.total_seconds() // 60)
        zone = " UTC" if minutes == 0 else f" UTC{'+' if minutes > 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return f"{when.day} {_MONTHS[when.month - 1]} {when.year}, {when:%H:%M}{zone}"


def fmt_id(value: Any) -> str:
    """An identifier (seed, row number): the integer as typed, no thousands separators."""
    if isinstance(value, bool) or value is None:
        return "—"
    try:
        return str(int(value))
    except (TypeError, ValueError):
        return str(value)


def check_part_name(key: str) -> str:
    """``explanations.smoothgrad`` → ``Explanations — SmoothGrad``; ``ood`` → ``Out of distribution``."""
    check, _, part = str(key).partition(".")
    title = SECTION_TITLES.get(check, metric_name(check))
    return f"{title} — {metric_name(part)}" if part else title


_CSS_UNSAFE = re.compile(r"[^\w .,:;()×→–-]", re.UNICODE)


def css_text(value: Any) -> str:
    """Text safe inside a CSS string in a <style> element (the printed page footer): letters, digits,
    spaces and a little punctuation only, at most 90 characters; nothing can close the string or the element."""
    text = _CSS_UNSAFE.sub("", str(value))
    return text[:89] + "…" if len(text) > 90 else text
