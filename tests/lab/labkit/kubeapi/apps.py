"""The apps group (``/apis/apps/v1``): StatefulSets and DaemonSets, driven by the lab's controller
(``model.ClusterModel``: a template change replaces the pods one at a time)."""

from __future__ import annotations

from .kinds import Forbidden


class StatefulSets(Forbidden):
    """The workloads' StatefulSets: a template change is a new generation and a rollout (the
    controller in ``model.ClusterModel`` replaces the pod); the status comes from the pod."""

    def prepare(self, old, new):
        if new.get("spec") != old.get("spec"):
            new["metadata"]["generation"] = int(old["metadata"].get("generation", 1)) + 1
        new["status"] = old.get("status")
        return new

    def save(self, model, res, old, new, expect_rv):
        model.store.put(res.name, new, expect_rv=expect_rv)
        model.refresh(force=True)  # the controller sees the new template (a new updateRevision: the rollout starts)
        meta = new["metadata"]
        return model.store.get("statefulsets", meta.get("namespace", ""), meta["name"])

    def subresource(self, h, model, res, namespace, name, sub, parsed):  # pylint: disable=too-many-arguments,too-many-positional-arguments
        """statefulsets/scale (GET) and status."""
        if sub == ["scale"] and h.command == "GET":
            sts = self.find(h, model, res, namespace, name)
            h.send_json(200, {"kind": "Scale", "apiVersion": "autoscaling/v1",
                              "metadata": {k: sts["metadata"][k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")},
                              "spec": {"replicas": sts["spec"].get("replicas", 1)},
                              "status": {"replicas": (sts.get("status") or {}).get("replicas", 1), "selector": ",".join(
                                  "%s=%s" % kv for kv in sorted(sts["spec"]["selector"]["matchLabels"].items()))}})
            return
        super().subresource(h, model, res, namespace, name, sub, parsed)


class DaemonSets(StatefulSets):
    """The agents' DaemonSets (DaemonSet mode): one pod per node, status from the pods; no ``/scale``."""

    def subresource(self, h, model, res, namespace, name, sub, parsed):  # pylint: disable=too-many-arguments,too-many-positional-arguments
        Forbidden.subresource(self, h, model, res, namespace, name, sub, parsed)


KINDS = {("apps", "statefulsets"): StatefulSets(), ("apps", "daemonsets"): DaemonSets()}
