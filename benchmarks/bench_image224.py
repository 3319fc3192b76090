"""Memory and time of a default audit of 50 3×224×224 images (issue 10).

    /usr/bin/time -v python benchmarks/bench_image224.py [--rows 50] [--out DIR] [--text]

``--text`` audits the text fixture instead (reviews_transformer.onnx on reviews.csv).

Audits fixtures/models/cnn224.onnx (a small-width CNN) on ``shape_images(rows, seed=7)``
with the default checks, and prints the audit's time, the time inside onnxruntime
(audit.json ``evaluations.seconds``), its share of the total, and the peak RSS of this
process (``resource.getrusage``; ``/usr/bin/time -v`` reports the same as "Maximum
resident set size").
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "fixtures")]

import audit_engine as ae  # noqa: E402
from shapes import shape_images  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50)
    parser.add_argument("--out", default="/tmp/bench_image224")
    parser.add_argument("--text", action="store_true",
                        help="audit the text fixture instead (reviews_transformer.onnx on reviews.csv, default checks)")
    args = parser.parse_args()
    t0 = time.perf_counter()
    if args.text:
        config = ae.AuditConfig(target="label", sensitive=("group",),
                                tokenizer=str(ROOT / "fixtures" / "models" / "reviews_tokenizer.json"))
        result = ae.audit(ROOT / "fixtures" / "models" / "reviews_transformer.onnx",
                          ROOT / "fixtures" / "data" / "reviews.csv", config=config)
        args.rows = result.to_dict()["data"]["rows"]
    else:
        x, _ = shape_images(args.rows, seed=7)
        result = ae.audit(ROOT / "fixtures" / "models" / "cnn224.onnx", x, config=ae.AuditConfig())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result.to_json(out / "audit.json")
    ae.render(result, out / "report.html")
    total = time.perf_counter() - t0
    ev = result.evaluations.to_dict()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
    print(json.dumps({
        "rows": args.rows, "status": result.status, "audit_total_seconds": ev["total_seconds"],
        "onnxruntime_seconds": ev["seconds"], "onnxruntime_share": round(ev["seconds"] / ev["total_seconds"], 3),
        "with_json_and_report_seconds": round(total, 2), "peak_rss_mib": round(peak, 1),
        "model_calls": ev["model_calls"], "rows_evaluated": ev["rows_evaluated"],
        "checks": {k: {kk: v.get(kk) for kk in ("status", "seconds", "model_calls", "rows_evaluated")}
                   for k, v in result.to_dict()["checks"].items()},
        "audit_json_bytes": (out / "audit.json").stat().st_size, "report_bytes": (out / "report.html").stat().st_size,
    }, indent=1))


if __name__ == "__main__":
    main()
