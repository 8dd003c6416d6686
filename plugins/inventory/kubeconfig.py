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
  - The kubeconfig files are read as YAML only; no cluster is contacted (unless O(agents_from_api) is set).
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
  agents:
    description:
      - Several agents (PrometheusAgent, or Prometheus in agent mode, resources) in one cluster, a
        mapping of a regular expression (C(re.search) in the context name) to the list of that
        context's agents, each a mapping with C(name) (the resource's name) and optionally
        C(namespace). A context the first matching pattern lists makes one host per agent instead
        of one host, so each agent is audited alone, by name.
      - Each agent host is named C(<context>/<agent>) (an agent's name holds no C(/), so the name
        is never ambiguous) and gets, besides the variables of its context, C(agent_name),
        C(agent_selector=operator.prometheus.io/name=<agent>) (the label prometheus-operator gives
        the pods of each agent), C(agent_namespace) when the entry names one, and
        C(agent_cluster_label) set to the context name (the cluster, as a one-agent host would have
        it by default) unless O(vars) sets it. Each such host also joins the group
        C(context_<context>) (characters not valid in a group name made C(_)).
      - An agent host whose name is already a context's host is left out with a warning.
      - Contexts no pattern matches keep one host (the default selector finds their agent; if it
        matches the pods of several agents, C(agent_status) POD says so and names them).
    type: dict
    default: {}
  agents_from_api:
    description:
      - List the PrometheusAgent resources (C(monitoring.coreos.com/v1alpha1)) of each context
        that O(agents) does not list, at inventory time, through the API server of the context;
        a context with two or more makes one host per agent, as O(agents) does (with the namespace
        of each resource as C(agent_namespace)). A context with one or none keeps its one host.
      - The contexts are asked four at a time, each within O(agents_from_api_timeout); a context
        that cannot be read (unreachable, refused, no credentials) keeps its one host, with a
        warning that names it and why.
      - Agents of one name in two namespaces are named C(<context>/<namespace>/<agent>).
      - This is the only option that contacts the clusters.
    type: bool
    default: false
  agents_from_api_namespace:
    description: With O(agents_from_api), the namespace to list the PrometheusAgent resources of; empty means every namespace.
    type: str
    default: ''
  agents_from_api_timeout:
    description: With O(agents_from_api), the seconds each context's list may take.
    type: int
    default: 10
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

# Two PrometheusAgent resources (main and infra) in the prod clusters: hosts prod-eu-1/main and
# prod-eu-1/infra, each auditing the pods of its own agent, both in the group context_prod_eu_1
# plugin: fleetops.prometheus_agent.kubeconfig
# agents:
#   '^prod-':
#     - name: main
#       namespace: monitoring
#     - name: infra
#       namespace: monitoring-infra

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


AGENT_SELECTOR_LABEL = "operator.prometheus.io/name"   # prometheus-operator's name of an agent's pods
AGENT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")  # a Kubernetes object name (RFC 1123 subdomain)


def agent_lists(option):
    """The ``agents`` option checked: a list of (compiled pattern, [{name, namespace}]), in order."""
    if not isinstance(option, dict):
        raise AnsibleParserError("kubeconfig inventory: agents: a mapping of context pattern to a list of agents, not %r" % (option,))
    lists = []
    for pattern, agents in option.items():
        where = "agents.%s" % pattern
        compiled = _compile([pattern], "agents")[0]
        if not isinstance(agents, list) or not agents:
            raise AnsibleParserError("kubeconfig inventory: %s: a non-empty list of agents ({name, namespace}), not %r" % (where, agents))
        checked, seen = [], set()
        for agent in agents:
            agent = {"name": agent} if isinstance(agent, str) else agent
            if not isinstance(agent, dict) or set(agent) - {"name", "namespace"}:
                raise AnsibleParserError("kubeconfig inventory: %s: each agent is a mapping of name and namespace, not %r" % (where, agent))
            name = str(agent.get("name") or "")
            if not AGENT_NAME.match(name):
                raise AnsibleParserError("kubeconfig inventory: %s: agent name %r is not a Kubernetes object name "
                                         "(lower case letters, digits, '-' and '.')" % (where, name))
            if name in seen:
                raise AnsibleParserError("kubeconfig inventory: %s: agent %s listed twice" % (where, name))
            seen.add(name)
            checked.append({"name": name, "namespace": agent.get("namespace")})
        lists.append((compiled, checked))
    return lists


def agents_of(context_name, lists):
    """The agents the first matching pattern lists for a context, or None (one host for the context)."""
    for pattern, agents in lists:
        if pattern.search(context_name):
            return agents
    return None


API_WORKERS = 4    # contexts whose PrometheusAgent resources agents_from_api lists at the same time


