#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pods, health, version, mode, memory, CPU, config reload, targets and ingest of a Prometheus agent (read-only)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: agent_status
short_description: State of a Prometheus agent (pods, health, version, memory, config reload, targets, ingest)
version_added: 0.1.0
author:
  - fleetops maintainers (@fleetops)
description:
  - Reads the agent's pods from the Kubernetes API (phase, readiness, restarts, last termination, requests and limits), and
    through the pod proxy (or directly at I(url)) its C(/-/healthy), C(/-/ready), C(/metrics), C(/api/v1/status/buildinfo),
    C(/api/v1/status/flags) and C(/api/v1/targets).
  - Returns the checks C(POD), C(RESTARTS), C(HEALTH), C(MEMORY), C(INGEST), C(CONFIG) and C(TARGETS). With I(url) (no
    Kubernetes) there is no pod, so C(POD) and C(RESTARTS) are not returned.
  - Rates (samples appended per second, CPU cores) need two readings; pass the C(snapshot) of an earlier call as I(baseline),
    or set I(interval). Without them C(INGEST) is judged from the scrape targets (an up target scraped in the last three
    intervals while samples were appended) and CPU comes from metrics.k8s.io when the cluster serves it.
  - C(RESTARTS) counts restarts in the last 24 hours; without a I(baseline) it takes the container's restart count when the pod
    is younger than 24 hours or its last termination finished in the last 24 hours.
  - An unreachable cluster (API errors, timeouts, rejected credentials) or, with I(url), an unreachable agent gives
    C(status=unknown) with the reason, not a failed task. When the cluster answers but the agent in the pod does not,
    C(HEALTH) is C(critical) and C(POD) tells why.
extends_documentation_fragment:
  - fleetops.prometheus_agent.connection
  - fleetops.prometheus_agent.agent
  - fleetops.prometheus_agent.attributes
options:
  baseline:
    description:
      - The C(snapshot) of an earlier call for the same agent (or that whole result); rates are over the time between them,
        and C(RESTARTS) counts the restarts since then.
    type: raw
  interval:
    description:
      - When above 0 and no I(baseline) is given, read the agent, wait this many seconds and read it again (for the rates).
    type: float
    default: 0
notes:
  - Thresholds (I(thresholds)) used here are C(pod_events_recent_seconds), C(restarts_warning), C(restarts_critical),
    C(memory_warning) (bytes),
    C(memory_critical_ratio) (of the container limit) and C(ingest_critical) (samples per second).
'''

EXAMPLES = r'''
- name: State of the agent of one cluster
  fleetops.prometheus_agent.agent_status:
    kubeconfig: ~/.kube/fleet.yml
    context: prod-eu-1
    namespace: monitoring
    label_selector: app.kubernetes.io/name=prometheus-agent
  register: agent

- name: An agent on a VM
  fleetops.prometheus_agent.agent_status:
    url: http://10.0.0.5:9090
    thresholds:
      memory_warning: 1073741824

- name: Ingest rate and CPU over the play
  fleetops.prometheus_agent.agent_status:
    context: prod-eu-1
    baseline: "{{ agent.snapshot }}"

- name: Show the down targets
  ansible.builtin.debug:
    msg: "{{ agent.targets.down_targets | map(attribute='last_error') | list }}"
  when: agent.targets and agent.targets.down
'''

RETURN = r'''
status:
  description: The worst status of C(checks); C(unknown) when the cluster or agent could not be reached.
  returned: always
  type: str
  sample: ok
reason:
  description: Why the status is C(unknown).
  returned: when the cluster (or, with I(url), the agent) could not be reached
  type: str
  sample: "cluster lab-2: API server https://127.0.0.1:6443: token rejected (401): Unauthorized"
target:
  description: What was read (cluster and pod, or URL; no secrets).
  returned: always
  type: str
  sample: cluster lab-1 pod monitoring/prom-agent-lab-1-0
via:
  description:
    - How the agent was reached, C(kubernetes) (its pod through the API) or C(url) (directly; no pod, so no C(POD) and
      C(RESTARTS) checks).
  returned: always
  type: str
  sample: kubernetes
checks:
  description: The checks C(POD), C(RESTARTS), C(HEALTH), C(MEMORY), C(INGEST), C(CONFIG), C(TARGETS).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Check id of the catalog.
      type: str
      sample: MEMORY
    status:
      description: C(ok), C(warning), C(critical) or C(unknown).
      type: str
      sample: ok
    value:
      description: The measured value.
      type: raw
      sample: 53788672
    threshold:
      description: The thresholds applied.
      type: raw
      sample: {warning: 419430400, critical: "over 0.9 of the limit or OOMKilled"}
    message:
      description: One sentence to act on.
      type: str
      sample: "resident memory 51Mi of a 512Mi limit"
