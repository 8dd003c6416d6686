"""The prometheus-operator's custom resources (``monitoring.coreos.com``): PrometheusAgent, run
through the operator loop, PrometheusRule, stored, and ServiceMonitor / PodMonitor / Probe /
ScrapeConfig, stored and rendered into the agents' scrape jobs (``monitors``). No strategic merge
patch (415), as for any custom resource; DELETE answers with the object, not a Status."""

from __future__ import annotations

from .kinds import Kind
from .monitors import Monitors


class PrometheusAgents(Kind):
    """A spec change goes to the operator (``ClusterModel.patch_agent_cr``: new generation,
    ``AgentRuntime.apply_spec``, a rollout when the resources changed)."""

    def save(self, model, res, old, new, expect_rv):
        return model.patch_agent_cr(new)


KINDS = {
    ("monitoring.coreos.com", "prometheusagents"): PrometheusAgents(),
    ("monitoring.coreos.com", "prometheusrules"): Kind(create_on_put=True, collection_delete=True),
    ("monitoring.coreos.com", "servicemonitors"): Monitors(),
    ("monitoring.coreos.com", "podmonitors"): Monitors(),
    ("monitoring.coreos.com", "probes"): Monitors(),
    ("monitoring.coreos.com", "scrapeconfigs"): Monitors(),
}
