"""The docs site (``make docs``): ``mkdocs build --strict`` of docs/*.md and the API
reference from the docstrings succeeds, covers every page and public module, and fails on
a broken cross-reference. MkDocs and mkdocstrings are dev extras: missing is a failure in
CI (:func:`prerequisites.installed_library`)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from prerequisites import REPO_ROOT, installed_library

API_MODULES = ("spikecore", "spikecore.nir_io", "spikecore.simulate", "spikecore.compare",
               "spikecore.result", "spikecore.graph", "spikecore.semantics",
               "spikecore.dialects", "spikecore.extensions", "spikecore.errors",
               "spikecore.testing", "spikecore.encoders", "spikecore.events",
               "spikecore.backends.torch", "spikecore.hardware.loihi2",
               "spikecore.backends.nest", "spikecore.learning", "spikecore.sweep",
               "spikecore.data_parallel")


def _build(config: Path, site: Path) -> subprocess.CompletedProcess:
    installed_library("mkdocs")
    installed_library("mkdocstrings")
    installed_library("mkdocstrings_handlers.python")
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f",
                           str(config), "--site-dir", str(site)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300)


def _config() -> dict:
    yaml = installed_library("yaml")
    return yaml.safe_load((REPO_ROOT / "mkdocs.yml").read_text())


def _nav_pages(nav: list) -> list[str]:
    out = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        out += _nav_pages(value) if isinstance(value, list) else [value]
    return out


def test_strict_build_succeeds(tmp_path: Path) -> None:
    t0 = time.perf_counter()
    run = _build(REPO_ROOT / "mkdocs.yml", tmp_path / "site")
    took = time.perf_counter() - t0
    assert run.returncode == 0, f"mkdocs build --strict failed:\n{run.stdout}\n{run.stderr}"
    assert took < 60, f"the docs build took {took:.0f} s"
    api = tmp_path / "site" / "api"
    for module in API_MODULES:
        assert any(f'id="{module}"' in p.read_text() for p in api.rglob("index.html")), \
            f"no API page documents {module}"
    # the signature of to_torch, and no Sphinx role left as text
    page = (api / "spikecore" / "index.html").read_text()
    assert "arithmetic" in page and "surrogate_scale" in page
    assert ":func:" not in page and ":class:" not in page


def test_nav_lists_every_page() -> None:
    pages = set(_nav_pages(_config()["nav"]))
    docs = REPO_ROOT / "docs"
    on_disk = {p.relative_to(docs).as_posix() for p in docs.rglob("*.md")
               if "hooks" not in p.parts}
    assert on_disk - pages == set(), "pages missing from mkdocs.yml's nav"


def test_a_broken_reference_fails_the_build(tmp_path: Path) -> None:
    """The same configuration over a copy of docs/ with one reference to nothing: the
    strict build fails and names it."""
    yaml = installed_library("yaml")
    config = _config()
    docs = tmp_path / "docs"
    subprocess.run(["cp", "-r", str(REPO_ROOT / "docs"), str(docs)], check=True)
    (docs / "api" / "index.md").write_text(
        (docs / "api" / "index.md").read_text() + "\nSee [Graph][spikecore.graph.NoSuchThing].\n")
    config["docs_dir"] = str(docs)
    config["hooks"] = [str(REPO_ROOT / h) for h in config["hooks"]]
    python = config["plugins"][1]["mkdocstrings"]["handlers"]["python"]
    python["paths"] = [str(REPO_ROOT / p) for p in python["paths"]]
    python["options"]["extensions"] = [str(REPO_ROOT / e) for e in python["options"]["extensions"]]
    path = tmp_path / "mkdocs.yml"
    path.write_text(yaml.safe_dump(config))
    run = _build(path, tmp_path / "site")
    assert run.returncode != 0, "a broken reference did not fail the strict build"
    assert "spikecore.graph.NoSuchThing" in run.stdout + run.stderr


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