pods:
  description: >-
    Every agent pod the selector (or C(pod)) matches (Kubernetes only), each with C(shard) (its
    C(operator.prometheus.io/shard) label, C(null) without one), C(agent) (the PrometheusAgent or Prometheus resource it
    belongs to: its C(operator.prometheus.io/name) label, else its owner StatefulSet/DaemonSet name less C(prom-agent-) and
    C(-shard-N); C(null) when neither tells; pods of more than one agent make POD a warning naming them) and C(health) (C(healthy), C(ready) and C(error) of its
    /-/healthy and /-/ready read through its own pod proxy, a few pods at a time). With more than one pod, each also has
    C(memory_bytes) and C(config_reload_ok) from its own /metrics (C(metrics_error) when that page could not be read).
    POD, HEALTH, MEMORY and CONFIG judge every pod and name the bad ones (C(1 of 4 pods: ...)); the other figures are
    read from the first ready pod (C(agent.pod)).
  returned: always
  type: list
  elements: dict
  sample:
    - name: prom-agent-lab-1-0
      uid: 9d5c...
      shard: '0'
      agent: lab-1
      health: {healthy: true, ready: true, error: null}
      node: lab-node-1
      phase: Running
      ready: true
      container_ready: true
      restarts: 0
      age_seconds: 3600
      last_termination_reason: null
      last_termination_exit_code: null
      last_termination_at: null
      waiting_reason: null
      state: running
      terminating: false
      requests: {cpu: 100m, memory: 256Mi}
      limits: {memory: 512Mi}
      containers: [{name: prometheus, ready: true, restarts: 0, waiting_reason: null}]
