"""The ``audit-engine`` command line: thin over the public API.

Exit codes (:data:`EXIT_CODES`): 0 done and the policy passes (or only warns) · 1 done and
the policy fails · 2 bad input or usage (also: --timeout passed, a resource limit hit) ·
3 internal error (traceback in a log file, one line asking for a bug report) · 130 Ctrl-C ·
143 SIGTERM. Nothing else exits 1. Errors print one line, without a traceback.

Every file a command writes (``--out`` files, ``--junit``, ``render --out``, crash logs)
goes through :mod:`.outdir`, checked before the model is loaded: ``--out`` must be absent,
empty or a previous audit-engine output (its manifest), unless ``--overwrite``; no output
may replace an input of the command (:class:`~.outdir.Inputs`). Files are written to a
staging folder and moved into place together at the end; the staging folder is removed on
any failure or signal, and a full disk is exit 2.

Lines for the terminal pass through :func:`_safe` (control characters of data, e.g. a group
name holding ESC, are shown as ``\x1b``); error lines are cut at :data:`_MAX_LINE`.

Conventions: ``-v`` / ``-q`` / ``--no-progress`` are accepted before or after the
subcommand; ``--quiet`` silences progress and info lines (never errors); ``run --json``
prints one JSON summary on stdout and sends every other line to stderr (:class:`_Echo`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._version import __version__
from .catalog import CHECK_NAMES

__all__ = ["main", "build_parser"]

EXIT_PASS, EXIT_POLICY_FAIL, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_SIGINT, EXIT_SIGTERM = 130, 143
INSPECT_TIMEOUT = 300.0
EXIT_CODES = {
    EXIT_PASS: "done; the policy passes (or only warns)",
    EXIT_POLICY_FAIL: "done; the policy fails (verify: the signed audit does not hold)",
    EXIT_BAD_INPUT: "bad input or usage, --timeout passed, or a resource limit hit",
    EXIT_INTERNAL: "internal error (a bug): the log file named on stderr holds the traceback",
    EXIT_SIGINT: "interrupted (Ctrl-C)",
    EXIT_SIGTERM: "terminated (SIGTERM)",
}


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with one line (its default is 2 too, with a usage block)."""

    last_error: str | None = None  # the latest usage error's line (for the --json error document)

    def error(self, message: str) -> None:  # type: ignore[override]
        _Parser.last_error = f"audit-engine: error: {message}; see '{self.prog} --help'."
        self.exit(EXIT_BAD_INPUT, _Parser.last_error + "\n")


def _add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--provider", choices=["auto", "cpu", "cuda"], default=None,
                   help="where onnxruntime runs the model (default auto: CUDA if it really runs, else CPU)")
    p.add_argument("--output", default=None, help="model output to audit (default: the probability-like one)")
    p.add_argument("--output-kind", default=None,
                   choices=["probabilities", "logits", "log_probabilities", "probability", "logit", "regression"],
                   help="how to read that output (default: inferred)")


def _add_run_options(p: argparse.ArgumentParser, *, data_required: bool = True) -> None:
    p.add_argument("--data", required=data_required, help="data to audit: .csv, .parquet, .npz (x, y) or .npy")
    p.add_argument("--target", default=None, help="label column")
    p.add_argument("--tokenizer", default=None, help="tokenizer.json of a text model (Hugging Face tokenizers)")
    p.add_argument("--text-column", default=None, help="column of raw text to tokenise (default 'text')")
    p.add_argument("--sensitive", nargs="+", default=None, metavar="COL", help="protected attribute columns")
    p.add_argument("--features", nargs="+", default=None, metavar="COL",
                   help="feature columns for a [None, d] model input (default: all but target and sensitive)")
    p.add_argument("--classes", nargs="+", default=None, metavar="LABEL",
                   help="labels of the model's output columns, in order (default: the graph's, else a guess)")
    p.add_argument("--positive-label", default=None, help="positive class of a binary target (default: the larger label)")
    p.add_argument("--favorable-label", default=None,
                   help="the outcome that benefits the person (COMPAS: 0); needed for impact ratios and the bias audit")
    p.add_argument("--threshold", type=float, default=None, help="decision threshold on p(positive) (default 0.5)")
    p.add_argument("--reference-group", action="append", default=None, metavar="[ATTR=]GROUP",
                   help="fairness reference group (default: the largest group); repeatable")
    p.add_argument("--reference", default=None, help="reference (in-distribution) data for shift tests and detectors")
    p.add_argument("--ood-data", default=None, help="known out-of-distribution data to evaluate OOD scores")
    p.add_argument("--checks", nargs="+", default=None,
                   choices=list(CHECK_NAMES),
                   help="checks to run (default: all that apply, except the opt-in robustness and slices)")
    p.add_argument("--config", default=None, help="audit.toml with settings and the policy")
    p.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    p.add_argument("--bootstrap", type=int, default=None, dest="n_bootstrap", help="bootstrap replicates (default 1000)")
    p.add_argument("--backend", choices=["local", "ray"], default=None,
                   help="evaluation backend: local, or ray (Ray actors over Parquet or CSV; pip install 'audit-engine[ray]')")
    p.add_argument("--ray-address", default=None, metavar="ADDR", help="Ray cluster to join (default: start a local Ray)")
    p.add_argument("--stream", action="store_const", const=True, default=None,
                   help="read Parquet or CSV --data in chunks, memory bounded by the chunk (default: auto, Parquet over 256 MiB)")
    p.add_argument("--sample-rows", type=int, default=None, metavar="N",
                   help="streaming: rows of the seeded sample explanations / OOD / uncertainty run on (default 20000)")
    p.add_argument("--junit", default=None, metavar="FILE",
                   help="also write the policy verdicts as JUnit XML (one test case per rule; fail = failure)")
    _add_model_options(p)


