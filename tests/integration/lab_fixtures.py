"""One way to give a test package a lab: started fresh, or attached to a running one."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest


def fresh_lab(prefix: str, reuse_env: str, clusters: int = 3):
    """Generator for a pytest fixture: a new ``LabClient`` (stopped afterwards), or the running lab
    whose workdir the environment variable ``reuse_env`` names (left running)."""
    if shutil.which("prometheus") is None:
        pytest.fail("prometheus is not installed: run `make test` (it apt-installs it) or tests/scripts/bootstrap.sh")
    from labkit.client import LabClient  # pylint: disable=import-outside-toplevel

    reuse = os.environ.get(reuse_env)
    if reuse:
        yield LabClient.attach(reuse)
        return
    workdir = tempfile.mkdtemp(prefix=prefix)
    client = LabClient.up(workdir, clusters=clusters)
    try:
        yield client
    finally:
        client.down()
        shutil.rmtree(workdir, ignore_errors=True)
