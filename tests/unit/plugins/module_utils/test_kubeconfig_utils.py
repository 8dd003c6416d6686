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
def _fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FLEETOPS_CACHE_DIR", str(tmp_path / "cache"))
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
    real = kubeconfig._parse  # pylint: disable=protected-access

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(kubeconfig, "_parse", counting)
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


def _no_full_parse(monkeypatch):
    def refuse(path):
        raise AssertionError("the whole of %s was parsed" % path)
    monkeypatch.setattr(kubeconfig, "_parse", refuse)


def test_a_new_process_reads_one_context_through_the_offset_index(tmp_path, monkeypatch):
    """Each Ansible worker is a new process: after one full parse, the others read only their entries."""
    path = _kubeconfig(tmp_path, contexts=40)
    expected = {name: kubeconfig.reduced(str(path), name) for name in ("c0", "c17", "c39")}
    expected[None] = kubeconfig.reduced(str(path))
    index = list((tmp_path / "cache").iterdir())
    assert len(index) == 1 and oct((tmp_path / "cache").stat().st_mode & 0o777) == "0o700"
    # names and offsets only: no credential is copied into the cache
    assert SECRET not in index[0].read_text() and "127.0.0.1" not in index[0].read_text()
    kubeconfig.clear_cache()        # what a new worker process starts with
    _no_full_parse(monkeypatch)
    for name, reduced in expected.items():
        assert kubeconfig.reduced(str(path), name) == reduced, name
    assert kubeconfig.reduced(str(path), "missing") is None


def test_one_process_reads_the_index_and_the_text_once_for_many_contexts(tmp_path, monkeypatch):
    """fleet_gather's pool reads every context of one file in one process: the index and the text are
    read once for the file's version, not once per context (a fleet's total growing with its square)."""
    path = _kubeconfig(tmp_path, contexts=30)
    expected = {"c%d" % i: kubeconfig.reduced(str(path), "c%d" % i) for i in range(30)}
    kubeconfig.clear_cache()
    _no_full_parse(monkeypatch)
    reads = []
    index_path = kubeconfig._offsets_path  # pylint: disable=protected-access
    monkeypatch.setattr(kubeconfig, "_offsets_path", lambda p: reads.append(p) or index_path(p))
    for name, reduced in expected.items():
        assert kubeconfig.reduced(str(path), name) == reduced, name
    assert len(reads) == 1, reads
    # a rewritten file (a rotated token): its new version is read, never the kept text
    monkeypatch.undo()
    kubeconfig.clear_cache()
    kubeconfig.reduced(str(path), "c3")
    sig = kubeconfig.signature(str(path))
    path.write_text(path.read_text().replace(SECRET + "3", "rotated-token"))
    os.utime(path, ns=(sig[0] + 10 ** 9, sig[0] + 10 ** 9))
    assert kubeconfig.reduced(str(path), "c3")["users"][0]["user"]["token"] == "rotated-token"


def test_flow_style_kubeconfig_through_the_index(tmp_path, monkeypatch):
    """A kubeconfig written as JSON (flow style) is cut the same way."""
    doc = yaml.safe_load(_kubeconfig(tmp_path, contexts=5).read_text())
    path = tmp_path / "kubeconfig.json"
    path.write_text(__import__("json").dumps(doc, indent=1))
    expected = kubeconfig.reduced(str(path), "c3")
    kubeconfig.clear_cache()
    _no_full_parse(monkeypatch)
    assert kubeconfig.reduced(str(path), "c3") == expected and expected["users"][0]["user"]["token"] == SECRET + "3"


def test_a_stale_or_wrong_index_is_a_full_parse(tmp_path):
    path = _kubeconfig(tmp_path, contexts=5)
    kubeconfig.reduced(str(path), "c1")
    index = next((tmp_path / "cache").iterdir())
    offsets = __import__("json").loads(index.read_text())
    # offsets that point at another entry: the name does not match, the file is parsed whole
    offsets["contexts"]["c1"], offsets["contexts"]["c2"] = offsets["contexts"]["c2"], offsets["contexts"]["c1"]
    index.write_text(__import__("json").dumps(offsets))
    kubeconfig.clear_cache()
    assert kubeconfig.reduced(str(path), "c1")["contexts"][0]["name"] == "c1"
    # a rewritten file (a rotated token): another signature, the new token
    text = path.read_text().replace(SECRET + "1", "rotated-token")
    sig = kubeconfig.signature(str(path))
    path.write_text(text)
    os.utime(path, ns=(sig[0] + 10 ** 9, sig[0] + 10 ** 9))
    kubeconfig.clear_cache()
    assert kubeconfig.reduced(str(path), "c1")["users"][0]["user"]["token"] == "rotated-token"
    # a garbage index file
    index.write_text("{not json")
    kubeconfig.clear_cache()
    assert kubeconfig.reduced(str(path), "c4")["contexts"][0]["name"] == "c4"


def test_an_unwritable_cache_folder_only_costs_speed(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("FLEETOPS_CACHE_DIR", str(blocker / "cache"))
    path = _kubeconfig(tmp_path)
    assert kubeconfig.reduced(str(path), "c2")["contexts"][0]["name"] == "c2"
    kubeconfig.clear_cache()
    assert kubeconfig.reduced(str(path), "c2")["contexts"][0]["name"] == "c2"