def _add_limit_options(p: argparse.ArgumentParser, *, data: bool = True) -> None:
    """Bounds on one run's time and memory (validated by :mod:`audit_engine.params`)."""
    p.add_argument("--max-model-bytes", default=None, metavar="SIZE",
                   help="largest model to load, external data included, e.g. 4GiB (default 2GiB)")
    if data:
        p.add_argument("--max-memory", default=None, metavar="SIZE",
                       help="memory budget for declared data sizes, e.g. 8GiB (default: half the available memory)")
        p.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                       help="stop the whole audit after SECONDS (exit 2)")


def _add_output_options(p: argparse.ArgumentParser, *, default: str | None, what: str = "output folder") -> None:
    p.add_argument("--out", default=default, required=default is None,
                   help=f"{what}" + (f" (default {default})" if default else ""))
    p.add_argument("--overwrite", action="store_true",
                   help="write into --out even if it holds files audit-engine did not write (replaces same-named files)")


def _add_mlflow_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mlflow", action="store_true",
                   help="also log to MLflow: metrics, verdict tags and the files (store from MLFLOW_TRACKING_URI, "
                        "experiment from MLFLOW_EXPERIMENT_NAME; needs audit-engine[mlflow])")


def _tracker(args: argparse.Namespace) -> Any:
    """The MLflow integration when ``--mlflow`` is given (checked before any model is loaded), else None."""
    if not getattr(args, "mlflow", False):
        return None
    import importlib

    from .errors import ConfigError

    try:
        tracker = importlib.import_module(".integrations.mlflow", __package__)
    except ImportError as exc:
        raise ConfigError("--mlflow needs MLflow, which is not installed; install it with: "
                          "pip install 'audit-engine[mlflow]'.") from exc
    return tracker


def _track(tracker: Any, log: Any, *args: Any, **kwargs: Any) -> None:
    """Run ``log(*args)`` (a tracker.log_* function); a store that refuses is bad input (exit 2)."""
    from .errors import ConfigError

    uri = tracker.mlflow.get_tracking_uri()
    try:
        run_id = log(*args, **kwargs)
    except (tracker.mlflow.exceptions.MlflowException, OSError) as exc:
        raise ConfigError(f"Logging to MLflow at {uri} failed ({_one_line(exc)[:200]}); check MLFLOW_TRACKING_URI. "
                          "The output files were written.") from exc
    _ECHO.info(f"Logged to MLflow run {run_id} at {uri}.")


def _add_common_options(p: argparse.ArgumentParser, *, top: bool) -> None:
    """``-v`` / ``-q`` / ``--no-progress``, on the top parser and on every subcommand.

    On a subcommand they default to SUPPRESS, so that a flag given before the subcommand
    is not reset by the subcommand's default (argparse copies the subcommand's namespace
    over the top one).
    """
    default: Any = False if top else argparse.SUPPRESS
    p.add_argument("-v", "--verbose", action="store_true", default=default, help="log progress details")
    p.add_argument("-q", "--quiet", action="store_true", default=default,
                   help="no progress and no info lines (where the model runs, the summary, 'Wrote ...'); "
                        "errors are still printed on stderr")
    p.add_argument("--no-progress", action="store_true", default=default,
                   help="no progress bars or per-check lines on stderr")


def _examples(*lines: str) -> dict[str, Any]:
    """``add_parser`` keywords for an 'examples:' epilog, printed as written."""
    return {"epilog": "examples:\n" + "\n".join(f"  {line}" for line in lines),
            "formatter_class": argparse.RawDescriptionHelpFormatter}


