#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inspect a Prometheus agent's write-ahead log (read-only)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: wal_inspect
short_description: Inspect a Prometheus agent's WAL (size, segments, checkpoint, volume, checksums)
version_added: 0.1.0
author:
  - fleetops maintainers (@fleetops)
description:
  - Lists the write-ahead log of a Prometheus agent (size, segments, the oldest segment's age, the
    checkpoint and checkpoints in progress, the WAL compression) and the use of its volume, and with
    I(verify) walks its 32 KiB pages and checks every fragment's CRC-32C, the fragment sequence
    (full, first, middle, last), the record lengths against the page bounds and the zero padding at
    the end of each page, like Prometheus's own WAL reader.
  - Each corruption is reported as C({segment, offset, reason}); I(offset) is the offset in the
    segment of the first fragment of the damaged record, where Prometheus's repair cuts the segment
    (Prometheus's log shows the reader's position when it met the error, at or after it).
    Verification resynchronises at the next page, so every damaged page is listed (up to 100; the
    total is counted).
  - An incomplete record at the very end of the last segment while the agent is running is a write
    in progress (C(wal.verify.torn_tail)), not a corruption; when the agent is stopped it is the
    C(last record is torn) corruption Prometheus repairs at its next start.
  - I(repair_preview) says what Prometheus's own repair (at start-up, on a read error) would do; it
    deletes every segment after the corrupted one and cuts the corrupted one at the corruption.
  - Two ways to reach the WAL. C(local) reads I(path) on the machine the module runs on (an agent on
    a VM, or the WAL of a stopped pod's volume mounted somewhere); it needs nothing beyond the Python
    standard library. C(pod) runs one shell script in the agent's container through the Kubernetes
    API (pods/exec), with C(stat), C(date), C(df), C(cat), C(tail -c) and C(head -c); for
    I(verify=tail) and I(verify=none) that one exec lists the directory and streams the segments to
    verify, each between two lines that carry a boundary drawn anew for each exec; I(verify=full)
    streams each file with an exec of its own. Memory stays flat whatever the WAL size (32 pages
    are read at a time).
  - CRC-32C comes from the C(crc32c) Python package when it is installed (C speed, hardware
    instructions where the CPU has them) and otherwise from a pure-Python table implementation
    (correct, about a hundred times slower); the result says which one in C(wal.crc_implementation).
    Snappy records are named without any library; zstd records (Prometheus 2.46+) only with the
    optional C(cramjam) package. Checksums never need decompression.
  - Returns the checks C(WAL-SIZE), C(WAL-HEALTH), C(PVC) and C(WAL-ROTATION). A missing path, an
    unreachable cluster or a stopped container gives C(status=unknown) with the reason; a corrupted
    WAL is a finding (C(critical)), never a failed task.
extends_documentation_fragment:
  - fleetops.prometheus_agent.connection
  - fleetops.prometheus_agent.agent
  - fleetops.prometheus_agent.attributes
options:
  path:
    description:
      - The WAL directory. In a pod, the path inside the agent's container (the Prometheus Operator
        mounts the data volume at C(/prometheus)). Locally, a directory on the machine the module
        runs on.
      - Default the agent's own C(<--storage.agent.path>/wal). The flag is read from the running agent
        (C(/api/v1/status/flags)), else from the agent container's args in the pod spec, else Prometheus' default
        C(data-agent/) (relative to the container's working directory). RV(wal_path_source) says which.
    type: path
  verify:
    description:
      - C(none) lists only (the compression is still read from the first page of the last segment).
      - C(tail) verifies the last segment and the last two pages of the segment before it (where an
        unclean stop leaves a torn record), so at most one segment plus 64 KiB is read.
      - C(full) verifies every segment and the checkpoint.
    type: str
    choices: [none, tail, full]
    default: none
  repair_preview:
    description: Also return C(repair_preview), what Prometheus's own repair would delete and keep.
    type: bool
    default: false
  location:
    description:
      - Where the WAL is read. C(pod) through the Kubernetes API, C(local) on the machine the module
        runs on.
      - C(auto) is C(local) when I(url) is set (an agent outside Kubernetes) or when no Kubernetes
        connection is configured at all (no I(kubeconfig), I(context), I(host), I(api_key), I(pod),
        no C(K8S_AUTH_*) or C(KUBECONFIG) variable and no C(~/.kube/config)), and C(pod) otherwise.
    type: str
    choices: [auto, local, pod]
    default: auto
  agent_running:
    description:
      - Whether the agent is writing the WAL, which decides if an incomplete record at the end of the
        last segment is a write in progress or a corruption.
      - When not set, C(pod) mode takes C(true) (the command ran in the agent's running container)
        and C(local) mode takes C(true) when a process on the machine holds one of the two newest
        segments open (the running agent keeps its active segment open; found through C(/proc) by
        device and inode, so an agent in a container counts too), or, when C(/proc) cannot be read,
        when the last segment was written in the last five minutes.
      - Through a debug pod (O(debug_pod)) the agent is stopped, so C(false) unless set.
    type: bool
  debug_pod:
    description:
      - When the agent's container is not running (terminated, crash-looping; the kubelet refuses exec
        into it, so a corrupt WAL that stopped Prometheus would read C(unknown)), create a short-lived
        pod C(<agent pod>-wal-inspect-<5 random>) in the agent's namespace on the agent pod's node
        (its C(nodeName)) that mounts the agent's PersistentVolumeClaim (the volume of the mount that
        holds O(path)) read-only at the same path, wait for it to run (within O(timeout)), read the WAL
        through exec into it exactly as in the agent's container, and delete it afterwards in every case
        (also after an error or a timeout; the deletion gets its own 10 seconds). The pod has the
        labels C(app.kubernetes.io/name=fleetops-wal-inspect), C(fleetops.io/created-by=wal_inspect) and
        C(fleetops.io/wal-of=<agent pod>), restartPolicy C(Never), an C(activeDeadlineSeconds) so the
        kubelet ends it even if this run cannot delete it, no service account token, and the agent pod's
        securityContext (it reads the files as the agent does).
      - Only a volume another pod can mount qualifies (a PersistentVolumeClaim; an emptyDir of
        DaemonSet mode does not, C(unknown) with that reason). A refused create (RBAC 403) or a pod that
        does not run in time is C(unknown) with the reason, never a failure; nothing is left behind.
      - C(changed) stays C(false); the pod is created and deleted within the task and the cluster is as
        it was (a read-only audit run every day would otherwise always report a change). It is C(true),
        with a warning, only when the pod could not be deleted.
      - In check mode nothing is created; the result is C(unknown) and says which pod would be created.
      - Needs the rights to create, get and delete pods and to create pods/exec in the agent's namespace.
      - When C(false) and the container is not running, the C(unknown) reason says that this would read it.
    type: bool
    default: false
  debug_pod_image:
    description:
      - The image of the debug pod; it needs C(sh), C(stat), C(date), C(df), C(cat), C(head) and C(tail)
        (busybox has them) and is run with C(sleep).
    type: str
    default: busybox:1.36
