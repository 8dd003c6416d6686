# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one HTTP client of the domain layer, and the PromQL query client on top of it.

Pure Python (standard library only, no Ansible). ``HttpClient(url, ...)`` reaches one base URL:

* TLS is verified unless ``validate_certs=False``; ``ca_cert`` names a CA bundle file;
* a bearer token, or basic auth (``username``/``password``, or ``user:password@`` in the URL);
* the proxies of the environment (``HTTP_PROXY``, ``HTTPS_PROXY``, ``NO_PROXY``) are honoured, an
  HTTPS URL through a proxy by ``CONNECT``;
* every request runs under a ``Deadline``: one total time for the name lookup's connection, the
  TLS handshake, sending and every read of the answer. Each socket operation gets the time that
  is left as its timeout, so a server that accepts the connection and never answers (no
  handshake, no byte) or drips a byte at a time is cut off when the deadline passes, whatever
  the number of operations. (The name lookup itself is the system resolver's and has no timeout
  of its own.) A deadline can be shared: a module makes one for its whole run and passes it to
  every request;
* the HTTP status is data (``Response.status``); only a failure to get an answer raises, as an
  error of ``errors.py`` (``TargetTimeout``, ``TargetUnreachable``, ``TargetConfigError``) whose
  message names ``where`` and never a secret.