agent:
  description: >-
    The agent: C(healthy), C(ready), C(version) and C(revision) (build info), C(mode) (C(agent) or C(server), from the flags),
    C(uptime_seconds) and C(start_time), C(memory_bytes) (resident), C(memory_limit_bytes) (the pod's limit), C(cpu_cores)
    (rate with a baseline, else metrics.k8s.io), C(config_reload_ok), C(config_last_reload_success_time), C(storage_path),
    C(pod). C(null) when the agent does not answer.
  returned: always
  type: dict
  sample: {healthy: true, ready: true, version: 2.42.0+ds, mode: agent, uptime_seconds: 3600, memory_bytes: 53788672,
           memory_limit_bytes: 536870912, cpu_cores: 0.012, config_reload_ok: true, pod: prom-agent-lab-1-0}
targets:
  description: >-
    Scrape targets from /api/v1/targets, C(total), C(up), C(down), C(jobs) ({job, {up, down, unknown}}), C(down_targets)
    (C(job), C(instance), C(scrape_url), C(last_error), C(last_scrape)), C(dropped), C(freshest_scrape_intervals_ago).
  returned: always (C(null) when not read)
  type: dict
  sample: {total: 2, up: 2, down: 0, jobs: {node: {up: 1, down: 0, unknown: 0}}, down_targets: []}
monitors:
  description: >-
    The ServiceMonitors, PodMonitors, Probes and ScrapeConfigs the agent's PrometheusAgent (or Prometheus) selects, for
    MONITORS (the weekly evaluation): its C(serviceMonitorSelector) / C(podMonitorSelector) / C(probeSelector) /
    C(scrapeConfigSelector) (nil selects none, C({}) every one) and their namespace selectors (nil: the agent's namespace,
    C({}) every namespace). C(resource) (C(PrometheusAgent ns/name)), C(served) (false when the cluster serves no such
    resource type), C(note) (when the resource has no monitor selector) and C(selected), one entry per monitor: C(kind),
    C(namespace), C(name), C(pools) (its scrape pools, C(serviceMonitor/<ns>/<name>/<endpoint index>) or
    C(podMonitor/...), the one C(probe/<ns>/<name>) of a Probe, C(scrapeConfig/<ns>/<name>) of a ScrapeConfig
    (C(monitoring.coreos.com/v1alpha1))), C(active), C(up), C(down) (its active targets in
    /api/v1/targets), C(state) (C(ok), C(down) every target down, C(none) no active target, C(rejected) its
    C(status.bindings) condition C(Accepted=False) for this agent) and C(reason). C({error}) when the resource or the
    monitors could not be read. One LIST per monitor kind (the agent's namespace, or all namespaces), and the namespaces when
    a namespace selector has labels.
  returned: through Kubernetes, when the agent's /api/v1/targets was read
  type: dict
  sample: {resource: PrometheusAgent monitoring/main, served: true, selected: [{kind: ServiceMonitor, namespace: monitoring,
           name: node-exporter, pools: [serviceMonitor/monitoring/node-exporter/0], active: 1, up: 1, down: 0, state: ok,
           reason: 1 of 1 targets up}]}
ingest:
  description: >-
    C(samples_appended_total), C(samples_appended_per_second) (with a baseline), C(active_series),
    C(out_of_order_samples_total), C(window_seconds).
  returned: always (C(null) when not read)
  type: dict
  sample: {samples_appended_total: 10772, samples_appended_per_second: 154.2, active_series: 772, out_of_order_samples_total: 0}
wal:
  description: >-
    The WAL failure and corruption counters of the agent's metrics, for WAL-HEALTH (the daily evaluation):
    C(counters) (totals since the process started: C(writes_failed_total) from C(prometheus_tsdb_wal_writes_failed_total),
    C(truncations_failed_total), C(checkpoint_creations_failed_total), C(checkpoint_deletions_failed_total),
    C(corruptions_total), C(reader_corruption_errors_total); C(null) when the page lacks the metric), C(increase) (since
    the I(baseline) of the same process, else since the agent started), C(basis) (which of the two) and
    C(window_seconds).
  returned: always (C(null) when the metrics were not read)
  type: dict
  sample: {counters: {writes_failed_total: 17, truncations_failed_total: 0}, increase: {writes_failed_total: 17,
           truncations_failed_total: 0}, basis: since the agent started, window_seconds: 3600.0}
events:
  description: >-
    The Warning events of the agent's pods (their current uid: a replaced pod's are left out) and of their StatefulSet or
    DaemonSet within the last 24 h, as C(kubectl describe) shows them, and the OOMKilling events of their nodes whose
    kernel message names the agent's process (C(Killed process 1234 (prometheus))); one entry per object and reason
    (counts added), newest first: C(reason), C(count), C(last_time), C(age_seconds), C(kind), C(object), C(message)
    (secrets scrubbed). Read with one LIST of the namespace's events (C(fieldSelector=type=Warning)) and one of the
    nodes' OOMKilling events (namespace C(default)). POD names the first three
    (C(events: BackOff x12 on prom-agent-lab-1-0 (last 3 min ago))); FailedScheduling, FailedMount, BackOff, Unhealthy,
    Evicted, OOMKilling or FailedCreate (Unhealthy counted 3 times) last seen within C(pod_events_recent_seconds) (15 min) make it at
    least a warning.
  returned: Kubernetes (C(null) when the events could not be read, see C(events_error))
  type: list
  elements: dict
  sample:
    - {reason: BackOff, count: 12, last_time: '2026-12-04T18:39:14Z', age_seconds: 180, kind: Pod, object: prom-agent-lab-1-0,
       message: Back-off restarting failed container prometheus in pod prom-agent-lab-1-0_monitoring(af4c...)}
events_error:
  description: >-
    Why the events were not read (a 403 of RBAC, an API error); the audit goes on without them and POD's message
    omits them. C(node events not readable ...) when only the nodes' list (namespace C(default)) was refused: the pods'
    events are there.
  returned: when an events list was refused or failed
  type: str
  sample: "events not readable (403 Forbidden: this user may not list events in monitoring)"
snapshot:
  description: The counters with their time; pass it as I(baseline) to a later call.
  returned: when the cluster or agent was reached
  type: dict
  sample: {version: 1, time: 1795503183.0, samples_appended_total: 10772, cpu_seconds_total: 0.79, pods: {}}
agent_error:
  description: Why the agent in the pod could not be read although the cluster answered.
  returned: when the agent did not answer
  type: str
  sample: "cluster lab-1: the agent in pod monitoring/prom-agent-lab-1-0 does not answer on port 9090"
notes:
  description: Things worth knowing about the reading (a page that is not a metrics page...).
  returned: when there is something to say
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils import runners
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.args_common import common_argument_spec, run_and_exit


def argument_spec():
    """The shared options and this module's own (also the action plugin's)."""
    return common_argument_spec(
        baseline=dict(type='raw'),
        interval=dict(type='float', default=0),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_and_exit(module, 'agent_status', runners.run_module)


if __name__ == '__main__':
    main()
