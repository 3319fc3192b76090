"""The bundled demo: a COMPAS-like scikit-learn pipeline and its data, inside the package.

``audit-engine demo`` audits these two files, so it works after a plain ``pip install``.
In the repository, ``compas_pipeline.onnx`` and ``compas.csv`` here are symbolic links to
``fixtures/models/`` and ``fixtures/data/`` (built by ``fixtures/build.py``, the one source
of truth, which the tests read too); building a wheel or sdist copies the files they point
to (``[tool.setuptools.package-data]`` in pyproject.toml).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["MODEL", "DATA", "TARGET", "SENSITIVE", "files", "config"]

MODEL = "compas_pipeline.onnx"
DATA = "compas.csv"
TARGET = "two_year_recid"
SENSITIVE = ("race", "sex")


def files() -> tuple[Path, Path]:
    """Paths of the bundled (model, data) files.

    Raises
    ------
    DataNotFoundError
        When either file is missing (a damaged install, or a checkout whose links to
        ``fixtures/`` do not resolve).
    """
    root = Path(str(resources.files(__name__)))
    model, data = root / MODEL, root / DATA
    missing = [p.name for p in (model, data) if not p.is_file()]
    if missing:
        from ..errors import DataNotFoundError

        raise DataNotFoundError(
            f"The demo files {', '.join(missing)} are missing from {str(root)!r}; reinstall audit-engine "
            "(pip install --force-reinstall audit-engine), or in a clone of the repository check that "
            "git created the links in audit_engine/demo/ (core.symlinks) to fixtures/."
        )
    return model, data


def config() -> Any:
    """The demo's :class:`~audit_engine.config.AuditConfig` (seed 0, favourable outcome 0).

    It runs every check that applies to the demo model, the opt-in ``robustness`` and ``slices``
    too, so the demo shows them; not ``uncertainty``: the demo model has no Dropout node and no
    committee is configured (named explicitly, it would be skipped with a warning).
    """
    from ..catalog import CHECK_NAMES
    from ..config import AuditConfig

    # The favourable outcome of a recidivism score is *not* being flagged high risk.
    return AuditConfig(target=TARGET, sensitive=SENSITIVE, seed=0, favorable_label=0,
                       checks=tuple(c for c in CHECK_NAMES if c != "uncertainty"),
                       model_card={"intended_use": "Demonstration of audit-engine on synthetic COMPAS-like data.",
                                   "owners": "audit-engine developers"})
