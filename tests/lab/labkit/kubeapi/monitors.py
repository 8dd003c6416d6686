"""The prometheus-operator's ServiceMonitor, PodMonitor, Probe (``monitoring.coreos.com/v1``) and
ScrapeConfig (``monitoring.coreos.com/v1alpha1``) and what the operator makes of them: the scrape
jobs of the agents whose PrometheusAgent selects them.

The operator's rules, as in prometheus-operator: ``serviceMonitorSelector`` /
``podMonitorSelector`` / ``probeSelector`` / ``scrapeConfigSelector`` nil selects no monitor,
``{}`` every monitor; the ``*NamespaceSelector`` nil means the agent's own namespace, ``{}``
every namespace. A selected monitor becomes one job per endpoint, named
``serviceMonitor/<ns>/<name>/<index>`` or ``podMonitor/<ns>/<name>/<index>`` (the scrape pool of
/api/v1/targets); its targets are the lab's endpoints (the node-exporter Service, the agent pods)
that its ``selector``, ``namespaceSelector`` and port name match; a monitor that matches nothing
is a job with no targets. A monitor whose endpoint names no port (``port``, or ``targetPort`` for
a ServiceMonitor) is rejected: it gets no job and a ``status.bindings`` condition
``Accepted=False`` (reason ``InvalidConfiguration``), as the operator's status subresource says.

A selected Probe is the one job ``probe/<ns>/<name>`` (promcfg.go's ``generateProbeConfig``): its
``targets.staticConfig.static`` are the targets, each scraped through the prober
(``__address__`` -> ``__param_target`` -> ``instance``, then ``__address__`` = ``spec.prober.url``,
``metrics_path`` = ``spec.prober.path``, default ``/probe``, ``params.module``); an ``ingress``
target finds nothing (the lab has no Ingress): a job without targets. A Probe with neither, or
without ``prober.url``, is rejected. A selected ScrapeConfig is the one job
``scrapeConfig/<ns>/<name>`` (``generateScrapeConfig``) with its ``staticConfigs`` as
``static_configs``; its service discovery configs find nothing in the lab.
"""

from __future__ import annotations

import copy
import threading

from .kinds import Kind
from .util import rfc3339, stable_uid

NODE_EXPORTER_LABELS = {"app.kubernetes.io/name": "node-exporter", "app.kubernetes.io/part-of": "fleetops-lab"}
MONITOR_LABELS = {"app.kubernetes.io/part-of": "fleetops-lab"}
# one resync at a time (not the model's lock: a reload takes a while)
RESYNC_LOCK = threading.Lock()
# resource -> (kind, job name prefix = the PrometheusAgent's selector field prefix, the endpoints field: a
# job per endpoint; None: the monitor is one job)
KINDS_OF = {"servicemonitors": ("ServiceMonitor", "serviceMonitor", "endpoints"),
            "podmonitors": ("PodMonitor", "podMonitor", "podMetricsEndpoints"),
            "probes": ("Probe", "probe", None),
            "scrapeconfigs": ("ScrapeConfig", "scrapeConfig", None)}
SPEC_FIELDS = ("serviceMonitorSelector", "serviceMonitorNamespaceSelector", "podMonitorSelector", "podMonitorNamespaceSelector",
               "probeSelector", "probeNamespaceSelector", "scrapeConfigSelector", "scrapeConfigNamespaceSelector")


def selects(selector, labels):
    """True when a LabelSelector (matchLabels, matchExpressions) matches ``labels``; None matches nothing."""
    if selector is None:
        return False
    labels = labels or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _namespace_ok(model, selector, namespace, own):
    if selector is None:
        return namespace == own
    ns = model.store.get("namespaces", "", namespace)
    return selects(selector, ((ns or {}).get("metadata") or {}).get("labels") or {"kubernetes.io/metadata.name": namespace})


def default_monitors(model):
    """The lab's monitors: ServiceMonitor monitoring/node-exporter (the node-exporter Service) and
    PodMonitor monitoring/prometheus-agent (the agent pods' ``web`` port). Each keeps one metric
    (metricRelabelings) so that selecting them adds few series."""
    created = rfc3339()
    agent_name = model.agent.names["selector"].get("app.kubernetes.io/name", "prometheus-agent")
    common = {"namespace": "monitoring", "labels": dict(MONITOR_LABELS), "generation": 1, "creationTimestamp": created}
    return [
        ("servicemonitors", {
            "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
            "metadata": dict(common, name="node-exporter", uid=stable_uid(model.name, "servicemonitor", "node-exporter")),
            "spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": "node-exporter"}},
                     "endpoints": [{"port": "metrics", "metricRelabelings": [
                         {"action": "keep", "sourceLabels": ["__name__"], "regex": "node_uname_info"}]}]}}),
        ("podmonitors", {
            "apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
            "metadata": dict(common, name="prometheus-agent", uid=stable_uid(model.name, "podmonitor", "prometheus-agent")),
            "spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": agent_name}},
                     "podMetricsEndpoints": [{"port": "web", "metricRelabelings": [
                         {"action": "keep", "sourceLabels": ["__name__"], "regex": "prometheus_build_info"}]}]}}),
    ]


