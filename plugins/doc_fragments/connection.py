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
  client_cert:
    description:
      - PEM file of a client certificate to authenticate to the API server with (over the
        kubeconfig's user). Falls back to E(K8S_AUTH_CERT_FILE).
      - Needs I(client_key) unless the file holds the private key too.
    type: path
    aliases: [cert_file]
  client_key:
    description:
      - PEM file of the private key of I(client_cert) (not encrypted). Falls back to E(K8S_AUTH_KEY_FILE).
        Never logged.
    type: path
    aliases: [key_file]
  username:
    description:
      - User name for HTTP basic authentication to the API server (only clusters that still accept
        basic auth, e.g. behind an authenticating proxy). Falls back to E(K8S_AUTH_USERNAME).
      - Needs I(password); not together with I(api_key).
    type: str
  password:
    description:
      - Password of I(username). Falls back to E(K8S_AUTH_PASSWORD). Never logged.
    type: str
  proxy:
    description:
      - URL of an HTTP proxy (C(http://) or C(https://)) every connection to the API server goes
        through, as a CONNECT tunnel (the requests, the pod proxy, the logs and the exec sessions).
        Falls back to E(K8S_AUTH_PROXY).
      - Without it the C(HTTPS_PROXY) / C(NO_PROXY) environment variables apply to the requests.
    type: str
  no_proxy:
    description:
      - Comma-separated host names, domains (C(.example.com)), addresses or networks
        (C(10.0.0.0/8)) reached without I(proxy). Falls back to E(K8S_AUTH_NO_PROXY).
    type: str
  proxy_headers:
    description:
      - Headers of the CONNECT request to I(proxy) (each sub-option also from its environment variable).
    type: dict
    suboptions:
      proxy_basic_auth:
        description:
          - C(user:password) for the proxy's basic authentication (C(Proxy-Authorization)).
            Falls back to E(K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH). Never logged.
        type: str
      basic_auth:
        description:
          - C(user:password) sent to the proxy as an C(Authorization) header. Falls back to
            E(K8S_AUTH_PROXY_HEADERS_BASIC_AUTH). Never logged.
        type: str
      user_agent:
        description:
          - The C(User-Agent) of the CONNECT request, e.g. C(fleet-audit/1.0). Falls back to
            E(K8S_AUTH_PROXY_HEADERS_USER_AGENT).
        type: str
  impersonate_user:
    description:
      - User name to act as (the C(Impersonate-User) header of every request, exec included). The
        account of the credentials needs the C(impersonate) verb on it, else the API server answers
        403 and the cluster is reported C(unknown). Falls back to E(K8S_AUTH_IMPERSONATE_USER).
    type: str
  impersonate_groups:
    description:
      - Groups to act as (one C(Impersonate-Group) header each), with I(impersonate_user).
        Falls back to E(K8S_AUTH_IMPERSONATE_GROUPS) (comma-separated).
    type: list
    elements: str
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
