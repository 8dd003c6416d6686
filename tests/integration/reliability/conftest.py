"""The reliability suite (issue 8): prints the fault matrix at the end of the run and writes it
to tests/output/fault-matrix.md. The session ``lab`` fixture comes from tests/integration."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from reliability_helpers import MATRIX  # noqa: E402  pylint: disable=wrong-import-position


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # pylint: disable=unused-argument
    """The matrix with its counts ("N faults, N detected, N isolated"), also as a file."""
    if not MATRIX.rows:
        return
    path = MATRIX.write()
    terminalreporter.section("fault matrix (issue 8)")
    for line in MATRIX.text(width=400).splitlines():
        terminalreporter.write_line(line)
    terminalreporter.write_line("written to %s" % os.path.relpath(path))
