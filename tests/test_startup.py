"""Start-up cost: the CLI's help and the package import load none of the heavy libraries,
and ``inspect`` loads onnxruntime only (not onnx, pandas, scikit-learn, scipy, matplotlib).

Timing belongs in benchmarks/; this checks what is imported, which decides the time.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import MODELS

HEAVY = ("onnx", "onnxruntime", "pandas", "scipy", "sklearn", "matplotlib", "lime", "jinja2", "pyarrow", "ml_dtypes")


def _imported(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(m for m in sys.modules if '.' not in m)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(out.stdout.split()) & set(HEAVY)


def test_package_import_is_light() -> None:
    assert _imported("import audit_engine") == set()


def test_cli_help_is_light() -> None:
    code = ("import contextlib, io\nfrom audit_engine.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n        main(['--help'])\n    except SystemExit:\n        pass")
    assert _imported(code) == set()


@pytest.mark.parametrize("name", ["compas_logreg.onnx", "compas_pipeline.onnx", "digits_cnn.onnx",
                                  "reviews_transformer.onnx", "digits_side.onnx"])
def test_inspect_loads_onnxruntime_only(name):
    """Not onnx (> 1 s: ml_dtypes), nor pandas (0.4 s); ZipMap pipeline, CNN, text, several inputs."""
    code = ("import contextlib, io\nfrom audit_engine.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    assert main(['inspect', {str(MODELS / name)!r}, '--json']) == 0")
    assert _imported(code) == {"onnxruntime"}


def test_lazy_names_resolve() -> None:
    import audit_engine as ae

    assert all(hasattr(ae, name) for name in ae.__all__)
    import audit_engine.audit  # the submodule of the same name does not shadow the function

    assert callable(ae.audit) and ae.audit.__module__ == "audit_engine.audit"
    assert ae.compare.__module__ == "audit_engine.compare" and ae.explain.__module__ == "audit_engine.explain.api"
