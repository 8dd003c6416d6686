# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one argument spec of the options every module shares (documented in the
``fleetops.prometheus_agent.connection`` and ``fleetops.prometheus_agent.agent`` doc fragments),
the checks the spec cannot express, the target the options describe, and ``run_and_exit``: a
module's ``main`` from its runner (``runners.py``). The only file of module_utils that knows Ansible."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import traceback
from collections.abc import Mapping

from ansible.module_utils.basic import env_fallback, missing_required_lib
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.validation import check_type_dict
from ansible.module_utils.errors import UnsupportedError

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import FleetopsError, MissingLibrary
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.scrub import redact, scrub
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.kube import target as _target

DEFAULT_SELECTOR = 'app.kubernetes.io/name=prometheus-agent'

COMMON_ARGS = dict(
    kubeconfig=dict(type='path', fallback=(env_fallback, ['K8S_AUTH_KUBECONFIG'])),
    context=dict(type='str', fallback=(env_fallback, ['K8S_AUTH_CONTEXT'])),
    host=dict(type='str', fallback=(env_fallback, ['K8S_AUTH_HOST'])),
    api_key=dict(type='str', no_log=True, fallback=(env_fallback, ['K8S_AUTH_API_KEY'])),
    validate_certs=dict(type='bool', default=True, aliases=['verify_ssl'], fallback=(env_fallback, ['K8S_AUTH_VERIFY_SSL'])),
    ca_cert=dict(type='path', aliases=['ssl_ca_cert'], fallback=(env_fallback, ['K8S_AUTH_SSL_CA_CERT'])),
    client_cert=dict(type='path', aliases=['cert_file'], fallback=(env_fallback, ['K8S_AUTH_CERT_FILE'])),
    client_key=dict(type='path', aliases=['key_file'], no_log=True, fallback=(env_fallback, ['K8S_AUTH_KEY_FILE'])),
    username=dict(type='str', fallback=(env_fallback, ['K8S_AUTH_USERNAME'])),
    password=dict(type='str', no_log=True, fallback=(env_fallback, ['K8S_AUTH_PASSWORD'])),
    proxy=dict(type='str', fallback=(env_fallback, ['K8S_AUTH_PROXY'])),
    no_proxy=dict(type='str', fallback=(env_fallback, ['K8S_AUTH_NO_PROXY'])),
    proxy_headers=dict(type='dict', apply_defaults=True, options=dict(
        proxy_basic_auth=dict(type='str', no_log=True, fallback=(env_fallback, ['K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH'])),
        basic_auth=dict(type='str', no_log=True, fallback=(env_fallback, ['K8S_AUTH_PROXY_HEADERS_BASIC_AUTH'])),
        user_agent=dict(type='str', fallback=(env_fallback, ['K8S_AUTH_PROXY_HEADERS_USER_AGENT'])),
    )),
    impersonate_user=dict(type='str', fallback=(env_fallback, ['K8S_AUTH_IMPERSONATE_USER'])),
    impersonate_groups=dict(type='list', elements='str', fallback=(env_fallback, ['K8S_AUTH_IMPERSONATE_GROUPS'])),
    namespace=dict(type='str', default='monitoring'),
    pod=dict(type='str'),
    label_selector=dict(type='str', default=DEFAULT_SELECTOR),
    container=dict(type='str', default='prometheus'),
    port=dict(type='int', default=9090),
    url=dict(type='str'),
    url_username=dict(type='str'),
    url_password=dict(type='str', no_log=True),
    bearer_token=dict(type='str', no_log=True),
    timeout=dict(type='float', default=10.0),
    thresholds=dict(type='dict', default={}),
)

K8S_OPTIONS = ('kubeconfig', 'context', 'host', 'api_key')
# the connection options that become a kube.target.KubeAuth
AUTH_OPTIONS = ('client_cert', 'client_key', 'username', 'password', 'proxy', 'no_proxy', 'proxy_headers',
                'impersonate_user', 'impersonate_groups')


def common_argument_spec(**extra):
    """``COMMON_ARGS`` plus a module's own options (a copy: modules never share dicts)."""
    spec = copy.deepcopy(COMMON_ARGS)
    spec.update(extra)
    return spec


def validate_common(params, positive=(), not_negative=()):
    """Argument errors the spec cannot express; returns a message naming the option, or None.

    ``positive`` and ``not_negative`` name a module's own numeric options that must be above 0 /
    must not be below 0 (checked after the shared ones, in the order given).
    """
    if params.get('timeout') is not None and params['timeout'] <= 0:
        return 'timeout must be a positive number of seconds, got %s' % params['timeout']
    if params.get('port') is not None and not 0 < params['port'] < 65536:
        return 'port must be between 1 and 65535, got %s' % params['port']
    url = params.get('url')
    if url and not (url.startswith('http://') or url.startswith('https://')):
        return 'url must start with http:// or https://, got %s' % url.split('@')[-1]
    for key, value in (params.get('thresholds') or {}).items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            try:
                value = float(value)
            except (TypeError, ValueError):
                return 'thresholds.%s must be a number, got %r' % (key, value)
        if value < 0:
            return 'thresholds.%s must not be negative, got %r' % (key, value)
    for name in positive:
        if params.get(name) is not None and params[name] <= 0:
            return '%s must be a positive number, got %s' % (name, params[name])
    for name in not_negative:
        if params.get(name) is not None and params[name] < 0:
            return '%s must not be negative, got %s' % (name, params[name])
    return None


