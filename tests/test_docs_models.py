"""docs/models.md lists every model builder of spikecore.models, and every example
script it names exists."""

from __future__ import annotations

import re

from spikecore import models as M

BUILDER_SUFFIXES = ("_network", "2000", "_noise", "lsnn", "_poisson", "_snn", "_population")


def test_every_model_builder_is_documented(repo_root):
    page = (repo_root / "docs" / "models.md").read_text()
    builders = sorted(n for n in dir(M) if callable(getattr(M, n)) and n.endswith(BUILDER_SUFFIXES))
    assert builders, "no model builders found"
    missing = [b for b in builders if f"`{b}" not in page]
    assert not missing, f"docs/models.md does not mention: {missing}"


def test_examples_named_in_the_page_exist(repo_root):
    page = (repo_root / "docs" / "models.md").read_text()
    named = set(re.findall(r"`(\w+\.py)`", page))
    scripts = {p.name for p in (repo_root / "examples").glob("*.py")}
    tests = {p.name for p in (repo_root / "tests").rglob("test_*.py")}
    unknown = sorted(n for n in named if n not in scripts and n not in tests)
    assert not unknown, f"docs/models.md names files that do not exist: {unknown}"
