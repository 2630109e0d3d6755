"""The one rule for what the tests need from outside the repository: absent is a failure in
CI (``CI`` set to a true value), a skip with the reason and the fix elsewhere."""

from __future__ import annotations

from pathlib import Path

import prerequisites as pre
import pytest

FAILED = pytest.fail.Exception
SKIPPED = pytest.skip.Exception


def _outcome(expected: type, fn, *args) -> str:
    """The message of the fail or skip ``fn(*args)`` raises, which must be ``expected``.
    (Both are caught: a skip escaping ``pytest.raises(FAILED)`` would skip this test.)"""
    with pytest.raises((FAILED, SKIPPED)) as info:
        fn(*args)
    got = info.value
    assert isinstance(got, expected), \
        f"expected {expected.__name__}, got {type(got).__name__}: {got}"
    return str(got)


@pytest.mark.parametrize("value", ["true", "True", "1", "yes"])
def test_ci_recognised(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    assert pre.in_ci()


@pytest.mark.parametrize("value", [None, "", "0", "false", "no"])
def test_not_ci(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert not pre.in_ci()


def test_env_var_points_the_helper_elsewhere(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    (tmp_path / "nir_paper_lif").mkdir()
    (tmp_path / "nir_paper_lif" / "lif_norse.nir").write_bytes(b"")
    monkeypatch.setenv(pre.FIXTURES_ENV, str(tmp_path))
    monkeypatch.setenv("CI", "true")
    assert pre.shared_fixtures_dir() == tmp_path
    assert pre.shared_fixture("nir_paper_lif", "lif_norse.nir") == \
        tmp_path / "nir_paper_lif" / "lif_norse.nir"


def test_default_is_next_to_the_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(pre.FIXTURES_ENV, raising=False)
    assert pre.DEFAULT_SHARED_FIXTURES == Path(__file__).resolve().parents[2] / "shared" / "fixtures"
    if pre.DEFAULT_SHARED_FIXTURES.is_dir():
        assert pre.shared_fixtures_dir() == pre.DEFAULT_SHARED_FIXTURES


def test_the_shared_fixtures_fixture_uses_the_helper(shared_fixtures: Path) -> None:
    assert shared_fixtures == pre.shared_fixtures_dir()


def test_absent_folder_fails_in_ci_with_path_and_fix(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    gone = tmp_path / "no_such_folder"
    monkeypatch.setenv(pre.FIXTURES_ENV, str(gone))
    monkeypatch.setenv("CI", "true")
    msg = _outcome(FAILED, pre.shared_fixtures_dir)
    assert str(gone) in msg and pre.FIXTURES_ENV in msg and "CI" in msg


def test_absent_folder_skips_outside_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    gone = tmp_path / "no_such_folder"
    monkeypatch.setenv(pre.FIXTURES_ENV, str(gone))
    monkeypatch.delenv("CI", raising=False)
    msg = _outcome(SKIPPED, pre.shared_fixtures_dir)
    assert str(gone) in msg and pre.FIXTURES_ENV in msg


def test_absent_file_in_present_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(pre.FIXTURES_ENV, str(tmp_path))
    monkeypatch.setenv("CI", "1")
    assert "lif_rockpool.nir" in _outcome(FAILED, pre.shared_fixture, "nir_paper_lif",
                                          "lif_rockpool.nir")
    monkeypatch.setenv("CI", "false")
    assert "lif_rockpool.nir" in _outcome(SKIPPED, pre.shared_fixture, "nir_paper_lif",
                                          "lif_rockpool.nir")


def test_a_library_that_does_not_import(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Any import-time error (here a RuntimeError inside the package) is reported with the
    error: a failure in CI, a skip elsewhere."""
    (tmp_path / "broken_producer_xyz.py").write_text("raise RuntimeError('half installed')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("CI", "true")
    assert "broken_producer_xyz does not import: RuntimeError: half installed" in \
        _outcome(FAILED, pre.installed_library, "broken_producer_xyz")
    monkeypatch.delenv("CI")
    assert "broken_producer_xyz does not import" in \
        _outcome(SKIPPED, pre.installed_library, "broken_producer_xyz")
    assert "ModuleNotFoundError" in _outcome(SKIPPED, pre.installed_library, "no_such_producer_xyz")
    assert pre.installed_library("json").dumps([1]) == "[1]"