requirements:
  - Local mode, python standard library only; optional C(crc32c) (fast CRC-32C) and C(cramjam) (names zstd records).
  - Pod mode, the C(kubernetes) Python library, and C(sh), C(stat), C(df), C(cat) and C(tail) in the agent's container (busybox has them).
notes:
  - A Prometheus agent in a pod writes the WAL while it is read; a segment deleted by a truncation
    during the read is noted in C(wal.verify.notes), not reported as corruption.
  - The I(thresholds) this module reads are C(wal_size_warning) and C(wal_size_critical) (bytes,
    WAL-SIZE), C(pvc_warning) and C(pvc_critical) (used ratio, PVC), C(wal_rotation_warning_seconds)
    (default 21600, the retention max-time of 4h plus the truncate frequency of 2h) and
    C(wal_rotation_critical_seconds) (default 86400) for WAL-ROTATION, and
    C(wal_checkpoint_tmp_warning_seconds) (default 7200, a C(checkpoint.N.tmp) older than that is a
    failed checkpoint) for WAL-HEALTH.
seealso:
  - name: Prometheus WAL format
    description: The on-disk format of the write-ahead log.
    link: https://github.com/prometheus/prometheus/blob/main/tsdb/docs/format/wal.md
'''

EXAMPLES = r'''
- name: Daily - size, checkpoint, volume and the checksums of the newest segment, through the API
  fleetops.prometheus_agent.wal_inspect:
    kubeconfig: ~/.kube/fleet.yml
    context: prod-eu-1
    namespace: monitoring
    label_selector: app.kubernetes.io/name=prometheus-agent
    verify: tail
  register: wal

