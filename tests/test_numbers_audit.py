"""The numbers audit (issue 22): every number a view shows is the number of the record it claims to show.

Each real audit (COMPAS with race, sex and race × sex and favourable label 0, with an
11-row group; the breast-cancer table of scikit-learn with a size band as the group; the
text fixture; the dropout image model with out-of-distribution digits) and one paired
compare are run once per module; every view is rendered and parsed back out of its HTML
(tables, chart ``data-values``, text). The oracles are the records themselves
(audit.json / compare.json) and arithmetic on them: a change is B − A, a sweep at the
operating threshold is the table, a view's ratio is the one its rule gives. A number
shown with d decimals matches a record value when they differ by at most half a unit of
the last shown digit.
"""

from __future__ import annotations

import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import audit_engine as ae
from audit_engine.compare import compare_models
from audit_engine.report.compare import write_comparison
from audit_engine.report.render import render_html

from .conftest import data_path, model_path

COMPAS_FEATURES = ("age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count")
VIEWS = {"audit": "report.html", "bias-audit": "bias-audit.html", "model-card": "model-card.html"}
_NUMBER = re.compile(r"(?<![\w.])([+\-−]?\d[\d,]*(?:\.\d+)?(?:e[+\-]\d+)?)(%?)")


# ------------------------------------------------------------------------------ parsing
class Page(HTMLParser):
    """Tables (with the heading they sit under), figures (chart kind, data-values, label) and visible text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[dict[str, Any]] = []
        self.figures: list[dict[str, Any]] = []
        self.text: list[str] = []
        self.heading = ""
        self._h: list[str] | None = None
        self._skip = 0
        self._table: dict[str, Any] | None = None
        self._row: list[dict[str, str]] | None = None
        self._cell: dict[str, str] | None = None
        self._in_ci = 0
        self._caption: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("svg", "style", "title") or self._skip:
            self._skip += 1
            if tag == "svg" and self.figures and "label" not in self.figures[-1]:
                self.figures[-1]["label"] = a.get("aria-label")
            return
        if tag in ("h2", "h3"):
            self._h = []
        elif tag == "table":
            self._table = {"heading": self.heading, "caption": "", "header": [], "rows": []}
        elif tag == "caption":
            self._caption = []
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = {"tag": tag, "cls": a.get("class") or "", "text": "", "main": ""}
        elif tag == "span" and self._cell is not None and "ci" in (a.get("class") or ""):
            self._in_ci += 1
            self._cell["text"] += " "
        elif tag == "br" and self._cell is not None:
            self._cell["text"] += " "
        elif tag == "figure":
            self.figures.append({"chart": a.get("data-chart"), "values": json.loads(a["data-values"])
                                 if a.get("data-values") else None, "heading": self.heading})

    def handle_endtag(self, tag: str) -> None:
        if self._skip:
            self._skip -= 1
            return
        if tag in ("h2", "h3") and self._h is not None:
            self.heading = " ".join("".join(self._h).split())
            self._h = None
        elif tag == "caption" and self._caption is not None and self._table is not None:
            self._table["caption"] = " ".join("".join(self._caption).split())
            self._caption = None
        elif tag == "span" and self._in_ci:
            self._in_ci -= 1
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._cell = {k: (" ".join(v.split()) if k in ("text", "main") else v) for k, v in self._cell.items()}
            self._row.append(self._cell)
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            if self._row and all(c["tag"] == "th" for c in self._row) and not self._table["header"]:
                self._table["header"] = [c["text"] for c in self._row]
            elif self._row:
                self._table["rows"].append(self._row)
            self._row = None
        elif tag == "table" and self._table is not None:
            self.tables.append(self._table)
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.text.append(data)
        if self._h is not None:
            self._h.append(data)
        if self._caption is not None:
            self._caption.append(data)
        if self._cell is not None:
            self._cell["text"] += data
            if not self._in_ci:
                self._cell["main"] += data

    def visible(self) -> str:
        return " ".join(" ".join(self.text).split())

    def table(self, caption_or_header: str, heading: str | None = None) -> list[dict[str, Any]]:
        return [t for t in self.tables if (caption_or_header in t["caption"] or caption_or_header in t["header"])
                and (heading is None or t["heading"] == heading)]


def numbers(text: str) -> list[tuple[float, float]]:
    """(value, half a unit of the last shown digit) of every number in ``text``."""
    out = []
    for m in _NUMBER.finditer(text):
        raw, pct = m.group(1).replace(",", "").replace("−", "-"), m.group(2)
        value = float(raw)
        mantissa = raw.split("e")[0]
        decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
        half = 0.5 * 10.0 ** (-decimals)
        if "e" in raw:
            half *= 10.0 ** int(raw.split("e")[1])
        if pct:
            value, half = value / 100, half / 100
        out.append((value, half))
    return out


def shown(text: str) -> tuple[float, float] | None:
    """The first number of a cell's main text (None for "—", "left out", ...)."""
    got = numbers(text)
    return got[0] if got else None


