# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inventory plugin: one host per context of one or more kubeconfig files."""

from __future__ import annotations

DOCUMENTATION = r"""
name: kubeconfig
short_description: One inventory host per Kubernetes context of kubeconfig files
version_added: 0.1.0
author:
  - fleetops maintainers (@fleetops)
description:
  - Reads the contexts of one or more kubeconfig files and makes one host per context, so a
    fleet of hundreds of clusters is one small YAML file.
  - Every host gets C(kube_context), C(kubeconfig) (the file the context came from),
    C(cluster_name) (the context's cluster) and C(ansible_connection=local). The modules of
    this collection run on the controller and reach the cluster through its API.
  - Hosts are filtered by name with O(include) and O(exclude) (regular expressions, searched in
    the context name) and grouped by name pattern with O(groups); O(compose), O(keyed_groups)
    and O(conditional_groups) work as in the C(constructed) inventory plugin.
  - The kubeconfig files are read as YAML only; no cluster is contacted.
  - The inventory file name must end with C(kubeconfig.yml) or C(kubeconfig.yaml)
    (for example C(fleet.kubeconfig.yml)).
options:
  plugin:
    description: The name of this plugin; it makes the file this plugin's.
    type: str
    required: true
    choices: [fleetops.prometheus_agent.kubeconfig]
  kubeconfigs:
    description:
      - Kubeconfig files to read, in order. C(~) is expanded; relative paths are relative to the
        inventory file.
      - When empty, the files of the E(KUBECONFIG) environment variable (separated by C(:)),
        or C(~/.kube/config).
      - When two files hold a context of the same name, the first one wins (as kubectl does).
    type: list
    elements: path
    default: []
  include:
    description:
      - Only contexts whose name matches one of these regular expressions (Python C(re.search)).
      - Empty means every context.
    type: list
    elements: str
    default: []
  exclude:
    description: Leave out contexts whose name matches one of these regular expressions.
    type: list
    elements: str
    default: []
  group:
    description: A group every host of this inventory joins (the collection's playbooks default to C(all)).
    type: str
    default: fleet
  groups:
    description:
      - Groups by context name, a mapping of group name to regular expression (C(re.search)).
        A host joins every group whose pattern matches.
      - For example C(prod) with the pattern C(^prod-).
      - For groups by Jinja2 conditionals, use O(conditional_groups).
    type: dict
    default: {}
  conditional_groups:
    description: Add hosts to groups based on Jinja2 conditionals (the C(groups) option of the C(constructed) plugin).
    type: dict
    default: {}
  compose:
    description: Create variables from Jinja2 expressions (as in the C(constructed) plugin).
    type: dict
    default: {}
  keyed_groups:
    description: Add hosts to groups based on the values of a variable (as in the C(constructed) plugin).
    type: list
    elements: dict
    default: []
  leading_separator:
    description: Use in conjunction with O(keyed_groups); see the C(constructed) plugin.
    type: bool
    default: true
  strict:
    description: Make errors in O(compose), O(keyed_groups) and O(conditional_groups) fatal.
    type: bool
    default: false
  vars:
    description:
      - Variables set on every host (plain values, not templated), for example C(agent_namespace)
        or C(fleet_query_url). Group and host variables override them.
    type: dict
    default: {}
  use_context_namespace:
    description: Set C(agent_namespace) to the namespace of the context, when the context names one.
    type: bool
    default: false
  set_python_interpreter:
    description:
      - Set C(ansible_python_interpreter) to C({{ ansible_playbook_python }}), the Python that runs
        ansible-playbook (where the collection's requirements are installed), so Ansible does not
        pick another interpreter on the controller (a pyenv shim, the system Python without the
        C(kubernetes) client) and every cluster read C(unknown).
      - It is set as a variable of the O(group) (or of each host when O(group) is empty), the
        lowest precedence there is, so C(group_vars), C(host_vars), O(vars) and C(-e) override it.
      - Set to C(false) to leave the interpreter to Ansible's discovery.
    type: bool
    default: true
notes:
  - A pattern of O(include) that matches no context, and an inventory that ends with no host, are
    warnings that name the contexts that were read, so a wrong pattern does not silently audit nothing.
  - A context whose name is not a valid host name is kept as is; Ansible accepts any string as a host name.
  - Contexts that point to a cluster missing from the file are kept, with C(cluster_name) set to the
    name the context gives.
"""

EXAMPLES = r"""
# fleet.kubeconfig.yml: every context of two files, production ones in a group
plugin: fleetops.prometheus_agent.kubeconfig
kubeconfigs:
  - ~/.kube/fleet-eu.yaml
  - ~/.kube/fleet-us.yaml
include:
  - '^prod-'
  - '^staging-'
exclude:
  - '-decommissioned$'
groups:
  prod: '^prod-'
  staging: '^staging-'
vars:
  agent_namespace: monitoring
  fleet_query_url: https://thanos-query.example.com

# Groups by region from the context name, e.g. prod-eu-1 -> region_eu
# plugin: fleetops.prometheus_agent.kubeconfig
# keyed_groups:
#   - key: kube_context.split('-')[1]
#     prefix: region
# compose:
#   agent_pod: "'prom-agent-' ~ kube_context ~ '-0'"
"""

import os
import re

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Constructable

