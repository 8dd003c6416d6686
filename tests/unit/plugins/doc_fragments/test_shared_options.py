"""The shared options have one argument spec (args_common.COMMON_ARGS) and are documented once, in
the connection and agent doc fragments together; type, default and aliases agree."""

from __future__ import annotations

import yaml

from ansible_collections.fleetops.prometheus_agent.plugins.doc_fragments import agent, attributes, connection
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.args_common import COMMON_ARGS


def options(fragment):
    return yaml.safe_load(fragment.ModuleDocFragment.DOCUMENTATION)["options"]


def test_each_shared_option_is_documented_in_one_fragment_as_specified():
    reach, which = options(connection), options(agent)
    assert not set(reach) & set(which)
    documented = dict(reach, **which)
    assert set(documented) == set(COMMON_ARGS)
    for name, spec in COMMON_ARGS.items():
        doc = documented[name]
        assert doc["type"] == spec["type"], name
        assert doc.get("default") == spec.get("default"), name
        assert sorted(doc.get("aliases") or []) == sorted(spec.get("aliases") or []), name
        if spec.get("no_log"):
            assert "Never logged" in " ".join(doc["description"] if isinstance(doc["description"], list)
                                              else [doc["description"]]), name


def test_attributes_fragment_is_read_only():
    attrs = yaml.safe_load(attributes.ModuleDocFragment.DOCUMENTATION)["attributes"]
    assert attrs["check_mode"]["support"] == "full" and attrs["diff_mode"]["support"] == "none"