def lab_endpoints(model):
    """What a monitor can find: (kind 'service' | 'pod', namespace, name, labels, {port name: address})."""
    found = []
    exporter = getattr(getattr(model.supervisor, "node_exporter", None), "port", None)
    if exporter:
        found.append(("service", "monitoring", "node-exporter", dict(NODE_EXPORTER_LABELS), {"metrics": "127.0.0.1:%d" % exporter}))
    for work in model.agents:
        proc = work.proc
        port = getattr(proc, "port", None)
        if port:
            found.append(("pod", work.names["namespace"], work.names["pod"], dict(getattr(proc, "pod_labels", None) or work.names["selector"]),
                          {"web": "127.0.0.1:%d" % port}))
    return found


def rejection(resource, monitor):
    """Why the operator rejects a monitor (None: accepted)."""
    kind, _prefix, field = KINDS_OF[resource]
    mspec = monitor.get("spec") or {}
    if resource == "probes":
        targets = mspec.get("targets") or {}
        if targets.get("staticConfig") is None and targets.get("ingress") is None:
            return "Probe %s: spec.targets needs a staticConfig or an ingress" % monitor["metadata"]["name"]
        if not (mspec.get("prober") or {}).get("url"):
            return "Probe %s: spec.prober.url is required" % monitor["metadata"]["name"]
        return None
    if field is None:
        return None
    for index, endpoint in enumerate((monitor.get("spec") or {}).get(field) or []):
        if not endpoint.get("port") and not (resource == "servicemonitors" and endpoint.get("targetPort")):
            return "%s %s: %s[%d] names no port" % (kind, monitor["metadata"]["name"], field, index)
    return None


def _relabel(items):
    out = []
    for item in items or []:
        entry = {}
        for key, value in item.items():
            entry[{"sourceLabels": "source_labels", "targetLabel": "target_label"}.get(key, key)] = value
        out.append(entry)
    return out


def _with_spec_fields(job, mspec, fields):
    """``job`` with each (spec field, job key) of ``fields`` that the spec sets (not empty) copied over."""
    for field, key in fields:
        if mspec.get(field) not in (None, ""):
            job[key] = mspec[field]
    return job


def _with_relabelings(job, mspec, relabel):
    """``job`` with its relabel_configs (``relabel``, if any) and the spec's metricRelabelings."""
    if relabel:
        job["relabel_configs"] = relabel
    if mspec.get("metricRelabelings"):
        job["metric_relabel_configs"] = _relabel(mspec["metricRelabelings"])
    return job


def probe_job(probe):
    """The job of a Probe, as promcfg.go's generateProbeConfig writes it (static targets only)."""
    meta, mspec = probe["metadata"], probe.get("spec") or {}
    prober = mspec.get("prober") or {}
    job = _with_spec_fields({"job_name": "probe/%s/%s" % (meta.get("namespace"), meta["name"]), "honor_timestamps": True,
                             "metrics_path": prober.get("path") or "/probe"},
                            mspec, (("interval", "scrape_interval"), ("scrapeTimeout", "scrape_timeout")))
    if prober.get("scheme"):
        job["scheme"] = prober["scheme"]
    if mspec.get("module"):
        job["params"] = {"module": [mspec["module"]]}
    relabel = [{"target_label": "job", "replacement": mspec["jobName"]}] if mspec.get("jobName") else []
    static = (mspec.get("targets") or {}).get("staticConfig")
    if static is not None:
        if static.get("static"):
            labels = dict(static.get("labels") or {})
            labels.setdefault("namespace", meta.get("namespace"))
            job["static_configs"] = [{"targets": list(static["static"]), "labels": labels}]
        relabel += [{"source_labels": ["__address__"], "target_label": "__param_target"},
                    {"source_labels": ["__param_target"], "target_label": "instance"},
                    {"target_label": "__address__", "replacement": prober.get("url")}]
        relabel += _relabel(static.get("relabelingConfigs"))
    return _with_relabelings(job, mspec, relabel)


def scrape_config_job(scrape_config):
    """The job of a ScrapeConfig, as promcfg.go's generateScrapeConfig writes it (staticConfigs only)."""
    meta, mspec = scrape_config["metadata"], scrape_config.get("spec") or {}
    job = _with_spec_fields({"job_name": "scrapeConfig/%s/%s" % (meta.get("namespace"), meta["name"])}, mspec,
                            (("honorTimestamps", "honor_timestamps"), ("honorLabels", "honor_labels"), ("metricsPath", "metrics_path"),
                             ("params", "params"), ("scrapeInterval", "scrape_interval"), ("scrapeTimeout", "scrape_timeout")))
    if mspec.get("scheme"):
        job["scheme"] = str(mspec["scheme"]).lower()
    groups = [{"targets": list(c.get("targets") or []), "labels": dict(c.get("labels") or {})}
              for c in mspec.get("staticConfigs") or [] if c.get("targets")]
    if groups:
        job["static_configs"] = groups
    relabel = [{"target_label": "job", "action": "replace", "replacement": mspec["jobName"]}] if mspec.get("jobName") else []
    return _with_relabelings(job, mspec, relabel + _relabel(mspec.get("relabelings")))


