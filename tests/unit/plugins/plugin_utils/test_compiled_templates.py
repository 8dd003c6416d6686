"""compiled_once: each template string compiled once inside the block, rendered with each host's own
variables; compile errors kept as errors; ansible-core's engine as it was after the block."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import compiled_templates

OPTIONS = {"kubeconfig": trust_as_template("{{ kube_dir }}/{{ inventory_hostname }}.yaml"),
           "context": trust_as_template("{{ inventory_hostname | upper }}"),
           "timeout": trust_as_template("{{ base_timeout * 2 }}")}


def _template(value, **variables):
    return Templar(loader=DataLoader(), variables=variables).template(value)


def test_each_string_compiled_once_and_rendered_per_host():
    hosts = ["lab-%d" % i for i in range(20)]
    without = [_template(OPTIONS, inventory_hostname=h, kube_dir="/k", base_timeout=i) for i, h in enumerate(hosts)]
    with compiled_templates.compiled_once() as counts:
        within = [_template(OPTIONS, inventory_hostname=h, kube_dir="/k", base_timeout=i) for i, h in enumerate(hosts)]
    assert within == without
    assert within[3] == {"kubeconfig": "/k/lab-3.yaml", "context": "LAB-3", "timeout": 6}
    assert counts == {"compiled": 3, "reused": 3 * (len(hosts) - 1)}


def test_a_compile_error_stays_an_error_each_time():
    broken = trust_as_template("{{ inventory_hostname + }}")
    with compiled_templates.compiled_once() as counts:
        for host in ("lab-1", "lab-2"):
            with pytest.raises(AnsibleError, match="(?i)syntax"):
                _template(broken, inventory_hostname=host)
    assert counts["compiled"] == 1 and counts["reused"] == 1


def test_the_engine_is_restored_after_the_block():
    engine = compiled_templates._engine_class()  # pylint: disable=protected-access
    assert engine is not None, "ansible-core's template engine has no _compile_template: the cache would be off"
    before = engine.__dict__["_compile_template"]
    with pytest.raises(RuntimeError):
        with compiled_templates.compiled_once():
            assert engine.__dict__["_compile_template"] is not before
            raise RuntimeError("the gathering failed")
    assert engine.__dict__["_compile_template"] is before
    # outside the block nothing is kept
    with compiled_templates.compiled_once() as counts:
        pass
    _template(OPTIONS, inventory_hostname="lab-1", kube_dir="/k", base_timeout=1)
    assert counts == {"compiled": 0, "reused": 0}
