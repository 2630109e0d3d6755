"""The wheel carries every subpackage (an editable install would hide a missing one)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Source folder -> package name, as mapped in pyproject.toml.
SOURCE_ROOTS = {"spikecore": "spikecore", "backends": "spikecore.backends",
                "models": "spikecore.models", "hardware": "spikecore.hardware"}


def expected_packages() -> set[str]:
    """Every folder with an __init__.py under the mapped source roots, as a package name."""
    out = set()
    for folder, pkg in SOURCE_ROOTS.items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder)
            out.add(".".join([pkg, *rel.parts]) if rel.parts else pkg)
    return out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "-q", "-w", str(out), str(REPO)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, f"pip wheel failed:\n{proc.stderr[-3000:]}"
    wheels = list(out.glob("spikecore-*.whl"))
    assert len(wheels) == 1, f"expected one wheel, found {wheels}"
    return wheels[0]


def test_wheel_contains_every_subpackage(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    packaged = {n[: -len("/__init__.py")].replace("/", ".") for n in names
                if n.endswith("/__init__.py")}
    missing = expected_packages() - packaged
    assert not missing, f"subpackages missing from the wheel (add them to pyproject): {sorted(missing)}"


def test_only_spikecore_lands_in_site_packages(wheel: Path) -> None:
    tops = {n.split("/")[0] for n in zipfile.ZipFile(wheel).namelist()}
    stray = {t for t in tops if t != "spikecore" and not t.endswith(".dist-info")}
    assert not stray, f"the wheel would install top-level names besides spikecore: {sorted(stray)}"


def test_wheel_carries_bundled_data_and_worker_scripts(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("spikecore/data/lif_norse.nir", "spikecore/data/lif_norse.csv"):
        assert required in names, f"{required} missing from the wheel"
    # Every .py file of the source roots must be packaged (worker scripts run by path).
    for folder, pkg in SOURCE_ROOTS.items():
        for py in (REPO / folder).rglob("*.py"):
            rel = py.relative_to(REPO / folder)
            if "__pycache__" in rel.parts:
                continue
            target = "/".join([*pkg.split("."), *rel.parts])
            assert target in names, f"{py.relative_to(REPO)} is not in the wheel as {target}"


def test_installed_wheel_imports_outside_the_repo(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q",
                    "--disable-pip-version-check", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import spikecore, spikecore.backends, "
            "spikecore.models, spikecore.hardware; print(spikecore.__file__)")
    proc = subprocess.run([sys.executable, "-c", code, str(target)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().startswith(str(target)), (
        f"imported spikecore from {proc.stdout.strip()}, not from the installed wheel")