try:  # ansible-core 2.19+: values from an inventory source are not templated unless trusted
    from ansible.template import trust_as_template
except ImportError:  # older ansible-core templates every variable
    def trust_as_template(value):
        return value

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import FleetopsError
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.kube import kubeconfig


def _compile(patterns, option):
    compiled = []
    for pattern in patterns or []:
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            raise AnsibleParserError("kubeconfig inventory: %s: invalid regular expression %r: %s" % (option, pattern, exc)) from exc
    return compiled


def read_contexts(path):
    """The contexts of one kubeconfig file: a list of dicts (name, cluster, namespace, server, user),
    read by the collection's kubeconfig reader (one parse per file and process, shared with the
    modules' connection code)."""
    try:
        return kubeconfig.contexts(path)
    except FleetopsError as exc:
        raise AnsibleParserError("kubeconfig inventory: %s" % exc) from exc


def select(names, include, exclude):
    """The names kept by the include/exclude regular expressions, in order."""
    kept = []
    for name in names:
        if include and not any(p.search(name) for p in include):
            continue
        if any(p.search(name) for p in exclude):
            continue
        kept.append(name)
    return kept


class InventoryModule(BaseInventoryPlugin, Constructable):
    """Hosts from kubeconfig contexts."""

    NAME = "fleetops.prometheus_agent.kubeconfig"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(("kubeconfig.yml", "kubeconfig.yaml"))

    def _kubeconfig_paths(self, inventory_path):
        paths = self.get_option("kubeconfigs") or []
        if not paths:
            env = os.environ.get("KUBECONFIG")
            paths = [p for p in env.split(os.pathsep) if p] if env else ["~/.kube/config"]
        base = os.path.dirname(os.path.abspath(inventory_path))
        resolved = []
        for path in paths:
            path = os.path.expanduser(os.path.expandvars(str(path)))
            if not os.path.isabs(path):
                path = os.path.join(base, path)
            resolved.append(os.path.normpath(path))
        return resolved

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)

        include = _compile(self.get_option("include"), "include")
        exclude = _compile(self.get_option("exclude"), "exclude")
        name_groups = {}
        for group, pattern in (self.get_option("groups") or {}).items():
            name_groups[group] = _compile([pattern], "groups.%s" % group)[0]
        strict = self.get_option("strict")
        common_vars = self.get_option("vars") or {}
        top_group = self.get_option("group")
        if top_group:
            self.inventory.add_group(top_group)

        contexts = {}
        for kubeconfig in self._kubeconfig_paths(path):
            for context in read_contexts(kubeconfig):
                if context["name"] in contexts:
                    self.display.vvv("kubeconfig inventory: context %s of %s already read from %s; skipped"
                                     % (context["name"], kubeconfig, contexts[context["name"]]["kubeconfig"]))
                    continue
                context["kubeconfig"] = kubeconfig
                contexts[context["name"]] = context

        kept = select(list(contexts), include, exclude)
        self._warn_about_selection(path, list(contexts), include, kept)
        interpreter = trust_as_template('{{ ansible_playbook_python }}')
        set_interpreter = self.get_option("set_python_interpreter") and "ansible_python_interpreter" not in common_vars
        if set_interpreter and top_group:
            self.inventory.set_variable(top_group, "ansible_python_interpreter", interpreter)
        for name in kept:
            context = contexts[name]
            host = self.inventory.add_host(name, group=top_group or None)
            for key, value in common_vars.items():
                self.inventory.set_variable(host, key, value)
            self.inventory.set_variable(host, "ansible_connection", "local")
            if set_interpreter and not top_group:
                self.inventory.set_variable(host, "ansible_python_interpreter", interpreter)
            self.inventory.set_variable(host, "kube_context", name)
            self.inventory.set_variable(host, "kubeconfig", context["kubeconfig"])
            self.inventory.set_variable(host, "cluster_name", context["cluster"])
            if context.get("server"):
                self.inventory.set_variable(host, "kube_server", context["server"])
            if self.get_option("use_context_namespace") and context.get("namespace"):
                self.inventory.set_variable(host, "agent_namespace", context["namespace"])
            for group, pattern in name_groups.items():
                if pattern.search(name):
                    self.inventory.add_group(group)
                    self.inventory.add_child(group, host)

            host_vars = self.inventory.get_host(host).get_vars()
            self._set_composite_vars(self.get_option("compose"), host_vars, host, strict=strict)
            self._add_host_to_composed_groups(self.get_option("conditional_groups"), host_vars, host, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), host_vars, host, strict=strict)

    def _warn_about_selection(self, path, names, include, kept):
        """Warn about an include pattern that matches no context, and about an empty result."""
        seen = ', '.join(names[:20]) + (' and %d more' % (len(names) - 20) if len(names) > 20 else '') if names else 'none'
        for pattern in include:
            if not any(pattern.search(name) for name in names):
                self.display.warning("kubeconfig inventory %s: include pattern %r matches none of the %d context(s) read (%s)"
                                     % (path, pattern.pattern, len(names), seen))
        if not kept:
            self.display.warning("kubeconfig inventory %s: no host: %d context(s) read (%s), none kept by include/exclude; "
                                 "check the kubeconfigs and the patterns" % (path, len(names), seen))
