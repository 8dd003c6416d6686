"""Unit tests import the collection's Python as ``ansible_collections.fleetops.prometheus_agent``."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CAPTURES = REPO_ROOT / "tests" / "fixtures" / "captures" / "prometheus-2.42-agent"


def _make_importable():
    base = Path(tempfile.mkdtemp(prefix="fleetops-unit-"))
    link = base / "ansible_collections" / "fleetops" / "prometheus_agent"
    link.parent.mkdir(parents=True)
    link.symlink_to(REPO_ROOT)
    sys.path.insert(0, str(base))


try:
    import ansible_collections.fleetops.prometheus_agent  # noqa: F401  pylint: disable=unused-import
except ImportError:
    _make_importable()
