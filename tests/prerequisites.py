"""What the tests need from outside the repository, found in one place, with one rule for
when it is absent: a failure in CI, a skip (with the reason and the fix) elsewhere.

- The shared fixture folder (the NIR paper's files): ``../shared/fixtures`` next to the
  checkout, or wherever ``SPIKECORE_SHARED_FIXTURES`` points.
- Libraries ``make test`` installs (the producers snnTorch, Sinabs, Rockpool; Norse).

CI is recognised by the ``CI`` environment variable set to a true value (``.ci/run`` is
run with ``CI=true``): there, nothing the suite needs may be silently missing.

Test modules import this as ``from prerequisites import ...`` (``tests/`` is on
``sys.path``: it holds the rootdir ``conftest.py`` and no ``__init__.py``).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES_ENV = "SPIKECORE_SHARED_FIXTURES"
DEFAULT_SHARED_FIXTURES = REPO_ROOT.parent / "shared" / "fixtures"
_FALSE = {"", "0", "false", "no", "off"}


def in_ci() -> bool:
    """True when the ``CI`` environment variable holds a true value (``true``, ``1``...)."""
    return os.environ.get("CI", "").strip().lower() not in _FALSE


def missing(reason: str, allow_module_level: bool = False) -> NoReturn:
    """Something the test needs is absent: fail in CI, skip with ``reason`` elsewhere."""
    if in_ci():
        pytest.fail(f"{reason} [CI={os.environ.get('CI')!r}: missing is a failure in CI]",
                    pytrace=False)
    pytest.skip(reason, allow_module_level=allow_module_level)


def shared_fixtures_dir() -> Path:
    """The shared fixture folder: ``$SPIKECORE_SHARED_FIXTURES`` if set (and non-empty),
    else ``../shared/fixtures`` next to the checkout."""
    path = Path(os.environ.get(FIXTURES_ENV) or DEFAULT_SHARED_FIXTURES)
    if not path.is_dir():
        missing(f"shared fixtures folder {path} is absent (it is not part of the repository); "
                f"fix: set {FIXTURES_ENV} to a folder holding nir_paper_lif/, or put it at "
                f"{DEFAULT_SHARED_FIXTURES}")
    return path


def shared_fixture(*parts: str) -> Path:
    """A file or folder inside the shared fixture folder, e.g.
    ``shared_fixture("nir_paper_lif", "lif_norse.nir")``."""
    path = shared_fixtures_dir().joinpath(*parts)
    if not path.exists():
        missing(f"shared fixture {path} is absent; fix: restore it in the shared fixture "
                f"folder (or point {FIXTURES_ENV} at a complete copy)")
    return path


def installed_library(name: str, allow_module_level: bool = False) -> ModuleType:
    """Import ``name``, a library ``make test`` installs (pyproject's dependencies and dev
    extras, the Makefile); any import error is :func:`missing` with the error."""
    try:
        return importlib.import_module(name)
    except Exception as exc:  # noqa: BLE001 - any import-time failure (not only ImportError)
        missing(f"{name} does not import: {type(exc).__name__}: {exc}; fix: `make test` "
                "installs it (pyproject.toml dev extras, Makefile)", allow_module_level)
