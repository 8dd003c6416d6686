# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How a module reaches a cluster or an agent: the Kubernetes API, or a URL (argument spec: module_utils/args_common.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  kubeconfig:
    description:
      - Path of the kubeconfig file. Defaults to C(KUBECONFIG) or C(~/.kube/config).
      - Falls back to the E(K8S_AUTH_KUBECONFIG) environment variable.
    type: path
  context:
    description:
      - The kubeconfig context of the cluster (one inventory host per cluster usually sets it
        from C(kube_context)).
      - Falls back to E(K8S_AUTH_CONTEXT).
    type: str
  host:
    description:
      - URL of the Kubernetes API server, instead of a kubeconfig (the AWX Kubernetes credential
        injects E(K8S_AUTH_HOST)).
    type: str
  api_key:
    description:
      - Bearer token for the API server. Falls back to E(K8S_AUTH_API_KEY). Never logged.
    type: str
  validate_certs:
    description:
      - Verify the TLS certificate of the API server (and of I(url)). Turn off only for a lab.
      - Falls back to E(K8S_AUTH_VERIFY_SSL).
    type: bool
    default: true
    aliases: [verify_ssl]
  ca_cert:
    description:
      - CA certificate file to verify the API server (or I(url)) with. Falls back to E(K8S_AUTH_SSL_CA_CERT).
    type: path
    aliases: [ssl_ca_cert]
  url:
    description:
      - Base URL of an agent outside Kubernetes (a VM, a port-forward), e.g. C(http://10.0.0.5:9090).
        When set, the agent is reached directly and the Kubernetes options are ignored.
    type: str
  url_username:
    description: User name for HTTP basic authentication to I(url).
    type: str
  url_password:
    description: Password for HTTP basic authentication to I(url). Never logged.
    type: str
  bearer_token:
    description: Bearer token for I(url). Never logged.
    type: str
  timeout:
    description:
      - Seconds to wait for each answer of the API server or the agent. An unanswered cluster is
        reported C(unknown), not failed.
    type: float
    default: 10.0
notes:
  - The modules run on the controller and reach each cluster through its Kubernetes API (pod
    proxy, pods/exec, pods/log); C(ansible_connection=local) per cluster host.
requirements:
  - kubernetes >= 29.0.0 (the Python client), when the agent is reached through Kubernetes.
'''
