"""kube.target.KubeAuth: the connection options beyond the token (client certificate, basic auth,
proxy, impersonation) checked with a message naming the option, applied to the client's
Configuration, and their K8S_AUTH_* fallbacks in the one argument spec."""

from __future__ import annotations

import base64

import pytest
import trustme
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils import args_common
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import TargetConfigError
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.kube import target

kubernetes = pytest.importorskip("kubernetes")


@pytest.fixture(scope="module")
def cert_files(tmp_path_factory):
    """(certificate, key, certificate and key in one file) of a throwaway CA."""
    base = tmp_path_factory.mktemp("certs")
    leaf = trustme.CA().issue_cert("someone@lab.invalid", common_name="someone")
    cert, key, both = base / "client.crt", base / "client.key", base / "both.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    leaf.private_key_and_cert_chain_pem.write_to_path(str(both))
    return str(cert), str(key), str(both)


@pytest.mark.parametrize("options, message", [
    ({"client_key": "/k"}, "client_key is set without client_cert"),
    ({"client_cert": "/nonexistent.crt", "client_key": "/k"}, "client_cert /nonexistent.crt does not exist"),
    ({"username": "u"}, "username is set without password"),
    ({"password": "p"}, "password is set without username"),
    ({"proxy": "socks5://user:pw@proxy:1080"}, "proxy must be an http:// or https:// URL, got socks5://proxy:1080"),
    ({"proxy": "http://p:3128", "proxy_headers": {"proxy_basic_auth": "nocolon"}}, "proxy_headers.proxy_basic_auth must be user:password"),
    ({"proxy": "http://p:3128", "proxy_headers": {"other": "x"}}, "proxy_headers: unsupported keys other"),
    ({"proxy_headers": {"user_agent": "a/1"}}, "proxy_headers is set without proxy"),
    ({"impersonate_groups": ["g"]}, "impersonate_groups needs impersonate_user"),
])
def test_bad_combinations_name_the_option(options, message):
    with pytest.raises(TargetConfigError) as err:
        target.KubeAuth(**options).check()
    assert message in str(err.value)
    assert "pw" not in str(err.value)


def test_api_key_and_basic_auth_exclude_each_other():
    with pytest.raises(TargetConfigError, match="api_key and username/password are both set"):
        target.KubeAuth(username="u", password="p").check(api_key="t")


def test_a_certificate_needs_its_key_unless_the_file_holds_it(cert_files):
    cert, key, both = cert_files
    with pytest.raises(TargetConfigError, match="holds no private key and client_key is not set"):
        target.KubeAuth(client_cert=cert).check()
    target.KubeAuth(client_cert=both).check()
    target.KubeAuth(client_cert=cert, client_key=key).check()
    with pytest.raises(TargetConfigError, match="cannot be used"):
        target.KubeAuth(client_cert=cert, client_key=cert).check()


def test_the_options_reach_the_configuration(cert_files):
    cert, key, _both = cert_files
    auth = target.KubeAuth(client_cert=cert, client_key=key, username="u", password="s3cret", proxy="http://u:pw@proxy:3128",
                           no_proxy=".internal", proxy_headers={"proxy_basic_auth": "pu:ppw", "user_agent": "fleet/1"},
                           impersonate_user="bot", impersonate_groups=["a", "b"])
    cfg = kubernetes.client.Configuration()
    auth.configure(cfg)
    assert (cfg.cert_file, cfg.key_file, cfg.proxy, cfg.no_proxy) == (cert, key, "http://u:pw@proxy:3128", ".internal")
    assert cfg.api_key == {"authorization": "Basic " + base64.b64encode(b"u:s3cret").decode()}
    assert cfg.proxy_headers["proxy-authorization"] == "Basic " + base64.b64encode(b"pu:ppw").decode()
    assert cfg.proxy_headers["user-agent"] == "fleet/1"
    assert auth.headers() == [("Impersonate-User", "bot"), ("Impersonate-Group", "a"), ("Impersonate-Group", "b")]
    assert auth.proxy_label() == "http://proxy:3128"
    assert {"s3cret", "pu:ppw", "ppw"} <= set(auth.secrets)
    assert auth.proxied("https://api.example.com:6443") and not auth.proxied("https://api.internal:6443")


def test_repeated_headers_reach_the_pool_one_line_each():
    sent = {}

    class Pool:
        def request(self, method, url, **kwargs):
            sent.update(kwargs)

    target._HeaderAddingPool(Pool(), [("Impersonate-User", "bot"), ("Impersonate-Group", "a"), ("Impersonate-Group", "b")]).request(
        "GET", "https://x/api", headers={"Accept": "*/*"})
    assert list(sent["headers"].iteritems()) == [("Accept", "*/*"), ("Impersonate-User", "bot"), ("Impersonate-Group", "a"),
                                                 ("Impersonate-Group", "b")]


def test_a_different_option_is_a_different_client(cert_files):
    cert, key, _both = cert_files
    plain = target._cache_key(None, None, "https://h", "t", True, None, target.KubeAuth())
    assert plain != target._cache_key(None, None, "https://h", "t", True, None, target.KubeAuth(impersonate_user="bot"))
    assert plain != target._cache_key(None, None, "https://h", "t", True, None, target.KubeAuth(client_cert=cert, client_key=key))


def test_each_option_falls_back_to_its_k8s_auth_variable(monkeypatch):
    env = {"K8S_AUTH_CERT_FILE": "/c.crt", "K8S_AUTH_KEY_FILE": "/c.key", "K8S_AUTH_USERNAME": "u", "K8S_AUTH_PASSWORD": "pw",
           "K8S_AUTH_PROXY": "http://proxy:3128", "K8S_AUTH_NO_PROXY": "10.0.0.0/8", "K8S_AUTH_IMPERSONATE_USER": "bot",
           "K8S_AUTH_IMPERSONATE_GROUPS": "a,b", "K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH": "pu:ppw",
           "K8S_AUTH_PROXY_HEADERS_BASIC_AUTH": "bu:bpw", "K8S_AUTH_PROXY_HEADERS_USER_AGENT": "fleet/1"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = ArgumentSpecValidator(args_common.common_argument_spec()).validate({})
    assert not result.error_messages, result.error_messages
    params = result.validated_parameters
    assert (params["client_cert"], params["client_key"], params["username"], params["password"]) == ("/c.crt", "/c.key", "u", "pw")
    assert (params["proxy"], params["no_proxy"], params["impersonate_user"]) == ("http://proxy:3128", "10.0.0.0/8", "bot")
    assert params["impersonate_groups"] == ["a", "b"]
    assert params["proxy_headers"] == {"proxy_basic_auth": "pu:ppw", "basic_auth": "bu:bpw", "user_agent": "fleet/1"}
    assert {"pw", "pu:ppw", "bu:bpw", "/c.key"} <= result._no_log_values  # pylint: disable=protected-access
    assert set(args_common.AUTH_OPTIONS) <= set(args_common.COMMON_ARGS)
