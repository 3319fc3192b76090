"""CLI conventions: -v/-q/--no-progress anywhere on the line, --quiet, run --json, examples in --help."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audit_engine.cli import EXIT_CODES, build_parser, main

from .conftest import logistic_model, save

SUBCOMMANDS = {  # the fewest arguments each subcommand parses with
    "run": ["m.onnx", "--data", "d.csv"],
    "compare": ["a.json", "b.json"],
    "render": ["audit.json", "--out", "r.html"],
    "inspect": ["m.onnx"],
    "demo": [],
}


@pytest.fixture
def table(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(80, 3)), columns=["a", "b", "c"])
    frame["y"] = (frame["a"] + rng.normal(scale=0.5, size=80) > 0).astype(int)
    path = tmp_path / "table.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return save(logistic_model(np.array([1.0, -1.0, 0.5])), tmp_path / "m.onnx")


def _run_args(model: Path, table: Path, out: Path, *extra: str) -> list[str]:
    return ["run", str(model), "--data", str(table), "--target", "y", "--checks", "performance",
            "--bootstrap", "20", "--out", str(out), *extra]


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_common_flags_before_or_after_the_subcommand(command):
    parser = build_parser()
    plain = parser.parse_args([command, *SUBCOMMANDS[command]])
    assert (plain.verbose, plain.quiet, plain.no_progress) == (False, False, False)
    for flag, dest in (("-v", "verbose"), ("--verbose", "verbose"), ("-q", "quiet"), ("--quiet", "quiet"),
                       ("--no-progress", "no_progress")):
        before = parser.parse_args([flag, command, *SUBCOMMANDS[command]])
        after = parser.parse_args([command, *SUBCOMMANDS[command], flag])
        assert getattr(before, dest) is True, (flag, command)  # not reset by the subcommand's default
        assert getattr(after, dest) is True, (flag, command)
        others = {"verbose", "quiet", "no_progress"} - {dest}
        assert not any(getattr(after, o) for o in others)


def test_verbose_and_quiet_together_is_a_usage_error(capsys):
    assert main(["-v", "demo", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("audit-engine: error: ") and "--quiet" in err


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_every_help_has_examples(command, capsys):
    assert main([command, "--help"]) == 0
    text = capsys.readouterr().out
    examples = text.split("examples:\n", 1)[1]
    lines = [line.strip() for line in examples.splitlines() if line.strip()]
    assert lines and all(line.startswith(f"audit-engine {command}") for line in lines), examples
    assert "--no-progress" in text and "--quiet" in text


def test_top_help_lists_examples_and_exit_codes(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert "examples:\n  audit-engine demo" in text
    for code, meaning in EXIT_CODES.items():
        assert f"{code:>3}  {meaning}" in text


def test_exit_codes_unchanged():
    assert sorted(EXIT_CODES) == [0, 1, 2, 3, 130, 143]


def test_run_json_prints_only_the_summary_on_stdout(tmp_path, model, table, capsys):
    out = tmp_path / "out"
    code = main(_run_args(model, table, out, "--json", "--junit", str(tmp_path / "v.xml")))
    captured = capsys.readouterr()
    doc = json.loads(captured.out)  # the whole of stdout is one JSON document
    written = json.loads((out / "audit.json").read_text())
    assert code == doc["exit_code"] == 0 and doc["exit_meaning"] == EXIT_CODES[0]
    assert doc["status"] == written["status"] and doc["verdicts"] == written["verdicts"]
    assert doc["counts"] == {s: sum(v["status"] == s for v in written["verdicts"]) for s in ("pass", "warn", "fail")}
    assert doc["files"] == {"audit": str((out / "audit.json").resolve()), "report": str((out / "report.html").resolve()),
                            "junit": str((tmp_path / "v.xml").resolve())}
    assert all(Path(p).is_file() for p in doc["files"].values())
    assert doc["evaluations"]["model_calls"] == written["evaluations"]["model_calls"] > 0
    assert doc["errors"] == []
    # the info lines moved to stderr
    assert "Running the model on" in captured.err and "Wrote " in captured.err and "Audit " in captured.err


def test_run_json_on_a_policy_failure_exits_1(tmp_path, model, table, capsys):
    config = tmp_path / "audit.toml"
    config.write_text('[policy.performance]\nmin_roc_auc = { threshold = 0.999, severity = "fail" }\n')
    code = main(_run_args(model, table, tmp_path / "out", "--json", "--config", str(config), "-q"))
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert code == doc["exit_code"] == 1 and doc["status"] == "fail" and doc["counts"]["fail"] >= 1
    assert doc["exit_meaning"] == EXIT_CODES[1]
    assert captured.err == ""  # quiet: no info lines, and nothing went wrong


def test_run_json_on_bad_input(tmp_path, model, capsys):
    out = tmp_path / "out"
    code = main(_run_args(model, tmp_path / "missing.csv", out, "--json"))
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert code == doc["exit_code"] == 2 and doc["status"] == "error" and doc["files"] == {}
    last = captured.err.strip().splitlines()[-1]
    assert last.startswith("audit-engine: error: ") and last == f"audit-engine: {doc['error']}"
    assert not out.exists()


def test_run_json_on_a_usage_error_still_prints_one_document(tmp_path, model, capsys):
    code = main(["run", str(model), "--json", "--out", str(tmp_path / "out"), "--targt", "y"])  # typo, no --data
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert code == doc["exit_code"] == 2 and doc["status"] == "error"
    assert captured.err.strip() == f"audit-engine: {doc['error']}"


def test_quiet_silences_info_but_not_errors(tmp_path, model, table, capsys):
    out = tmp_path / "out"
    assert main(["-q", *_run_args(model, table, out)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert (out / "audit.json").is_file() and (out / "report.html").is_file()
    # render, quiet after the subcommand
    assert main(["render", str(out / "audit.json"), "--out", str(tmp_path / "r.html"), "--quiet"]) == 0
    assert capsys.readouterr().out == "" and (tmp_path / "r.html").is_file()
    # errors still come through
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert main(["render", str(bad), "--out", str(tmp_path / "x.html"), "-q"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("audit-engine: error: ")


def test_without_quiet_info_goes_to_stdout(tmp_path, model, table, capsys):
    assert main([*_run_args(model, table, tmp_path / "out"), "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "Running the model on" in captured.out and "Wrote " in captured.out
    assert "running check" not in captured.err


def test_progress_lines_and_no_progress_on_compare(tmp_path, model, table, capsys):
    other = save(logistic_model(np.array([1.0, -0.5, 0.5])), tmp_path / "m2.onnx")
    common = ["compare", str(model), str(other), "--data", str(table), "--target", "y", "--checks", "performance",
              "--bootstrap", "20"]
    assert main([*common, "--out", str(tmp_path / "c1")]) in (0, 1)
    assert "audit-engine: running check performance" in capsys.readouterr().err  # stderr is not a terminal
    assert main(["--no-progress", *common, "--out", str(tmp_path / "c2")]) in (0, 1)
    assert "running check" not in capsys.readouterr().err


def test_run_json_when_a_check_crashes(tmp_path, model, table, capsys, monkeypatch):
    import audit_engine.performance as performance

    def boom(ctx):
        raise ValueError("planted")

    monkeypatch.setattr(performance, "run", boom)
    out = tmp_path / "out"
    code = main(_run_args(model, table, out, "--json"))
    captured = capsys.readouterr()
    doc = json.loads(captured.out)  # one document: the summary, not a second error document
    assert code == doc["exit_code"] == 3 and doc["status"] == "error"
    assert doc["errors"] == ["performance: ValueError: planted"]
    assert Path(doc["files"]["audit"]).is_file()  # the other checks' results were written
    assert "internal error in check performance" in captured.err