def validate_dict_option(params, name, options):
    """Check the dictionary option ``name`` against its sub-options spec ``options``.

    For an option declared ``type='raw'`` with ``options`` (so the documentation and the
    sanity test still see the sub-options): AnsibleModule's own ``type='dict'`` check reports a
    value that is not a dictionary without the option's name. On success the converted
    dictionary replaces ``params[name]``; returns a message naming the option, or None.
    """
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = check_type_dict(value)
        except TypeError as exc:
            return '%s must be a dictionary, got %r (%s)' % (name, value, exc)
    if not isinstance(value, Mapping):
        return '%s must be a dictionary, got %s %r' % (name, type(value).__name__, value)
    result = ArgumentSpecValidator(options).validate(dict(value))
    if result.error_messages:
        error = result.errors[0]
        prefix = 'unsupported parameters: ' if isinstance(error, UnsupportedError) else ''
        return '%s: %s%s' % (name, prefix, error)
    params[name] = result.validated_parameters
    return None


def uses_kubernetes(params):
    """True when the target is reached through the Kubernetes API (no ``url``)."""
    return not params.get('url')


def target_from_params(params, deadline=None):
    """The ``Target`` the shared options describe: ``url`` means direct, else Kubernetes.

    ``deadline``: a ``core.http.Deadline`` every request of the target runs under (the module
    run's, made of ``timeout`` by ``runners.run_module``), or None: each request gets ``timeout``
    (the remediation modules, whose waits are longer than one request's timeout).
    """
    if params.get('url'):
        return _target.DirectTarget(
            params['url'], username=params.get('url_username'), password=params.get('url_password'),
            bearer_token=params.get('bearer_token'), validate_certs=params.get('validate_certs', True),
            ca_cert=params.get('ca_cert'), timeout=params.get('timeout') or 10.0,
            log_file=params.get('log_path') or params.get('log_file'), deadline=deadline)
    return _target.KubeTarget(
        kubeconfig=params.get('kubeconfig'), context=params.get('context'), host=params.get('host'),
        api_key=params.get('api_key'), validate_certs=params.get('validate_certs', True), ca_cert=params.get('ca_cert'),
        namespace=params.get('namespace') or 'monitoring', pod=params.get('pod'),
        label_selector=params.get('label_selector') or DEFAULT_SELECTOR, container=params.get('container') or 'prometheus',
        port=params.get('port') or 9090, timeout=params.get('timeout'), deadline=deadline,
        auth=_target.KubeAuth(**dict((name, params.get(name)) for name in AUTH_OPTIONS)))


def check_kubernetes_library(module, params=None):
    """fail_json with missing_required_lib when the Kubernetes path is used without the library."""
    if uses_kubernetes(params if params is not None else module.params) and not _target.HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib('kubernetes'), exception=str(_target.KUBERNETES_IMPORT_ERROR))


def run_result(name, params, check_mode, run_module):
    """What module ``name`` returns for its validated ``params`` (``run_module`` is
    ``runners.run_module``), or ``failed`` with the message of a ``FleetopsError`` (an argument the
    module refuses) and, with the traceback, of anything unexpected. A ``MissingLibrary`` is raised:
    the module says what to install, the in-worker action plugin lets the module process run."""
    try:
        return run_module(name, params, check_mode=check_mode)
    except MissingLibrary:
        raise
    except FleetopsError as exc:
        return {'failed': True, 'msg': redact(exc)}
    except Exception as exc:  # pylint: disable=broad-except
        return {'failed': True, 'msg': redact('%s failed: %s' % (name, exc)), 'exception': redact(traceback.format_exc())}


def run_and_exit(module, name, run_module):
    """A module's whole ``main`` after ``AnsibleModule``: ``exit_json`` with ``run_result``, or
    ``fail_json`` with its message (``missing_required_lib`` for a missing library); every string
    scrubbed (``core.scrub``: the runner's result is scrubbed in ``runners.run_module``, the error
    messages here)."""
    try:
        result = run_result(name, module.params, module.check_mode, run_module)
    except MissingLibrary as exc:
        why = _target.KUBERNETES_IMPORT_ERROR if exc.library == 'kubernetes' else None
        module.fail_json(msg=missing_required_lib(exc.library), exception=str(why or exc))
    if result.pop('failed', False):
        module.fail_json(**result)
    module.exit_json(**result)


def exit_scrubbed(module, result, failed=False):
    """``exit_json`` (``fail_json`` when ``failed``) with ``result`` scrubbed (``core.scrub``): the end
    of a module whose result is not a runner's (agent_restart, agent_tune)."""
    result = scrub(result)
    if failed:
        module.fail_json(**result)
    module.exit_json(**result)