def build_parser() -> argparse.ArgumentParser:
    codes = "\n".join(f"  {code:>3}  {meaning}" for code, meaning in EXIT_CODES.items())
    parser = _Parser(prog="audit-engine", description="Audit an exported ONNX model as a black box.",
                     epilog=_examples("audit-engine demo --out demo-out",
                                      "audit-engine run model.onnx --data data.csv --target y --sensitive race sex",
                                      "audit-engine run --help")["epilog"] + f"\n\nexit codes:\n{codes}",
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"audit-engine {__version__}")
    _add_common_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="audit a model on data; writes audit.json and report.html", **_examples(
        "audit-engine run model.onnx --data compas.csv --target two_year_recid --sensitive race sex --out audit-out",
        "audit-engine run model.onnx --data test.parquet --target y --reference train.parquet --config audit.toml",
        "audit-engine run model.onnx --data test.csv --target y --json -q > summary.json   # CI: exit 1 = policy fails",
        "audit-engine run model.onnx --data test.csv --target y --junit verdicts.xml --timeout 600",
    ))
    run.add_argument("model", help="the .onnx file")
    _add_run_options(run)
    _add_output_options(run, default="audit-out")
    _add_limit_options(run)
    run.add_argument("--json", action="store_true",
                     help="print the summary (status, verdicts, written files, exit code) as JSON on stdout; "
                          "every other line goes to stderr")
    _add_mlflow_option(run)
    _add_common_options(run, top=False)

    compare = sub.add_parser(
        "compare", help="compare two model versions on one dataset, or two audit.json files", **_examples(
            "audit-engine compare old.onnx new.onnx --data test.csv --target y --sensitive race --out compare-out",
            "audit-engine compare old/audit.json new/audit.json --config gate.toml --out compare-out",
        ))
    compare.add_argument("a", help="model A (.onnx) or audit A (.json)")
    compare.add_argument("b", help="model B (.onnx) or audit B (.json)")
    _add_run_options(compare, data_required=False)
    _add_output_options(compare, default="compare-out")
    _add_limit_options(compare)
    _add_mlflow_option(compare)
    _add_common_options(compare, top=False)

    render = sub.add_parser("render", help="rebuild a report from audit.json alone", **_examples(
        "audit-engine render audit-out/audit.json --out report.html",
        "audit-engine render audit-out/audit.json --template model-card --out model-card.html",
        "audit-engine render audit-out/audit.json --template bias-audit --out bias-audit.html",
        "audit-engine render audit-out/audit.json --template eu-ai-act --out eu-ai-act.html   # + eu_ai_act.json",
    ))
    render.add_argument("audit_json")
    render.add_argument("--template", default="audit", help="audit | model-card | bias-audit | eu-ai-act")
    _add_output_options(render, default=None, what="HTML file to write")
    _add_common_options(render, top=False)

    inspect = sub.add_parser("inspect", help="describe a model's inputs, outputs and provider", **_examples(
        "audit-engine inspect model.onnx",
        "audit-engine inspect model.onnx --json --provider cpu",
        "audit-engine inspect model.onnx --data sample.csv   # resolve the output kind on real rows",
    ))
    inspect.add_argument("model")
    inspect.add_argument("--json", action="store_true", help="print JSON")
    inspect.add_argument("--data", default=None,
                         help="a few rows to resolve the output kind on (default: synthetic rows when the input allows)")
    _add_model_options(inspect)
    _add_limit_options(inspect, data=False)
    inspect.add_argument("--timeout", type=float, default=INSPECT_TIMEOUT, metavar="SECONDS",
                         help=f"stop after SECONDS (exit 2; default {INSPECT_TIMEOUT:g}: inspect runs a few rows)")
    _add_common_options(inspect, top=False)

    demo = sub.add_parser("demo", help="audit the bundled COMPAS-like fixture and write a report", **_examples(
        "audit-engine demo",
        "audit-engine demo --out /tmp/demo --overwrite",
        "audit-engine demo --json -q",
    ))
    _add_output_options(demo, default="demo-out")
    demo.add_argument("--timeout", type=float, default=None, metavar="SECONDS", help="stop the demo after SECONDS (exit 2)")
    demo.add_argument("--json", action="store_true",
                      help="print the summary (status, verdicts, written files, exit code) as JSON on stdout")
    _add_common_options(demo, top=False)

    keygen = sub.add_parser("keygen", help="make an Ed25519 key pair for signing audits (KEY and KEY.pub)", **_examples(
        "audit-engine keygen audit-signing.key",
    ))
    keygen.add_argument("key", help="the private key file to create (PEM, mode 0600); KEY.pub is written beside it")
    _add_common_options(keygen, top=False)

    attest = sub.add_parser("attest", help="sign an audit folder: an in-toto statement in a DSSE envelope (Ed25519)",
                            **_examples("audit-engine attest audit-out --key audit-signing.key"))
    attest.add_argument("folder", help="the --out folder of audit-engine run")
    attest.add_argument("--key", required=True, help="Ed25519 private key (PEM), e.g. from audit-engine keygen")
    attest.add_argument("--overwrite", action="store_true", help="replace an attestation audit-engine did not write")
    _add_common_options(attest, top=False)

    verify = sub.add_parser("verify", help="check a signed audit: signature, model and every file (exit 1 if not)",
                            **_examples("audit-engine verify audit-out --model model.onnx --pub audit-signing.key.pub"))
    verify.add_argument("folder", help="the signed audit folder")
    verify.add_argument("--model", required=True, help="the .onnx file that should be the audited model")
    verify.add_argument("--pub", required=True, help="the signer's Ed25519 public key (PEM)")
    verify.add_argument("--json", action="store_true", help="print what was verified as JSON on stdout")
    _add_common_options(verify, top=False)
    return parser


def _config(args: argparse.Namespace) -> Any:
    from .config import AuditConfig

    config = _config_file(args.config) if getattr(args, "config", None) else AuditConfig()
    fairness = dict(config.fairness)
    if args.reference_group:
        groups: dict[str, str] | str = {}
        for item in args.reference_group:
            if "=" in item:
                attr, _, group = item.partition("=")
                groups[attr] = group  # type: ignore[index]
            elif len(args.reference_group) == 1:
                groups = item
            else:
                from .errors import ConfigError

                raise ConfigError("With several --reference-group flags, write each as ATTR=GROUP.")
        fairness["reference_group"] = groups
    return config.replace(
        target=args.target,
        sensitive=tuple(args.sensitive) if args.sensitive else None,
        features=tuple(args.features) if args.features else None,
        tokenizer=getattr(args, "tokenizer", None),
        text_column=getattr(args, "text_column", None),
        positive_label=args.positive_label,
        classes=tuple(args.classes) if getattr(args, "classes", None) else None,
        favorable_label=args.favorable_label,
        threshold=args.threshold,
        checks=tuple(args.checks) if args.checks else None,
        seed=args.seed,
        n_bootstrap=args.n_bootstrap,
        backend=args.backend,
        ray_address=getattr(args, "ray_address", None),
        stream=getattr(args, "stream", None),
        sample_rows=getattr(args, "sample_rows", None),
        provider=args.provider,
        output=args.output,
        output_kind=args.output_kind,
        fairness=fairness or None,
    )


