"""Text robustness (issue 29): typos, casing, whitespace and punctuation on the raw strings.

Oracles: exact counts and invariants on strings (the words kept, the characters other than
letters kept, ⌊s·m⌋ or ⌈s·m⌉ words changed with mean s·m); the expected number of typo
edits p·(letters) against the optimal-string-alignment edit distance computed here; for the
audit of the text fixture, onnxruntime run directly on the perturbed texts encoded here with
the ``tokenizers`` package (not through the engine's encoder or Evaluator), per-group flips
counted with pandas, and the tokenizer's own Lowercase normaliser for casing (no id changes,
so no flips).
"""

from __future__ import annotations

import json
import re
import string

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from numpy.testing import assert_allclose

import audit_engine as ae
from audit_engine.config import AuditConfig
from audit_engine.robustness.perturb import SEVERITIES, TEXT
from audit_engine.robustness.text import (KEYBOARD_NEIGHBOURS, TEXT_SEVERITIES, casing, perturb_texts, punctuation,
                                          typo, whitespace)
from audit_engine.stats import child_rng

from .conftest import data_path, model_path

TOK = model_path("reviews_tokenizer.json")
TEXT_MODEL = model_path("reviews_transformer.onnx")
SEQ = 32
SENTENCE = ("The quick brown fox, said Mr. Smith, jumps over 12 lazy dogs! Really? "
            "Yes: it happens every morning near the old mill at 7am.")