- name: Monthly - verify the whole WAL and show what Prometheus's repair would do
  fleetops.prometheus_agent.wal_inspect:
    context: prod-eu-1
    pod: prom-agent-kube-prometheus-stack-prometheus-0
    verify: full
    repair_preview: true
  register: wal_full

- name: Read the WAL of a stopped agent through a short-lived read-only pod (deleted afterwards)
  fleetops.prometheus_agent.wal_inspect:
    context: prod-eu-1
    verify: full
    debug_pod: true

- name: An agent on a VM - run on its host, read the WAL directory directly
  fleetops.prometheus_agent.wal_inspect:
    location: local
    path: /var/lib/prometheus-agent/wal
    verify: full
    thresholds:
      wal_size_warning: 8589934592
      wal_size_critical: 10737418240
  delegate_to: "{{ agent_vm }}"

- name: Stop when a corruption was found
  ansible.builtin.assert:
    that: wal_full.wal.corruptions | length == 0
    fail_msg: "corruption in segment {{ wal_full.wal.corruptions[0].segment }} at {{ wal_full.wal.corruptions[0].offset }}"
'''

RETURN = r'''
status:
  description: The worst status of C(checks) (C(unknown) when the WAL could not be read).
  returned: always
  type: str
  sample: ok
reason:
  description: Why the status is C(unknown) (path missing, cluster unreachable, container not running...).
  returned: when the WAL could not be read
  type: str
  sample: "WAL directory /prometheus/wal not found in the agent container of monitoring/prom-agent-lab-1-0"
location:
  description: Where the WAL was read, C(local) or C(pod).
  returned: always
  type: str
  sample: pod
wal_path_source:
  description:
    - Where the WAL path came from. C(option) is O(path). C(flags) is the running agent's C(--storage.agent.path), C(pod spec)
      the agent container's args, and C(default) Prometheus' C(data-agent/) when neither said.
  returned: always
  type: str
  sample: flags
