# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How to reach one agent: through the Kubernetes API (pod proxy, exec, logs) or directly.

``Target`` is the interface (see docs/development.md):

* ``http_get(path, timeout=None) -> (status_code, bytes)``: the agent's own answer (a 503 of
  ``/-/ready`` is data); the API server's failures raise the errors of ``errors.py``;
* ``http_get_stream(path, timeout=None, chunk_size=...) -> (status_code, iterator of bytes)``;
* ``exec(argv, timeout=None) -> (rc, stdout_bytes, stderr_bytes)``;
* ``exec_stream(argv, chunk_size=...) -> iterator of bytes`` (stdout as it arrives, memory flat;
  a non-zero exit raises ``FleetopsError`` at the end);
* ``logs(since_seconds=None, since_time=None, tail_lines=None, timestamps=True) -> str``;
* ``pods() -> list of pod dicts`` (the API's camelCase JSON); ``core``, ``apps``, ``custom``.

``KubeTarget`` uses the ``kubernetes`` client, one ``ApiClient`` per (kubeconfig and its
signature, context, host, token, TLS settings, ``KubeAuth``), cached in-process; the kubeconfig is
read by ``kubeconfig.py``. ``KubeAuth`` holds the other connection options (a client certificate,
basic auth, an HTTP proxy with its headers, impersonation): they apply to every connection the
target opens to the API server, the client's pool (JSON requests, pod proxy, logs) and the exec
WebSocket alike. ``DirectTarget`` reads ``url`` through ``core/http.py`` (basic auth or a
bearer token, TLS verified by default, an optional ``Deadline`` over all its requests), runs
commands locally (the agent's own host) and reads a local log file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import contextvars
import copy
import errno
import hashlib
import json
import os
import re
import socket
import ssl
import subprocess
import threading
import time

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import (
    FleetopsError, MissingLibrary, TargetAuthError, TargetConfigError, TargetTimeout, TargetUnreachable, one_line)
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.scrub import redact
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.http import (
    CHUNK_SIZE, HttpClient, classify_connection_error)
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.units import parse_time
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.kube import kubeconfig as _kubeconfig
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.kube import workloads

from urllib.parse import quote

try:
    import kubernetes  # noqa: F401  pylint: disable=unused-import
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.client.rest import ApiException
    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None
except ImportError as _exc:  # pragma: no cover - depends on the controller
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = str(_exc)

    class ApiException(Exception):  # type: ignore
        status = None
        body = None

try:
    import urllib3
    # one attempt per pool request (KubeTarget._send tries again itself, with the time left); one
    # redirect followed, as the client's own ``retries = 1`` did
    _ONE_ATTEMPT = urllib3.Retry(total=None, connect=0, read=0, other=0, status=0, redirect=1)
except ImportError:  # pragma: no cover - the kubernetes client requires it
    urllib3 = _ONE_ATTEMPT = None

try:
    from kubernetes.stream import stream as k8s_stream
    from kubernetes.stream import ws_client as k8s_ws_client
    HAS_STREAM = True
except ImportError:  # pragma: no cover
    HAS_STREAM = False

# The exec WebSocket's connect (TCP, TLS, HTTP upgrade): the kubernetes client opens it with no
# timeout at all (a server that accepts and never answers blocks it forever) and offers no way to
# pass one. ``open_exec`` sets the time left here; the WebSocket class the client builds reads it.
_WS_CONNECT_TIMEOUT = contextvars.ContextVar('fleetops_ws_connect_timeout', default=None)
# The headers every request to the API server carries besides the client's own (impersonation):
# the client's WebSocket passes on only the authorization of the headers it is given.
_WS_EXTRA_HEADERS = contextvars.ContextVar('fleetops_ws_extra_headers', default=())

if HAS_STREAM:
    class _BoundedWebSocket(k8s_ws_client.WebSocket):
        """websocket-client's ``WebSocket`` whose connect gets ``_WS_CONNECT_TIMEOUT`` when set and
        the headers of ``_WS_EXTRA_HEADERS`` (and is the library's own otherwise)."""

        def connect(self, url, **options):
            limit = _WS_CONNECT_TIMEOUT.get()
            if limit is not None and options.get('timeout') is None:
                options['timeout'] = limit
            extra = _WS_EXTRA_HEADERS.get()
            if extra:
                options['header'] = list(options.get('header') or []) + ['%s: %s' % pair for pair in extra]
            return super(_BoundedWebSocket, self).connect(url, **options)

    # on top of what is there (a second copy of this file in the process wraps the first's)
    k8s_ws_client.WebSocket = _BoundedWebSocket

_CLIENTS = {}
_CLIENTS_LOCK = threading.Lock()


def _now():
    return time.time()


def _status_message(body):
    """The message of a Kubernetes ``Status`` body, or None when the body is not one."""
    if isinstance(body, bytes):
        body = body.decode('utf-8', 'replace')
    if not body or '"kind"' not in body[:400]:
        return None
    try:
        obj = json.loads(body)
    except ValueError:
        return None
    if isinstance(obj, dict) and obj.get('kind') == 'Status':
        return obj.get('message') or obj.get('reason') or 'status %s' % obj.get('code')
    return None


def classify_api_status(status, body, where, secrets=()):
    """An error of errors.py for an HTTP error of the Kubernetes API server (or the direct URL)."""
    message = _status_message(body)
    detail = (': ' + one_line(redact(message, secrets), 200)) if message else ''
    if status == 401:
        return TargetAuthError('%s: credentials rejected (401)%s; renew the token or the kubeconfig credentials '
                               '(or check client_cert/client_key, username/password)' % (where, detail))
    if status == 403 and 'impersonate' in (message or '').lower():
        return TargetAuthError('%s: forbidden (403)%s; the account needs the impersonate verb on the users (and groups) '
                               'of impersonate_user / impersonate_groups' % (where, detail))
    if status == 403:
        return TargetAuthError('%s: forbidden (403)%s; the account needs get/list on pods, pods/proxy, pods/log and '
                               'create on pods/exec in the namespace' % (where, detail))
    if status == 404:
        return TargetUnreachable('%s: not found (404)%s' % (where, detail))
    if status == 0:
        return TargetUnreachable('%s cannot be reached%s' % (where, detail))
    if status and status >= 500:
        return TargetUnreachable('%s answered %s%s' % (where, status, detail or ' (server error)'))
    return TargetUnreachable('%s answered %s%s' % (where, status, detail))


class Target(object):
    """Base: what every target offers (see the module docstring)."""

    kind = None
    namespace = None
    pod_name = None

    def describe(self):
        return 'the agent'

    def http_get(self, path, timeout=None):
        raise NotImplementedError

    def http_get_stream(self, path, timeout=None, chunk_size=CHUNK_SIZE):
        status, body = self.http_get(path, timeout=timeout)
        return status, iter([body])

    def exec(self, argv, timeout=None):
        raise NotImplementedError

    def exec_stream(self, argv, chunk_size=CHUNK_SIZE):
        raise NotImplementedError

    def logs(self, since_seconds=None, since_time=None, tail_lines=None, timestamps=True):
        raise NotImplementedError

    def pods(self):
        return []


# ------------------------------------------------------------------------------- Kubernetes

def _digest(value):
    """A SHA-256 of a secret (or of a dict of them) for a cache key; None for nothing."""
    if not value:
        return None
    text = json.dumps(value, sort_keys=True) if isinstance(value, dict) else str(value)
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


_PROXY_HEADER_NAMES = ('proxy_basic_auth', 'basic_auth', 'user_agent')
_PROXY_SCHEMES = ('http://', 'https://')


class KubeAuth(object):
    """The connection options beyond kubeconfig, context, host, token and CA: a client certificate
    (``client_cert``, ``client_key``), HTTP basic auth (``username``, ``password``), an HTTP proxy
    (``proxy``, ``no_proxy``, ``proxy_headers``: ``proxy_basic_auth``, ``basic_auth`` and
    ``user_agent`` of the CONNECT request) and impersonation (``impersonate_user``,
    ``impersonate_groups``). ``check()`` says what is wrong with them (TargetConfigError)."""

    def __init__(self, client_cert=None, client_key=None, username=None, password=None, proxy=None, no_proxy=None,
                 proxy_headers=None, impersonate_user=None, impersonate_groups=None):
        self.client_cert = os.path.expanduser(client_cert) if client_cert else None
        self.client_key = os.path.expanduser(client_key) if client_key else None
        self.username = username or None
        self.password = password or None
        self.proxy = proxy or None
        self.no_proxy = no_proxy or None
        self.proxy_headers = dict((k, v) for k, v in (proxy_headers or {}).items() if v not in (None, ''))
        self.impersonate_user = impersonate_user or None
        self.impersonate_groups = [g for g in (impersonate_groups or []) if g]

    @property
    def secrets(self):
        """The values no message may show."""
        found = [self.password, self.proxy_headers.get('proxy_basic_auth'), self.proxy_headers.get('basic_auth')]
        for value in found[1:]:
            if value and ':' in value:
                found.append(value.split(':', 1)[1])
        return [v for v in found if v]

    def cache_key(self):
        cert_stamp = tuple(_kubeconfig.signature(p) if p else None for p in (self.client_cert, self.client_key))
        return (self.client_cert, self.client_key, cert_stamp, self.username, _digest(self.password), self.proxy,
                self.no_proxy, _digest(self.proxy_headers), self.impersonate_user, tuple(self.impersonate_groups))

    def proxy_label(self):
        """The proxy URL without its user information (for messages)."""
        return re.sub(r'//[^/@]*@', '//', self.proxy) if self.proxy else None

    def check(self, api_key=None):
        """TargetConfigError naming the option when the options cannot work together."""
        if self.client_key and not self.client_cert:
            raise TargetConfigError('client_key is set without client_cert: give the client certificate too')
        if self.client_cert:
            self._check_client_certificate()
        if bool(self.username) != bool(self.password):
            raise TargetConfigError('%s is set without %s: basic auth needs both' % (
                ('username', 'password') if self.username else ('password', 'username')))
        if self.username and api_key:
            raise TargetConfigError('api_key and username/password are both set: give one way to authenticate')
        if self.proxy and not self.proxy.lower().startswith(_PROXY_SCHEMES):
            raise TargetConfigError('proxy must be an http:// or https:// URL, got %s' % self.proxy_label())
        for name in ('proxy_basic_auth', 'basic_auth'):
            value = self.proxy_headers.get(name)
            if value is not None and ':' not in value:
                raise TargetConfigError('proxy_headers.%s must be user:password' % name)
        unknown = sorted(set(self.proxy_headers) - set(_PROXY_HEADER_NAMES))
        if unknown:
            raise TargetConfigError('proxy_headers: unsupported keys %s (known: %s)' % (
                ', '.join(unknown), ', '.join(_PROXY_HEADER_NAMES)))
        if self.proxy_headers and not self.proxy:
            raise TargetConfigError('proxy_headers is set without proxy: the headers are those of the proxy\'s CONNECT')
        if self.impersonate_groups and not self.impersonate_user:
            raise TargetConfigError('impersonate_groups needs impersonate_user: the API server refuses groups '
                                    'without a user to impersonate')

    def _check_client_certificate(self):
        if not os.path.isfile(self.client_cert):
            raise TargetConfigError('client_cert %s does not exist' % self.client_cert)
        if self.client_key and not os.path.isfile(self.client_key):
            raise TargetConfigError('client_key %s does not exist' % self.client_key)
        if not self.client_key:
            try:
                with open(self.client_cert, 'rb') as handle:
                    holds_key = b'PRIVATE KEY-----' in handle.read()
            except (IOError, OSError) as exc:
                raise TargetConfigError('client_cert %s cannot be read: %s' % (self.client_cert, one_line(exc, 120)))
            if not holds_key:
                raise TargetConfigError('client_cert %s holds no private key and client_key is not set: give the key '
                                        'file of the certificate as client_key' % self.client_cert)
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(self.client_cert, self.client_key)
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise TargetConfigError('client_cert %s%s cannot be used: %s (a PEM certificate and its private key, '
                                    'not encrypted)' % (self.client_cert, ' with client_key %s' % self.client_key
                                                        if self.client_key else '', one_line(exc, 120)))

    def headers(self):
        """(name, value) of the headers every request to the API server carries (impersonation)."""
        pairs = [('Impersonate-User', self.impersonate_user)] if self.impersonate_user else []
        return pairs + [('Impersonate-Group', group) for group in self.impersonate_groups]

    def configure(self, cfg):
        """Set these options on a ``kubernetes.client.Configuration`` (over what the kubeconfig set)."""
        if self.client_cert:
            cfg.cert_file = self.client_cert
            cfg.key_file = self.client_key
        if self.username:
            basic = base64.b64encode(('%s:%s' % (self.username, self.password)).encode('utf-8')).decode('ascii')
            cfg.api_key = {'authorization': 'Basic ' + basic}
            cfg.api_key_prefix = {}
        if self.proxy:
            cfg.proxy = self.proxy
            if self.proxy_headers:
                cfg.proxy_headers = urllib3.util.make_headers(**self.proxy_headers)
        if self.no_proxy:
            cfg.no_proxy = self.no_proxy

    def proxied(self, server):
        """True when the requests to ``server`` go through the proxy (it is set and ``no_proxy`` does
        not name the server)."""
        if not self.proxy:
            return False
        try:
            from kubernetes.client.rest import should_bypass_proxies  # pylint: disable=import-outside-toplevel
        except ImportError:  # pragma: no cover - older clients: no no_proxy at all
            return True
        return not should_bypass_proxies(server, self.no_proxy or '')


class _HeaderAddingPool(object):
    """The client's pool manager with ``pairs`` (name, value) added to the headers of every request
    (a header may repeat: one ``Impersonate-Group`` per group, as the API server reads them)."""

    def __init__(self, pool, pairs):
        self._pool = pool
        self._pairs = list(pairs)

    def request(self, method, url, *args, **kwargs):
        headers = urllib3.HTTPHeaderDict(kwargs.get('headers') or {})
        for name, value in self._pairs:
            headers.add(name, value)
        kwargs['headers'] = headers
        return self._pool.request(method, url, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._pool, name)


def _cache_key(kubeconfig, context, host, api_key, validate_certs, ca_cert, auth):
    token = hashlib.sha256(api_key.encode('utf-8')).hexdigest() if api_key else None
    # a kubeconfig rewritten meanwhile (a rotated token) makes a new client
    stamp = _kubeconfig.signature(os.path.expanduser(kubeconfig)) if kubeconfig else None
    return (kubeconfig, stamp, context, host, token, bool(validate_certs), ca_cert, auth.cache_key())


def _reduced_kubeconfig(path, context):
    """``kubeconfig.reduced`` or None (use the client's own loader, which also gives its own error
    messages) when the file cannot be read that way."""
    try:
        return _kubeconfig.reduced(path, context)
    except FleetopsError:
        return None


def api_client_for(kubeconfig=None, context=None, host=None, api_key=None, validate_certs=True, ca_cert=None, auth=None):
    """One ``ApiClient`` per configuration, cached in-process. Returns (api_client, cluster label).
    ``auth``: a ``KubeAuth`` (the other connection options), checked first."""
    if not HAS_KUBERNETES:
        raise MissingLibrary('kubernetes')
    auth = auth or KubeAuth()
    auth.check(api_key)
    key = _cache_key(kubeconfig, context, host, api_key, validate_certs, ca_cert, auth)
    with _CLIENTS_LOCK:
        if key in _CLIENTS:
            return _CLIENTS[key]
        cfg = k8s_client.Configuration()
        label = context
        use_file = bool(kubeconfig or context or not host)
        if use_file:
            path = os.path.expanduser(kubeconfig) if kubeconfig else None
            if path and not os.path.exists(path):
                raise TargetConfigError('kubeconfig %s does not exist' % path)
            try:
                reduced = _reduced_kubeconfig(path, context) if path else None
                if reduced is not None:
                    k8s_config.load_kube_config_from_dict(reduced, context=reduced['current-context'],
                                                          client_configuration=cfg, persist_config=False)
                    label = label or reduced['current-context']
                else:
                    k8s_config.load_kube_config(config_file=path, context=context, client_configuration=cfg, persist_config=False)
                if not label:
                    try:
                        _contexts, active = k8s_config.list_kube_config_contexts(config_file=path)
                        label = (active or {}).get('name')
                    except Exception:  # pylint: disable=broad-except
                        label = None
            except Exception as exc:  # pylint: disable=broad-except
                if host or (not kubeconfig and not context and os.environ.get('KUBERNETES_SERVICE_HOST')):
                    try:
                        if not host:
                            k8s_config.load_incluster_config(client_configuration=cfg)
                    except Exception as exc2:  # pylint: disable=broad-except
                        raise TargetConfigError('no usable Kubernetes configuration: %s' % one_line(redact(exc2, [api_key])))
                else:
                    raise TargetConfigError('cannot load the kubeconfig%s%s: %s' % (
                        ' ' + kubeconfig if kubeconfig else '', ' (context %s)' % context if context else '',
                        one_line(redact(exc, [api_key]), 200)))
        if host:
            cfg.host = host.rstrip('/')
        if api_key:
            cfg.api_key = {'authorization': 'Bearer ' + api_key}
            cfg.api_key_prefix = {}
        if ca_cert:
            if not os.path.exists(ca_cert):
                raise TargetConfigError('ca_cert %s does not exist' % ca_cert)
            cfg.ssl_ca_cert = ca_cert
        cfg.verify_ssl = bool(validate_certs)
        if not validate_certs:
            cfg.assert_hostname = False
        auth.configure(cfg)
        try:
            cfg.retries = 1
        except Exception:  # pylint: disable=broad-except
            pass
        api = k8s_client.ApiClient(configuration=cfg)
        if auth.headers():
            api.rest_client.pool_manager = _HeaderAddingPool(api.rest_client.pool_manager, auth.headers())
        if not label:
            label = cfg.host
        _CLIENTS[key] = (api, label)
        return _CLIENTS[key]


def clear_client_cache():
    with _CLIENTS_LOCK:
        _CLIENTS.clear()


class KubeTarget(Target):
    """An agent pod reached through the Kubernetes API."""

    kind = 'kubernetes'

    def __init__(self, kubeconfig=None, context=None, host=None, api_key=None, validate_certs=True, ca_cert=None,
                 namespace='monitoring', pod=None, label_selector='app.kubernetes.io/name=prometheus-agent',
                 container='prometheus', port=9090, timeout=30, deadline=None, auth=None):
        self.auth = auth or KubeAuth()   # the other connection options (KubeAuth)
        self._secrets = [api_key] + self.auth.secrets
        try:
            self.api_client, self.cluster = api_client_for(kubeconfig, context, host, api_key, validate_certs, ca_cert,
                                                           auth=self.auth)
        except TargetConfigError as exc:
            raise TargetConfigError(redact(exc, self._secrets))
        self.deadline = deadline      # a core.http.Deadline over every request of this target (the run's), or None
        self.namespace = namespace
        self.fixed_pod = pod
        self.label_selector = label_selector
        self.container = container
        self.port = port
        self.timeout = timeout
        self._pod = pod
        self._core = self._apps = self._custom = None
        self._keep_pods = False       # keep_pods(): a read-only run lists the pods once
        self._kept_pods = None        # that listing, once made

    # -- the API objects other code uses directly
    @property
    def core(self):
        if self._core is None:
            self._core = k8s_client.CoreV1Api(self.api_client)
        return self._core

    @property
    def apps(self):
        if self._apps is None:
            self._apps = k8s_client.AppsV1Api(self.api_client)
        return self._apps

    @property
    def custom(self):
        if self._custom is None:
            self._custom = k8s_client.CustomObjectsApi(self.api_client)
        return self._custom

    @property
    def server(self):
        return self.api_client.configuration.host

    def where(self):
        return 'cluster %s: API server %s' % (self.cluster, self.server)

    def _proxy_error(self, exc, where):
        """The error of a request that failed at the proxy (not answered, refused, or a CONNECT
        refused), or None when it did not go through one."""
        if not self.auth.proxied(self.server):
            return None
        chain, cur = [], exc
        while cur is not None and len(chain) < 8:
            chain.append(cur)
            cur = getattr(cur, 'reason', None) if isinstance(getattr(cur, 'reason', None), BaseException) \
                else (cur.__cause__ or cur.__context__)
        text = ' '.join(str(e) for e in chain).lower()
        at_proxy = any(type(e).__name__ in ('ProxyError', 'WebSocketProxyException') for e in chain)
        refused = any(isinstance(e, OSError) and getattr(e, 'errno', None) == errno.ECONNREFUSED for e in chain)
        if not (at_proxy or refused or 'tunnel connection failed' in text):
            return None
        why = 'refused the connection' if refused else 'did not open the tunnel (%s)' % one_line(
            redact(chain[-1], self._secrets), 160)
        return TargetUnreachable('%s: the proxy %s %s; check proxy, proxy_headers and no_proxy' % (
            where, self.auth.proxy_label(), why))

    def describe(self):
        return 'cluster %s pod %s/%s' % (self.cluster, self.namespace, self._pod or '(%s)' % self.label_selector)

    def _raise(self, exc, what=None):
        """Map any exception of the client to errors.py (re-raises FleetopsError as is)."""
        if isinstance(exc, FleetopsError):
            raise exc
        where = self.where() + ((' (%s)' % what) if what else '')
        if isinstance(exc, ApiException):
            status = getattr(exc, 'status', None)
            body = getattr(exc, 'body', None)
            if status == 0 or status is None:
                raise self._proxy_error(exc, where) or classify_connection_error(exc, where, self._secrets)
            raise classify_api_status(status, body, where, self._secrets)
        status = getattr(exc, 'status', None) or getattr(exc, 'status_code', None)
        if isinstance(status, int) and status >= 400:
            raise classify_api_status(status, getattr(exc, 'body', None) or getattr(exc, 'resp_body', None), where, self._secrets)
        raise self._proxy_error(exc, where) or classify_connection_error(exc, where, self._secrets)

    def _timeout(self, timeout, what=None):
        """The seconds one request (connect, TLS, each read) may take: ``timeout`` (default the
        target's), no more than the run's deadline leaves; TargetTimeout when nothing is left."""
        limit = float(timeout or self.timeout or 30)
        if self.deadline is None:
            return limit
        left = self.deadline.remaining()
        if left <= 0:
            raise TargetTimeout('%s%s did not answer in time: the timeout of %gs for the whole run is spent '
                                '(raise timeout for a slow cluster)' % (
                                    self.where(), (' (%s)' % what) if what else '', self.deadline.seconds))
        return min(limit, left)

    def socket_timeout(self, timeout=None, what=None):
        """``_timeout`` for one read of a socket this target opened (the exec stream of ``FlatStream``)."""
        return self._timeout(timeout, what)

    def _body(self, raw, what=None):
        """The whole body of a raw response, every read bounded by the time left."""
        try:
            return b''.join(self._chunks(raw, CHUNK_SIZE, what))
        finally:
            _release(raw)

    def _chunks(self, raw, chunk_size, what=None):
        """The body of a raw response chunk by chunk; with a deadline each read gets the time left
        (the socket's timeout set before it; one read returns what one receive brings)."""
        if self.deadline is None or not hasattr(raw, 'read'):
            if hasattr(raw, 'stream'):
                for chunk in raw.stream(chunk_size):
                    if chunk:
                        yield chunk
            else:
                yield _read_all(raw)
            return
        read = getattr(raw, 'read1', None) or raw.read
        while True:
            sock = getattr(getattr(raw, 'connection', None), 'sock', None)
            if sock is not None:
                sock.settimeout(self._timeout(None, what))
            elif self.deadline.expired():
                self._timeout(None, what)
            chunk = read(chunk_size)
            if not chunk:
                return
            yield chunk

    # -- raw JSON requests (no typed API classes: building CoreV1Api costs ~1 CPU-s per process
    # with the pydantic-generated client, and typed deserialization another ~0.6; see
    # docs/benchmarks.md). Remediation code still uses ``core``/``apps``/``custom``.
    def get_json(self, path, query=None, what=None, missing_ok=False):
        """The decoded JSON of a GET on the API server; None for a 404 when ``missing_ok``."""
        return self.request_json('GET', path, query=query, what=what, missing_ok=missing_ok)

    def request_json(self, method, path, body=None, query=None, what=None, missing_ok=False, content_type=None):
        """The decoded JSON answer of ``method`` on the API server (``body`` sent as JSON with
        ``content_type``, e.g. a merge patch); None for an empty answer or, when ``missing_ok``, a 404.
        An error answer raises the errors of errors.py, its HTTP status in ``details['status']``."""
        try:
            status, raw = self._raw_get(path, None, query, method=method, body=body, content_type=content_type,
                                        what=what)
            data = self._body(raw, what)
        except FleetopsError:
            raise
        except Exception as exc:  # pylint: disable=broad-except
            self._raise(exc, what)
        if status == 404 and missing_ok:
            return None
        if status >= 400:
            error = classify_api_status(status, data, self.where() + ((' (%s)' % what) if what else ''), self._secrets)
            error.details['status'] = status
            raise error
        if not data.strip():
            return None
        try:
            return json.loads(data.decode('utf-8'))
        except ValueError as exc:
            raise FleetopsError('%s: the API server answered %s with no JSON (%s)' % (self.where(), path, exc))

    # -- pods
    def pods(self):
        """The agent pods (the API's camelCase JSON): the named one, or those matching the selector."""
        base = '/api/v1/namespaces/%s/pods' % quote(self.namespace, safe='')
        if self.fixed_pod:
            pod = self.get_json('%s/%s' % (base, quote(self.fixed_pod, safe='')), what='reading pod %s' % self.fixed_pod,
                                missing_ok=True)
            return [pod] if pod else []
        if self._kept_pods is not None:
            return list(self._kept_pods)
        query = [('labelSelector', self.label_selector)] if self.label_selector else None
        pods = workloads.list_items(self, base, query, what='listing pods') or []
        if self._keep_pods:
            self._kept_pods = pods
        return list(pods)

    def keep_pods(self):
        """From now on list the agent's pods once: a read-only run whose parts each ask for them
        (agent_audit: remote write, status, WAL) sees one listing. A copy pinned to a pod
        (``for_pod``) reads only its own pod; ``forget_pod`` lists them again."""
        self._keep_pods = True

    @property
    def secrets(self):
        """The values no message may show (the API key, the credentials)."""
        return [value for value in self._secrets if value]

    def warning_events(self):
        """The Warning events of the agent's namespace (one LIST; the API's camelCase JSON)."""
        return workloads.list_warning_events(self, self.namespace)

    def node_oom_events(self):
        """The OOMKilling events of the nodes (one LIST in ``default``; the API's camelCase JSON)."""
        return workloads.list_node_oom_events(self)

    def pod_metrics(self, pod_name=None):
        """The metrics.k8s.io PodMetrics of a pod (default: the agent pod) as a dict; raises when not served."""
        return self.get_json('/apis/metrics.k8s.io/v1beta1/namespaces/%s/pods/%s' % (
            quote(self.namespace, safe=''), quote(pod_name or self.pod_name, safe='')), what='pod metrics')

    @staticmethod
    def _pod_rank(pod):
        status = pod.get('status') or {}
        ready = any(c.get('type') == 'Ready' and c.get('status') == 'True' for c in status.get('conditions') or [])
        deleting = (pod.get('metadata') or {}).get('deletionTimestamp') is not None
        return (0 if ready and not deleting else 1, 0 if status.get('phase') == 'Running' else 1,
                (pod.get('metadata') or {}).get('name') or '')

    @property
    def pod_name(self):
        """The pod the HTTP API, exec and logs go to (resolved once from the selector)."""
        if self._pod:
            return self._pod
        pods = self.pods()
        if not pods:
            raise TargetUnreachable('cluster %s: no pod matches %s in namespace %s; check label_selector/pod and namespace'
                                    % (self.cluster, self.label_selector, self.namespace))
        self._pod = sorted(pods, key=self._pod_rank)[0]['metadata']['name']
        return self._pod

    @property
    def pod_ref(self):
        return self.pod_name

    def forget_pod(self):
        """Resolve the pod again next time (after a restart replaced it)."""
        if not self.fixed_pod:
            self._pod = None
            self._kept_pods = None

    def for_pod(self, name):
        """This target pinned to the pod ``name`` (another pod of the same selector): the same
        API client, deadline and timeout; its HTTP API, exec and logs go to that pod."""
        other = copy.copy(self)
        other.fixed_pod = other._pod = name
        return other

    # -- HTTP through the pod proxy
    def _proxy_path(self, path):
        if not path.startswith('/'):
            path = '/' + path
        return '/api/v1/namespaces/%s/pods/%s:%s/proxy%s' % (self.namespace, self.pod_name, self.port, path)

    def _raw_get(self, resource_path, timeout, query=None, method='GET', body=None, content_type=None, what=None):
        """(status, urllib3 response not yet read) of a GET (or ``method`` with a JSON ``body``) on the
        API server, any version of the client. Connect, TLS and the wait for the answer get
        ``timeout`` (default the target's), no more than the run's deadline leaves."""
        api = self.api_client
        headers = {'Accept': '*/*'}
        if body is not None:
            headers['Content-Type'] = content_type or 'application/json'
        if hasattr(api, 'param_serialize'):
            verb, url, hdrs, data, _post = api.param_serialize(
                method, resource_path, query_params=list(query or []), header_params=headers, body=body,
                auth_settings=['BearerToken'])
            raw = self._send(verb, url, hdrs, data, timeout, what)
            return raw.status, raw
        limit = self._timeout(timeout, what)
        try:
            raw = api.call_api(resource_path, method, query_params=list(query or []), header_params=headers, body=body,
                               auth_settings=['BearerToken'], _preload_content=False, _request_timeout=(limit, limit),
                               _return_http_data_only=True)
        except ApiException as exc:
            return exc.status, _Preread(exc.body)
        return raw.status, raw

    def _send(self, method, url, headers, body, timeout, what=None):
        """One request through the client's connection pool (its TLS, proxy and authentication
        settings), each attempt with the time left: urllib3's own retry would give a second attempt
        the whole timeout again. One more attempt after a failure that is not a timeout, while
        time is left (a connection the server closed; not twice a request that may have been
        applied: only a refused connection is tried again for a change)."""
        pool = self.api_client.rest_client.pool_manager
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        for attempt in (0, 1):
            limit = self._timeout(timeout, what)
            try:
                return pool.request(method, url, body=body, headers=headers, preload_content=False,
                                    timeout=urllib3.Timeout(connect=limit, read=limit), retries=_ONE_ATTEMPT)
            except urllib3.exceptions.MaxRetryError as exc:
                reason = exc.reason
                again = not isinstance(reason, (urllib3.exceptions.TimeoutError, socket.timeout))
                if method not in ('GET', 'HEAD'):
                    again = again and isinstance(reason, urllib3.exceptions.NewConnectionError)
                if attempt or not again or (self.deadline is not None and self.deadline.expired()):
                    raise
        raise TargetUnreachable(self.where())  # pragma: no cover - the loop returns or raises

    def _proxy_open(self, path, timeout):
        for attempt in (0, 1):
            try:
                status, raw = self._raw_get(self._proxy_path(path), timeout, what='GET %s on pod %s' % (path, self._pod))
            except FleetopsError:
                raise
            except Exception as exc:  # pylint: disable=broad-except
                self._raise(exc, 'GET %s on pod %s' % (path, self._pod))
            if status >= 400:
                body = self._body(raw, 'reading %s' % path)
                message = _status_message(body)
                if message is None:
                    return status, _Preread(body)     # the agent's own answer
                if status == 404 and attempt == 0 and not self.fixed_pod:
                    self.forget_pod()
                    continue
                if status == 503 and 'error trying to reach service' in message:
                    raise TargetUnreachable('cluster %s: the agent in pod %s/%s does not answer on port %s (%s)' % (
                        self.cluster, self.namespace, self._pod, self.port, one_line(message, 160)))
                raise classify_api_status(status, body, self.where() + ' (GET %s on pod %s)' % (path, self._pod), self._secrets)
            return status, raw
        raise TargetUnreachable('cluster %s: pod %s/%s is gone' % (self.cluster, self.namespace, self._pod))  # pragma: no cover

    def http_get(self, path, timeout=None):
        status, raw = self._proxy_open(path, timeout)
        try:
            return status, self._body(raw, 'reading %s' % path)
        except Exception as exc:  # pylint: disable=broad-except
            self._raise(exc, 'reading %s' % path)

    def http_get_stream(self, path, timeout=None, chunk_size=CHUNK_SIZE):
        status, raw = self._proxy_open(path, timeout)
        return status, self._iter_raw(raw, chunk_size, path)

    def _iter_raw(self, raw, chunk_size, path):
        try:
            yield from self._chunks(raw, chunk_size, 'reading %s' % path)
        except Exception as exc:  # pylint: disable=broad-except
            self._raise(exc, 'reading %s' % path)
        finally:
            _release(raw)

    # -- exec
    def open_exec(self, argv, binary=True):
        """A WebSocket exec session (the client's WSClient, the v4/v5 channel protocols)."""
        if not HAS_STREAM:
            raise MissingLibrary('kubernetes', 'kubernetes.stream (websocket-client) is required for exec')
        query = [('command', arg) for arg in argv] + [
            ('container', self.container), ('stderr', 'true'), ('stdin', 'false'), ('stdout', 'true'), ('tty', 'false')]
        path = '/api/v1/namespaces/%s/pods/%s/exec' % (quote(self.namespace, safe=''), quote(self.pod_name, safe=''))
        api = self.api_client
        bound = _WS_CONNECT_TIMEOUT.set(self._timeout(None, 'exec in pod %s' % self._pod))
        extra = _WS_EXTRA_HEADERS.set(tuple(self.auth.headers()))
        try:
            if hasattr(api, 'param_serialize'):
                _method, url, headers, _body, _post = api.param_serialize(
                    'GET', path, query_params=query, header_params={'Accept': '*/*'}, auth_settings=['BearerToken'])
                kwargs = {'binary': True} if binary else {}
                try:
                    return k8s_ws_client.WSClient(api.configuration, k8s_ws_client.get_websocket_url(url), headers,
                                                  True, **kwargs)
                except TypeError:
                    return k8s_ws_client.WSClient(api.configuration, k8s_ws_client.get_websocket_url(url), headers, True)
            # clients before param_serialize (< 29): the generated method through stream()
            kwargs = dict(command=list(argv), container=self.container, stderr=True, stdin=False, stdout=True, tty=False,
                          _preload_content=False)
            return k8s_stream(self.core.connect_get_namespaced_pod_exec, self.pod_name, self.namespace, **kwargs)
        except FleetopsError:
            raise
        except Exception as exc:  # pylint: disable=broad-except
            self._raise(exc, 'exec in pod %s' % self._pod)
        finally:
            _WS_CONNECT_TIMEOUT.reset(bound)
            _WS_EXTRA_HEADERS.reset(extra)

    @staticmethod
    def _as_bytes(data):
        if isinstance(data, bytes):
            return data
        return (data or '').encode('utf-8', 'surrogateescape')

    def _returncode(self, ws):
        try:
            rc = ws.returncode
        except Exception:  # pylint: disable=broad-except
            rc = None
        return rc

    def _exec_frames(self, argv, timeout=None, idle=False):
        """``('out' | 'err', bytes)`` of a command in the agent's container as they arrive, then
        ``('rc', exit code or None)``. ``timeout`` bounds the whole command, or with ``idle`` the
        time without output; the run's deadline bounds it all."""
        limit = float(timeout or self.timeout or 30)
        what = '%s in pod %s' % (' '.join(argv[:3]), self._pod)
        ws = self.open_exec(argv, binary=True)
        channels = (('out', ws.peek_stdout, ws.read_stdout), ('err', ws.peek_stderr, ws.read_stderr))
        deadline = _now() + limit
        try:
            while ws.is_open():
                if _now() > deadline:
                    raise TargetTimeout('cluster %s: %s in pod %s/%s %s %ss' % (
                        self.cluster, ' '.join(argv[:3]), self.namespace, self._pod,
                        'sent nothing for' if idle else 'did not finish within', limit))
                left = min(self._timeout(None, what), max(deadline - _now(), 0.001))
                sock = getattr(getattr(ws, 'sock', None), 'sock', None)
                if sock is not None:
                    sock.settimeout(left)   # a frame that starts and never ends
                ws.update(timeout=min(1.0, left))
                got = False
                for kind, peek, read in channels:
                    if peek():
                        got = True
                        yield kind, self._as_bytes(read())
                if got and idle:
                    deadline = _now() + limit
            for kind, peek, read in channels:
                if peek():
                    yield kind, self._as_bytes(read())
            rc = self._returncode(ws)
        except FleetopsError:
            raise
        except Exception as exc:  # pylint: disable=broad-except
            self._raise(exc, 'exec in pod %s' % self._pod)
        finally:
            try:
                ws.close()
            except Exception:  # pylint: disable=broad-except
                pass
        yield 'rc', rc

    def exec(self, argv, timeout=None):
        """(rc, stdout, stderr) of a command in the agent's container."""
        found = {'out': [], 'err': [], 'rc': []}
        for kind, data in self._exec_frames(argv, timeout):
            found[kind].append(data)
        rc = found['rc'][0] if found['rc'] else None
        return (rc if rc is not None else 0), b''.join(found['out']), b''.join(found['err'])

    def exec_stream(self, argv, chunk_size=CHUNK_SIZE):
        """stdout of a command in the agent's container, chunk by chunk as it arrives (the
        timeout bounds the time without output); a non-zero exit raises at the end."""
        err = []
        rc = None
        for kind, data in self._exec_frames(argv, idle=True):
            if kind == 'out' and data:
                yield data
            elif kind == 'err':
                err.append(data[-4096:])
            elif kind == 'rc':
                rc = data
        if rc:
            raise FleetopsError('%s in pod %s/%s exited %s: %s' % (
                ' '.join(argv[:3]), self.namespace, self._pod, rc, one_line(b''.join(err).decode('utf-8', 'replace'), 200)))

    # -- logs
    def logs(self, since_seconds=None, since_time=None, tail_lines=None, timestamps=True, previous=False):
        """The container's log (text). ``since_time`` (RFC3339 or epoch) is turned into
        ``since_seconds`` for the API and the older lines are dropped here."""
        query = [('container', self.container)]
        if timestamps or since_time is not None:
            query.append(('timestamps', 'true'))
        since_epoch = parse_time(since_time) if since_time is not None else None
        if since_epoch is not None:
            since_seconds = max(1, int(_now() - since_epoch) + 2)
        if since_seconds is not None:
            query.append(('sinceSeconds', str(max(1, int(since_seconds)))))
        if tail_lines is not None:
            query.append(('tailLines', str(int(tail_lines))))
        if previous:
            query.append(('previous', 'true'))
        path = '/api/v1/namespaces/%s/pods/%s/log' % (quote(self.namespace, safe=''), quote(self.pod_name, safe=''))
        try:
            status, raw = self._raw_get(path, None, query, what='log of pod %s' % self._pod)
            data = self._body(raw, 'log of pod %s' % self._pod)
        except FleetopsError:
            raise
        except Exception as exc:  # pylint: disable=broad-except
            self._raise(exc, 'log of pod %s' % self._pod)
        if status >= 400:
            raise classify_api_status(status, data, self.where() + ' (log of pod %s)' % self._pod, self._secrets)
        text = data.decode('utf-8', 'replace') if isinstance(data, bytes) else str(data)
        if since_epoch is not None:
            text = _drop_before(text, since_epoch, keep_timestamps=timestamps)
        return text


def _drop_before(text, since_epoch, keep_timestamps=True):
    """Lines of ``<RFC3339> line`` text at or after ``since_epoch``."""
    out = []
    for line in text.splitlines():
        stamp, _sep, rest = line.partition(' ')
        try:
            when = parse_time(stamp)
        except ValueError:
            when = None
        if when is not None and when < since_epoch:
            continue
        out.append(line if keep_timestamps or when is None else rest)
    return '\n'.join(out) + ('\n' if out else '')


class _Preread(object):
    """A body already read, with the shape of a response."""

    def __init__(self, data):
        self.data = data if isinstance(data, bytes) else (data or '').encode('utf-8')

    def stream(self, _chunk_size):
        yield self.data


def _read_all(raw):
    if raw is None:
        return b''
    if isinstance(raw, bytes):
        return raw
    if isinstance(raw, str):
        return raw.encode('utf-8')
    data = getattr(raw, 'data', None)
    if data is None and hasattr(raw, 'read'):
        data = raw.read()
    _release(raw)
    if isinstance(data, str):
        data = data.encode('utf-8')
    return data or b''


def _release(raw):
    for name in ('release_conn', 'close'):
        func = getattr(raw, name, None)
        if func is not None:
            try:
                func()
            except Exception:  # pylint: disable=broad-except
                pass
            return


# ------------------------------------------------------------------------------- direct

class DirectTarget(Target):
    """An agent reached at ``url`` (and, on its own host, a local WAL ``path`` and log file)."""

    kind = 'direct'

    def __init__(self, url, username=None, password=None, bearer_token=None, validate_certs=True, ca_cert=None,
                 timeout=30, path=None, log_file=None, deadline=None):
        self._http = HttpClient(url, timeout=float(timeout or 30), validate_certs=validate_certs, ca_cert=ca_cert,
                                bearer_token=bearer_token, username=username, password=password, what='agent')
        self.url = self._http.url
        self.timeout = timeout
        self.deadline = deadline      # a core.http.Deadline over every request of this target, or None
        self.path = path
        self.log_file = log_file
        self._secrets = [password, bearer_token]

    def where(self):
        return self._http.where

    def describe(self):
        return self.where()

    def _open(self, path, timeout, stream):
        """The agent's answer; 401/403 raise (the credentials), any other status is data."""
        answer = self._http.get(path, timeout=float(timeout or self.timeout or 30), deadline=self.deadline, stream=stream)
        if answer.status in (401, 403):
            raise classify_api_status(answer.status, answer.read(), self.where(), self._secrets)
        return answer

    def http_get(self, path, timeout=None):
        answer = self._open(path, timeout, stream=False)
        return answer.status, answer.body

    def http_get_stream(self, path, timeout=None, chunk_size=CHUNK_SIZE):
        answer = self._open(path, timeout, stream=True)
        return answer.status, answer.chunks(chunk_size)

    def exec(self, argv, timeout=None):
        """Run a command on this host (where the agent runs)."""
        try:
            proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as exc:
            raise FleetopsError('cannot run %s: %s' % (argv[0], exc))
        limit = float(timeout or self.timeout or 30)
        if self.deadline is not None:
            limit = max(min(limit, self.deadline.remaining()), 0.001)
        try:
            out, err = proc.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise TargetTimeout('%s did not finish in time' % ' '.join(argv[:3]))
        return proc.returncode, out, err

    def exec_stream(self, argv, chunk_size=CHUNK_SIZE):
        try:
            proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as exc:
            raise FleetopsError('cannot run %s: %s' % (argv[0], exc))
        try:
            while True:
                data = proc.stdout.read(chunk_size)
                if not data:
                    break
                yield data
            err = proc.stderr.read()
            rc = proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if rc:
            raise FleetopsError('%s exited %s: %s' % (' '.join(argv[:3]), rc, one_line(err.decode('utf-8', 'replace'), 200)))

    def logs(self, since_seconds=None, since_time=None, tail_lines=None, timestamps=True):
        """Lines of the local ``log_file`` (plain, or CRI ``<time> stderr F <line>``)."""
        if not self.log_file:
            raise FleetopsError('no log_file is set: with url the agent\'s log is read from a local file')
        try:
            with open(self.log_file, 'rb') as handle:
                data = handle.read()
        except (IOError, OSError) as exc:
            raise FleetopsError('cannot read the log file %s: %s' % (self.log_file, exc))
        lines = data.decode('utf-8', 'replace').splitlines()
        since = parse_time(since_time) if since_time is not None else None
        if since_seconds is not None:
            since = max(since or 0, _now() - float(since_seconds))
        if tail_lines is not None:
            lines = lines[-int(tail_lines):] if int(tail_lines) > 0 else []
        text = '\n'.join(lines) + ('\n' if lines else '')
        if since is not None:
            text = filter_lines_since(text, since)
        return text


_CRI = re.compile(r'^(\S+) (?:stdout|stderr) [FP] ')


def filter_lines_since(text, since_epoch):
    """Drop lines older than ``since_epoch`` (CRI prefix, leading RFC3339, or logfmt ``ts=``)."""
    out = []
    for line in text.splitlines():
        when = line_time(line)
        if when is not None and when < since_epoch:
            continue
        out.append(line)
    return '\n'.join(out) + ('\n' if out else '')


_TS = re.compile(r'(?:^|\s)(?:ts|time)="?(\d{4}-\d\d-\d\d[T ][0-9:.]+(?:Z|[+-]\d\d:?\d\d)?)')
_JSON_TS = re.compile(r'"(?:ts|time)"\s*:\s*"([^"]+)"')


def line_time(line):
    """The time of a log line (epoch seconds) or None."""
    head = line.split(' ', 1)[0]
    if head[:4].isdigit() and len(head) >= 19 and head[4:5] == '-':
        try:
            return parse_time(head)
        except ValueError:
            pass
    match = _TS.search(line) or _JSON_TS.search(line)
    if match:
        try:
            return parse_time(match.group(1))
        except ValueError:
            return None
    return None


__all__ = ['Target', 'KubeTarget', 'KubeAuth', 'DirectTarget', 'HAS_KUBERNETES', 'api_client_for', 'clear_client_cache',
           'line_time', 'filter_lines_since', 'classify_api_status']
