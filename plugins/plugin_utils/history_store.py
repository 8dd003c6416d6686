# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet history file, safe under AWX job slices and concurrent runs (controller side, no Ansible).

The file is one JSON object of records keyed by cluster: ``{key: record}``, the key the cluster's
inventory host name, or ``<cluster>/<pod>`` for a record of one pod (``record_key``). What a record
holds is its writer's business (report.py's history points, the counter snapshots of the daily
windows): this module only stores them.

Several writers share one file: the slices of a sliced AWX job (each on its own hosts) finish at
about the same time, and a run can start while another one ends. So ``update`` never writes what
it read before: it takes an exclusive ``fcntl`` lock (on ``<file>.lock`` beside the file, never
removed, so every writer locks the same inode), reads the file again under the lock, replaces the
records of the keys it is given and nothing else (a cluster absent from this run keeps its
record), writes a temporary file in the same directory and renames it over the file
(``os.replace``). A writer killed at any point leaves the previous file whole (at worst a
``.tmp-`` file beside it); the kernel drops the lock of a dead process.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os

POD_SEPARATOR = "/"


def record_key(cluster, pod=None):
    """The key of a cluster's record, or of one of its pods' (``<cluster>/<pod>``)."""
    return str(cluster) if not pod else "%s%s%s" % (cluster, POD_SEPARATOR, pod)


def cluster_of(key):
    """The cluster a key belongs to (``prod-eu-1/prometheus-agent-0`` -> ``prod-eu-1``)."""
    return str(key).split(POD_SEPARATOR, 1)[0]


def records_of(records, clusters):
    """The records of ``records`` that belong to ``clusters`` (their own keys and their pods')."""
    wanted = {str(c) for c in clusters}
    return {key: value for key, value in records.items() if cluster_of(key) in wanted}


def lock_path(path):
    """The lock file of a history file: beside it, ``<file>.lock``."""
    return str(path) + ".lock"


@contextlib.contextmanager
def locked(path):
    """Hold the exclusive lock of the history file ``path`` (blocks until the other writer is done)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd = os.open(lock_path(os.path.abspath(path)), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor drops the lock


def load(path):
    """The records of the history file (``{key: record}``); empty when it is missing or unreadable.

    Readers take no lock: the file is only ever replaced whole, so a reader sees one complete
    version, the one before or the one after a concurrent update."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write(path, records):
    # the one whole-file writer (a temporary file in the same directory renamed over the file); imported
    # here because report.py, which holds it, reads and writes its history through this module
    from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils.report import write_atomic  # pylint: disable=import-outside-toplevel
    write_atomic(path, json.dumps(records, sort_keys=True, separators=(",", ":")) + "\n")


def update(path, records_by_cluster):
    """Replace the records of the keys given, keep every other one; returns the file's new content.

    ``records_by_cluster``: ``{key: record}`` (a record ``None`` removes its key), or a function
    that gets the current records (read under the lock) and returns that dict: a read-modify-write
    of the same keys by two writers at once then loses nothing either."""
    path = os.path.abspath(path)
    with locked(path):
        records = load(path)
        changes = records_by_cluster(dict(records)) if callable(records_by_cluster) else records_by_cluster
        for key, record in (changes or {}).items():
            if record is None:
                records.pop(str(key), None)
            else:
                records[str(key)] = record
        _write(path, records)
    return records
