"""Watch streams: the store's events as JSON lines in a chunked response (Tables for ``kubectl get -w``)."""

from __future__ import annotations

import json
import time

from . import tables
from .store import current_rv
from .util import decorate, match_fields, match_labels, parse_field_selector, parse_label_selector, status_obj


def stream(h, model, res, namespace, name, convert=None):
    """Serve ``?watch=true`` on ``res`` (one object when ``name``): the current objects as ADDED
    when no resourceVersion is given, then every matching event until ``timeoutSeconds``; a 410
    ERROR event for a resourceVersion older than the store's history. ``convert`` turns a stored
    object into the one the resource serves (events.k8s.io/v1 Events are stored as core/v1 ones)."""
    # pylint: disable=too-many-locals
    labels = parse_label_selector(h.qget("labelSelector", ""))
    fields = parse_field_selector(h.qget("fieldSelector", ""))
    if name:
        fields.append(("metadata.name", "=", name))
    timeout = h.qint("timeoutSeconds") or 1800
    bookmarks = h.qbool("allowWatchBookmarks")
    rv_param = h.qget("resourceVersion", "")
    store = model.store

    def matches(obj):
        meta = obj.get("metadata", {})
        if namespace is not None and meta.get("namespace", "") != namespace:
            return False
        return match_labels(labels, meta.get("labels")) and match_fields(fields, obj)

    with store.lock:
        since = current_rv()
        initial = []
        if rv_param in ("", "0"):
            initial = [o for o in (convert(x) for x in store.list(res.name, namespace)) if matches(o)] if convert else \
                [o for o in store.list(res.name, namespace) if matches(o)]
        else:
            since = int(rv_param)
            if since < store.oldest_rv:
                initial = None
    h.close_connection = True
    h.start_chunked(200, "application/json")
    if initial is None:
        gone = status_obj(410, "too old resource version: %s (%d)" % (rv_param, store.oldest_rv), "Expired")
        h.write_chunk(json.dumps({"type": "ERROR", "object": gone}).encode() + b"\n")
        h.end_chunked()
        return
    as_table = h.wants_table()
    include = h.qget("includeObject", "Metadata")

    def encode(kind, obj):
        body = tables.table(res, [decorate(res, obj)], include) if as_table and kind != "BOOKMARK" else decorate(res, obj)
        return json.dumps({"type": kind, "object": body}).encode() + b"\n"

    for obj in initial:
        h.write_chunk(encode("ADDED", obj))
    deadline = time.monotonic() + timeout
    last_bookmark = time.monotonic()
    while time.monotonic() < deadline and not h.api.stopping.is_set():
        if not model.synthetic:
            model.refresh()
        events, newest = store.events_since(res.name, since, min(1.0, max(0.0, deadline - time.monotonic())))
        since = max(since, newest)
        for _rv, kind, obj in events:
            if convert is not None:
                obj = convert(obj)
            if matches(obj):
                h.write_chunk(encode(kind, obj))
        if bookmarks and time.monotonic() - last_bookmark > 10:
            last_bookmark = time.monotonic()
            mark = {"kind": res.kind, "apiVersion": res.api_version, "metadata": {"resourceVersion": str(since)}}
            h.write_chunk(json.dumps({"type": "BOOKMARK", "object": mark}).encode() + b"\n")
    h.end_chunked()