pod:
  description: The pod (namespace/name) the WAL was read from (the agent's pod, also when read through a debug pod).
  returned: in pod mode, when the target names its pod
  type: str
  sample: monitoring/prom-agent-lab-1-0
read_through:
  description: That the WAL was read through a debug pod (its name) and why (the agent container's state).
  returned: when the WAL was read through a debug pod (O(debug_pod))
  type: str
  sample: "debug pod monitoring/prom-agent-lab-1-0-wal-inspect-x7k2p (container prometheus of pod monitoring/prom-agent-lab-1-0
    is terminated (Error, exit 1) (no exec into a container that is not running))"
debug_pod:
  description:
    - The debug pod of O(debug_pod) (also in each entry of C(pods)).
  returned: when a debug pod was created, refused, or would be created (check mode)
  type: dict
  contains:
    name:
      description: namespace/name of the pod; C(null) in check mode.
      type: str
    would_create:
      description: C(true) in check mode (nothing created).
      type: bool
    node:
      description: The node it runs on (the agent pod's).
      type: str
    claim:
      description: The PersistentVolumeClaim it mounts read-only.
      type: str
    mount_path:
      description: Where it mounts the claim (the agent container's mountPath).
      type: str
    image:
      description: Its image.
      type: str
    read_only:
      description: Always C(true).
      type: bool
    created:
      description: Whether the API server created it.
      type: bool
    deleted:
      description: Whether it was deleted afterwards.
      type: bool
    delete_error:
      description: Why the deletion failed (it then ends by itself after its activeDeadlineSeconds).
      type: str
  sample: {name: monitoring/prom-agent-lab-1-0-wal-inspect-x7k2p, node: lab-node-1, claim: prometheus-prom-agent-lab-1-db-prom-agent-lab-1-0,
           mount_path: /prometheus, image: "busybox:1.36", read_only: true, created: true, deleted: true}
pods:
  description:
    - In pod mode without O(pod), the WAL of every pod of the selector (shards, replicas, a DaemonSet's pods), four
      pods at a time, all within the one O(timeout) of the run, in the order the API lists them. C(checks) is then
      their roll-up (each check the worst of its pods, its message naming the pods
      that are not ok), C(wal) and C(volume) are those of the first worst pod, and C(pod) names it.
  returned: in pod mode when O(pod) is not given
  type: list
  elements: dict
  contains:
    name:
      description: The pod's name.
      type: str
    shard:
      description: The pod's C(operator.prometheus.io/shard) label (null without one).
      type: str
    status:
      description: The worst status of this pod's checks.
      type: str
    reason:
      description: Why this pod's WAL could not be read (null when it was).
      type: str
    wal:
      description: This pod's WAL figures, as C(wal).
      type: dict
    volume:
      description: This pod's volume, as C(volume).
      type: dict
    checks:
      description: This pod's own checks.
      type: list
      elements: dict
  sample: [{"name": "prom-agent-lab-1-0", "shard": "0", "status": "ok", "reason": null, "wal": {"total_bytes": 2097152},
            "volume": null, "checks": []}]
pod_count:
  description: How many pods were read (the length of C(pods)).
  returned: in pod mode when O(pod) is not given
  type: int
  sample: 4
checks:
  description: The checks C(WAL-SIZE), C(WAL-HEALTH), C(PVC) and C(WAL-ROTATION).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Check id of the catalog.
      type: str
      sample: WAL-HEALTH
    status:
      description: C(ok), C(warning), C(critical) or C(unknown).
      type: str
      sample: ok
    value:
      description: The measured value (bytes, ratio, seconds, number of corruptions).
      type: raw
      sample: 0
    threshold:
      description: The thresholds applied.
      type: raw
      sample: {warning: 42949672960, critical: 48318382080}
    message:
      description: One sentence to act on.
      type: str
      sample: "no corruption in 936.0 KiB of WAL verified (full)"
wal:
  description: The WAL facts.
  returned: always (only C(path) when the WAL could not be read)
  type: dict
  contains:
    path:
      description: The WAL directory.
      type: str
      sample: /prometheus/wal
    size_bytes:
      description: Bytes of every file in the WAL directory (segments, checkpoints, anything else).
      type: int
      sample: 958464
    segments_bytes:
      description: Bytes of the segments alone.
      type: int
      sample: 720896
    segment_count:
      description: Number of segments.
      type: int
      sample: 4
    first_segment:
      description: Name of the oldest segment.
      type: str
      sample: "00000002"
    last_segment:
      description: Name of the newest segment (the one being written).
      type: str
      sample: "00000005"
    oldest_segment_age_seconds:
      description: Seconds since the oldest segment was last written (the age of the oldest data kept).
      type: int
      sample: 5400
    last_write_age_seconds:
      description: Seconds since the newest segment was written.
      type: int
      sample: 1
    checkpoint:
      description: The newest completed checkpoint, C(null) when there is none.
      type: dict
      sample: {name: checkpoint.00000001, index: 1, size_bytes: 229376, age_seconds: 3600}
    checkpoints_in_progress:
      description: C(checkpoint.N.tmp) directories (a checkpoint being built, or left by a crash).
      type: list
      elements: dict
      sample: []
    non_sequential_segments:
      description: Missing segment numbers (between segments, or between the checkpoint and the first segment); Prometheus cannot replay such a WAL.
      type: list
      elements: str
      sample: []
    compression:
      description: C(snappy), C(zstd), C(none), C(mixed) (snappy and zstd records) or C(unknown), from the fragment type bits.
      type: str
      sample: snappy
    corruptions:
      description: Damaged places found by I(verify), up to 100.
      type: list
      elements: dict
      sample:
        - {segment: "00000003", offset: 94208, fragment_offset: 98304, kind: segment,
           reason: "unexpected checksum 54903dbc, expected c5332ad1"}
    corruptions_total:
      description: Number of damaged places found (the list is capped at 100).
      type: int
      sample: 0
    verified_bytes:
      description: Bytes read and verified.
      type: int
      sample: 958464
    crc_implementation:
      description: The CRC-32C implementation used (C(crc32c <version> (hardware|software)) or C(python)).
      type: str
      sample: crc32c 2.9.post0 (hardware)
    verify:
      description: >-
        Details of the verification: C(mode), C(files), C(verified_bytes), C(fragments), C(records),
        C(record_types) (counts by record type), C(compression_records), C(torn_tail) (an incomplete
        last record being written), C(agent_running), C(seconds), C(bytes_per_second), C(notes), C(error).
      type: dict
      sample: {mode: tail, files: 2, verified_bytes: 131072, fragments: 61, records: 58, record_types: {samples: 58}}
volume:
  description: The file system holding the WAL (statvfs locally, C(df) in the pod); C(null) when unknown.
  returned: always
  type: dict
  sample: {capacity: 53687091200, used: 10737418240, available: 42949672960, used_ratio: 0.2}
repair_preview:
  description: What Prometheus's own repair would do at the agent's next start.
  returned: when I(repair_preview=true) and the WAL was read
  type: dict
  contains:
    needed:
      description: A segment corruption was found, so the next start repairs.
      type: bool
      sample: true
    would_delete:
      description: Segments after the corrupted one (C(segment), C(size_bytes)).
      type: list
      elements: dict
      sample: [{segment: "00000004", size_bytes: 134217728}]
    would_truncate:
      description: The corrupted segment, C(at_offset) where it is cut and C(bytes_lost).
      type: dict
      sample: {segment: "00000003", at_offset: 94208, bytes_lost: 134123520, size_bytes: 134217728}
    would_keep:
      description: Segments before the corrupted one.
      type: list
      elements: dict
      sample: [{segment: "00000002", size_bytes: 134217728}]
    bytes_lost:
      description: Bytes of WAL lost by the repair.
      type: int
      sample: 268341248
    checkpoint_corrupted:
      description: A corrupted checkpoint file; Prometheus does not repair those (the agent fails to start).
      type: dict
      sample: null
    message:
      description: The preview in one sentence.
      type: str
      sample: "no repair needed: no corruption found"
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils import runners
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.args_common import common_argument_spec, run_and_exit


def argument_spec():
    """The shared options and this module's own (also the action plugin's)."""
    return common_argument_spec(
        path=dict(type='path'),
        verify=dict(type='str', choices=['none', 'tail', 'full'], default='none'),
        repair_preview=dict(type='bool', default=False),
        location=dict(type='str', choices=['auto', 'local', 'pod'], default='auto'),
        agent_running=dict(type='bool'),
        debug_pod=dict(type='bool', default=False),
        debug_pod_image=dict(type='str', default='busybox:1.36'),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_and_exit(module, 'wal_inspect', runners.run_module)


if __name__ == '__main__':
    main()