def _config_file(path: str) -> Any:
    """``AuditConfig.from_toml`` with the paths and files it cannot describe itself refused in one sentence."""
    from .config import AuditConfig
    from .errors import ConfigError
    from .limits import not_a_file

    odd = not_a_file(path)
    if odd is not None:
        raise ConfigError(f"The config path {path!r} is {odd}, not a file; pass the audit.toml file"
                          + (" inside it." if odd == "a folder" else "."))
    try:
        return AuditConfig.from_toml(path)
    except RecursionError:
        raise ConfigError(
            f"Config file {path!r} nests tables or arrays deeper than audit-engine reads (Python's recursion "
            "limit); an audit.toml needs a few levels, so flatten it."
        ) from None


class _Progress:
    """Per-check progress on stderr: a tqdm bar on a terminal (shown for model calls that
    last over a second), one line per check otherwise. The Evaluator calls it with
    ``(rows_done, rows_total)``; ``run_checks`` calls :meth:`start_check`."""

    def __init__(self, terminal: bool) -> None:
        self.terminal = terminal
        self.check = "scoring"
        self.bar: Any = None

    def start_check(self, name: str) -> None:
        self.close()
        self.check = name
        if not self.terminal:
            print(f"audit-engine: running check {name}", file=sys.stderr, flush=True)

    def __call__(self, done: int, total: int) -> None:
        if not self.terminal:
            return
        from tqdm import tqdm

        if self.bar is None or self.bar.total != total or self.bar.n > done:
            self.close()
            self.bar = tqdm(total=total, unit="rows", leave=False, desc=self.check, file=sys.stderr, delay=1.0)
        self.bar.update(done - self.bar.n)
        if done >= total:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _progress(enabled: bool) -> Any:
    return _Progress(sys.stderr.isatty()) if enabled else None


class _Echo:
    """Where the command's own lines go.

    Info lines (where the model runs, the summary, "Wrote ...") go to stdout; to stderr
    under ``--json``, whose stdout holds one JSON document and nothing else; nowhere under
    ``--quiet``. Errors always go to stderr (:func:`_fail`), quiet or not.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self, *, quiet: bool = False, json_mode: bool = False) -> None:
        self.quiet, self.json_mode, self.emitted = quiet, json_mode, False

    def info(self, text: str) -> None:
        if not self.quiet:
            _write(_safe(text), sys.stderr if self.json_mode else sys.stdout)

    def emit(self, doc: dict[str, Any]) -> None:
        """The ``--json`` document on stdout (once per command)."""
        if self.json_mode and not self.emitted:
            _write(json.dumps(doc, indent=2, allow_nan=False), sys.stdout)
            self.emitted = True


def _write(text: str, stream: Any) -> None:
    """One line on ``stream``; a reader that closed the pipe (``| head``) stops the lines, not
    the command: its exit code stays the audit's (the rest of the output goes nowhere)."""
    try:
        print(text, file=stream, flush=True)
    except BrokenPipeError:
        _silence(stream)


def _silence(stream: Any) -> None:
    """Point ``stream``'s file descriptor at /dev/null, so the interpreter's flush at exit
    does not raise again on the closed pipe."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
    except (OSError, ValueError):
        pass


_ECHO = _Echo()


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_MAX_LINE = 1000


def _safe(text: str) -> str:
    """Text for a terminal: control characters (ESC, OSC, BEL, C1, bidi overrides, stray
    surrogates) written as visible escapes, so data (a group name, a column name) cannot
    move the cursor, retitle the window or hide text."""
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}" if ord(m.group()) > 0xff
                        else f"\\x{ord(m.group()):02x}", text)


def _say(text: str) -> None:
    """One line of ``inspect``'s text on stdout, safe for a terminal."""
    _write(_safe(text), sys.stdout)


def _fail(code: int, line: str) -> int:
    """Print an error line on stderr (under ``--json`` also an error document on stdout); return code.

    The line is made safe for a terminal and cut to :data:`_MAX_LINE` characters (a message
    quoting a 200,000-character metric name stays one readable line).
    """
    line = _safe(line)
    if len(line) > _MAX_LINE:
        line = f"{line[:_MAX_LINE - 60]}... ({len(line) - _MAX_LINE + 60} more characters cut)"
    print(line, file=sys.stderr)
    _ECHO.emit({"status": "error", "exit_code": code, "exit_meaning": EXIT_CODES.get(code, ""),
                "error": line.removeprefix("audit-engine: "), "files": {}})
    return code