def monitor_jobs(model, spec, namespace):
    """The scrape jobs of the monitors that a PrometheusAgent ``spec`` in ``namespace`` selects."""
    jobs = []
    points = lab_endpoints(model)
    for resource, (_kind, prefix, field) in KINDS_OF.items():
        selector = spec.get(prefix + "Selector")
        ns_selector = spec.get(prefix + "NamespaceSelector")
        if selector is None:
            continue
        monitors = sorted(model.store.list(resource, None), key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        for mon in monitors:
            meta = mon["metadata"]
            if not selects(selector, meta.get("labels") or {}) or not _namespace_ok(model, ns_selector, meta.get("namespace"), namespace):
                continue
            if rejection(resource, mon):
                continue
            if resource == "probes":
                jobs.append(probe_job(mon))
                continue
            if resource == "scrapeconfigs":
                jobs.append(scrape_config_job(mon))
                continue
            mspec = mon.get("spec") or {}
            where = mspec.get("namespaceSelector") or {}
            kind = "service" if resource == "servicemonitors" else "pod"
            for index, endpoint in enumerate(mspec.get(field) or []):
                port = endpoint.get("port") or endpoint.get("targetPort")
                targets = []
                for pkind, pns, _pname, plabels, ports in points:
                    if pkind != kind or not selects(mspec.get("selector") or {}, plabels):
                        continue
                    if not where.get("any") and pns not in (where.get("matchNames") or [meta.get("namespace")]):
                        continue
                    if str(port) in ports:
                        targets.append(ports[str(port)])
                job = _with_spec_fields({"job_name": "%s/%s/%s/%d" % (prefix, meta.get("namespace"), meta["name"], index)},
                                        endpoint, (("interval", "scrape_interval"), ("path", "metrics_path")))
                if targets:
                    # the job label is the Service's (or the monitor's) name, as with the operator's relabelling
                    job["static_configs"] = [{"targets": sorted(set(targets)), "labels": {"job": meta["name"]}}]
                jobs.append(_with_relabelings(job, endpoint, []))
    return jobs


def monitor_status(model, resource, monitor):
    """``status.bindings``: one per PrometheusAgent that selects the monitor, Accepted True/False."""
    why = rejection(resource, monitor)
    bindings = []
    base = KINDS_OF[resource][1]
    for cr_name in model.cr_names:
        cr = model.store.get("prometheusagents", model.names["namespace"], cr_name)
        spec = (cr or {}).get("spec") or {}
        meta = monitor["metadata"]
        if not selects(spec.get(base + "Selector"), meta.get("labels") or {}):
            continue
        if not _namespace_ok(model, spec.get(base + "NamespaceSelector"), meta.get("namespace"), model.names["namespace"]):
            continue
        bindings.append({"group": "monitoring.coreos.com", "resource": "prometheusagents", "name": cr_name,
                         "namespace": model.names["namespace"], "conditions": [{
                             "type": "Accepted", "status": "False" if why else "True", "reason": "InvalidConfiguration" if why else "",
                             "message": why or "", "observedGeneration": int(meta.get("generation", 1)),
                             "lastTransitionTime": rfc3339()}]})
    return {"bindings": bindings} if bindings else {}


def resync(model):
    """The operator after a monitor or selector change: every agent's jobs, reloaded where they
    changed, and every monitor's status (in a thread: the API answers first)."""
    def work():
        with RESYNC_LOCK:
            for cr_name in model.cr_names:
                spec = model.agent_spec(cr_name)
                jobs = monitor_jobs(model, spec, model.names["namespace"])
                for one in model.agent_workloads(cr_name):
                    setter = getattr(one.proc, "set_monitor_jobs", None)
                    if setter is not None:
                        setter(jobs)
            for resource in KINDS_OF:
                for mon in model.store.list(resource, None):
                    status = monitor_status(model, resource, mon)
                    if (mon.get("status") or {}) != status:
                        mon = copy.deepcopy(mon)
                        if status:
                            mon["status"] = status
                        else:
                            mon.pop("status", None)
                        model.store.put(resource, mon)
    threading.Thread(target=work, name="monitors-%s" % model.name, daemon=True).start()


class Monitors(Kind):
    """ServiceMonitor, PodMonitor, Probe, ScrapeConfig: stored as clients write them; every change runs the operator (``resync``)."""

    def __init__(self):
        super().__init__(create_on_put=True, collection_delete=True)

    def create(self, h, model, res, namespace):
        super().create(h, model, res, namespace)
        if not h.qget("dryRun"):
            resync(model)

    def save(self, model, res, old, new, expect_rv):
        stored = super().save(model, res, old, new, expect_rv)
        if old.get("spec") != new.get("spec") or (old["metadata"].get("labels") != new["metadata"].get("labels")):
            resync(model)
        return stored

    def remove(self, h, model, res, namespace, name, old):  # pylint: disable=too-many-arguments,too-many-positional-arguments
        super().remove(h, model, res, namespace, name, old)
        resync(model)
