# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that look across the fleet: one value per host, and hosts that share a value."""

from __future__ import annotations

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import alert_rules


def _dig(data, path):
    for key in path:
        try:
            if isinstance(data, (list, tuple)):
                data = data[int(key)]
            else:
                data = data.get(key) if hasattr(data, "get") else None
        except (IndexError, ValueError, TypeError, KeyError):
            return None
        if data is None:
            return None
    return data


def fleet_values(hostvars, hosts, path):
    """{host: value at path} for the hosts that have one."""
    found = {}
    for host in hosts or []:
        try:
            values = hostvars.get(host) if hasattr(hostvars, "get") else None
        except Exception:  # pylint: disable=broad-except
            values = None
        value = _dig(values, path) if values is not None else None
        if value not in (None, "", {}, []):
            found[str(host)] = value
    return found


def fleet_shared(values):
    """{host: [other hosts with the same value]} for values held by more than one host."""
    by_value = {}
    for host, value in (values or {}).items():
        key = repr(sorted(value.items())) if isinstance(value, dict) else repr(value)
        by_value.setdefault(key, []).append(host)
    shared = {}
    for hosts in by_value.values():
        if len(hosts) > 1:
            for host in hosts:
                shared[host] = sorted(h for h in hosts if h != host)
    return shared


def fleet_rules_sha256(rules):
    """The digest the RULES check compares (rule groups, formatting ignored)."""
    return alert_rules.canonical_sha(alert_rules.groups_of(rules))


class FilterModule:
    """fleet_values, fleet_shared, fleet_rules_sha256."""

    def filters(self):
        return {"fleet_values": fleet_values, "fleet_shared": fleet_shared, "fleet_rules_sha256": fleet_rules_sha256}