def _json_summary(result: Any, files: dict[str, Path], code: int) -> None:
    """Under ``--json``: status, verdict counts and verdicts, written files (absolute), exit code."""
    if not _ECHO.json_mode:
        return
    doc = result.to_dict()  # plain JSON values, as audit.json holds them
    verdicts = doc.get("verdicts") or []
    _ECHO.emit({
        "status": doc.get("status", result.status),
        "exit_code": code,
        "exit_meaning": EXIT_CODES.get(code, ""),
        "counts": {s: sum(v.get("status") == s for v in verdicts) for s in ("pass", "warn", "fail")},
        "verdicts": verdicts,
        "errors": _check_errors(result),
        "files": {role: str(Path(path).resolve()) for role, path in files.items()},
        "evaluations": doc.get("evaluations"),
    })


_OPEN: list[Any] = []
"""Output folders of the running command, for cleanup and the crash log (see main)."""


def _inputs(args: argparse.Namespace, **extra: Any) -> Any:
    """The command's inputs (model, data, config, ...), which no output may replace."""
    from .outdir import Inputs

    roles = {"model": "model file", "a": "model or audit A", "b": "model or audit B", "data": "data",
             "reference": "reference data", "ood_data": "OOD data", "config": "config file",
             "tokenizer": "tokenizer file", "audit_json": "audit.json to render"}
    paths = {role: getattr(args, key, None) for key, role in roles.items()}
    paths.update(extra)
    return Inputs(paths)


def _output_folder(args: argparse.Namespace, names: tuple[str, ...], inputs: Any = None) -> Any:
    """Pre-flight ``--out`` (before any model is loaded) and remember it for cleanup."""
    from .outdir import OutputFolder

    folder = OutputFolder(args.out, overwrite=getattr(args, "overwrite", False), inputs=inputs)
    _OPEN.append(folder)
    return folder.preflight(names)


def _output_file(raw: str, *, flag: str, args: argparse.Namespace, inputs: Any, folder: Any = None,
                 companions: tuple[str, ...] = (), what: str) -> Any:
    """Pre-flight one output file (``--junit``, ``render --out``) and remember it for cleanup."""
    from .outdir import OutputFile

    target = OutputFile(raw, overwrite=getattr(args, "overwrite", False), inputs=inputs, flag=flag,
                        companions=companions, folder=folder, what=what)
    _OPEN.append(target)
    return target.preflight()


def _commit(*outputs: Any) -> None:
    """Move every staged output into place (files first, then the folders with their manifests)."""
    from .outdir import OutputFolder

    for item in sorted((o for o in outputs if o is not None), key=lambda o: isinstance(o, OutputFolder)):
        item.commit()


def _apply_limits(args: argparse.Namespace) -> None:
    from . import limits
    from .params import check_setting, parse_bytes

    limits.set_model_byte_limit(parse_bytes("max_model_bytes", getattr(args, "max_model_bytes", None)))
    limits.set_memory_budget(parse_bytes("max_memory", getattr(args, "max_memory", None)))
    check_setting("timeout", getattr(args, "timeout", None))


def _write_outputs(result: Any, folder: Any, junit: Any = None, *, suite: str = "") -> None:
    """Write audit.json, report.html (and the JUnit file) through the pre-flighted outputs (all or none)."""
    from .report import render

    with folder.writing() as staging:
        result.to_json(staging / "audit.json")
        render(result, staging / "report.html")
    if junit is not None:
        from .junit import write_junit

        with junit.writing() as path:
            write_junit(path, [v.to_dict() for v in result.verdicts], suite=suite, timestamp=result.created,
                        properties={"model_sha256": result.model.sha256, "status": result.status})
    _commit(junit, folder)


def _check_errors(result: Any) -> list[str]:
    """Checks that ended in an unexpected error (status "error"), as ``"<check>: <message>"``.

    ``result.errors`` holds one :class:`~audit_engine.result.CheckError` per crashed check.
    """
    return [f"{e.check}: {e.message}" for e in getattr(result, "errors", None) or []]


def _tracebacks(result: Any) -> str:
    return "\n".join(f"--- check {e.check}\n{e.traceback}" for e in getattr(result, "errors", None) or [])


def _finish(result: Any, folder: Any) -> int:
    """Exit code of a finished audit: 3 if a check crashed, else 1 on a policy fail, else 0."""
    crashed = _check_errors(result)
    if crashed:
        log = _write_log(folder, "check errors:\n" + "\n".join(crashed) + "\n\n" + _tracebacks(result))
        more = f" (and {len(crashed) - 1} more)" if len(crashed) > 1 else ""
        print(_safe(f"audit-engine: internal error in check {crashed[0]}{more}; "
                    f"the other checks ran and were written. This is a bug: please report it with the log {log}."),
              file=sys.stderr)
        return EXIT_INTERNAL
    return EXIT_POLICY_FAIL if result.status == "fail" else EXIT_PASS