def agrees(cell: str, value: float | None, *, slack: float = 1e-9) -> bool:
    """True when the cell shows ``value`` at its precision (or both are undefined)."""
    got = shown(cell)
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return got is None
    return got is not None and abs(got[0] - value) <= got[1] + slack


def _by_header(table: dict[str, Any]) -> list[dict[str, dict[str, str]]]:
    return [dict(zip(table["header"], row, strict=False)) for row in table["rows"]]


# ------------------------------------------------------------------------------ audits
def _compas_frame() -> pd.DataFrame:
    """compas.csv with 11 rows of race "Other" relabelled "Pacific Islander": a group under min_group_size."""
    frame = pd.read_csv(data_path("compas.csv"))
    frame.loc[frame.index[frame["race"] == "Other"][:11], "race"] = "Pacific Islander"
    return frame


def _cancer_frame() -> pd.DataFrame:
    """scikit-learn's breast-cancer table with a size band as the group (one band of 14 rows)."""
    frame = pd.read_csv(data_path("breast_cancer.csv"))
    frame["size_band"] = pd.cut(frame["mean area"], [0, 300, 500, 800, 1500, 10_000],
                                labels=["very small", "small", "medium", "large", "very large"]).astype(str)
    return frame


_EXPLAIN = {"n_rows": 3, "lime_samples": 200, "stability_seeds": 0}


def _audit(model: Path, data: Any, **kw: Any) -> ae.AuditResult:
    reference, ood = kw.pop("reference", None), kw.pop("ood_data", None)
    config = ae.AuditConfig(seed=0, n_bootstrap=100, **kw)
    return ae.audit(model, data, config=config, reference=reference, ood_data=ood)


def _run(tmp: Path, name: str, model: Path, data: Any, **kw: Any) -> dict[str, Any]:
    result = _audit(model, data, **dict(kw))
    folder = tmp / name
    folder.mkdir()
    result.to_json(folder / "audit.json")
    pages = {view: render_html(result, template=view) for view in VIEWS}
    return {"doc": json.loads((folder / "audit.json").read_text()), "html": pages, "args": (model, data, kw),
            "pages": {view: Page(html) for view, html in pages.items()}}


@pytest.fixture(scope="module")
def audits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("numbers")
    cancer = _cancer_frame()
    return {
        "compas": _run(tmp, "compas", model_path("compas_logreg.onnx"), _compas_frame(), target="two_year_recid",
                       sensitive=("race", "sex"), favorable_label=0, features=COMPAS_FEATURES, explanations=_EXPLAIN),
        "cancer": _run(tmp, "cancer", model_path("breast_cancer_mlp.onnx"), cancer, target="target",
                       sensitive=("size_band",), features=tuple(c for c in cancer.columns if c not in ("target", "size_band")),
                       checks=("performance", "fairness")),
        "text": _run(tmp, "text", model_path("reviews_transformer.onnx"), data_path("reviews.csv"), target="label",
                     sensitive=("group",), tokenizer=str(model_path("reviews_tokenizer.json")),
                     explanations=_EXPLAIN),
        "digits04": _run(tmp, "digits04", model_path("digits04_dropout.onnx"), data_path("digits_in.npz"),
                         reference=data_path("digits04_train.npz"), ood_data=data_path("digits_ood.npz"),
                         explanations=_EXPLAIN),
    }


