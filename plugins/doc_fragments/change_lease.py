# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cluster's remediation Lease, taken by every change of agent_restart and agent_tune (module_utils/remediation/change.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  lease_duration:
    description: Seconds the cluster's Lease is valid (a run that dies leaves it to expire after this).
    type: int
    default: 900
  lease_holder:
    description:
      - The Lease holder identity. Default is C(user@host/pid), plus the AWX job id when there is one.
      - A change recorded by the same holder does not hold back the next one (I(cooldown_seconds)); the
        remediate role gives every module of one run the same holder.
    type: str
  lease_wait:
    description:
      - Seconds to wait while another run holds the cluster's Lease before refusing; C(0) refuses at once.
      - Once it has the Lease the run sees the other run's change, and within I(cooldown_seconds) plans nothing.
    type: int
    default: 0
notes:
  - Every change (a restart of the agent or of the receiver's replicas, a WAL recovery, a tune) is made under
    one C(coordination.k8s.io/v1) Lease per cluster, C(fleetops-remediation) in the agent's namespace. Given back,
    the Lease keeps the record of the last change in its annotations (C(fleetops.io/last-action),
    C(fleetops.io/last-change), C(fleetops.io/last-change-at), C(fleetops.io/last-holder)); another holder within
    I(cooldown_seconds) of it plans nothing (C(changed=false)) and says what was changed, when, and until when.
  - Check mode only reads the Lease.
'''
