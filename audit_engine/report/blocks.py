"""Report blocks: the typed building pieces every view is made of.

A view is a list of :class:`Section` objects, each a list of blocks (:class:`Heading`,
:class:`Paragraph`, :class:`Table`, :class:`Chart`, :class:`Figures`, :class:`KeyValues`,
:class:`Preformatted`, :class:`TokenText`), so one set of template macros lays out every
section. Charts are specifications (numbers only); :mod:`audit_engine.report.charts` draws
them as SVG. Every block's ``to_dict()`` is JSON (the snapshot tests compare those, not HTML).
Nothing here grows with the number of audited rows: tables and charts are capped.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any




STATUSES = ("pass", "warn", "fail")


MAX_TABLE_ROWS = 40      # rows of any one table (groups, features, shift tests, ...)


MAX_BARS = 20            # bars of any one bar chart


MAX_LOCAL_ROWS = 6       # local explanations shown per method


MAX_QUEUE_ROWS = 20      # review-queue rows shown


MAX_SHIFT_ROWS = 20      # shift tests shown (most significant first)


MAX_HEATMAP_SIDE = 32    # heatmaps larger than this are block-averaged down (SVG stays small)


SMALL_CATEGORY_SHARE = 0.02  # NYC LL144: categories under 2% of the data may be excluded


@dataclass(frozen=True)
class Cell:
    """One table cell: its text and a CSS class from a fixed set (num, flag, pass, warn, fail, muted)."""

    text: str
    cls: str = ""
    sub: str = ""  # a second, smaller line (an interval)


@dataclass(frozen=True)
class Heading:
    text: str
    kind: str = "heading"


@dataclass(frozen=True)
class Paragraph:
    text: str
    cls: str = ""
    kind: str = "paragraph"


@dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: list[list[Cell]]
    caption: str = ""
    note: str = ""
    kind: str = "table"


@dataclass(frozen=True)
class KeyValues:
    items: list[tuple[str, str]]
    kind: str = "keyvalues"


@dataclass(frozen=True)
class Preformatted:
    text: str
    caption: str = ""
    kind: str = "pre"


@dataclass(frozen=True)
class Chart:
    """A chart specification: ``chart`` names the drawing in charts.py, ``data`` holds numbers and labels.

    ``id`` is assigned by the view (``chart-1``, ``chart-2``, ...), never taken from data,
    so it is safe as an HTML id. ``alt`` says in words what the chart shows.
    """

    chart: str
    title: str
    alt: str
    data: dict[str, Any]
    id: str = ""
    kind: str = "chart"


@dataclass(frozen=True)
class Figures:
    """Several small charts side by side (image heatmaps)."""

    charts: list[Chart]
    caption: str = ""
    kind: str = "figures"


@dataclass(frozen=True)
class TokenText:
    """Texts with one background per token (text-model attributions).

    ``lines``: ``(caption, [(token, css background, title)])`` per text; the colours are
    computed here, the template only places them.
    """

    lines: list[tuple[str, list[tuple[str, str, str]]]]
    caption: str = ""
    kind: str = "tokens"


@dataclass(frozen=True)
class Details:
    """Blocks shown collapsed under a one-line summary (results the audit says not to trust)."""

    summary: str
    blocks: list[Any]
    kind: str = "details"


Block = Heading | Paragraph | Table | KeyValues | Preformatted | Chart | Figures | TokenText | Details


@dataclass
class Section:
    """One part of a view; ``state`` is ran, skipped (``reason`` says why) or absent."""

    key: str
    title: str
    state: str = "ran"
    reason: str = ""
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Finding:
    status: str
    text: str


@dataclass
class AuditView:
    title: str
    status: str
    subtitle: str
    findings: list[Finding]
    verdict_counts: list[tuple[str, int]]
    verdicts: Table
    sections: list[Section]
    reproducibility: Section
    notices: list[str]
    template: str = "audit"
    not_tested: list[tuple[str, str]] = field(default_factory=list)  # (what, why): shown beside the status
    key_facts: list[Finding] = field(default_factory=list)  # model identity, headlines, flagged warnings (first screen)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class ModelCardView:
    title: str
    status: str
    subtitle: str
    sections: list[Section]
    notices: list[str]
    template: str = "model-card"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class BiasAuditView:
    title: str
    status: str
    subtitle: str
    outcome: Finding
    sections: list[Section]
    notices: list[str]
    template: str = "bias-audit"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
