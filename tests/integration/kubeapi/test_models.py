"""Every response shape the lab serves, deserialized into the ``kubernetes`` client's typed models.

A field we send that the model does not know (a misspelling, a wrong nesting) is lost on the way
through ``ApiClient.deserialize``; comparing ``sanitize_for_serialization`` of the model with our
JSON finds it.
"""

from __future__ import annotations

import datetime
import json
import ssl
import urllib.error
import urllib.request

import pytest
from kubernetes.client import ApiClient

pytestmark = pytest.mark.lab


def _raw(kube, cluster, path, token=None):
    info = kube.state["clusters"][cluster]
    ctx = ssl.create_default_context(cafile=kube.state["api"]["ca_cert"])
    req = urllib.request.Request(info["server"] + path, headers={"Authorization": "Bearer %s" % (token or info["token"]), "Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _norm(value):
    if isinstance(value, str) and len(value) >= 20 and value[4:5] == "-" and value[10:11] == "T":
        try:
            return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return value
    return value


def lost_fields(ours, theirs, path=""):
    """Paths of the values in ``ours`` that ``theirs`` lacks or changed."""
    lost = []
    if isinstance(ours, dict):
        if not isinstance(theirs, dict):
            return [path or "/"]
        for key, value in ours.items():
            if value is None:
                continue
            if key not in theirs:
                lost.append("%s/%s" % (path, key))
            else:
                lost.extend(lost_fields(value, theirs[key], "%s/%s" % (path, key)))
    elif isinstance(ours, list):
        if not isinstance(theirs, list) or len(ours) != len(theirs):
            return [path]
        for i, (mine, other) in enumerate(zip(ours, theirs)):
            lost.extend(lost_fields(mine, other, "%s[%d]" % (path, i)))
    elif _norm(ours) != _norm(theirs):
        lost.append("%s (%r != %r)" % (path, ours, theirs))
    return lost


def check_model(text, klass):
    """Deserialize ``text`` into ``klass`` and return the fields lost."""
    api = ApiClient()
    model = api.deserialize(text, klass, "application/json")
    return lost_fields(json.loads(text), api.sanitize_for_serialization(model))


SHAPES = [
    ("/version", "VersionInfo"),
    ("/api", "V1APIVersions"),
    ("/apis", "V1APIGroupList"),
    ("/apis/apps", "V1APIGroup"),
    ("/api/v1", "V1APIResourceList"),
    ("/apis/apps/v1", "V1APIResourceList"),
    ("/apis/monitoring.coreos.com/v1alpha1", "V1APIResourceList"),
    ("/api/v1/namespaces/monitoring/pods", "V1PodList"),
    ("/api/v1/namespaces/monitoring/pods/{pod}", "V1Pod"),
    ("/api/v1/pods", "V1PodList"),
    ("/api/v1/namespaces/thanos/pods/thanos-receive-0", "V1Pod"),
    ("/apis/apps/v1/namespaces/monitoring/statefulsets", "V1StatefulSetList"),
    ("/apis/apps/v1/namespaces/monitoring/statefulsets/{sts}", "V1StatefulSet"),
    ("/apis/apps/v1/namespaces/thanos/statefulsets/thanos-receive", "V1StatefulSet"),
    ("/apis/apps/v1/namespaces/monitoring/statefulsets/{sts}/scale", "V1Scale"),
    ("/api/v1/namespaces/monitoring/persistentvolumeclaims", "V1PersistentVolumeClaimList"),
    ("/api/v1/nodes", "V1NodeList"),
    ("/api/v1/nodes/lab-node-1", "V1Node"),
    ("/api/v1/namespaces", "V1NamespaceList"),
    ("/api/v1/namespaces/monitoring", "V1Namespace"),
    ("/apis/coordination.k8s.io/v1/namespaces/monitoring/leases", "V1LeaseList"),
    ("/api/v1/namespaces/monitoring/pods/nope-0", "V1Status"),
]


@pytest.mark.parametrize("path,klass", SHAPES, ids=[s[0] for s in SHAPES])
def test_shape_matches_model(kube, cluster, path, klass):
    info = kube.state["clusters"][cluster]
    if "thanos" in path and not kube.state.get("receiver"):
        pytest.skip("no receiver in this lab")
    code, text = _raw(kube, cluster, path.format(pod=info["pod"], sts=info["statefulset"]))
    assert code == (404 if klass == "V1Status" else 200), text
    assert check_model(text, klass) == []


def test_status_401_shape(kube, cluster):
    code, text = _raw(kube, cluster, "/api/v1/namespaces/monitoring/pods", token="wrong")
    assert code == 401
    assert check_model(text, "V1Status") == []
    assert json.loads(text) == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "Unauthorized",
                                "reason": "Unauthorized", "code": 401}


def test_pod_with_restarts_and_lease_shapes(kube, cluster):
    """A created Lease and a synthetic pod with lastState (when the lab has synthetic clusters)."""
    info = kube.state["clusters"][cluster]
    client = kube.api_client(cluster)
    from kubernetes import client as k8s  # pylint: disable=import-outside-toplevel
    coord = k8s.CoordinationV1Api(client)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    coord.create_namespaced_lease("monitoring", k8s.V1Lease(metadata=k8s.V1ObjectMeta(name="shape-test"), spec=k8s.V1LeaseSpec(
        holder_identity="me", lease_duration_seconds=30, acquire_time=now, renew_time=now, lease_transitions=0)))
    try:
        code, text = _raw(kube, cluster, "/apis/coordination.k8s.io/v1/namespaces/monitoring/leases/shape-test")
        assert code == 200
        assert check_model(text, "V1Lease") == []
    finally:
        coord.delete_namespaced_lease("shape-test", "monitoring")
    for name in kube.synthetic_clusters[:10]:
        syn = kube.state["clusters"][name]
        code, text = _raw(kube, name, "/api/v1/namespaces/monitoring/pods/%s" % syn["pod"])
        assert code == 200
        assert check_model(text, "V1Pod") == []
    assert info["pod"]