def _cmd_run(args: argparse.Namespace) -> int:
    from .audit import audit
    from .model import load_model

    config = _config(args)  # every setting and check parameter validated before anything is loaded
    tracker = _tracker(args)
    inputs = _inputs(args)
    folder = _output_folder(args, ("audit.json", "report.html"), inputs)
    junit = _output_file(args.junit, flag="--junit", args=args, inputs=inputs, folder=folder,
                         what="JUnit XML file") if args.junit is not None else None
    model = load_model(args.model, provider=config.provider, output=config.output,
                       output_kind=config.output_kind, threads=config.threads)
    for path in model.external_files:  # checked again when the outputs are moved into place
        inputs.add("external data file of the model", path)
    _ECHO.info(model.describe_provider())
    result = audit(model, args.data, config=config, reference=args.reference, ood_data=args.ood_data,
                   progress=_progress(not args.no_progress))
    _write_outputs(result, folder, junit, suite=f"audit {Path(args.model).name}")
    _summary(result, folder.path)
    if tracker is not None:
        _track(tracker, tracker.log_audit, folder.path)
    files = {"audit": folder.path / "audit.json", "report": folder.path / "report.html"}
    if junit is not None:
        _ECHO.info(f"Wrote {args.junit}.")
        files["junit"] = Path(args.junit)
    code = _finish(result, folder)
    _json_summary(result, files, code)
    return code


def _summary(result: Any, out: Path) -> None:
    counts = {s: sum(v.status == s for v in result.verdicts) for s in ("pass", "warn", "fail")}
    ev = result.evaluations
    _ECHO.info(
        f"Audit {result.status.upper()}: {counts['pass']} passed, {counts['warn']} warned, {counts['fail']} failed "
        f"({ev.model_calls} model calls, {ev.rows_evaluated} rows, {ev.seconds:.2f} s in the model, "
        f"{ev.total_seconds or 0:.2f} s in all)."
    )
    for verdict in result.verdicts:
        if verdict.status != "pass":
            _ECHO.info(f"  {verdict.status}: [{verdict.check}] {verdict.message}")
    _ECHO.info(f"Wrote {out / 'audit.json'} and {out / 'report.html'}.")


def _cmd_compare(args: argparse.Namespace) -> int:
    from .compare import compare_models, compare_results
    from .report.compare import write_comparison
    from .errors import ConfigError

    jsons = [str(x).endswith(".json") for x in (args.a, args.b)]
    if any(jsons) and not all(jsons):
        raise ConfigError("Compare two models (.onnx) or two audits (.json), not one of each.")
    if not all(jsons):
        if not args.data:
            raise ConfigError("Comparing two models needs the data to run them on: pass --data.")
        config = _config(args)
    tracker = _tracker(args)
    inputs = _inputs(args)
    names = ("compare.json", "compare.html") + (() if all(jsons) else ("audit_a.json", "audit_b.json"))
    folder = _output_folder(args, names, inputs)
    junit = _output_file(args.junit, flag="--junit", args=args, inputs=inputs, folder=folder,
                         what="JUnit XML file") if args.junit is not None else None
    out = folder.path
    if all(jsons):
        policy = _config(args).policy if getattr(args, "config", None) else None
        comparison, results = compare_results(args.a, args.b, policy=policy), None
    else:
        comparison, *pair = compare_models(args.a, args.b, args.data, config=config,
                                           reference=args.reference, ood_data=args.ood_data,
                                           progress=_progress(not args.no_progress))
        results = (pair[0], pair[1])
    with folder.writing() as staging:
        write_comparison(comparison, staging, results)
    if junit is not None:
        from .junit import write_junit

        worse = [{"check": "compare", "status": "fail", "metric": item, "value": None, "threshold": None,
                  "message": f"{item}: got measurably worse (the interval of the change excludes zero)."}
                 for item in comparison.regressions]
        verdicts = comparison.verdicts + worse + ([v.to_dict() for v in results[1].verdicts] if results is not None else [])
        with junit.writing() as path:
            write_junit(path, verdicts, suite=f"compare {Path(args.a).name} -> {Path(args.b).name}",
                        properties={"status": comparison.status, "regressions": len(comparison.regressions)})
    _commit(junit, folder)
    if tracker is not None:
        _track(tracker, tracker.log_comparison, comparison, results=results)
    _ECHO.info(f"Comparison: {comparison.status}"
               + (f" ({len(comparison.regressions)} regression(s))" if comparison.regressions else ""))
    for item in comparison.regressions:
        _ECHO.info(f"  worse: {item}")
    _ECHO.info(f"Wrote {out / 'compare.json'} and {out / 'compare.html'}.")
    for message in comparison.gate_failures:
        _ECHO.info(f"  fail: {message}")
    if comparison.status == "policy_fail" and comparison.b.get("status") == "fail":
        _ECHO.info("  B fails its policy (see audit_b.json).")
    if junit is not None:
        _ECHO.info(f"Wrote {args.junit}.")
    return EXIT_PASS if comparison.status == "ok" else EXIT_POLICY_FAIL


def _cmd_render(args: argparse.Namespace) -> int:
    from .report import render
    from .result import AuditResult

    from .report.render import TWINS

    twin = TWINS.get(args.template)  # render writes the view's JSON twin (model_card.json, eu_ai_act.json) beside it
    target = _output_file(args.out, flag="--out", args=args, inputs=_inputs(args),
                          companions=(twin,) if twin else (), what="HTML file")
    result = AuditResult.from_json(args.audit_json)  # a damaged file fails here, in one line
    with target.writing() as path:
        render(result, path, template=args.template)
    target.commit()
    if twin:
        _ECHO.info(f"Wrote {target.path.with_name(twin)}.")
    _ECHO.info(f"Wrote {args.out}.")
    return EXIT_PASS


