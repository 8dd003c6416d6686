"""An in-memory object store per cluster with resourceVersions and watch events."""

from __future__ import annotations

import collections
import copy
import itertools
import threading
import time

from .util import ApiError, new_uid, rfc3339

_RV = itertools.count(1000)
_RV_LOCK = threading.Lock()


def next_rv():
    """The next resourceVersion (one counter for the whole server, so it only grows)."""
    with _RV_LOCK:
        return next(_RV)


def current_rv():
    """The newest resourceVersion handed out (for list metadata)."""
    with _RV_LOCK:
        value = next(_RV)
    return value


def _strip(obj):
    meta = dict(obj.get("metadata") or {})
    meta.pop("resourceVersion", None)
    meta.pop("managedFields", None)
    out = dict(obj)
    out["metadata"] = meta
    return out


class Store:
    """Objects keyed by ``(resource, namespace, name)``; every change is a watch event."""

    HISTORY = 2000

    def __init__(self):
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.objects = {}
        self.history = collections.deque(maxlen=self.HISTORY)
        self.oldest_rv = current_rv()

    def get(self, resource, namespace, name):
        """A deep copy of the object or None."""
        with self.lock:
            obj = self.objects.get((resource, namespace or "", name))
            return copy.deepcopy(obj) if obj is not None else None

    def list(self, resource, namespace=None):
        """Deep copies of the objects of ``resource`` (in ``namespace`` unless None)."""
        with self.lock:
            # the matching ones sorted, not every object of every resource (a namespace of thousands of pods and events)
            found = sorted((key, obj) for key, obj in self.objects.items()
                           if key[0] == resource and (namespace is None or key[1] == namespace))
            return [copy.deepcopy(obj) for _key, obj in found]

    def _event(self, kind, resource, obj):
        rv = int(obj["metadata"]["resourceVersion"])
        self.history.append((rv, kind, resource, copy.deepcopy(obj)))
        if len(self.history) == self.history.maxlen:
            self.oldest_rv = self.history[0][0]
        self.cond.notify_all()

    def put(self, resource, obj, expect_rv=None, create=False):
        """Store ``obj``; bumps resourceVersion only when something changed. Returns the stored copy.

        A different uid for the same name is a delete of the old object and an add of the new one.
        ``expect_rv`` (a string) gives optimistic concurrency: 409 when it is not current.
        """
        with self.lock:
            meta = obj.setdefault("metadata", {})
            key = (resource, meta.get("namespace") or "", meta["name"])
            old = self.objects.get(key)
            if create and old is not None:
                raise ApiError(409, '%s "%s" already exists' % (resource, meta["name"]), "AlreadyExists",
                               {"name": meta["name"], "kind": resource})
            if expect_rv and old is not None and str(old["metadata"].get("resourceVersion")) != str(expect_rv):
                raise ApiError(409, 'Operation cannot be fulfilled on %s "%s": the object has been modified; '
                               'please apply your changes to the latest version and try again' % (resource, meta["name"]),
                               "Conflict", {"name": meta["name"], "kind": resource})
            if expect_rv and old is None:
                raise ApiError(404, '%s "%s" not found' % (resource, meta["name"]), "NotFound")
            if old is not None and old["metadata"].get("uid") == meta.get("uid", old["metadata"].get("uid")):
                meta.setdefault("uid", old["metadata"]["uid"])
                meta.setdefault("creationTimestamp", old["metadata"].get("creationTimestamp"))
                if _strip(old) == _strip(obj):
                    return copy.deepcopy(old)
                meta["resourceVersion"] = str(next_rv())
                stored = copy.deepcopy(obj)
                self.objects[key] = stored
                self._event("MODIFIED", resource, stored)
                return copy.deepcopy(stored)
            if old is not None:
                gone = copy.deepcopy(old)
                gone["metadata"]["resourceVersion"] = str(next_rv())
                del self.objects[key]
                self._event("DELETED", resource, gone)
            meta.setdefault("uid", new_uid())
            meta.setdefault("creationTimestamp", rfc3339())
            meta["resourceVersion"] = str(next_rv())
            stored = copy.deepcopy(obj)
            self.objects[key] = stored
            self._event("ADDED", resource, stored)
            return copy.deepcopy(stored)

    def delete(self, resource, namespace, name):
        """Remove the object; returns its last state (None when absent)."""
        with self.lock:
            old = self.objects.pop((resource, namespace or "", name), None)
            if old is None:
                return None
            old["metadata"]["resourceVersion"] = str(next_rv())
            self._event("DELETED", resource, old)
            return copy.deepcopy(old)

    def events_since(self, resource, since_rv, timeout):
        """Wait up to ``timeout`` for events of ``resource`` newer than ``since_rv``; returns (events, newest_rv)."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                found = [(rv, kind, copy.deepcopy(obj)) for rv, kind, res, obj in self.history if rv > since_rv and res == resource]
                if found:
                    return found, max(rv for rv, _k, _o in found)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return [], since_rv
                self.cond.wait(min(remaining, 1.0))
