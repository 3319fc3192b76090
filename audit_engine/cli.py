"""The ``audit-engine`` command line: thin over the public API.

Exit codes: 0 done and the policy passes (or only warns) · 1 done and the policy fails ·
2 bad input or usage. Errors print one line, without a traceback; nothing half-written
is left in ``--out`` (files are written to a temporary folder and moved into place).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__

__all__ = ["main", "build_parser"]

EXIT_PASS, EXIT_POLICY_FAIL, EXIT_BAD_INPUT = 0, 1, 2
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with one line (its default is 2 too, with a usage block)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"audit-engine: error: {message}; see '{self.prog} --help'.\n")


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
    p.add_argument("--sensitive", nargs="+", default=None, metavar="COL", help="protected attribute columns")
    p.add_argument("--features", nargs="+", default=None, metavar="COL",
                   help="feature columns for a [None, d] model input (default: all but target and sensitive)")
    p.add_argument("--positive-label", default=None, help="positive class of a binary target (default: the larger label)")
    p.add_argument("--favorable-label", default=None,
                   help="the outcome that benefits the person (COMPAS: 0); needed for impact ratios and the bias audit")
    p.add_argument("--threshold", type=float, default=None, help="decision threshold on p(positive) (default 0.5)")
    p.add_argument("--reference-group", action="append", default=None, metavar="[ATTR=]GROUP",
                   help="fairness reference group (default: the largest group); repeatable")
    p.add_argument("--reference", default=None, help="reference (in-distribution) data for shift tests and detectors")
    p.add_argument("--ood-data", default=None, help="known out-of-distribution data to evaluate OOD scores")
    p.add_argument("--checks", nargs="+", default=None,
                   choices=["performance", "fairness", "explanations", "ood", "uncertainty"],
                   help="checks to run (default: all that apply)")
    p.add_argument("--config", default=None, help="audit.toml with settings and the policy")
    p.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    p.add_argument("--bootstrap", type=int, default=None, dest="n_bootstrap", help="bootstrap replicates (default 1000)")
    p.add_argument("--backend", choices=["local"], default=None, help="evaluation backend")
    _add_model_options(p)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="audit-engine", description="Audit an exported ONNX model as a black box.")
    parser.add_argument("--version", action="version", version=f"audit-engine {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="audit a model on data; writes audit.json and report.html")
    run.add_argument("model", help="the .onnx file")
    _add_run_options(run)
    run.add_argument("--out", default="audit-out", help="output folder (default audit-out)")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    compare = sub.add_parser("compare", help="compare two model versions on one dataset, or two audit.json files")
    compare.add_argument("a", help="model A (.onnx) or audit A (.json)")
    compare.add_argument("b", help="model B (.onnx) or audit B (.json)")
    _add_run_options(compare, data_required=False)
    compare.add_argument("--out", default="compare-out", help="output folder (default compare-out)")

    render = sub.add_parser("render", help="rebuild a report from audit.json alone")
    render.add_argument("audit_json")
    render.add_argument("--template", default="audit", help="audit | model-card | bias-audit")
    render.add_argument("--out", required=True, help="HTML file to write")

    inspect = sub.add_parser("inspect", help="describe a model's inputs, outputs and provider")
    inspect.add_argument("model")
    inspect.add_argument("--json", action="store_true", help="print JSON")
    _add_model_options(inspect)

    demo = sub.add_parser("demo", help="audit the bundled COMPAS-like fixture and write a report")
    demo.add_argument("--out", default="demo-out", help="output folder (default demo-out)")
    return parser


def _config(args: argparse.Namespace) -> Any:
    from .config import AuditConfig

    config = AuditConfig.from_toml(args.config) if getattr(args, "config", None) else AuditConfig()
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
        positive_label=args.positive_label,
        favorable_label=args.favorable_label,
        threshold=args.threshold,
        checks=tuple(args.checks) if args.checks else None,
        seed=args.seed,
        n_bootstrap=args.n_bootstrap,
        backend=args.backend,
        provider=args.provider,
        output=args.output,
        output_kind=args.output_kind,
        fairness=fairness or None,
    )


def _progress(enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    bars: dict[int, Any] = {}

    def update(done: int, total: int) -> None:
        bar = bars.get(total)
        if bar is None or bar.n > done:
            if bar is not None:
                bar.close()
            bar = bars[total] = tqdm(total=total, unit="rows", leave=False, desc="scoring", file=sys.stderr)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()
            bars.pop(total, None)

    return update


def _write_outputs(result: Any, out: Path) -> None:
    """Write audit.json and report.html into ``out`` atomically (both or neither)."""
    from .report import render

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        result.to_json(staging / "audit.json")
        render(result, staging / "report.html")
        out.mkdir(parents=True, exist_ok=True)
        for name in ("audit.json", "report.html"):
            os.replace(staging / name, out / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _cmd_run(args: argparse.Namespace) -> int:
    from .audit import audit
    from .model import load_model

    config = _config(args)
    model = load_model(args.model, provider=config.provider, output=config.output,
                       output_kind=config.output_kind, threads=config.threads)
    print(model.describe_provider())
    show = sys.stderr.isatty() and not args.no_progress
    result = audit(model, args.data, config=config, reference=args.reference, ood_data=args.ood_data,
                   progress=_progress(show))
    out = Path(args.out)
    _write_outputs(result, out)
    _summary(result, out)
    return EXIT_POLICY_FAIL if result.status == "fail" else EXIT_PASS


def _summary(result: Any, out: Path) -> None:
    counts = {s: sum(v["status"] == s for v in result.verdicts) for s in ("pass", "warn", "fail")}
    ev = result.evaluations
    print(
        f"Audit {result.status.upper()}: {counts['pass']} passed, {counts['warn']} warned, {counts['fail']} failed "
        f"({ev['model_calls']} model calls, {ev['rows_evaluated']} rows, {ev['seconds']:.2f} s in the model, "
        f"{ev.get('total_seconds', 0):.2f} s in all)."
    )
    for verdict in result.verdicts:
        if verdict["status"] != "pass":
            print(f"  {verdict['status']}: [{verdict['check']}] {verdict['message']}")
    print(f"Wrote {out / 'audit.json'} and {out / 'report.html'}.")


def _cmd_compare(args: argparse.Namespace) -> int:
    from .compare import compare_models, compare_results, write_comparison
    from .errors import ConfigError

    jsons = [str(x).endswith(".json") for x in (args.a, args.b)]
    out = Path(args.out)
    staging = None
    if all(jsons):
        comparison, results = compare_results(args.a, args.b), None
    elif any(jsons):
        raise ConfigError("Compare two models (.onnx) or two audits (.json), not one of each.")
    else:
        if not args.data:
            raise ConfigError("Comparing two models needs the data to run them on: pass --data.")
        config = _config(args)
        comparison, *pair = compare_models(args.a, args.b, args.data, config=config,
                                           reference=args.reference, ood_data=args.ood_data)
        results = (pair[0], pair[1])
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        write_comparison(comparison, staging, results)
        out.mkdir(parents=True, exist_ok=True)
        for item in staging.iterdir():
            os.replace(item, out / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"Comparison: {comparison.status}" + (f" ({len(comparison.regressions)} regression(s))" if comparison.regressions else ""))
    for item in comparison.regressions:
        print(f"  worse: {item}")
    print(f"Wrote {out / 'compare.json'} and {out / 'compare.html'}.")
    if comparison.status == "policy_fail":
        print("  B fails its policy (see audit_b.json).")
    return EXIT_PASS if comparison.status == "ok" else EXIT_POLICY_FAIL


def _cmd_render(args: argparse.Namespace) -> int:
    from .report import render

    render(args.audit_json, args.out, template=args.template)
    print(f"Wrote {args.out}.")
    return EXIT_PASS


def _cmd_inspect(args: argparse.Namespace) -> int:
    from .model import load_model

    model = load_model(args.model, provider=args.provider or "auto", output=args.output, output_kind=args.output_kind)
    info = model.to_dict()
    info["fixed_batch"] = model.fixed_batch
    if args.json:
        print(json.dumps(info, indent=2))
        return EXIT_PASS
    print(f"{info['path']}  (sha256 {info['sha256'][:16]}…, opset {info['opset']}, producer {info['producer'] or 'unknown'})")
    print("inputs:")
    for i in info["inputs"]:
        print(f"  {i['name']}: {i['dtype']} {i['shape']}")
    print("outputs:")
    for o in info["outputs"]:
        mark = "  <- audited" if o["name"] == info["output"] else ""
        print(f"  {o['name']}: {o['dtype']} {o['shape']}{mark}")
    kind = info["output_kind"] or "inferred from data when audited"
    print(f"output kind: {kind}; classes: {info['classes'] if info['classes'] is not None else 'from the data'}")
    if info["rewrites"]:
        print("rewrites: " + "; ".join(info["rewrites"]))
    if info["fixed_batch"]:
        print(f"fixed batch size: {info['fixed_batch']} (the Evaluator feeds {info['fixed_batch']} row(s) per call)")
    print(model.describe_provider())
    return EXIT_PASS


def _cmd_demo(args: argparse.Namespace) -> int:
    from .audit import audit
    from .config import AuditConfig

    model_path = FIXTURES / "models" / "compas_pipeline.onnx"
    data_path = FIXTURES / "data" / "compas.csv"
    if not model_path.is_file() or not data_path.is_file():
        from .errors import DataNotFoundError

        raise DataNotFoundError(
            f"The demo fixtures are not at {str(FIXTURES)!r}; run the demo from a clone of the repository."
        )
    # The favourable outcome of a recidivism score is *not* being flagged high risk.
    config = AuditConfig(target="two_year_recid", sensitive=("race", "sex"), seed=0, favorable_label=0,
                         model_card={"intended_use": "Demonstration of audit-engine on synthetic COMPAS-like data.",
                                     "owners": "audit-engine developers"})
    from .model import load_model

    model = load_model(model_path)
    print(model.describe_provider())
    print(f"Auditing {model_path.name} on {data_path.name} (target two_year_recid, sensitive race and sex).")
    result = audit(model, data_path, config=config, progress=_progress(sys.stderr.isatty()))
    out = Path(args.out)
    _write_outputs(result, out)
    _summary(result, out)
    if result.status == "fail":
        print("The demo data has a planted racial disparity, so failing the fairness policy is the expected finding.")
    return EXIT_PASS


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    from .errors import AuditEngineError

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage errors (2), --help and --version (0)
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_BAD_INPUT
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    commands = {"run": _cmd_run, "compare": _cmd_compare, "render": _cmd_render, "inspect": _cmd_inspect, "demo": _cmd_demo}
    try:
        return commands[args.command](args)
    except AuditEngineError as exc:
        print(f"audit-engine: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("audit-engine: interrupted.", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
