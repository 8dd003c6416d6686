"""The coordination.k8s.io group: Leases, stored as clients write them (the remediation lock).

A PUT of an absent Lease creates it; a stale ``metadata.resourceVersion`` is a 409 Conflict
(``kinds.Kind.change``); the collection can be deleted.
"""

from __future__ import annotations

from .kinds import Kind

KINDS = {("coordination.k8s.io", "leases"): Kind(create_on_put=True, collection_delete=True)}
