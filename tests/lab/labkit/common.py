"""What every part of the lab shares: its error and Kubernetes quantities.

No imports from the rest of ``labkit``: ``runtime`` (the processes and the supervisor) and
``faults`` (what each fault does to a process) both build on this module, and ``runtime``
calls ``faults``, never the other way round.
"""

from __future__ import annotations

import re

_UNITS = {"": 1, "k": 1000, "M": 1000 ** 2, "G": 1000 ** 3, "T": 1000 ** 4,
          "Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3, "Ti": 1024 ** 4}


class LabError(Exception):
    """A lab part could not be started or driven; the message says what to do."""


def parse_quantity(value) -> int:
    """Kubernetes memory/storage quantity ('256Mi', '1G', 1000) -> bytes."""
    if isinstance(value, (int, float)):
        return int(value)
    match = re.fullmatch(r"\s*([0-9.]+)\s*([kMGT]i?)?\s*", str(value))
    if not match:
        raise ValueError("not a quantity: %r" % (value,))
    return int(float(match.group(1)) * _UNITS[match.group(2) or ""])


def format_quantity(num_bytes: int) -> str:
    """Bytes -> the shortest exact binary quantity ('256Mi')."""
    for unit in ("Ti", "Gi", "Mi", "Ki"):
        if num_bytes % _UNITS[unit] == 0 and num_bytes >= _UNITS[unit]:
            return "%d%s" % (num_bytes // _UNITS[unit], unit)
    return str(num_bytes)