def _cmd_inspect(args: argparse.Namespace) -> int:
    from .model import load_model

    # onnx_checker=False: inspect does not import onnx (> 1 s); onnxruntime validates the model instead.
    model = load_model(args.model, provider=args.provider or "auto", output=args.output, output_kind=args.output_kind,
                       onnx_checker=False)
    from .probe import probe

    found = probe(model, getattr(args, "data", None))
    info = model.to_dict()
    info.update(found.to_dict())  # task / output kind / classes as the Evaluator resolves them
    info["fixed_batch"] = model.fixed_batch
    if args.json:
        _write(json.dumps(info, indent=2), sys.stdout)
        return EXIT_PASS
    _say(f"{info['path']}  (sha256 {info['sha256'][:16]}…, opset {info['opset']}, producer {info['producer'] or 'unknown'})")
    _say("inputs:")
    for i in info["inputs"]:
        _say(f"  {i['name']}: {i['dtype']} {i['shape']}")
    _say("outputs:")
    for o in info["outputs"]:
        mark = "  <- audited" if o["name"] == info["output"] else ""
        _say(f"  {o['name']}: {o['dtype']} {o['shape']}{mark}")
    kind = info["output_kind"] or "inferred from data when audited"
    if info["task"]:
        _say(f"task: {info['task']}; output kind: {kind} (resolved on {info['probe_rows']})")
    else:
        _say(f"output kind: {kind} (not resolved: {info['probe_error']})")
    classes = info["classes"] if info["classes"] is not None else "from the data"
    _say(f"classes: {classes}" + (f" ({info['classes_source']})" if info.get("classes_source") else ""))
    if info["rewrites"]:
        _say("rewrites: " + "; ".join(info["rewrites"]))
    if info["fixed_batch"]:
        _say(f"fixed batch size: {info['fixed_batch']} (the Evaluator feeds {info['fixed_batch']} row(s) per call)")
    _say(model.describe_provider())
    return EXIT_PASS


def _cmd_demo(args: argparse.Namespace) -> int:
    from . import demo
    from .audit import audit

    model_path, data_path = demo.files()  # inside the installed package (audit_engine/demo/)
    config = demo.config()
    from .model import load_model

    folder = _output_folder(args, ("audit.json", "report.html"), _inputs(args))
    model = load_model(model_path)
    _ECHO.info(model.describe_provider())
    _ECHO.info(f"Auditing {model_path.name} on {data_path.name} (target two_year_recid, sensitive race and sex).")
    result = audit(model, data_path, config=config, progress=_progress(not args.no_progress))
    _write_outputs(result, folder)
    _summary(result, folder.path)
    if result.status == "fail":
        _ECHO.info("The demo data has a planted racial disparity, so failing the fairness policy is the expected finding.")
    code = _finish(result, folder)
    code = code if code == EXIT_INTERNAL else EXIT_PASS
    _json_summary(result, {"audit": folder.path / "audit.json", "report": folder.path / "report.html"}, code)
    return code


def _cmd_keygen(args: argparse.Namespace) -> int:
    from .attest import generate_key

    private, public = generate_key(args.key)
    _ECHO.info(f"Wrote {private} (keep it secret) and {public} (give it to whoever verifies).")
    return EXIT_PASS


def _cmd_attest(args: argparse.Namespace) -> int:
    from .attest import attest

    path = attest(args.folder, args.key, overwrite=args.overwrite)
    _ECHO.info(f"Wrote {path}.")
    return EXIT_PASS


