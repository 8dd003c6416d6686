"""Unit tests of the kubeconfig reader (plugins/module_utils/kube/kubeconfig.py), shared by
KubeTarget and the inventory plugin: one parse per file per process, contexts, reduction."""

from __future__ import annotations

import os

import pytest
import yaml

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core import errors
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.kube import kubeconfig

SECRET = "s3cr3t-token-do-not-print"


@pytest.fixture(autouse=True)
def _fresh_cache():
    kubeconfig.clear_cache()
    yield
    kubeconfig.clear_cache()


def _kubeconfig(tmp_path, contexts=3, name="kubeconfig"):
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "c0", "contexts": [], "clusters": [], "users": []}
    for i in range(contexts):
        ctx = "c%d" % i
        doc["contexts"].append({"name": ctx, "context": {"cluster": ctx, "user": ctx, "namespace": "ns%d" % i}})
        doc["clusters"].append({"name": ctx, "cluster": {"server": "https://127.0.0.1:1/clusters/" + ctx,
                                                         "certificate-authority": "ca.crt"}})
        doc["users"].append({"name": ctx, "user": {"token": SECRET + str(i), "client-key": "/abs/key.pem"}})
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc))
    (tmp_path / "ca.crt").write_text("not used here\n")
    return path


def test_reduced_to_one_context(tmp_path):
    path = _kubeconfig(tmp_path, contexts=50)
    reduced = kubeconfig.reduced(str(path), "c7")
    assert reduced["current-context"] == "c7"
    assert [c["name"] for c in reduced["contexts"]] == ["c7"]
    assert [c["name"] for c in reduced["clusters"]] == ["c7"]
    assert reduced["users"][0]["user"]["token"] == SECRET + "7"
    # relative files resolve against the kubeconfig's directory, as the client does; absolute stay
    assert reduced["clusters"][0]["cluster"]["certificate-authority"] == str(tmp_path / "ca.crt")
    assert reduced["users"][0]["user"]["client-key"] == "/abs/key.pem"
    assert kubeconfig.reduced(str(path), "missing") is None
    assert kubeconfig.reduced(str(path))["current-context"] == "c0"     # the file's current context


def test_reduced_is_a_copy(tmp_path):
    path = _kubeconfig(tmp_path)
    first = kubeconfig.reduced(str(path), "c1")
    first["users"][0]["user"]["token"] = "changed"
    first["contexts"][0]["context"]["namespace"] = "changed"
    again = kubeconfig.reduced(str(path), "c1")
    assert again["users"][0]["user"]["token"] == SECRET + "1"
    assert again["contexts"][0]["context"]["namespace"] == "ns1"


def test_contexts(tmp_path):
    path = _kubeconfig(tmp_path)
    found = kubeconfig.contexts(str(path))
    assert [c["name"] for c in found] == ["c0", "c1", "c2"]
    assert found[1] == {"name": "c1", "cluster": "c1", "namespace": "ns1", "server": "https://127.0.0.1:1/clusters/c1",
                        "user": "c1"}
    assert kubeconfig.current_context(str(path)) == "c0"


def test_odd_entries_are_skipped(tmp_path):
    path = tmp_path / "odd"
    path.write_text(yaml.safe_dump({"contexts": [None, "text", {"name": ""}, {"name": "bare"},
                                                 {"name": "x", "context": "not a mapping"}],
                                    "clusters": ["junk"]}))
    assert [(c["name"], c["cluster"], c["server"]) for c in kubeconfig.contexts(str(path))] == [
        ("bare", "bare", None), ("x", "x", None)]
    assert kubeconfig.reduced(str(path), "bare")["clusters"] == []


def test_parsed_once_per_file_version(tmp_path, monkeypatch):
    path = _kubeconfig(tmp_path)
    calls = []
    real = kubeconfig.yaml.load

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(kubeconfig.yaml, "load", counting)
    for context in ("c0", "c1", "c2", "c0"):
        kubeconfig.reduced(str(path), context)
    kubeconfig.contexts(str(path))
    assert len(calls) == 1
    sig = kubeconfig.signature(str(path))
    # a file rewritten meanwhile (a rotated token) is read again
    _kubeconfig(tmp_path, contexts=4)
    os.utime(path, ns=(sig[0] + 10 ** 9, sig[0] + 10 ** 9))
    assert [c["name"] for c in kubeconfig.contexts(str(path))][-1] == "c3"
    assert len(calls) == 2
    assert kubeconfig.signature(str(tmp_path / "nope")) is None


def test_unreadable_and_not_a_kubeconfig(tmp_path):
    with pytest.raises(errors.TargetConfigError, match="cannot read"):
        kubeconfig.load(str(tmp_path / "nope"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(errors.TargetConfigError, match="not a kubeconfig"):
        kubeconfig.contexts(str(bad))
    broken = tmp_path / "broken.yaml"
    broken.write_text("contexts: [\n")
    with pytest.raises(errors.TargetConfigError, match="cannot read"):
        kubeconfig.load(str(broken))
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert kubeconfig.contexts(str(empty)) == [] and kubeconfig.reduced(str(empty), "c0") is None
