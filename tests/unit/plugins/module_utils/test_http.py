"""Unit tests of the one HTTP client (plugins/module_utils/core/http.py) against real local servers:
plain HTTP, TLS (a CA of the test), a proxy (absolute URIs and CONNECT), a server that accepts
and never answers, and one that drips a byte at a time: the deadline holds for all of them."""

from __future__ import annotations

import base64
import http.server
import json
import select
import socket
import ssl
import threading
import time

import pytest
import trustme

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core import errors
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core import http as fhttp

TOKEN = "s3cr3t-bearer-token"
PASSWORD = "pa55-word-not-to-print"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def _send(self, status, body, content_type="text/plain", extra=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802 - http.server's name
        path = self.path
        if path.startswith("http://"):           # a proxy request: the whole URL
            self._send(200, ("proxied %s" % path).encode())
        elif path == "/ok":
            self._send(200, b"fine\n")
        elif path == "/headers":
            self._send(200, json.dumps(dict(self.headers)).encode(), "application/json")
        elif path == "/auth":
            good = ("Bearer " + TOKEN, "Basic " + base64.b64encode(("me:" + PASSWORD).encode()).decode())
            if self.headers.get("Authorization") in good:
                self._send(200, b"welcome")
            else:
                self._send(401, b"no")
        elif path == "/missing":
            self._send(404, b"not here")
        elif path == "/redirect":
            self._send(302, b"", extra={"Location": "/ok"})
        elif path == "/loop":
            self._send(302, b"", extra={"Location": "/loop"})
        elif path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"abc", b"defg", b"h" * 5000):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/short":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.wfile.flush()
            self.close_connection = True
        elif path == "/drip":
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            try:
                for _tick in range(200):
                    self.wfile.write(b".")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass
            self.close_connection = True
        elif path.startswith("/api/v1/query"):
            self._query()
        else:
            self._send(500, b"unexpected path " + path.encode())

    def _query(self):
        from urllib.parse import parse_qs, urlsplit  # pylint: disable=import-outside-toplevel
        query = parse_qs(urlsplit(self.path).query).get("query", [""])[0]
        if query == "bad(":
            self._send(400, json.dumps({"status": "error", "errorType": "bad_data", "error": "parse error"}).encode())
        elif query == "html":
            self._send(200, b"<html>a login page</html>", "text/html")
        elif query == "secret" and self.headers.get("Authorization") != "Bearer " + TOKEN:
            self._send(401, b"")
        else:
            doc = {"status": "success", "data": {"resultType": "vector", "result": [
                {"metric": {"cluster": "a"}, "value": [1, "0.5"]}, {"metric": {"cluster": "b"}, "value": [1, "NaN"]},
                {"metric": {"cluster": "c"}, "value": [1, "junk"]}]}}
            self._send(200, json.dumps(doc).encode(), "application/json")

    def do_CONNECT(self):  # noqa: N802 - http.server's name
        host, _sep, port = self.path.rpartition(":")
        try:
            upstream = socket.create_connection((host, int(port)), timeout=5)
        except OSError:
            self._send(502, b"")
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.server.tunnels.append(self.path)
        client = self.connection
        try:
            while True:
                ready, _w, _x = select.select([client, upstream], [], [], 5)
                if not ready:
                    break
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is client else client).sendall(data)
        finally:
            upstream.close()
            self.close_connection = True


def _serve(httpd):
    httpd.tunnels = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    return httpd


@pytest.fixture(scope="module", name="plain")
def fixture_plain():
    httpd = _serve(http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler))
    yield "http://127.0.0.1:%d" % httpd.server_address[1]
    httpd.shutdown()


@pytest.fixture(scope="module", name="ca")
def fixture_ca():
    return trustme.CA()


@pytest.fixture(scope="module", name="ca_file")
def fixture_ca_file(ca, tmp_path_factory):
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="module", name="tls")
def fixture_tls(ca):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    _serve(httpd)
    yield "https://127.0.0.1:%d" % httpd.server_address[1]
    httpd.shutdown()