@pytest.fixture(scope="module")
def comparison(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("compare")
    config = ae.AuditConfig(seed=0, n_bootstrap=100, target="two_year_recid", sensitive=("race", "sex"),
                            favorable_label=0, features=COMPAS_FEATURES, checks=("performance", "fairness"))
    comp, ra, rb = compare_models(model_path("compas_logreg.onnx"), model_path("compas_mlp.onnx"), _compas_frame(),
                                  config=config)
    write_comparison(comp, out, (ra, rb))
    return {"doc": json.loads((out / "compare.json").read_text()), "a": json.loads((out / "audit_a.json").read_text()),
            "b": json.loads((out / "audit_b.json").read_text()), "page": Page((out / "compare.html").read_text())}


ALL = ("compas", "cancer", "text", "digits04")


def _views(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return doc.get("fairness") or {}


def _view_name(key: str) -> str:
    return " × ".join(key.split("*"))


# ------------------------------------------------------------------------------ defect 6: determinism
_CLOCK = ("created", "seconds", "timings", "wall_seconds")


def _without_clock(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _without_clock(v) for k, v in x.items() if k not in _CLOCK and not k.endswith("_seconds")}
    if isinstance(x, list):
        return [_without_clock(v) for v in x]
    return x


@pytest.mark.parametrize("name", ALL)
def test_two_runs_with_one_seed_give_the_same_audit_json(audits, name, tmp_path):
    """Same seed, same inputs ⇒ the same audit.json, dropout model included (its kNN / Mahalanobis features)."""
    model, data, kw = audits[name]["args"]
    again = _audit(model, data, **dict(kw))
    again.to_json(tmp_path / "audit.json")
    first, second = (_without_clock(d) for d in (audits[name]["doc"], json.loads((tmp_path / "audit.json").read_text())))
    differ = [k for k in first if first[k] != second.get(k)]
    assert not differ, f"{name}: sections {differ} differ between two runs with seed 0"
    assert first == second


# ------------------------------------------------------------------------------ defect 2 and 3: sweeps
@pytest.mark.parametrize("name", ALL)
def test_sweep_at_the_operating_threshold_is_the_table(audits, name):
    """audit.json: the sweep's favourable selection rates and headline gaps at the threshold are the view's own."""
    checked = 0
    for key, view in _views(audits[name]["doc"]).items():
        sweep = view.get("sweep")
        if not sweep or view.get("threshold") is None:
            continue
        at = [i for i, t in enumerate(sweep["thresholds"]) if abs(t - view["threshold"]) < 1e-12]
        assert at, f"{key}: the operating threshold is not one of the sweep's thresholds"
        i = at[0]
        for g, rates in sweep["groups"].items():
            assert rates["selection_rate"][i] == pytest.approx(view["groups"][g]["selection_rate"], abs=1e-9), (
                f"{key}/{g}: the sweep's selection rate at the threshold is not the group's (favourable) selection rate")
        for gap in ("demographic_parity_difference", "equalized_odds_difference", "equal_opportunity_difference"):
            if gap in sweep and gap in view["metrics"]:
                want = view["metrics"][gap]["value"]
                got = sweep[gap][i]
                assert (want is None and got is None) or got == pytest.approx(want, abs=1e-9), (
                    f"{key}: the sweep's {gap} at the threshold ({got}) is not the headline gap ({want})")
        checked += 1
    if name in ("compas", "cancer"):
        assert checked, "the audit has no sweep to check"


@pytest.mark.parametrize("name", ("compas", "cancer"))
def test_sweep_charts_plot_the_numbers_of_the_tables(audits, name):
    """report.html: the sweep charts' points at the threshold equal the group table and the gaps table."""
    doc, page = audits[name]["doc"], audits[name]["pages"]["audit"]
    for key, view in _views(doc).items():
        if not view.get("sweep"):
            continue
        heading = _view_name(key)
        i = [j for j, t in enumerate(view["sweep"]["thresholds"]) if abs(t - view["threshold"]) < 1e-12][0]
        figs = {f["label"].split(".")[0]: f for f in page.figures if f["heading"] == heading and f["chart"] == "sweep"}
        rates = figs[f"Selection rate across thresholds: {heading}"]["values"]
        table = _by_header(page.table("Outcomes by group", heading)[0])
        for series, ys in rates["series"].items():
            group = series.split(" (n = ")[0]
            row = next(r for r in table if r["Group"]["main"] == group)
            got = ys[i]
            assert agrees(row["Selection rate"]["main"], got), (
                f"{key}/{group}: chart {got:.3f} at the threshold, table {row['Selection rate']['main']}")
        gaps = figs[f"Gaps across thresholds: {heading}"]["values"]
        gap_rows = {r["Gap"]["main"]: r for r in _by_header(next(t for t in page.tables if t["heading"] == heading
                                                                   and t["header"][:1] == ["Gap"]))}
        for series, ys in gaps["series"].items():
            if series in gap_rows and ys[i] is not None:
                col = [c for c in gap_rows[series] if c.startswith("Between")][0]
                assert agrees(gap_rows[series][col]["main"], ys[i]), (
                    f"{key}: '{series}' is {ys[i]:.3f} on the chart at the threshold, {gap_rows[series][col]['main']} "
                    "in the table")


# ------------------------------------------------------------------------------ tables of the main report
@pytest.mark.parametrize("name", ALL)
def test_group_and_gap_tables_show_the_record(audits, name):
    doc, page = audits[name]["doc"], audits[name]["pages"]["audit"]
    for key, view in _views(doc).items():
        heading = _view_name(key)
        for t in page.tables:
            if t["heading"] != heading:
                continue
            for row in _by_header(t):
                if "Group" in row:
                    label = row["Group"]["main"]
                    match = [g for g in view["groups"] if _view_name(g) == label]
                    assert match, f"{key}: the table shows a group {label!r} the record does not have"
                    g = view["groups"][match[0]]
                    assert agrees(row["n"]["main"], g["n"])
                    for col, rate in (("Selection rate", "selection_rate"), ("Accuracy", "accuracy")):
                        if col in row and g.get(rate) is not None:
                            assert agrees(row[col]["main"], g[rate]), f"{key}/{label}: {col} {row[col]['main']} ≠ {g[rate]}"
                    if "Impact ratio" in row and (view.get("impact_ratios") or {}).get(match[0]) is not None:
                        assert agrees(row["Impact ratio"]["main"], view["impact_ratios"][match[0]])
                if "Gap" in row:
                    m = [k for k in view["metrics"] if _metric_label(k) == row["Gap"]["main"]]
                    if m:
                        col = [c for c in row if c.startswith("Between")][0]
                        assert agrees(row[col]["main"], view["metrics"][m[0]]["value"]), (
                            f"{key}: {row['Gap']['main']} shown {row[col]['main']}, record {view['metrics'][m[0]]['value']}")


def _metric_label(key: str) -> str:
    from audit_engine.report.format import metric_name

    return metric_name(key)


# ------------------------------------------------------------------------------ defect 4: the two rules
def test_bias_audit_and_report_state_their_rules_and_show_each_others_figures(audits):
    doc = audits["compas"]["doc"]
    bias, report = audits["compas"]["pages"]["bias-audit"], audits["compas"]["pages"]["audit"]
    text = bias.visible()
    assert "2.0% of the rows" in text and "fewer than 30 rows" in text, "the bias audit does not state both rules"
    assert "same ratios" not in text and "the same impact ratios" not in text
    differs_somewhere = False
    for key, view in _views(doc).items():
        ll = view.get("ll144")
        if not ll:
            continue
        left = view.get("left_out") or {}
        tables = [t for t in bias.tables if "Impact ratio, this view (point value)" in t["header"]]
        rows = {r["Category"]["main"]: r for t in tables for r in _by_header(t)}
        for g, c in ll["categories"].items():
            row = rows[_view_name(g) if "*" in key else g]
            assert agrees(row["Selection rate"]["main"], c["selection_rate"])
            if c["excluded"]:
                assert row["Impact ratio, this view (point value)"]["main"] == "excluded"
            else:
                assert agrees(row["Impact ratio, this view (point value)"]["main"], c["impact_ratio"])
            theirs = row["Impact ratio, audit report (point value)"]["main"]
            if g in left and "selection_rate" in left[g]["rates"]:
                assert theirs == "left out"
            else:
                assert agrees(theirs, view["impact_ratios"][g]), f"{key}/{g}: {theirs} ≠ {view['impact_ratios'][g]}"
            mine = None if c["excluded"] else c["impact_ratio"]
            other = None if (g in left and "selection_rate" in left[g]["rates"]) else view["impact_ratios"][g]
            differs_somewhere |= (mine is None) != (other is None) or (
                mine is not None and other is not None and abs(mine - other) > 1e-9)
        # The main report names the bias-audit rule and lists its figures for this view.
        para = [p for p in re.split(r"(?<=\.) (?=[A-Z])", report.visible()) if "Local Law 144 rule" in p]
        assert para, f"{key}: the report does not state the bias-audit rule"
    assert differs_somewhere, "the fixture should make the two rules disagree somewhere"
    assert "differs for some categories" in text


# ------------------------------------------------------------------------------ defects 1 and 5: compare
def test_compare_changes_are_b_minus_a_over_the_audits_groups(comparison):
    doc, a, b = comparison["doc"], comparison["a"], comparison["b"]
    for path, e in doc["changes"].items():
        va, vb = e["a"].get("value"), e["b"].get("value")
        if va is not None and vb is not None:
            assert e["delta"]["value"] == pytest.approx(vb - va, abs=1e-9), f"{path}: delta is not B − A"
    for attr, block in doc["fairness"].items():
        for metric, e in block.items():
            want_a = a["fairness"][attr]["metrics"][metric]["value"]
            want_b = b["fairness"][attr]["metrics"][metric]["value"]
            assert e["a"]["value"] == pytest.approx(want_a, abs=1e-12, nan_ok=True) if want_a is not None else True
            assert e["b"]["value"] == pytest.approx(want_b, abs=1e-12, nan_ok=True) if want_b is not None else True
            if want_a is not None and want_b is not None:
                assert e["delta"]["value"] == pytest.approx(want_b - want_a, abs=1e-9), (
                    f"fairness.{attr}.{metric}: change {e['delta']['value']:.3f} is not B − A "
                    f"({want_b:.3f} − {want_a:.3f})")


def test_compare_better_follows_the_direction_and_the_favourable_outcome(comparison):
    doc = comparison["doc"]
    for path, e in doc["changes"].items():
        metric = path.rsplit(".", 1)[1]
        if metric == "selection_rate":  # favourable label 0: selections are favourable, so more is better
            assert e["better_when"] == "higher", f"{path}: a favourable selection rate is better when higher"
        if metric in ("tpr", "accuracy", "roc_auc", "precision"):
            assert e["better_when"] == "higher", path
        if metric in ("fpr", "demographic_parity_difference", "brier_score"):
            assert e["better_when"] == "lower", path
        if e["change"] in ("better", "worse"):
            up = e["delta"]["ci_low"] > 0
            assert (e["change"] == "better") == (up == (e["better_when"] == "higher")), path


def test_compare_page_shows_b_minus_a(comparison):
    page = comparison["page"]
    checked = 0
    for t in page.tables:
        if "Change B − A" not in t["header"]:
            continue
        for row in _by_header(t):
            a, b, d = (shown(row[c]["main"]) for c in ("A", "B", "Change B − A"))
            if a is None or b is None or d is None:
                continue
            assert abs(d[0] - (b[0] - a[0])) <= a[1] + b[1] + d[1] + 1e-9, (
                f"{t['caption']} / {row['Metric']['main']}: A {a[0]}, B {b[0]}, change {d[0]}")
            checked += 1
    assert checked > 20


# ------------------------------------------------------------------------------ every number traces to its record
def _leaves(doc: Any) -> np.ndarray:
    out: list[float] = []

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
        elif isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x):
            out.append(float(x))
            out.append(-float(x))
    walk(doc)
    return np.unique(np.array(out))


def _traced(value: float, half: float, leaves: np.ndarray) -> bool:
    i = np.searchsorted(leaves, value)
    near = leaves[max(0, i - 1): i + 1]
    return bool(near.size) and float(np.min(np.abs(near - value))) <= half * (1 + 1e-9) + 1e-12


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("view", tuple(VIEWS))
def test_every_table_number_is_in_the_record(audits, name, view):
    """Each number in a table cell (value or interval) is a number of audit.json at the shown precision."""
    doc, page = audits[name]["doc"], audits[name]["pages"][view]
    leaves = _leaves(doc)
    stray = []
    for t in page.tables:
        for row in t["rows"]:
            for cell in row:
                if "num" not in cell["cls"]:
                    continue
                for value, half in numbers(cell["text"]):
                    if not _traced(value, half, leaves):
                        stray.append(f"{t['heading']} / {t['caption'] or t['header'][:2]}: {cell['text']!r}")
    assert not stray, f"{len(stray)} numbers of {view} are not in audit.json: " + "; ".join(stray[:8])


# ------------------------------------------------------------------------------ defect 7: no zero-width interval
_SAME_ENDS = re.compile(r"(?<![\w.])(-?\d[\d,.]*%?) to \1(?![\w.%])")


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("view", tuple(VIEWS))
def test_no_zero_width_interval_is_shown(audits, name, view):
    text = audits[name]["pages"][view].visible()
    found = _SAME_ENDS.findall(text)
    assert not found, f"{view} of {name} shows zero-width intervals: {found[:5]}"


# ------------------------------------------------------------------------------ defect 10: the first screen
def _first_screen(page: Page) -> str:
    html_text = page.visible()
    return html_text[: html_text.find("Verdicts")] if "Verdicts" in html_text else html_text


@pytest.mark.parametrize("name", ALL)
def test_first_screen_names_the_model_and_never_a_local_path(audits, name):
    doc = audits[name]["doc"]
    first = _first_screen(audits[name]["pages"]["audit"])
    assert doc["model"]["sha256"] in first
    assert Path(doc["model"]["path"]).name in first
    folder = str(Path(doc["model"]["path"]).parent)
    assert folder not in first, "the first screen shows the local path of the model"
    for view in VIEWS:  # titles name the model, not where it lies on the auditor's disk
        html = audits[name]["html"][view]
        assert folder not in html[html.find("<title>"): html.find("</h1>")], f"the title of {view} is a local path"
    perf = doc.get("performance")
    if perf:
        assert "Performance:" in first and " CI " in first or "no interval" in first


def test_first_screen_names_the_least_favoured_group(audits):
    doc = audits["compas"]["doc"]
    first = _first_screen(audits["compas"]["pages"]["audit"])
    # The oracle: the lowest impact ratio over the groups each view headlines.
    worst = min(((r, key, g) for key, v in doc["fairness"].items() for g, r in v["impact_ratios"].items()
                 if r is not None and not (g in (v.get("left_out") or {})
                                           and "selection_rate" in v["left_out"][g]["rates"])))
    r, key, g = worst
    assert f"least favoured group is {_view_name(g)} ({_view_name(key)}" in first
    assert agrees(first.split(f"({_view_name(key)}")[1].split("impact ratio ")[1], r)


def test_first_screen_summarises_ood_and_uncertainty(audits):
    doc = audits["digits04"]["doc"]
    first = _first_screen(audits["digits04"]["pages"]["audit"])
    best = max(doc["ood"]["scores"].items(), key=lambda kv: kv[1]["auroc"]["value"])
    assert "Out of distribution: the best detector" in first
    assert agrees(first.split("AUROC ")[1], best[1]["auroc"]["value"])
    assert "Uncertainty: MC dropout" in first


def test_a_detector_worse_than_chance_is_flagged(audits):
    """An AUROC interval below 0.5 is flagged on the first screen and in the OOD table (oracle: the interval)."""
    doc = json.loads(json.dumps(audits["digits04"]["doc"]))
    doc["ood"]["scores"]["knn"]["auroc"] = {"value": 0.3, "ci_low": 0.25, "ci_high": 0.35}
    page = Page(render_html(doc, template="audit"))
    first = _first_screen(page)
    assert "Worse than chance: k-NN distance (AUROC 0.3" in first
    assert "worse than chance" in page.visible().split("Scores", 1)[1]
    assert "Worse than chance" not in _first_screen(audits["digits04"]["pages"]["audit"]) or any(
        s["auroc"]["ci_high"] < 0.5 for s in audits["digits04"]["doc"]["ood"]["scores"].values())


# ------------------------------------------------------------------------------ defect 13: ids and accessible charts
@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("view", tuple(VIEWS))
def test_ids_are_unique_and_charts_are_labelled(audits, name, view):
    html = audits[name]["html"][view]
    ids = re.findall(r'\bid="([^"]+)"', html)
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    assert not dupes, f"duplicate ids: {dupes[:5]}"
    for svg in re.findall(r"<svg\b[^>]*>", html):
        assert 'role="img"' in svg and 'aria-label="' in svg


# ------------------------------------------------------------------------------ defects 8 and 11: the compare page in words
def test_compare_headline_is_not_green_when_a_paired_test_found_a_shift(comparison):
    """The oracle: compare.json's own paired tests (McNemar per group, moved metrics) at 1 − confidence."""
    doc, page = comparison["doc"], comparison["page"]
    alpha = 1 - doc["confidence"]
    significant = [(a, g) for a, block in doc["fidelity"]["selection_tests"].items() for g, t in block.items()
                   if t["p_value"] < alpha]
    assert significant and doc["fidelity"]["moved_beyond_interval"], "the fixture should shift some decisions"
    html = (comparison["page"].visible())
    assert "no regression" not in html.split("Result:")[1][:40] or "significant shift" in html.split("Result:")[1][:120]
    for attr, group in significant:
        assert f"{_view_name(group)} ({_view_name(attr)}): decisions flipped" in html
    assert f"{len(doc['fidelity']['moved_beyond_interval'])} metrics moved beyond their paired interval" in html
    # The same document marked as passing the gate must still not be green.
    ok = dict(doc, status="ok", regressions=[])
    from audit_engine.report.compare import build_compare_view

    view = build_compare_view(ok)
    assert view.status_class == "warn" and "significant shift" in view.status_text


def test_compare_page_has_no_raw_keys(comparison):
    text = comparison["page"].visible()
    snake = re.findall(r"\b[a-z]+_[a-z_]+\b(?!\.onnx)", text)  # file names are spelt as on disk
    assert not snake, f"snake_case on the compare page: {sorted(set(snake))[:10]}"
    assert "fairness.race" not in text and "performance.metrics" not in text
    assert "-0.000" not in text and "None." not in text
    assert not re.search(r"p = \d\.\d+e-\d+", text), "p-values are written as p < 0.001"


# ------------------------------------------------------------------------------ defect 14: refused, nothing written
def test_render_bias_audit_without_a_favourable_outcome_exits_2_and_writes_nothing(audits, tmp_path, capsys):
    from audit_engine.cli import main

    doc = audits["cancer"]["doc"]  # audited without favorable_label
    src = tmp_path / "audit.json"
    src.write_text(json.dumps(doc))
    out = tmp_path / "bias.html"
    code = main(["render", str(src), "--template", "bias-audit", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and not out.exists()
    assert any("favorable-label" in line for line in err)
    assert main(["render", str(src), "--template", "audit", "--out", str(tmp_path / "r.html")]) == 0


def test_bias_audit_summary_items_come_from_the_config(audits):
    doc = json.loads(json.dumps(audits["compas"]["doc"]))
    doc["config"]["model_card"] = {"bias_audit_auditor": "Example Audits LLC", "bias_audit_data_source": "test data"}
    text = Page(render_html(doc, template="bias-audit")).visible()
    assert "Independent auditor Example Audits LLC" in text and "Source of the data test data" in text
    assert "Not provided: Date of the bias audit; Distribution date of the tool" in text
    assert "applicant" not in text.lower()  # the data are rows, whatever they describe


def test_a_misspelt_model_card_field_is_shown_with_a_suggestion(audits):
    doc = json.loads(json.dumps(audits["compas"]["doc"]))
    doc["config"]["model_card"] = {"name": "Risk score", "intended_usage": "demo"}
    text = Page(render_html(doc, template="model-card")).visible()
    assert "'intended_usage' (did you mean 'intended_use'?)" in text
    assert "Model card: Risk score" in text


def test_a_histogram_is_never_cut_to_a_handful_of_bins():
    """The axis cut (one far outlier) keeps at least six bins; else the whole range is drawn (defect 13)."""
    from audit_engine.report.charts import MIN_SHOWN_BINS, _clip_at

    assert _clip_at([500.0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]) is None
    spread = [50.0] * 7 + [0.0] * 12 + [1.0]
    assert _clip_at(spread) == 7 >= MIN_SHOWN_BINS


def test_sanity_failed_explanations_are_flagged_and_collapsed_and_attention_is_listed(audits):
    """Oracle: the record's own sanity flags and skipped parts (text fixture, two-input transformer)."""
    doc, html = audits["text"]["doc"], audits["text"]["html"]["audit"]
    failed = [m for m, e in doc["explanations"].items() if (e.get("sanity") or {}).get("flagged")]
    first = _first_screen(audits["text"]["pages"]["audit"])
    assert failed, "the text fixture's LIME and occlusion fail the randomisation check (issue 22, defect 9)"
    assert "Explanations not to be trusted" in first
    assert html.count('<details class="collapsed">') == len(failed)
    assert doc["checks"]["explanations.attention"]["status"] == "skipped"
    assert "Explanations — Attention" in first


def test_a_misspelt_model_card_field_in_the_config_is_refused_with_a_suggestion(tmp_path, capsys):
    """Defect 11: written for a regulator, a card must not silently lose a field; a file written
    before the check (the test above) still renders with the notice."""
    with pytest.raises(ae.ConfigError, match="Unknown key 'intended_usage' in \\[model_card\\]; did you mean 'intended_use'"):
        ae.AuditConfig(model_card={"intended_usage": "demo"})
    config = tmp_path / "card.toml"
    config.write_text('[model_card]\nowner = "me"\n')
    from audit_engine.cli import main

    out = tmp_path / "out"
    assert main(["run", str(model_path("compas_logreg.onnx")), "--data", str(data_path("compas.csv")),
                 "--config", str(config), "--out", str(out)]) == 2
    assert "did you mean 'owners'" in capsys.readouterr().err and not out.exists()
    assert ae.AuditConfig(model_card={"name": "x", "bias_audit_auditor": "y"}).model_card["name"] == "x"
