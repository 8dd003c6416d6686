"""The reliability suite (issue 8): prints the fault matrix at the end of the run and writes it
to tests/output/fault-matrix.md. The session ``lab`` fixture comes from tests/integration."""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from reliability_helpers import MATRIX, MATRIX_FILE  # noqa: E402  pylint: disable=wrong-import-position

STARTED = time.time()


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # pylint: disable=unused-argument
    """The matrix with its counts ("N faults, N detected, N isolated"), also as a file."""
    if MATRIX.rows:
        path = MATRIX.write()
        lines = MATRIX.text(width=400).splitlines()
    elif MATRIX_FILE.exists() and MATRIX_FILE.stat().st_mtime >= STARTED:
        # under pytest-xdist the matrix ran in a worker, which wrote the file (test_matrix_counts)
        path = MATRIX_FILE
        lines = MATRIX_FILE.read_text(encoding="utf-8").splitlines()
    else:
        return
    terminalreporter.section("fault matrix (issue 8)")
    for line in lines:
        terminalreporter.write_line(line)
    terminalreporter.write_line("written to %s" % os.path.relpath(path))
