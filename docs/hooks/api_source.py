"""MkDocs hook: lay out spikecore's source as it is installed, for mkdocstrings.

``pyproject.toml`` maps ``spikecore.backends`` to ``backends/``, ``spikecore.hardware``
to ``hardware/`` and ``spikecore.models`` to ``models/``; griffe finds packages by folder,
so this builds ``build/api-src/spikecore`` of symlinks (the files of ``spikecore/`` plus
those three folders) and ``mkdocs.yml`` points the Python handler there. Nothing is copied;
the tree is rebuilt on every build, so it follows the checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

from mkdocs.plugins import event_priority

#: installed name under spikecore -> folder of the repository (pyproject's package-dir)
MAPPED = {"backends": "backends", "hardware": "hardware", "models": "models"}


def _link(target: Path, link: Path) -> None:
    if link.is_symlink() and os.readlink(link) == str(target):
        return
    if link.is_symlink() or link.exists():
        link.unlink()
    try:
        link.symlink_to(target, target_is_directory=target.is_dir())
    except FileExistsError:  # a concurrent build made the same link
        pass


@event_priority(100)  # before mkdocstrings reads its `paths` (which must exist then)
def on_config(config, **kwargs):
    root = Path(__file__).resolve().parents[2]     # the repository (docs/hooks/ is in it)
    pkg = root / "build" / "api-src" / "spikecore"
    pkg.mkdir(parents=True, exist_ok=True)
    wanted = {p.name: p for p in (root / "spikecore").iterdir() if p.name != "__pycache__"}
    wanted.update({name: root / folder for name, folder in MAPPED.items()})
    for entry in pkg.iterdir():
        if entry.name not in wanted:
            entry.unlink()
    for name, target in wanted.items():
        _link(target, pkg / name)
    return config
