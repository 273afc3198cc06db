"""Adapters installed while the daemon runs: what SIGHUP must do to see them.

``importlib.metadata`` finds a new package's entry point by itself (it re-reads a
site-packages folder whose modification time changed), but Python reads ``.pth`` files only
when it starts, and an editable install (``pip install -e``) is exactly a ``.pth`` file (a
path, or an import hook that finds the package in the vendor's source folder). Without it
the entry point is listed and fails to load. :meth:`InstalledAdapters.refresh` processes the
``.pth`` files that appeared since the daemon started, once each, and clears the import
system's caches, so the next ``registry.create`` loads the new adapter.
"""

from __future__ import annotations

import importlib
import site
from collections.abc import Sequence
from pathlib import Path


def _site_dirs() -> list[Path]:
    dirs = [*site.getsitepackages(), site.getusersitepackages()]
    return [Path(d) for d in dirs if Path(d).is_dir()]


def _pth_files(dirs: Sequence[Path]) -> set[Path]:
    return {p for d in dirs for p in d.glob("*.pth") if p.is_file()}


class InstalledAdapters:
    """Remembers the ``.pth`` files Python processed at start; :meth:`refresh` adds new ones."""

    def __init__(self, site_dirs: Sequence[Path] | None = None) -> None:
        self._dirs = list(site_dirs) if site_dirs is not None else _site_dirs()
        self._seen = _pth_files(self._dirs)

    def refresh(self) -> list[str]:
        """Process ``.pth`` files installed since the last call (or the start); return their
        names. Safe to call often: each file is processed once."""
        new = sorted(_pth_files(self._dirs) - self._seen)
        for pth in new:
            site.addpackage(str(pth.parent), pth.name, None)
        self._seen.update(new)
        importlib.invalidate_caches()
        return [p.name for p in new]