def agents_from_api(contexts, namespace, timeout, workers=API_WORKERS):
    """{context name: [{name, namespace}] or the error (a string)} of each context (a dict with
    ``name`` and ``kubeconfig``): its PrometheusAgent resources, read through the collection's
    kube code, each context within ``timeout`` seconds."""
    # imported here: only this option needs the kubernetes client at inventory time
    from concurrent.futures import ThreadPoolExecutor  # pylint: disable=import-outside-toplevel
    from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.kube import target as kube_target  # pylint: disable=import-outside-toplevel
    from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.kube import workloads  # pylint: disable=import-outside-toplevel

    def read(context):
        try:
            target = kube_target.KubeTarget(kubeconfig=context["kubeconfig"], context=context["name"], timeout=timeout)
            return workloads.list_agent_resources(target, namespace or None)
        except Exception as exc:  # pylint: disable=broad-except
            return str(exc) or exc.__class__.__name__   # one unreadable cluster never stops the inventory

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return dict(zip([c["name"] for c in contexts], pool.map(read, contexts)))


def agent_host_name(context_name, agent_name, namespace=None):
    """The inventory host of one agent of a context (``<context>/<namespace>/<agent>`` when the
    context has agents of this name in several namespaces)."""
    return "/".join([context_name] + ([namespace] if namespace else []) + [agent_name])


def context_group_name(context_name):
    """The group of a context's agent hosts: a valid Ansible group name."""
    return "context_" + re.sub(r"[^A-Za-z0-9_]", "_", context_name)


class InventoryModule(BaseInventoryPlugin, Constructable):
    """Hosts from kubeconfig contexts."""

    NAME = "fleetops.prometheus_agent.kubeconfig"

    def __init__(self):
        super().__init__()
        self._host_settings = {}

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
        agent_patterns = agent_lists(self.get_option("agents") or {})
        self._host_settings = {"vars": common_vars, "group": top_group, "interpreter": interpreter if set_interpreter else None,
                               "name_groups": name_groups}
        listed = {}
        if self.get_option("agents_from_api"):
            asked = [contexts[name] for name in kept if agents_of(name, agent_patterns) is None]
            listed = agents_from_api(asked, self.get_option("agents_from_api_namespace"), self.get_option("agents_from_api_timeout"))
            for name, found in listed.items():
                if isinstance(found, str):
                    self.display.warning("kubeconfig inventory %s: agents_from_api: context %s kept as one host: its PrometheusAgent "
                                         "resources could not be listed: %s" % (path, name, found))
        for name in kept:
            agents = agents_of(name, agent_patterns)
            found = listed.get(name)
            if agents is None and isinstance(found, list) and len(found) > 1:
                agents = found
            if agents is None:
                self._add_context_host(name, contexts[name])
                continue
            group = context_group_name(name)
            self.inventory.add_group(group)
            # agents of one name in two namespaces (agents_from_api): each host names its namespace too
            twins = len({a["name"] for a in agents}) < len(agents)
            for agent in agents:
                host_name = agent_host_name(name, agent["name"], agent.get("namespace") if twins else None)
                if host_name in contexts:
                    self.display.warning("kubeconfig inventory %s: agent %s of context %s left out: its host name %s is a context's"
                                         % (path, agent["name"], name, host_name))
                    continue
                agent_vars = {"agent_name": agent["name"], "agent_selector": "%s=%s" % (AGENT_SELECTOR_LABEL, agent["name"])}
                if agent.get("namespace"):
                    agent_vars["agent_namespace"] = agent["namespace"]
                if "agent_cluster_label" not in common_vars:
                    agent_vars["agent_cluster_label"] = name
                host = self._add_context_host(host_name, contexts[name], agent_vars)
                self.inventory.add_child(group, host)

    def _add_context_host(self, host_name, context, agent_vars=None):
        """One host of a context (the context's, or one of its agents' with ``agent_vars``)."""
        strict = self.get_option("strict")
        name = context["name"]
        settings = self._host_settings
        common_vars, top_group, interpreter = settings["vars"], settings["group"], settings["interpreter"]
        host = self.inventory.add_host(host_name, group=top_group or None)
        for key, value in common_vars.items():
            self.inventory.set_variable(host, key, value)
        self.inventory.set_variable(host, "ansible_connection", "local")
        if interpreter and not top_group:
            self.inventory.set_variable(host, "ansible_python_interpreter", interpreter)
        self.inventory.set_variable(host, "kube_context", name)
        self.inventory.set_variable(host, "kubeconfig", context["kubeconfig"])
        self.inventory.set_variable(host, "cluster_name", context["cluster"])
        if context.get("server"):
            self.inventory.set_variable(host, "kube_server", context["server"])
        if self.get_option("use_context_namespace") and context.get("namespace"):
            self.inventory.set_variable(host, "agent_namespace", context["namespace"])
        for key, value in (agent_vars or {}).items():
            self.inventory.set_variable(host, key, value)
        for group, pattern in settings["name_groups"].items():
            if pattern.search(name):
                self.inventory.add_group(group)
                self.inventory.add_child(group, host)

        host_vars = self.inventory.get_host(host).get_vars()
        self._set_composite_vars(self.get_option("compose"), host_vars, host, strict=strict)
        self._add_host_to_composed_groups(self.get_option("conditional_groups"), host_vars, host, strict=strict)
        self._add_host_to_keyed_groups(self.get_option("keyed_groups"), host_vars, host, strict=strict)
        return host

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
