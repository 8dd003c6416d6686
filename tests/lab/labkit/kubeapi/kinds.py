"""What the API does with a resource: ``Kind``, the verbs on objects kept in the store as clients write them.

The API group modules (``core``, ``apps``, ``coordination``, ``custom``, ``metrics``) subclass or
configure it for the resources that behave otherwise (pods built from processes, the StatefulSet
controller, the operator, computed metrics). Every verb gets the request handler ``h`` (query
parameters, body, responses), the cluster's ``model`` and the ``discovery.Resource``.
"""

from __future__ import annotations

import os

from . import tables, watch
from .store import current_rv
from .util import ApiError, decorate, json_patch, merge_patch, not_found, paginate, strategic_merge_patch


def forbidden_create(res):
    """The 403 of a POST on a resource the lab makes itself."""
    return ApiError(403, '%s is forbidden: the lab does not create %s' % (res.name, res.name), "Forbidden")


class Kind:
    """The verbs of one resource. The defaults: objects as stored, with optimistic concurrency.

    ``create_on_put``: a PUT of an absent object creates it; ``collection_delete``: DELETE on
    the collection is allowed.
    """

    def __init__(self, create_on_put=False, collection_delete=False):
        self.create_on_put = create_on_put
        self.collection_delete = collection_delete

    # ------------------------------------------------------------ reads

    def objects(self, h, model, res, namespace):  # pylint: disable=unused-argument
        """Every object of the resource (in ``namespace`` unless None)."""
        return model.store.list(res.name, namespace)

    def find(self, h, model, res, namespace, name):  # pylint: disable=unused-argument
        """One object (404 when absent)."""
        obj = model.store.get(res.name, namespace or "", name)
        if obj is None:
            raise ApiError(404, not_found(res.name, name, res.group)["message"], "NotFound", {"name": name, "group": res.group, "kind": res.name})
        return decorate(res, obj)

    def list(self, h, model, res, namespace):
        """LIST (JSON or Table)."""
        with model.store.lock:  # the list's resourceVersion must not pass a change the items do not show
            items = h.select(self.objects(h, model, res, namespace))
            list_rv = str(current_rv())
        # chunked lists (``limit`` + ``continue``): kubectl asks for 500 at a time, clients page through
        items, token, remaining, list_rv = paginate(items, h.qint("limit"), h.qget("continue"), list_rv)
        meta = {"resourceVersion": list_rv}
        if token:
            meta.update({"continue": token, "remainingItemCount": remaining})
        if h.wants_table():
            table = tables.table(res, items, h.qget("includeObject", "Metadata"))
            table["metadata"].update(meta)
            h.send_json(200, table)
            return
        out_items = []
        for obj in items:
            if res.builtin:
                obj.pop("apiVersion", None)
                obj.pop("kind", None)
            out_items.append(obj)
        h.send_json(200, {"kind": res.list_kind, "apiVersion": res.api_version, "metadata": meta, "items": out_items})

    def get(self, h, model, res, namespace, name):
        """GET one object (JSON or a one-row Table)."""
        obj = self.find(h, model, res, namespace, name)
        if h.wants_table():
            h.send_json(200, tables.table(res, [obj], h.qget("includeObject", "Metadata")))
            return
        h.send_json(200, obj)

    def watch(self, h, model, res, namespace, name):
        """A watch stream."""
        watch.stream(h, model, res, namespace, name)

    # ------------------------------------------------------------ writes

    def create(self, h, model, res, namespace):
        """POST: create."""
        obj = h.json_body()
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + os.urandom(3).hex()[:5]
        if not meta.get("name"):
            raise ApiError(422, "%s.%s is invalid: metadata.name: Required value: name or generateName is required" % (res.kind, res.group), "Invalid")
        if res.namespaced:
            meta["namespace"] = namespace or meta.get("namespace") or "default"
        meta.pop("resourceVersion", None)
        meta.pop("uid", None)
        meta["generation"] = 1
        decorate(res, obj)
        obj = self.admit(model, obj)
        if h.qget("dryRun"):
            h.send_json(201, obj)
            return
        stored = model.store.put(res.name, obj, create=True)
        h.send_json(201, stored)

    def admit(self, model, obj):  # pylint: disable=unused-argument
        """What the API server adds to a created object before it is stored (defaults, status)."""
        return obj

    def update(self, h, model, res, namespace, name):
        """PUT: replace (optimistic concurrency on metadata.resourceVersion)."""
        obj = h.json_body()
        meta = obj.setdefault("metadata", {})
        if meta.get("name") and meta["name"] != name:
            raise ApiError(400, "the name of the object (%s) does not match the name on the URL (%s)" % (meta["name"], name), "BadRequest")
        meta["name"] = name
        if res.namespaced:
            meta["namespace"] = namespace
        old = model.store.get(res.name, namespace or "", name)
        if old is None:
            if self.create_on_put:
                meta.pop("resourceVersion", None)
                h.send_json(201, model.store.put(res.name, decorate(res, obj), create=True))
                return
            raise ApiError(404, not_found(res.name, name, res.group)["message"], "NotFound")
        self.change(h, model, res, old, decorate(res, obj), expect_rv=meta.get("resourceVersion"))

    def patch(self, h, model, res, namespace, name):
        """PATCH with merge, strategic merge or JSON patch."""
        old = model.store.get(res.name, namespace or "", name)
        if old is None:
            raise ApiError(404, not_found(res.name, name, res.group)["message"], "NotFound", {"name": name, "group": res.group, "kind": res.name})
        ctype = (h.headers.get("Content-Type") or "").split(";")[0].strip()
        body = h.json_body()
        if ctype == "application/json-patch+json":
            new = json_patch(old, body if isinstance(body, list) else [])
        elif ctype == "application/merge-patch+json":
            new = merge_patch(old, body)
        elif ctype == "application/strategic-merge-patch+json":
            if not res.builtin:
                raise ApiError(415, "strategic merge patch is not supported for %s.%s: use --type merge" % (res.name, res.group), "UnsupportedMediaType")
            new = strategic_merge_patch(old, body)
        else:
            raise ApiError(415, "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, "
                           "application/merge-patch+json, application/strategic-merge-patch+json", "UnsupportedMediaType")
        expect = (body.get("metadata") or {}).get("resourceVersion") if isinstance(body, dict) else None
        self.change(h, model, res, old, decorate(res, new), expect_rv=expect)

    def change(self, h, model, res, old, new, expect_rv=None):  # pylint: disable=too-many-arguments,too-many-positional-arguments
        """Store ``new`` in place of ``old`` (PUT and PATCH) and answer with the stored object."""
        meta = new.setdefault("metadata", {})
        meta["uid"] = old["metadata"]["uid"]
        meta["creationTimestamp"] = old["metadata"].get("creationTimestamp")
        if expect_rv and str(expect_rv) != str(old["metadata"].get("resourceVersion")):
            raise ApiError(409, 'Operation cannot be fulfilled on %s.%s "%s": the object has been modified; please apply your changes '
                           'to the latest version and try again' % (res.name, res.group, meta.get("name")), "Conflict",
                           {"name": meta.get("name"), "group": res.group, "kind": res.name})
        meta["resourceVersion"] = old["metadata"].get("resourceVersion")
        new = self.prepare(old, new)
        if h.qget("dryRun"):
            h.send_json(200, new)
            return
        stored = self.save(model, res, old, new, expect_rv)
        h.send_json(200, decorate(res, stored))

    def prepare(self, old, new):  # pylint: disable=unused-argument
        """The object to store for a change (before a dry run answers with it)."""
        return new

    def save(self, model, res, old, new, expect_rv):
        """Store a changed object; a new spec is a new generation. Returns the stored object."""
        if new.get("spec") != old.get("spec"):
            new["metadata"]["generation"] = int(old["metadata"].get("generation", 1) or 1) + 1
        return model.store.put(res.name, new, expect_rv=expect_rv)

    def delete(self, h, model, res, namespace, name):
        """DELETE one object."""
        old = self.find(h, model, res, namespace, name)
        self.remove(h, model, res, namespace, name, old)

    def remove(self, h, model, res, namespace, name, old):  # pylint: disable=unused-argument,too-many-arguments,too-many-positional-arguments
        """Remove a found object and answer (a Status for built-in resources, the object for custom ones)."""
        gone = model.store.delete(res.name, namespace or "", name)
        if gone is None:
            raise ApiError(404, not_found(res.name, name, res.group)["message"], "NotFound")
        if res.builtin:
            h.send_json(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                              "details": {"name": name, "group": res.group, "kind": res.name, "uid": gone["metadata"]["uid"]}})
        else:
            h.send_json(200, decorate(res, gone))

    def delete_collection(self, h, model, res, namespace):
        """DELETE on a collection (where allowed)."""
        if not self.collection_delete:
            raise ApiError(405, "the server does not allow this method on the requested resource", "MethodNotAllowed")
        items = h.select(model.store.list(res.name, namespace))
        for obj in items:
            model.store.delete(res.name, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        h.send_json(200, {"kind": res.list_kind, "apiVersion": res.api_version, "metadata": {"resourceVersion": str(current_rv())}, "items": items})

    # ------------------------------------------------------------ subresources

    def subresource(self, h, model, res, namespace, name, sub, parsed):  # pylint: disable=unused-argument,too-many-arguments,too-many-positional-arguments
        """``<resource>/<name>/status`` (other subresources: 404)."""
        if sub == ["status"]:
            if h.command == "GET":
                self.get(h, model, res, namespace, name)
            elif h.command == "PATCH":
                self.patch(h, model, res, namespace, name)
            elif h.command == "PUT":
                self.update(h, model, res, namespace, name)
            else:
                raise ApiError(405, "method not allowed", "MethodNotAllowed")
            return
        raise ApiError(404, "the server could not find the requested resource", "NotFound")


class Forbidden(Kind):
    """Objects the lab makes itself: no POST, no DELETE (403)."""

    def create(self, h, model, res, namespace):
        raise forbidden_create(res)

    def delete(self, h, model, res, namespace, name):
        raise ApiError(403, '%s "%s" is forbidden: the lab does not delete %s' % (res.name, name, res.name), "Forbidden")
