"""The lab's certificate authority, the server certificate and the kubeconfig."""

from __future__ import annotations

import base64
import os
import ssl

import trustme
import yaml


class Pki:
    """A CA generated for this lab and a server certificate for 127.0.0.1 and localhost."""

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "pki")
        os.makedirs(self.dir, exist_ok=True)
        self.ca_cert_path = os.path.join(self.dir, "ca.crt")
        self.server_pem_path = os.path.join(self.dir, "apiserver.pem")
        ca = trustme.CA(organization_name="fleetops lab", organization_unit_name="kubeapi")
        cert = ca.issue_cert("127.0.0.1", "localhost", "::1", common_name="kube-apiserver")
        ca.cert_pem.write_to_path(self.ca_cert_path)
        cert.private_key_and_cert_chain_pem.write_to_path(self.server_pem_path)
        os.chmod(self.server_pem_path, 0o600)
        self.ca_pem = ca.cert_pem.bytes()
        # a client certificate of the lab CA (user lab-cert-user, group lab:cert-users; see auth.py)
        self.client_cert_path = os.path.join(self.dir, "client.crt")
        self.client_key_path = os.path.join(self.dir, "client.key")
        # one subjectAltName (cryptography 51 refuses a certificate without any); the API server takes
        # the user from the subject's CN and the groups from its O, as a real one does
        client = ca.issue_cert("lab-cert-user@lab.invalid", common_name="lab-cert-user", organization_name="lab:cert-users")
        client.cert_chain_pems[0].write_to_path(self.client_cert_path)
        client.private_key_pem.write_to_path(self.client_key_path)
        os.chmod(self.client_key_path, 0o600)

    @property
    def ca_data(self):
        """The CA certificate, base64, as ``certificate-authority-data`` wants it."""
        return base64.b64encode(self.ca_pem).decode("ascii")

    def server_context(self):
        """An SSL context for the server side (HTTP/1.1 only: no h2 in ALPN; client certificates optional)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.server_pem_path)
        # a client certificate is asked for and, when one is sent, verified against the lab CA
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(self.ca_cert_path)
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx


def write_kubeconfig(path, ca_data, clusters, current=None):
    """Write a kubeconfig with one cluster, user and context per entry of ``clusters``.

    ``clusters`` is a list of ``(name, server, token)``.
    """
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": ca_data}} for name, server, _tok in clusters],
        "users": [{"name": name, "user": {"token": token}} for name, _srv, token in clusters],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name, "namespace": "monitoring"}} for name, _srv, _tok in clusters],
        "current-context": current or (clusters[0][0] if clusters else ""),
    }
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        yaml.safe_dump(doc, handle, default_flow_style=False, sort_keys=False)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
