"""docs/modules/ is generated from the plugins' own documentation and must be current.

The Markdown pages come from ``ansible-doc --json`` through docs/generate_module_docs.py, so the
documentation of a module is written once, in the module. When this test fails, run
``.venv/bin/python docs/generate_module_docs.py`` and commit docs/modules/.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
GENERATOR = REPO_ROOT / "docs" / "generate_module_docs.py"


def test_module_docs_are_current():
    proc = subprocess.run([sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True, check=False, cwd=str(REPO_ROOT))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_module_has_a_page_in_the_index():
    index = (REPO_ROOT / "docs" / "modules" / "README.md").read_text(encoding="utf-8")
    for module in sorted((REPO_ROOT / "plugins" / "modules").glob("*.py")):
        if module.name.startswith("_"):
            continue
        page = REPO_ROOT / "docs" / "modules" / (module.stem + ".md")
        assert page.is_file(), "no generated page for %s" % module.stem
        assert "(%s.md)" % module.stem in index
        assert "# fleetops.prometheus_agent.%s (module)" % module.stem in page.read_text(encoding="utf-8")


def test_generator_writes_into_a_given_directory(tmp_path):
    proc = subprocess.run([sys.executable, str(GENERATOR), "--output", str(tmp_path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    committed = sorted(p.name for p in (REPO_ROOT / "docs" / "modules").glob("*.md"))
    assert sorted(p.name for p in tmp_path.glob("*.md")) == committed
