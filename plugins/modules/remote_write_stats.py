#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Remote-write queues of a Prometheus agent: rates, success, retries, lag, shards, latency (read-only)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: remote_write_stats
short_description: Remote-write queues of a Prometheus agent (rates, success, retries, lag, shards, latency)
version_added: 0.1.0
author:
  - fleetops maintainers (@fleetops)
description:
  - Reads the agent's C(/metrics) (through the Kubernetes pod proxy, or directly at I(url)) and returns one entry per
    remote-write queue, with the checks C(RW-SUCCESS), C(RW-RETRY), C(RW-LAG), C(RW-PENDING), C(RW-SHARDS),
    C(RW-LATENCY) and C(RW-DROPPED).
  - Reads every metric name Prometheus has used since 2.0, the old C(queue) label (before 2.15), C(succeeded_samples_total),
    C(failed_samples_total), C(retried_samples_total), C(dropped_samples_total), C(pending_samples), C(queue_length),
    C(queue_capacity), C(sent_bytes_total) and C(samples_bytes_total), and 3.7+ C(queue_highest_timestamp_seconds).
  - Rates need two readings. The module never sleeps unless asked (I(interval)); pass as I(baseline) the C(snapshot) of an
    earlier call (for example registered by a task at the start of the play) and the rates are over the time between them.
    Without either, C(RW-SUCCESS) and C(RW-RETRY) are C(unknown) (saying why) and each queue has C(since_start), the
    figures since the agent started; lag, pending, shards and latency (the cumulative histogram) are still evaluated.
  - Since Prometheus 2.23 C(samples_total) counts every send attempt, retries included. The samples that reached the
    receiver are C(samples_total - samples_retried_total - samples_failed_total); C(samples_per_second) and
    C(success_ratio) are about those. During a receiver outage (retries rising, bytes flat, C(samples_failed_total) still
    0) the success ratio is 0 and C(RW-RETRY) and C(RW-LAG) are C(critical), never "100% success".
  - With I(source=query) the same figures come from a central Prometheus or Thanos Query (I(query_url)) as increases over
    I(window), for the series whose I(cluster_label) is I(cluster).
  - An agent of several pods (prometheus-operator C(shards) and C(replicas), a DaemonSet's pods) read through Kubernetes
    without O(pod) is read pod by pod, since each pod sends its own share. The C(/metrics) of every pod of the selector is
    read through its own pod proxy, a few at a time, under the one O(timeout). Each pod's queues are figured against the
    same pod's reading in the I(baseline) (a restart is judged per pod) and each pod gets its own checks. C(checks) is
    their roll-up (each check the worst of its pods, its message naming the pods that are not ok, or saying (C(4 pods))
    when all are), C(queues) holds every pod's queues (with C(pod)), C(totals) their sum, C(pods) one entry per pod.
    One pod, O(pod) given or an agent at I(url) give one reading, as before.
  - An unreachable cluster or agent gives C(status=unknown) with the reason, not a failed task.
extends_documentation_fragment:
  - fleetops.prometheus_agent.connection
  - fleetops.prometheus_agent.agent
  - fleetops.prometheus_agent.attributes
options:
  baseline:
    description:
      - The C(snapshot) returned by an earlier call for the same agent (or that whole result). Rates are computed over the
        time between that reading and this one. A counter that went down (the agent restarted) counts from zero.
      - For an agent of several pods, the snapshot holds a reading per pod and each pod's rates are against its own; a
        pod not in it (new since), or a snapshot of one pod (taken before every pod was read), gives no rates for that
        pod until the next reading, saying so. Given to a reading of one pod, the snapshot of several pods is used for
        that pod.
    type: raw
  interval:
    description:
      - When above 0 and no usable I(baseline) is given, read the metrics, wait this many seconds and read them again.
        Leave at 0 in plays over many clusters and pass I(baseline) instead.
    type: float
    default: 0
  source:
    description:
      - C(metrics) reads the agent's own C(/metrics). C(query) reads the central query API at I(query_url).
    type: str
    choices: [metrics, query]
    default: metrics
  query_url:
    description:
      - Base URL of the central Prometheus or Thanos Query, e.g. the inventory's C(fleet_query_url). Required with
        I(source=query).
    type: str
  query_bearer_token:
    description: Bearer token for I(query_url). Never logged.
    type: str
  query_validate_certs:
    description: Verify the TLS certificate of I(query_url).
    type: bool
    default: true
  window:
    description: With I(source=query), the window of the increases, a Prometheus duration such as C(5m), C(1h), C(24h).
    type: str
    default: 5m
  cluster:
    description:
      - With I(source=query), the value of I(cluster_label) that marks this cluster's series in the central store (the
        agents' external label), usually the inventory host name.
    type: str
  cluster_label:
    description: With I(source=query), the label that tells the clusters apart in the central store.
    type: str
    default: cluster
  query_selector:
    description:
      - With I(source=query), more label matchers for every series, e.g. C(job="prometheus-agent").
    type: str
notes:
  - Thresholds (I(thresholds)) used here are C(rw_success_warning), C(rw_success_critical), C(rw_retry_warning),
    C(rw_lag_warning), C(rw_lag_critical), C(rw_segments_behind_warning), C(rw_pending_warning), C(rw_pending_critical),
    C(rw_shards_warning), C(rw_shards_critical), C(rw_latency_p99_warning), C(rw_latency_avg_warning) and
    C(rw_latency_p99_critical).
  - With several queues, each check is the worst queue's and its message names the queue.
seealso:
  - name: Prometheus remote write tuning
    description: Queue configuration and the metrics of the remote-write queues.
    link: https://prometheus.io/docs/practices/remote_write/
'''

EXAMPLES = r'''
- name: First reading (the baseline of the rates), early in the play
  fleetops.prometheus_agent.remote_write_stats:
    context: "{{ kube_context }}"
    namespace: monitoring
  register: rw_first

- name: Second reading, rates over the time since the first
  fleetops.prometheus_agent.remote_write_stats:
    context: "{{ kube_context }}"
    namespace: monitoring
    baseline: "{{ rw_first.snapshot }}"
  register: rw

- name: An agent on a VM, two readings 15 seconds apart
  fleetops.prometheus_agent.remote_write_stats:
    url: http://10.0.0.5:9090
    interval: 15

- name: The last 24 hours from the central Thanos Query
  fleetops.prometheus_agent.remote_write_stats:
    source: query
    query_url: "{{ fleet_query_url }}"
    cluster: "{{ inventory_hostname }}"
    window: 24h

- name: Fail the play when remote write is critical
  ansible.builtin.assert:
    that: rw.status != 'critical'
    fail_msg: "{{ rw.checks | selectattr('status', 'equalto', 'critical') | map(attribute='message') | join('; ') }}"
'''

RETURN = r'''
status:
  description: The worst status of C(checks); C(unknown) when the metrics could not be read.
  returned: always
  type: str
  sample: critical
reason:
  description: Why the status is C(unknown) (cluster or agent unreachable, not a metrics page...).
  returned: when the metrics could not be read
  type: str
  sample: "cluster lab-1: API server https://127.0.0.1:6443 answered 500: etcdserver: request timed out"
source:
  description: Where the figures come from, C(metrics) or C(query).
  returned: always
  type: str
  sample: metrics
agent:
  description: The agent read (cluster and pod, or URL; no secrets); for several pods the selector and how many pods.
  returned: always
  type: str
  sample: cluster lab-1 pod monitoring/prom-agent-lab-1-0
window_seconds:
  description: Seconds between the baseline and this reading (or the I(window) of a query); C(null) without a baseline.
    For several pods the longest of the pods' windows.
  returned: always
  type: float
  sample: 31.2
checks:
  description:
    - The checks C(RW-SUCCESS), C(RW-RETRY), C(RW-LAG), C(RW-PENDING), C(RW-SHARDS), C(RW-LATENCY), C(RW-DROPPED), each
      the worst of the queues.
    - For several pods, each the worst of the pods, its message (C(1 of 4 pods) then each pod's name and message) naming the pods that are not ok
      (the first five with their own message, then by name), or the first pod's message and (C(4 pods)) when all are ok;
      its value that of the first worst pod.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Check id of the catalog.
      type: str
      sample: RW-RETRY
    status:
      description: C(ok), C(warning), C(critical) or C(unknown).
      type: str
      sample: critical
    value:
      description: The measured value (ratio, samples per second, seconds, samples, desired/max, latencies).
      type: raw
      sample: 1166.7
    threshold:
      description: The thresholds applied.
      type: raw
      sample: {warning: "retries > 0.0/s", critical: "retries > 0 and no bytes sent"}
    message:
      description: One sentence to act on.
      type: str
      sample: "1166.7 samples/s retried and no bytes sent for 30 s: the receiver is down or failing (5xx)"
queues:
  description: One entry per remote-write queue (of every pod, pod by pod, for several pods).
  returned: always
  type: list
  elements: dict
  contains:
    pod:
      description: The pod whose queue this is.
      type: str
      returned: for several pods
      sample: prom-agent-lab-1-shard-1-0
    remote_name:
      description: The queue's C(remote_name) label (before 2.15 its C(queue) label).
      type: str
      sample: thanos-receive
    url:
      description: The receiver URL of the queue (C(null) when the metrics do not say).
      type: str
      sample: http://thanos-receive:19291/api/v1/receive
    samples_per_second:
      description: Samples delivered to the receiver per second over the window (retried and failed attempts excluded).
      type: float
      sample: 210.5
    attempted_per_second:
      description: Samples sent per second, each retry counted again (C(samples_total)).
      type: float
      sample: 210.5
    failed_per_second:
      description: Samples failed for good (non-recoverable, 4xx) per second.
      type: float
      sample: 0.0
    retried_per_second:
      description: Samples retried (recoverable failures, 5xx, connection refused) per second.
      type: float
      sample: 0.0
    dropped_per_second:
      description: Samples dropped before sending (relabelling, unknown series) per second.
      type: float
      sample: 0.0
    dropped_error_per_second:
      description:
        - "Of those, the samples dropped on error per second: C(samples_dropped_total) with a C(reason) other than
          C(dropped_series) (too old, unknown series). C(null) when the agent gives no reason (Prometheus before 2.50)."
      type: float
      sample: 0.0
    dropped_relabel_per_second:
      description: Of those, the samples of series dropped by C(write_relabel_configs) per second (Prometheus 2.50 and later).
      type: float
      sample: 0.0
    histograms_failed_per_second:
      description: Native histograms the receiver refused for good (4xx) per second.
      type: float
      sample: 0.0
    exemplars_failed_per_second:
      description: Exemplars the receiver refused for good (4xx) per second.
      type: float
      sample: 0.0
    metadata_failed_per_second:
      description: Metadata the receiver refused for good (4xx) per second.
      type: float
      sample: 0.0
    bytes_per_second:
      description: Bytes sent per second (flat while the receiver is down).
      type: float
      sample: 4670.3
    enqueue_retries_per_second:
      description: Enqueue retries per second (the shards' queues were full, the WAL reader waits).
      type: float
      sample: 0.0
    success_ratio:
      description: Delivered / (delivered + failed) over the window; 0 when samples were only retried; C(null) without a window.
      type: float
      sample: 1.0
    pending_samples:
      description: Samples waiting in the shards' queues (C(queue_length) on versions before 2.10).
      type: int
      sample: 272
    shards:
      description: The queue's shards, C(current), C(min), C(max) and C(desired).
      type: dict
      sample: {current: 1, min: 1, max: 200, desired: 0.0006}
    capacity:
      description: Capacity of each shard's queue (C(shard_capacity), C(queue_capacity) before 2.4).
      type: int
      sample: 2500
    max_samples_per_send:
      description: Samples per request at most.
      type: int
      sample: 500
    send_latency_seconds:
      description: C(p99) and C(avg) of C(sent_batch_duration_seconds), over the window (C(basis=window)) or since the
        agent started (C(basis=since_start)).
      type: dict
      sample: {p99: 0.0095, avg: 0.0021, basis: window}
    lag_seconds:
      description: Newest timestamp appended (3.7+, in this queue) minus the newest timestamp sent.
      type: float
      sample: 0.0
    segments_behind:
      description: The WAL's current segment minus the segment this queue's WAL reader is at.
      type: int
      sample: 0
    window_seconds:
      description: Seconds the rates are over (C(null) without a baseline).
      type: float
      sample: 31.2
    window:
      description: The increases over the window (C(delivered), C(attempted), C(failed), C(retried), C(bytes), C(dropped), C(dropped_error)).
      type: dict
      returned: when there is a window
      sample: {delivered: 6315, attempted: 6315, failed: 0, retried: 0, bytes: 140110, dropped: 0, dropped_error: null}
    since_start:
      description: The cumulative figures since the agent started (dropped ones by reason, the other families' failures), and their success ratio.
      type: dict
      returned: with I(source=metrics)
      sample: {delivered: 10500, attempted: 10500, failed: 0, retried: 0, dropped: 0, bytes: 233841, success_ratio: 1.0}
    notes:
      description: What to know about these figures (a restart between the readings, nothing sent yet...).
      type: list
      elements: str
      returned: when there is something to say
      sample: ["the agent restarted between the readings: counters counted from 0"]
totals:
  description:
    - The figures of every pod's queues added up, the agent's whole remote write. Each C(*_per_second) rate and
      C(pending_samples) summed over the queues that have it (C(null) when none has), C(lag_seconds) the worst,
      C(success_ratio) that of the samples summed over the window, C(queues) how many.
  returned: for several pods
  type: dict
  sample: {queues: 4, samples_per_second: 842.1, attempted_per_second: 842.1, failed_per_second: 0.0,
           retried_per_second: 0.0, dropped_per_second: 0.0, dropped_error_per_second: null, bytes_per_second: 18660.4,
           enqueue_retries_per_second: 0.0, pending_samples: 1088, lag_seconds: 0.0, success_ratio: 1.0}
pods:
  description: One entry per pod of the selector, in the order listed.
  returned: for several pods
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
      description: Why this pod's C(/metrics) could not be read (null when it was).
      type: str
    queues:
      description: How many remote-write queues this pod has.
      type: int
    samples_per_second:
      description: The samples this pod delivered per second (its queues summed; null without a window).
      type: float
    checks:
      description: This pod's own checks.
      type: list
      elements: dict
  sample: [{"name": "prom-agent-lab-1-0", "shard": "0", "status": "ok", "reason": null, "queues": 1,
            "samples_per_second": 210.5, "checks": []}]
pod_count:
  description: How many pods were read (the length of C(pods)).
  returned: for several pods
  type: int
  sample: 4
snapshot:
  description:
    - The raw counters and gauges with the time they were read; pass it as I(baseline) to a later call.
    - For several pods C({version, time, source, pods}), C(pods) the reading of each pod that could be read, by name.
  returned: when the metrics were read
  type: dict
  sample: {version: 1, time: 1795503183.0, source: metrics, start_time: 1795503108.72, queues: {}}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils import runners
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.args_common import common_argument_spec, run_and_exit


def argument_spec():
    """The shared options and this module's own (also the action plugin's)."""
    return common_argument_spec(
        baseline=dict(type='raw'),
        interval=dict(type='float', default=0),
        source=dict(type='str', choices=['metrics', 'query'], default='metrics'),
        query_url=dict(type='str'),
        query_bearer_token=dict(type='str', no_log=True),
        query_validate_certs=dict(type='bool', default=True),
        window=dict(type='str', default='5m'),
        cluster=dict(type='str'),
        cluster_label=dict(type='str', default='cluster'),
        query_selector=dict(type='str'),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_and_exit(module, 'remote_write_stats', runners.run_module)


if __name__ == '__main__':
    main()