def _osa(a: str, b: str) -> int:
    """Optimal string alignment distance (insert, delete, substitute, swap adjacent: 1 each)."""
    d = np.zeros((len(a) + 1, len(b) + 1), dtype=np.int64)
    d[:, 0] = np.arange(len(a) + 1)
    d[0, :] = np.arange(len(b) + 1)
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            d[i, j] = min(d[i - 1, j] + 1, d[i, j - 1] + 1, d[i - 1, j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i, j] = min(d[i, j], d[i - 2, j - 2] + 1)
    return int(d[-1, -1])


# --- the string perturbations ---------------------------------------------------------------

def test_severity_tables_are_five_graded_levels():
    assert TEXT == ("typo", "casing", "whitespace", "punctuation")
    for kind in TEXT:
        levels = TEXT_SEVERITIES[kind]
        assert SEVERITIES[kind] == levels and len(levels) == 5 and list(levels) == sorted(levels)
        assert 0 < levels[0] and levels[-1] <= 0.5
    assert TEXT_SEVERITIES["typo"] == (0.01, 0.02, 0.05, 0.1, 0.2)


def test_typo_at_zero_is_the_identity_and_at_one_edits_every_lone_letter():
    for seed in range(20):
        assert typo(SENTENCE, 0.0, np.random.default_rng(seed)) == SENTENCE
    # letters with no letter after them: every one is dropped, duplicated or replaced by a neighbour key
    out = typo("a b c d", 1.0, np.random.default_rng(3)).split(" ")
    for c, o in zip("abcd", out, strict=True):
        assert o in ("", c + c) or (len(o) == 1 and o in KEYBOARD_NEIGHBOURS[c])


def test_typo_only_edits_letters_and_digits():
    not_alnum = re.compile(r"[A-Za-z0-9]")
    for seed in range(30):
        out = typo(SENTENCE, 0.3, np.random.default_rng(seed))
        assert not_alnum.sub("", out) == not_alnum.sub("", SENTENCE)  # spaces and marks in order, untouched


def test_typo_edit_count_is_p_times_the_letters():
    text = "the film in the north was really quite wonderful and moving"
    letters = sum(c.isalnum() for c in text)
    rng = np.random.default_rng(11)
    for p in (0.02, 0.05):
        draws = 600
        dist = np.array([_osa(text, typo(text, p, rng)) for _ in range(draws)])
        expected = p * letters  # each edit is one OSA operation; collisions are O(p²)
        se = np.sqrt(expected / draws)  # Poisson-like spread of the mean count
        assert abs(dist.mean() - expected) < 4 * se + 0.02 * expected, (p, dist.mean(), expected)


def _words_changed(a: str, b: str) -> list[tuple[str, str]]:
    return [(x, y) for x, y in zip(a.split(), b.split(), strict=True) if x != y]


def test_casing_swaps_the_case_of_a_share_of_the_words():
    words = SENTENCE.split()
    cased = sum(w.swapcase() != w for w in words)  # "12" has no case
    for s in TEXT_SEVERITIES["casing"]:
        counts = []
        for seed in range(300):
            out = casing(SENTENCE, s, np.random.default_rng(seed))
            changed = _words_changed(SENTENCE, out)
            assert all(y == x.swapcase() for x, y in changed)
            assert len(changed) in (int(np.floor(s * cased)), int(np.ceil(s * cased)))
            counts.append(len(changed))
        # stochastic rounding: the mean count is s·m (a Bernoulli of p = frac(s·m) on top of the floor)
        frac = s * cased - np.floor(s * cased)
        assert abs(np.mean(counts) - s * cased) < 4 * np.sqrt(frac * (1 - frac) / 300) + 1e-12


def test_whitespace_keeps_the_words_and_changes_a_share_of_the_gaps():
    gaps = len(SENTENCE.split()) - 1
    for s in TEXT_SEVERITIES["whitespace"]:
        doubled_total = changed_total = 0
        for seed in range(200):
            out = whitespace(SENTENCE, s, np.random.default_rng(seed))
            assert "".join(out.split()) == "".join(SENTENCE.split())  # every non-space character, in order
            assert set(re.findall(r"\s+", out)) <= {" ", "  "}
            removed = len(SENTENCE.split()) - len(out.split())
            doubled = out.count("  ")
            assert removed + doubled in (int(np.floor(s * gaps)), int(np.ceil(s * gaps)))
            doubled_total += doubled
            changed_total += removed + doubled
        assert abs(changed_total / 200 - s * gaps) < 0.5
        assert 0.35 < doubled_total / changed_total < 0.65  # doubled or removed, ½ each


def test_punctuation_adds_or_drops_one_end_mark_on_a_share_of_the_words():
    words = SENTENCE.split()
    strip = str.maketrans("", "", string.punctuation)
    for s in TEXT_SEVERITIES["punctuation"]:
        for seed in range(100):
            out = punctuation(SENTENCE, s, np.random.default_rng(seed))
            assert out.translate(strip).split() == SENTENCE.translate(strip).split()
            changed = _words_changed(SENTENCE, out)
            assert len(changed) in (int(np.floor(s * len(words))), int(np.ceil(s * len(words))))
            for x, y in changed:
                if x[-1] in string.punctuation:
                    assert y == x[:-1]
                else:
                    assert y[:-1] == x and y[-1] in ".,!?;:"


def test_same_generator_same_texts_and_unknown_kind_refused():
    texts = [SENTENCE, "short one", "", "   "]
    for kind in TEXT:
        a = perturb_texts(kind, texts, TEXT_SEVERITIES[kind][-1], np.random.default_rng(5))
        b = perturb_texts(kind, texts, TEXT_SEVERITIES[kind][-1], np.random.default_rng(5))
        assert a == b and a[2] == "" and a[3] == "   "
    with pytest.raises(ValueError, match="unknown text perturbation"):
        perturb_texts("blur", texts, 0.1, np.random.default_rng(0))


# --- the check on the text fixture ----------------------------------------------------------

def _config(**kw):
    return AuditConfig(target="label", sensitive=["group"], tokenizer=str(TOK), checks=["robustness"], **kw)


@pytest.fixture(scope="module")
def reviews():
    return ae.audit(TEXT_MODEL, data_path("reviews.csv"), config=_config())


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _direct(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """p(class 1) from onnxruntime on ids made here with ``tokenizers`` (truncated, right-padded with 0)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(TOK))
    ids = np.zeros((len(texts), SEQ), dtype=np.int64)
    mask = np.zeros((len(texts), SEQ), dtype=np.int64)
    for i, enc in enumerate(tok.encode_batch(texts)):
        k = min(SEQ, len(enc.ids))
        ids[i, :k] = enc.ids[:k]
        mask[i, :k] = 1
    sess = ort.InferenceSession(str(TEXT_MODEL), providers=["CPUExecutionProvider"])
    return _softmax(sess.run(None, {"input_ids": ids, "attention_mask": mask})[0])[:, 1], ids


def test_text_audit_validates_and_flips_equal_onnxruntime(reviews):
    doc = reviews.to_dict()
    ae.validate(doc)
    r = reviews.robustness
    assert doc["checks"]["robustness"]["status"] == "ran"
    assert r.modality == "text" and r.kinds == TEXT and not r.skipped
    assert len(r.results) == 5 * len(TEXT)
    frame = pd.read_csv(data_path("reviews.csv"))
    take = np.sort(child_rng(0, "robustness", "sample").choice(len(frame), size=200, replace=False))
    assert r.rows == 200 and r.sampled
    texts = frame.text.iloc[take].astype(str).tolist()
    base, base_ids = _direct(texts)
    base_decision = base >= 0.5
    groups = frame.group.iloc[take].to_numpy()
    for res in r.results:
        moved_texts = perturb_texts(res.kind, texts, res.severity, child_rng(0, "robustness", res.kind, res.level))
        moved, ids = _direct(moved_texts)
        flips = (moved >= 0.5) != base_decision
        assert res.flip_rate.flips == int(flips.sum()) and res.flip_rate.n == 200, (res.kind, res.level)
        assert_allclose(res.score_shift.value, np.abs(moved - base).mean(), atol=1e-6)
        by_group = pd.Series(flips).groupby(groups).agg(["sum", "count"])
        for g, row in by_group.iterrows():
            assert res.groups["group"][g].flips == row["sum"] and res.groups["group"][g].n == row["count"]
        if res.kind == "casing":  # the tokenizer lower-cases: the texts change, the ids do not
            assert moved_texts != texts and np.array_equal(ids, base_ids)
            assert res.flip_rate.flips == 0 and res.score_shift.value == 0
    typos = [x.flip_rate.value for x in r.results if x.kind == "typo"]
    assert typos == sorted(typos) and typos[-1] > typos[0]  # more typos, more flips (weakly, level by level)
    top = max((x for x in r.results if x.level == r.policy_level), key=lambda x: x.flip_rate.value)
    assert r.flip_rate.value == top.flip_rate.value and r.flip_rate.kind == top.kind


def _strip(doc):
    if isinstance(doc, dict):
        return {k: _strip(v) for k, v in doc.items()
                if k not in ("created", "seconds") and not k.endswith("_seconds")}
    if isinstance(doc, list):
        return [_strip(v) for v in doc]
    return doc


def test_same_seed_same_text_audit_json(reviews):
    again = ae.audit(TEXT_MODEL, data_path("reviews.csv"), config=_config())
    assert json.dumps(_strip(again.to_dict()), sort_keys=True) == json.dumps(_strip(reviews.to_dict()), sort_keys=True)
    other = ae.audit(TEXT_MODEL, data_path("reviews.csv"), config=_config(seed=1))
    assert other.robustness.to_dict() != reviews.robustness.to_dict()


def test_text_kinds_chosen_and_tabular_kinds_refused():
    r = ae.audit(TEXT_MODEL, data_path("reviews.csv"), config=_config(robustness={"kinds": ["typo"], "max_rows": 50}))
    assert r.robustness.kinds == ("typo",) and r.robustness.rows == 50
    with pytest.raises(ae.errors.ConfigError, match="Unknown robustness kind.*text data"):
        ae.audit(TEXT_MODEL, data_path("reviews.csv"), config=_config(robustness={"kinds": ["jitter"]}))


def test_render_names_the_text_kinds(reviews, tmp_path):
    html = ae.render(reviews, tmp_path / "report.html").read_text()
    assert 'id="section-robustness"' in html
    for words in ("Character typos", "edit probability per letter or digit", "Casing", "Whitespace", "Punctuation",
                  "own tokenizer"):
        assert words in html, words