def _cmd_verify(args: argparse.Namespace) -> int:
    """Exit 0 when the attestation holds, 1 (one sentence) when it does not, 2 for bad input."""
    from .attest import VerificationError, verify

    try:
        checked = verify(args.folder, model=args.model, public_key=args.pub)
    except VerificationError as exc:
        if args.json:
            _write(json.dumps({"verified": False, "error": _one_line(exc)}), sys.stdout)
        print(f"audit-engine: verification failed: {_one_line(exc)}", file=sys.stderr)
        return EXIT_POLICY_FAIL
    if args.json:
        _write(json.dumps({"verified": True, **checked.to_dict()}, indent=2), sys.stdout)
    else:
        _write(f"Verified: {len(checked.files)} file(s) signed by key {checked.keyid[:16]}…; model sha256 "
              f"{checked.model_sha256[:16]}…; audit status {checked.status} (audit-engine {checked.engine_version}).", sys.stdout)
    return EXIT_PASS


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _write_log(folder: Any, text: str) -> Path:
    """Write a crash log into --out (or a temp folder when --out is unusable); return its path."""
    import datetime as dt
    import platform

    from .outdir import LOG_PREFIX, OutputFolder, write_log

    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    header = (f"audit-engine {__version__} on Python {platform.python_version()} ({platform.platform()})\n"
              f"command: {' '.join(sys.argv)}\n\n")
    return write_log(folder if isinstance(folder, OutputFolder) else None,
                     f"{LOG_PREFIX}{stamp}-{os.getpid()}.log", header + text)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (see :data:`EXIT_CODES`)."""
    import traceback

    from .errors import AuditEngineError, AuditTimeoutError
    from .runtime import DEFAULT_CALL_SECONDS, Deadline, Interrupted, Watchdog, install_signal_handlers, set_call_limit

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.verbose and args.quiet:
            parser.error("-v/--verbose and -q/--quiet contradict each other; pass one of them")
    except SystemExit as exc:  # usage errors (2), --help and --version (0)
        code = int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_BAD_INPUT
        words = list(sys.argv[1:] if argv is None else argv)
        if code == EXIT_BAD_INPUT and "--json" in words and _Parser.last_error:  # --json promises one document
            _ECHO.reset(json_mode=True)
            _ECHO.emit({"status": "error", "exit_code": code, "exit_meaning": EXIT_CODES.get(code, ""),
                        "error": _Parser.last_error.removeprefix("audit-engine: "), "files": {}})
        return code
    if args.quiet:
        args.no_progress = True
    _ECHO.reset(quiet=args.quiet, json_mode=getattr(args, "json", False) and args.command in ("run", "demo"))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR if args.quiet else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    commands = {"run": _cmd_run, "compare": _cmd_compare, "render": _cmd_render, "inspect": _cmd_inspect, "demo": _cmd_demo,
                "keygen": _cmd_keygen, "attest": _cmd_attest, "verify": _cmd_verify}
    from .params import AUDIENCE

    restore = install_signal_handlers()
    _OPEN.clear()
    speaking = AUDIENCE.set("cli")  # settings errors name audit.toml and the flags
    quiet_warnings = warnings.catch_warnings()
    quiet_warnings.__enter__()
    # numpy / pandas / scikit-learn warnings never land on the terminal before the one error
    # line (or among the summary); -v shows them as log lines.
    warnings.simplefilter("default" if args.verbose else "ignore")
    logging.captureWarnings(bool(args.verbose))
    try:
        _apply_limits(args)
        # Without --timeout, each single model call is still bounded (a Loop that never ends).
        set_call_limit(DEFAULT_CALL_SECONDS if getattr(args, "timeout", None) is None else None)
        with Watchdog(getattr(args, "timeout", None)):
            try:
                return commands[args.command](args)
            except Deadline:
                raise AuditTimeoutError(
                    f"The audit ran past --timeout ({args.timeout:g} s) and was stopped; raise --timeout, "
                    "or lower the work (fewer rows, samples or bootstrap replicates)."
                ) from None
    except AuditEngineError as exc:
        return _fail(EXIT_BAD_INPUT, f"audit-engine: error: {_one_line(exc)}")
    except Deadline:  # a late alarm, after the command itself returned or failed
        return _fail(EXIT_BAD_INPUT, f"audit-engine: error: The audit ran past --timeout ({args.timeout:g} s) "
                     "and was stopped; raise --timeout.")
    except MemoryError:
        return _fail(EXIT_BAD_INPUT, "audit-engine: error: the audit ran out of memory; audit a sample of the data, "
                     "or lower [explanations] lime_samples, --bootstrap or --max-memory.")
    except BrokenPipeError:  # stdout's reader left (``| head``): what was written stands
        _silence(sys.stdout)
        return EXIT_PASS
    except KeyboardInterrupt:
        return _fail(EXIT_SIGINT, "audit-engine: interrupted (Ctrl-C); no partial output is left.")
    except Interrupted as exc:
        return _fail(exc.exit_code, f"audit-engine: stopped by {exc}; no partial output is left.")
    except Exception as exc:  # noqa: BLE001 - anything else is a bug: exit 3 with a log, never 1
        from .outdir import DISK_FULL_ERRNOS, OutputFolder, disk_full

        if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:  # a write outside the staged outputs
            return _fail(EXIT_BAD_INPUT, f"audit-engine: error: {_one_line(disk_full(exc))}")
        folder = next((o for o in _OPEN if isinstance(o, OutputFolder)), None)
        try:
            log = f"the log {_write_log(folder, traceback.format_exc())}"
        except OSError as log_exc:
            log = f"this message (no log could be written: {log_exc.strerror or log_exc})"
        return _fail(EXIT_INTERNAL, f"audit-engine: internal error: {type(exc).__name__}: {_one_line(exc)[:200]}. "
                     f"This is a bug: please report it with {log}.")
    finally:
        AUDIENCE.reset(speaking)
        for output in reversed(_OPEN):  # files staged in a folder first, then the folders
            output.discard()
        _OPEN.clear()
        _ECHO.reset()
        restore()
        logging.captureWarnings(False)
        quiet_warnings.__exit__(None, None, None)
        from . import limits

        limits.set_model_byte_limit(None)
        limits.set_memory_budget(None)
        set_call_limit(None)


def entry() -> None:
    """The console script: exits with main()'s code; after a signal, without waiting for teardown.

    Unloading onnxruntime, scikit-learn and friends takes seconds on a busy machine, so a
    run stopped by Ctrl-C or SIGTERM flushes its output and leaves at once (files were
    already cleaned up by main); so does a run that left a session build running in a
    worker thread (stopped by --timeout). Ctrl-C before main installed its handlers (the
    first tenth of a second) is one line too, never a traceback.
    """
    from .runtime import abandoned_work

    try:
        code = main()
    except KeyboardInterrupt:
        print("audit-engine: interrupted (Ctrl-C); no partial output is left.", file=sys.stderr)
        code = EXIT_SIGINT
    except BrokenPipeError:  # --help piped to a reader that left before the end
        _silence(sys.stdout)
        code = EXIT_PASS
    if code in (EXIT_SIGINT, EXIT_SIGTERM) or code > 128 or abandoned_work():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