``QueryClient(url, ...)`` runs instant queries against a Prometheus-compatible query API
(Prometheus, Thanos Query, the lab's receiver).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import errno
import http.client
import io
import json
import os
import re
import socket
import ssl
import time

from urllib.parse import unquote, urlencode, urljoin, urlsplit
from urllib.request import getproxies, proxy_bypass

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import (
    FleetopsError, ParseError, QueryRefused, TargetAuthError, TargetConfigError, TargetTimeout, TargetUnreachable,
    one_line)
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.scrub import redact

USER_AGENT = 'fleetops.prometheus_agent'
CHUNK_SIZE = 256 * 1024
MAX_REDIRECTS = 5
_REDIRECTS = (301, 302, 303, 307, 308)


# ----------------------------------------------------------------------------- deadline

class Deadline(object):
    """A point in time by which something must be done: ``Deadline(30)`` is 30 s from now.

    ``remaining()`` is the time left (never below 0); ``timeout()`` is the time left as a socket
    timeout, raising ``socket.timeout`` when none is left; ``within(seconds)`` is a deadline that
    ends ``seconds`` from now or with this one, whichever comes first; ``pause(seconds)`` sleeps
    and moves the end as far (a wait on purpose, e.g. between two readings, is not a server's).
    """

    def __init__(self, seconds, clock=time.monotonic):
        self.seconds = float(seconds)
        self._clock = clock
        self._end = clock() + self.seconds

    @classmethod
    def of(cls, value, default=30.0):
        """``value`` as a Deadline: a Deadline as is, a number of seconds, or ``default`` for None/0."""
        if isinstance(value, Deadline):
            return value
        return cls(float(value or default))

    def remaining(self):
        return max(0.0, self._end - self._clock())

    def expired(self):
        return self._end <= self._clock()

    def timeout(self):
        left = self._end - self._clock()
        if left <= 0:
            raise socket.timeout('the deadline of %gs passed' % self.seconds)
        return left

    def pause(self, seconds, sleep=time.sleep):
        started = self._clock()
        sleep(seconds)
        self._end += self._clock() - started

    def within(self, seconds):
        if seconds is None:
            return self
        child = Deadline(seconds, self._clock)
        if self._end < child._end:
            child._end = self._end
            child.seconds = self.seconds
        return child


class _DeadlineSocket(object):
    """A socket whose every operation is bounded by the time left of a deadline.

    ``http.client`` reads the answer through ``makefile()``; the file made here reads through
    this object, so each ``recv_into`` sets the socket's timeout to what is left first. The
    reference counting mirrors ``socket.socket``: the socket is closed when it was closed and
    the last file made from it is closed.
    """

    def __init__(self, sock, deadline):
        self._sock = sock
        self._deadline = deadline
        self._files = 0
        self._closed = False

    def _arm(self):
        self._sock.settimeout(self._deadline.timeout())

    def recv_into(self, buffer, *args):
        self._arm()
        return self._sock.recv_into(buffer, *args)

    def recv(self, size, *args):
        self._arm()
        return self._sock.recv(size, *args)

    def send(self, data, *args):
        self._arm()
        return self._sock.send(data, *args)

    def sendall(self, data, *args):
        self._arm()
        return self._sock.sendall(data, *args)

    def makefile(self, mode='rb', buffering=None, **_kwargs):
        if 'b' not in mode or 'w' in mode:
            raise ValueError('only binary reading files: %r' % mode)
        self._files += 1
        return io.BufferedReader(socket.SocketIO(self, 'rb'), buffering or io.DEFAULT_BUFFER_SIZE)

    def _decref_socketios(self):
        if self._files > 0:
            self._files -= 1
        if self._closed:
            self.close()

    def close(self):
        self._closed = True
        if self._files <= 0:
            self._sock.close()

    def __getattr__(self, name):
        return getattr(self._sock, name)


def _connect(host, port, deadline):
    """A TCP connection to (host, port), each address tried within the time left."""
    error = None
    for family, kind, proto, _name, address in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(deadline.timeout())
            sock.connect(address)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        except (OSError, socket.timeout) as exc:
            sock.close()
            error = exc
            if isinstance(exc, socket.timeout) or deadline.expired():
                break
    raise error if error is not None else OSError(errno.EHOSTUNREACH, 'no address for %s' % host)


def _tunnel(sock, host, port, headers):
    """An HTTP CONNECT tunnel to (host, port) through the proxy ``sock`` is connected to."""
    lines = ['CONNECT %s:%d HTTP/1.1' % (host, port), 'Host: %s:%d' % (host, port)]
    lines += ['%s: %s' % item for item in headers.items()]
    sock.sendall(('\r\n'.join(lines) + '\r\n\r\n').encode('latin-1'))
    reader = sock.makefile('rb')
    try:
        status = reader.readline(65537).decode('latin-1', 'replace').split(None, 2)
        while True:
            line = reader.readline(65537)
            if line in (b'\r\n', b'\n', b''):
                break
    finally:
        reader.close()
    if len(status) < 2 or status[1] != '200':
        raise OSError(errno.ECONNREFUSED, 'the proxy refused the tunnel to %s:%d (%s)' % (host, port, ' '.join(status[1:])))


class _Connection(http.client.HTTPConnection):
    """An ``http.client`` connection whose connect, TLS handshake, send and reads are bounded by a
    deadline (see ``_DeadlineSocket``), optionally through a proxy (``tunnel``: CONNECT to it)."""

    def __init__(self, host, port, deadline, tls=None, server_hostname=None, tunnel=None):
        http.client.HTTPConnection.__init__(self, host, port, timeout=max(deadline.remaining(), 0.001))
        self._deadline = deadline
        self._tls = tls
        self._server_hostname = server_hostname
        self._tunnel_to = tunnel

    def connect(self):
        raw = _connect(self.host, self.port, self._deadline)
        try:
            sock = _DeadlineSocket(raw, self._deadline)
            if self._tunnel_to is not None:
                _tunnel(sock, *self._tunnel_to)
            if self._tls is not None:
                # the handshake as a whole is bounded by the socket's timeout (one deadline over
                # its reads and writes), so the time left is its budget
                raw.settimeout(self._deadline.timeout())
                raw = self._tls.wrap_socket(raw, server_hostname=self._server_hostname)
                sock = _DeadlineSocket(raw, self._deadline)
        except BaseException:
            raw.close()
            raise
        self.sock = sock


# ----------------------------------------------------------------------------- errors

def without_userinfo(url):
    """``url`` without ``user:password@`` (never in a message)."""
    scheme, sep, rest = str(url).partition('://')
    if not sep:
        return str(url).rsplit('@', 1)[-1]
    host, slash, path = rest.partition('/')
    return '%s://%s%s%s' % (scheme, host.rsplit('@', 1)[-1], slash, path)


def _root_cause(exc):
    """The innermost exception of a urllib3 / socket error chain."""
    seen = set()
    cur = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        nxt = getattr(cur, 'reason', None)
        if isinstance(nxt, BaseException):
            cur = nxt
            continue
        nxt = cur.__cause__ or cur.__context__
        if isinstance(nxt, BaseException):
            cur = nxt
            continue
        break
    return cur


def classify_connection_error(exc, where, secrets=()):
    """A connection-level exception (socket, ssl, http.client, urllib3, websocket) as an error of
    errors.py whose message says what happened at ``where`` and what to check."""
    if isinstance(exc, FleetopsError):
        return exc
    root = _root_cause(exc)
    text = '%s %s' % (exc, root)
    low = text.lower()
    if isinstance(exc, http.client.IncompleteRead) or isinstance(root, http.client.IncompleteRead):
        cut = exc if isinstance(exc, http.client.IncompleteRead) else root
        return TargetUnreachable('%s: the answer was cut short (%d bytes, %s more announced); the connection broke or '
                                 'the server stopped sending' % (where, len(cut.partial or b''), cut.expected))
    if isinstance(root, (socket.timeout,)) or 'timed out' in low or 'timeout' in type(root).__name__.lower() \
            or 'timeout' in type(exc).__name__.lower():
        return TargetTimeout('%s did not answer in time (%s)' % (where, one_line(redact(root, secrets), 160)))
    if isinstance(root, ssl.SSLError) or 'certificate' in low or 'ssl' in type(exc).__name__.lower() or 'ssl' in low:
        return TargetUnreachable('%s: TLS failed (%s); check ca_cert (or the kubeconfig\'s certificate-authority) '
                                 'or, only for a lab, validate_certs: false' % (where, one_line(redact(root, secrets), 200)))
    if isinstance(root, socket.gaierror) or 'name or service not known' in low or 'nodename nor servname' in low \
            or 'name resolution' in low or 'getaddrinfo' in low:
        return TargetUnreachable('%s: the host name cannot be resolved (DNS); check the server address' % where)
    if (isinstance(root, OSError) and getattr(root, 'errno', None) == errno.ECONNREFUSED) or 'refused' in low:
        return TargetUnreachable('%s refused the connection; is it running and is the address right?' % where)
    if isinstance(root, OSError) and getattr(root, 'errno', None) in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return TargetUnreachable('%s: no route to the host' % where)
    return TargetUnreachable('%s cannot be reached: %s' % (where, one_line(redact(root, secrets), 200)))


_TRANSPORT_ERRORS = (OSError, socket.timeout, ssl.SSLError, ssl.CertificateError, http.client.HTTPException, ValueError)


# ----------------------------------------------------------------------------- the client

class Response(object):
    """One answer: ``status``, ``reason``, ``headers`` (``http.client.HTTPMessage``), ``url``, and
    the body: ``body`` when the request read it, else ``read()`` / ``chunks()`` within the
    request's deadline. Close it (or use ``with``) when the body is not read to its end."""

    def __init__(self, status, reason, headers, url, stream, where, secrets, connection=None):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.url = url
        self.body = None
        self._stream = stream
        self._connection = connection
        self._where = where
        self._secrets = secrets

    def read(self):
        """The whole body (bytes)."""
        if self.body is None:
            try:
                self.body = self._stream.read() if self._stream is not None else b''
            except _TRANSPORT_ERRORS as exc:
                raise classify_connection_error(exc, self._where, self._secrets)
            finally:
                self.close()
        return self.body

    def chunks(self, size=CHUNK_SIZE):
        """The body chunk by chunk as it arrives (memory flat); closes at the end."""
        if self.body is not None:
            yield self.body
            return
        try:
            while True:
                data = self._stream.read(size) if self._stream is not None else b''
                if not data:
                    break
                yield data
        except _TRANSPORT_ERRORS as exc:
            raise classify_connection_error(exc, self._where, self._secrets)
        finally:
            self.close()

    def json(self):
        """The body decoded as JSON (ParseError when it is not JSON)."""
        try:
            return json.loads(self.read().decode('utf-8', 'replace'))
        except ValueError as exc:
            raise ParseError('%s did not answer JSON (%s)' % (self._where, one_line(exc, 120)))

    def close(self):
        for part in (self._stream, self._connection):
            if part is not None:
                try:
                    part.close()
                except Exception:  # pylint: disable=broad-except
                    pass
        self._stream = self._connection = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def tls_context(validate_certs=True, ca_cert=None):
    """The ``ssl.SSLContext`` of the options: verified (against ``ca_cert`` when given) unless
    ``validate_certs`` is false. TargetConfigError when the CA file cannot be used."""
    if ca_cert and not os.path.exists(ca_cert):
        raise TargetConfigError('ca_cert %s does not exist' % ca_cert)
    try:
        ctx = ssl.create_default_context(cafile=ca_cert) if ca_cert else ssl.create_default_context()
    except (ssl.SSLError, OSError) as exc:
        raise TargetConfigError('ca_cert %s cannot be used as a CA bundle: %s' % (ca_cert, one_line(exc, 160)))
    if not validate_certs:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _basic(username, password):
    return 'Basic ' + base64.b64encode(('%s:%s' % (username, password or '')).encode('utf-8')).decode('ascii')


class HttpClient(object):
    """Requests to one base URL (see the module docstring). ``what`` names the server in messages
    (``agent``, ``query API``); ``timeout`` is the default deadline of a request in seconds."""

    def __init__(self, url, timeout=30.0, validate_certs=True, ca_cert=None, bearer_token=None, username=None,
                 password=None, headers=None, what='server', option='url', proxies=None):
        if not re.match(r'^https?://', url or '', re.I):
            raise TargetConfigError('%s must start with http:// or https://, got %r' % (option, without_userinfo(url)))
        parts = urlsplit(url)
        if not parts.hostname:
            raise TargetConfigError('%s has no host: %r' % (option, without_userinfo(url)))
        if parts.username is not None and not username and not bearer_token:
            username, password = unquote(parts.username), unquote(parts.password or '')
        self.url = without_userinfo(url).rstrip('/')
        self.timeout = float(timeout or 30.0)
        self.where = '%s %s' % (what, self.url)
        self._secrets = [s for s in (password, bearer_token) if s]
        self.headers = {'Accept': '*/*', 'User-Agent': USER_AGENT}
        self.headers.update(headers or {})
        if bearer_token:
            self.headers['Authorization'] = 'Bearer ' + bearer_token
        elif username:
            self.headers['Authorization'] = _basic(username, password)
        self._tls = tls_context(validate_certs, ca_cert) if self.url.lower().startswith('https://') else None
        self._validate_certs = validate_certs
        self._ca_cert = ca_cert
        self._proxies = proxies

    def _proxy_for(self, scheme, host):
        proxies = getproxies() if self._proxies is None else self._proxies
        proxy = proxies.get(scheme)
        if not proxy or (self._proxies is None and proxy_bypass(host)):
            return None
        if '://' not in proxy:
            proxy = 'http://' + proxy
        return urlsplit(proxy)

    def _connection(self, url, deadline):
        """(connection, the request target: a path, or the whole URL through an HTTP proxy, extra headers)."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = parts.hostname
        port = parts.port or (443 if scheme == 'https' else 80)
        target = (parts.path or '/') + ('?' + parts.query if parts.query else '')
        tls = None
        if scheme == 'https':
            tls = self._tls or tls_context(self._validate_certs, self._ca_cert)
        proxy = self._proxy_for(scheme, host)
        extra = {}
        if proxy is None:
            return _Connection(host, port, deadline, tls, host), target, extra
        proxy_headers = {}
        if proxy.username:
            proxy_headers['Proxy-Authorization'] = _basic(unquote(proxy.username), unquote(proxy.password or ''))
        proxy_port = proxy.port or (443 if proxy.scheme == 'https' else 80)
        if tls is None:
            extra.update(proxy_headers)
            return _Connection(proxy.hostname, proxy_port, deadline), '%s://%s:%d%s' % (scheme, host, port, target), extra
        # through the tunnel the Host header names the server, not the proxy
        extra['Host'] = ('[%s]' % host if ':' in host else host) + ('' if port == 443 else ':%d' % port)
        return _Connection(proxy.hostname, proxy_port, deadline, tls, host, (host, port, proxy_headers)), target, extra

    def _url(self, path, query):
        if re.match(r'^https?://', path or '', re.I):
            url = path
        elif not path:
            url = self.url
        else:
            url = self.url + ('' if (path or '').startswith('/') else '/') + (path or '')
        if query:
            url += ('&' if '?' in url else '?') + urlencode(list(query.items()) if isinstance(query, dict) else list(query))
        return url

    def request(self, method, path='', query=None, body=None, headers=None, timeout=None, deadline=None, stream=False):
        """A ``Response`` of ``method path`` (relative to the base URL, which an empty ``path`` names
        itself; ``query`` a dict or pairs).

        The deadline is ``deadline`` (shared with other requests) cut to ``timeout`` seconds, or a
        new one of ``timeout`` (default: the client's). Without ``stream`` the body is read
        (``Response.body``) within it; with ``stream`` read it with ``chunks()`` / ``read()``.
        Redirects of GET and HEAD are followed (at most 5; ``Authorization`` is only sent on
        to the same host).
        """
        if deadline is None:
            deadline = Deadline(float(timeout or self.timeout))
        elif timeout:
            deadline = deadline.within(float(timeout))
        url = self._url(path, query)
        send = dict(self.headers)
        send.update(headers or {})
        send['Connection'] = 'close'
        where = self.where
        for _hop in range(MAX_REDIRECTS + 1):
            response = self._once(method, url, body, send, deadline)
            location = response.headers.get('Location')
            if response.status not in _REDIRECTS or not location or method not in ('GET', 'HEAD'):
                break
            response.close()
            target = urljoin(url, location)
            if urlsplit(target).netloc.lower() != urlsplit(url).netloc.lower():
                send.pop('Authorization', None)
            url = target
        else:
            raise TargetUnreachable('%s: more than %d redirects' % (where, MAX_REDIRECTS))
        if not stream:
            response.read()
        return response

    def _once(self, method, url, body, headers, deadline):
        try:
            connection, target, extra = self._connection(url, deadline)
        except _TRANSPORT_ERRORS as exc:
            raise classify_connection_error(exc, self.where, self._secrets)
        send = dict(headers)
        send.update(extra)
        try:
            connection.request(method, target, body=body, headers=send)
            answer = connection.getresponse()
        except _TRANSPORT_ERRORS as exc:
            connection.close()
            raise classify_connection_error(exc, self.where, self._secrets)
        return Response(answer.status, answer.reason, answer.msg, url, answer, self.where, self._secrets, connection)

    def get(self, path='', query=None, headers=None, timeout=None, deadline=None, stream=False):
        """``request('GET', ...)``."""
        return self.request('GET', path, query=query, headers=headers, timeout=timeout, deadline=deadline, stream=stream)


# ----------------------------------------------------------------------------- PromQL

class QueryClient(object):
    """Instant queries against a Prometheus-compatible query API (Prometheus, Thanos Query).

    ``deadline``: a ``Deadline`` every query runs under unless it is given its own (the module's
    run deadline: a query API that never answers costs the run's time once, not once per query).
    """

    def __init__(self, url, timeout=10.0, validate_certs=True, ca_cert=None, bearer_token=None, username=None,
                 password=None, deadline=None):
        if not re.match(r'^https?://', url or '', re.I):
            raise ValueError('query_url must start with http:// or https://, got %r' % (without_userinfo(url or ''),))
        self.http = HttpClient(url, timeout=float(timeout or 10), validate_certs=validate_certs, ca_cert=ca_cert,
                               bearer_token=bearer_token, username=username, password=password,
                               headers={'Accept': 'application/json'}, what='query API', option='query_url')
        self.url = self.http.url
        self.timeout = self.http.timeout
        self.deadline = deadline

    def query(self, promql, at=None, deadline=None):
        """[(labels, value)] of an instant vector (other result types are [])."""
        params = {'query': promql}
        if at is not None:
            params['time'] = '%.3f' % at
        answer = self.http.get('/api/v1/query', query=params, deadline=deadline if deadline is not None else self.deadline)
        if answer.status in (401, 403):
            raise TargetAuthError('query API %s: %s (%d)' % (
                self.url, 'token rejected' if answer.status == 401 else 'forbidden', answer.status))
        if answer.status >= 400 and answer.status not in (400, 422):
            raise TargetUnreachable('query API %s answered %d' % (self.url, answer.status))
        try:
            doc = json.loads(answer.body.decode('utf-8', 'replace'))
        except ValueError:
            raise ParseError('query API %s did not answer JSON (is query_url a Prometheus / Thanos Query URL?)' % self.url)
        if not isinstance(doc, dict) or doc.get('status') != 'success':
            raise QueryRefused('query %s failed: %s' % (promql[:120], str((doc if isinstance(doc, dict) else {}).get('error'))[:200]))
        data = doc.get('data') or {}
        if data.get('resultType') != 'vector':
            return []
        out = []
        for item in data.get('result') or []:
            try:
                out.append((item.get('metric') or {}, float(item['value'][1])))
            except (KeyError, IndexError, TypeError, ValueError, AttributeError):
                continue
        return out


__all__ = ['Deadline', 'HttpClient', 'Response', 'QueryClient', 'tls_context', 'without_userinfo',
           'classify_connection_error', 'CHUNK_SIZE']