@pytest.fixture(scope="module", name="proxy")
def fixture_proxy():
    httpd = _serve(http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler))
    yield httpd
    httpd.shutdown()


class _Silent:
    """A server that accepts connections and never sends or reads a byte."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = []
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._stop:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self):
        self._stop = True
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture(name="silent")
def fixture_silent():
    server = _Silent()
    yield server
    server.close()


# ----------------------------------------------------------------------------- plain HTTP

def test_get_status_is_data(plain):
    client = fhttp.HttpClient(plain, timeout=5)
    answer = client.get("/ok")
    assert (answer.status, answer.body) == (200, b"fine\n")
    assert client.get("missing").status == 404 and client.get("/missing").body == b"not here"
    assert client.get("/redirect").body == b"fine\n"          # redirects of GET are followed
    with pytest.raises(errors.TargetUnreachable, match="redirects"):
        client.get("/loop")
    assert client.get("/chunked").body == b"abcdefg" + b"h" * 5000
    assert fhttp.HttpClient(plain + "/ok").get().body == b"fine\n"     # no path: the URL itself


def test_stream_in_chunks(plain):
    answer = fhttp.HttpClient(plain, timeout=5).get("/chunked", stream=True)
    assert answer.status == 200
    assert b"".join(answer.chunks(1000)) == b"abcdefg" + b"h" * 5000


def test_bearer_and_basic_auth(plain):
    assert fhttp.HttpClient(plain, bearer_token=TOKEN).get("/auth").status == 200
    assert fhttp.HttpClient(plain, username="me", password=PASSWORD).get("/auth").status == 200
    assert fhttp.HttpClient(plain, username="me", password="wrong").get("/auth").status == 401
    # user:password@ in the URL is basic auth, and never in where or a message
    inline = fhttp.HttpClient(plain.replace("http://", "http://me:%s@" % PASSWORD))
    assert inline.get("/auth").status == 200
    assert PASSWORD not in inline.where and PASSWORD not in inline.url
    sent = json.loads(fhttp.HttpClient(plain, headers={"X-Extra": "1"}).get("/headers").body)
    assert sent["User-Agent"] == fhttp.USER_AGENT and sent["X-Extra"] == "1"


def test_bad_urls_are_config_errors():
    for url in ("ftp://example.invalid", "", None, "http://"):
        with pytest.raises(errors.TargetConfigError):
            fhttp.HttpClient(url)
    with pytest.raises(ValueError, match="query_url"):
        fhttp.QueryClient("example.invalid:9090")


def test_refused_and_dns(plain):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(errors.TargetUnreachable, match="refused"):
        fhttp.HttpClient("http://127.0.0.1:%d" % port, bearer_token=TOKEN).get("/ok")
    with pytest.raises(errors.TargetUnreachable):
        fhttp.HttpClient("http://no-such-host.invalid", timeout=5).get("/ok")


def test_short_body_is_a_sentence(plain):
    with pytest.raises(errors.TargetUnreachable, match="cut short") as info:
        fhttp.HttpClient(plain, timeout=5).get("/short")
    assert "IncompleteRead" not in str(info.value)


# ----------------------------------------------------------------------------- the deadline

@pytest.mark.parametrize("scheme", ["http", "https"])
def test_silent_server_is_cut_off_at_the_deadline(silent, scheme):
    client = fhttp.HttpClient("%s://127.0.0.1:%d" % (scheme, silent.port), timeout=1.0, validate_certs=False,
                              bearer_token=TOKEN)
    start = time.monotonic()
    with pytest.raises(errors.TargetTimeout) as info:
        client.get("/metrics")
    elapsed = time.monotonic() - start
    assert 0.9 <= elapsed < 1.6, elapsed
    assert TOKEN not in str(info.value)
    assert silent.accepted, "the server accepted the connection"


def test_dripping_server_is_cut_off_at_the_total_deadline(plain):
    # a byte every 0.1 s: every single read is quick, the whole answer is not
    start = time.monotonic()
    with pytest.raises(errors.TargetTimeout):
        fhttp.HttpClient(plain, timeout=1.0).get("/drip")
    assert time.monotonic() - start < 1.6
    start = time.monotonic()
    answer = fhttp.HttpClient(plain, timeout=1.0).get("/drip", stream=True)
    with pytest.raises(errors.TargetTimeout):
        for _chunk in answer.chunks(1):
            pass
    assert time.monotonic() - start < 1.6


def test_one_deadline_over_several_requests(silent):
    client = fhttp.HttpClient("http://127.0.0.1:%d" % silent.port, timeout=30)
    deadline = fhttp.Deadline(1.0)
    start = time.monotonic()
    for _attempt in range(3):
        with pytest.raises(errors.TargetTimeout):
            client.get("/", deadline=deadline)
    assert time.monotonic() - start < 1.6
    assert deadline.expired() and deadline.remaining() == 0.0


def test_deadline_within():
    outer = fhttp.Deadline(10)
    assert outer.within(1).remaining() <= 1.0
    assert outer.within(60).remaining() <= 10.0
    assert outer.within(None) is outer
    assert fhttp.Deadline.of(outer) is outer and fhttp.Deadline.of(None).remaining() > 29
    with pytest.raises(socket.timeout):
        fhttp.Deadline(0).timeout()


# ----------------------------------------------------------------------------- TLS

def test_tls_verified_against_the_ca_file(tls, ca_file):
    assert fhttp.HttpClient(tls, ca_cert=ca_file).get("/ok").body == b"fine\n"


def test_tls_unknown_ca_fails_unless_verification_is_off(tls):
    with pytest.raises(errors.TargetUnreachable, match="TLS failed"):
        fhttp.HttpClient(tls, timeout=5).get("/ok")
    assert fhttp.HttpClient(tls, validate_certs=False).get("/ok").status == 200


def test_tls_missing_ca_file(tls, tmp_path):
    with pytest.raises(errors.TargetConfigError, match="does not exist"):
        fhttp.HttpClient(tls, ca_cert=str(tmp_path / "nope.pem"))
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(errors.TargetConfigError):
        fhttp.HttpClient(tls, ca_cert=str(junk))


# ----------------------------------------------------------------------------- proxies

def test_http_through_a_proxy(proxy):
    url = "http://127.0.0.1:%d" % proxy.server_address[1]
    answer = fhttp.HttpClient("http://agent.example.invalid:9090", proxies={"http": url}).get("/metrics")
    assert answer.body == b"proxied http://agent.example.invalid:9090/metrics"


def test_https_through_a_proxy_tunnel(proxy, tls, ca_file):
    url = "http://127.0.0.1:%d" % proxy.server_address[1]
    answer = fhttp.HttpClient(tls, ca_cert=ca_file, proxies={"https": url}).get("/ok")
    assert answer.body == b"fine\n"
    assert proxy.tunnels and proxy.tunnels[-1] == tls.split("//")[1]


def test_environment_proxy_and_no_proxy(proxy, plain, monkeypatch):
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:%d" % proxy.server_address[1])
    monkeypatch.setenv("no_proxy", "")
    assert fhttp.HttpClient("http://agent.example.invalid").get("/x").body.startswith(b"proxied ")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    assert fhttp.HttpClient(plain).get("/ok").body == b"fine\n"


# ----------------------------------------------------------------------------- PromQL

def test_query_client(plain):
    client = fhttp.QueryClient(plain, timeout=5)
    found = client.query("up")
    assert found[0] == ({"cluster": "a"}, 0.5) and len(found) == 2          # junk values are skipped
    with pytest.raises(errors.QueryRefused, match="parse error"):
        client.query("bad(")
    with pytest.raises(errors.ParseError, match="did not answer JSON"):
        client.query("html")
    with pytest.raises(errors.TargetAuthError, match="401"):
        client.query("secret")
    assert fhttp.QueryClient(plain, bearer_token=TOKEN).query("secret")


def test_query_client_silent(silent):
    start = time.monotonic()
    with pytest.raises(errors.TargetTimeout):
        fhttp.QueryClient("http://127.0.0.1:%d" % silent.port, timeout=1).query("up")
    assert time.monotonic() - start < 1.6
