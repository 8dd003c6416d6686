"""Who a request is, what it may impersonate, and the audit log of both.

Every cluster knows these users:

- ``lab-admin``: the cluster's bearer token (the kubeconfig's), in group ``system:masters``; the
  only user that may impersonate;
- ``lab-viewer``: the cluster's ``viewer_token``, group ``lab:viewers``; impersonating is refused
  with a 403 Status as the real API server words it;
- RBAC (``authorize``): whoever is (or impersonates) a member of ``lab:no-events`` gets a 403 on
  events, of either API group, a member of ``lab:no-pod-create`` on creating pods; everything
  else is allowed;
- ``lab-basic``: HTTP basic auth with the cluster's ``basic_username`` / ``basic_password``;
- the common name of a client certificate signed by the lab CA (``pki/client.crt`` and
  ``pki/client.key`` are ``lab-cert-user``, group ``lab:cert-users``), on every cluster.

The API fault ``api-client-cert`` makes a cluster require the client certificate: a token or a
password alone is then 401. ``Impersonate-User`` (and each ``Impersonate-Group``) of an allowed
user makes the request that user's.

``Audit`` keeps the last requests (cluster, method, path, the user who authenticated, how, the
impersonated user and groups, the decision, the peer address of the connection): ``GET
/labz/audit?cluster=<name>`` answers them as JSON (no authentication: the lab's own endpoint).
"""

from __future__ import annotations

import base64
import collections
import secrets
import threading
import time

from .util import status_obj

CLIENT_CERT_FAULT = "api-client-cert"
ADMIN = ("lab-admin", ["system:masters"])
VIEWER = ("lab-viewer", ["lab:viewers"])
BASIC_USER = "lab-basic"
IMPERSONATORS = ("lab-admin",)
AUDIT_SIZE = 5000


class Identity:
    """An authenticated user: name, groups, how (``token``, ``basic``, ``x509``)."""

    def __init__(self, user, groups, method):
        self.user, self.groups, self.method = user, list(groups), method


def certificate_user(peercert):
    """(common name, organizations) of a verified client certificate (``getpeercert()``), or None."""
    if not peercert:
        return None
    names, orgs = [], []
    for rdn in peercert.get("subject") or ():
        for key, value in rdn:
            if key == "commonName":
                names.append(value)
            elif key == "organizationName":
                orgs.append(value)
    return (names[0], orgs) if names else None


class Credentials:
    """The credentials of one cluster besides its bearer token (``ClusterModel.token``)."""

    def __init__(self):
        self.viewer_token = secrets.token_urlsafe(24)
        self.basic_username = BASIC_USER
        self.basic_password = secrets.token_urlsafe(12)


def authenticate(model, credentials, authorization, peercert):
    """The ``Identity`` of a request to ``model``'s cluster (its ``Credentials``), or None (401)."""
    cert = certificate_user(peercert)
    if cert is not None:
        return Identity(cert[0], cert[1], "x509")
    if CLIENT_CERT_FAULT in model.faults:
        return None
    if authorization == "Bearer " + model.token:
        return Identity(ADMIN[0], ADMIN[1], "token")
    if authorization == "Bearer " + credentials.viewer_token:
        return Identity(VIEWER[0], VIEWER[1], "token")
    if authorization.startswith("Basic "):
        try:
            user, _sep, password = base64.b64decode(authorization[6:]).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        if user == credentials.basic_username and password == credentials.basic_password:
            return Identity(BASIC_USER, ["lab:basic"], "basic")
    return None


def impersonation(identity, headers):
    """(impersonated user, groups, refusal Status or None) of a request's Impersonate-* headers."""
    user = headers.get("Impersonate-User")
    groups = headers.get_all("Impersonate-Group") or []
    if not user and not groups:
        return None, [], None
    if not user:
        return None, groups, status_obj(400, "requested %s without impersonating a user" % groups, "BadRequest")
    if identity.user not in IMPERSONATORS:
        what = ('users "%s"' % user, "users") if not groups else ('groups "%s"' % groups[0], "groups")
        return user, groups, status_obj(403, '%s is forbidden: User "%s" cannot impersonate resource "%s" in API group "" '
                                             "at the cluster scope" % (what[0], identity.user, what[1]), "Forbidden")
    return user, groups, None


# RBAC of the lab: everyone may do everything except a member of NO_EVENTS_GROUP (impersonated:
# ``impersonate_groups: [lab:no-events]``), to whom events (either API group) are forbidden
NO_EVENTS_GROUP = "lab:no-events"
# and a member of NO_POD_CREATE_GROUP may not create pods (a read-only audit account)
NO_POD_CREATE_GROUP = "lab:no-pod-create"
VERBS = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete", "POST": "create"}


def authorize(user, groups, method, res, namespace, name, watching):  # pylint: disable=too-many-arguments,too-many-positional-arguments
    """The 403 Status of a request RBAC refuses (None when allowed), worded as the API server words it."""
    if NO_POD_CREATE_GROUP in (groups or ()) and res.name == "pods" and method == "POST" and not name:
        return status_obj(403, 'pods is forbidden: User "%s" cannot create resource "pods" in API group "" in the namespace "%s"' % (
            user, namespace), "Forbidden", {"kind": "pods"})
    if NO_EVENTS_GROUP not in (groups or ()) or res.name != "events":
        return None
    verb = VERBS.get(method, method.lower())
    if method == "GET" and not name:
        verb = "watch" if watching else "list"
    elif method == "DELETE" and not name:
        verb = "deletecollection"
    scope = ('in the namespace "%s"' % namespace) if namespace else "at the cluster scope"
    return status_obj(403, 'events%s is forbidden: User "%s" cannot %s resource "events" in API group "%s" %s' % (
        (' "%s"' % name) if name else "", user, verb, res.group, scope), "Forbidden", {"kind": "events", **({"name": name} if name else {})})


class Audit:
    """The last ``AUDIT_SIZE`` requests of every cluster (a ring)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._entries = collections.deque(maxlen=AUDIT_SIZE)

    def record(self, cluster, method, path, identity, peer, impersonated=None, groups=(), decision="allowed", query=""):
        entry = {"time": time.time(), "cluster": cluster, "method": method, "path": path, "query": query,
                 "user": identity.user if identity else None, "groups": identity.groups if identity else [],
                 "authn": identity.method if identity else None, "impersonated_user": impersonated,
                 "impersonated_groups": list(groups), "decision": decision, "peer": list(peer[:2])}
        with self._lock:
            self._entries.append(entry)

    def entries(self, cluster=None):
        with self._lock:
            return [e for e in self._entries if cluster is None or e["cluster"] == cluster]
