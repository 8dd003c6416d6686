"""Small helpers: times, Status objects, selectors, patches, quantities."""

from __future__ import annotations

import base64
import copy
import datetime
import hashlib
import json
import re
import uuid


def paginate(items, limit, token, list_rv):
    """What a LIST with ``limit`` and ``continue`` answers, as the API server chunks a list: (the
    page, the ``continue`` token of the next page or None, the count of items after the page or
    None, the list's resourceVersion). ``items`` are in the store's order (namespace, then name);
    the token is base64 JSON naming the list's resourceVersion and the key to start after (the real
    token is as opaque to clients). A token that does not decode is a 400, as the real API answers.
    The lab serves the next pages from the store as it is then, not from a snapshot at the token's
    resourceVersion (etcd's), so a change between pages shows in the later pages."""
    if token:
        try:
            doc = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("utf-8"))
            start = (str(doc["start"][0]), str(doc["start"][1]))
            list_rv = str(int(doc["rv"]))
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ApiError(400, "continue key is not valid: %s" % exc, "BadRequest")
        items = [o for o in items if _list_key(o) > start]
    if not limit or len(items) <= limit:
        return items, None, None, list_rv
    page = items[:limit]
    last = _list_key(page[-1])
    doc = {"v": "meta.k8s.io/v1", "rv": int(list_rv), "start": [last[0], last[1]]}
    token = base64.urlsafe_b64encode(json.dumps(doc).encode("utf-8")).decode("ascii").rstrip("=")
    return page, token, len(items) - limit, list_rv


def _list_key(obj):
    meta = obj.get("metadata") or {}
    return (meta.get("namespace") or "", meta.get("name") or "")


def rfc3339(value=None):
    """An RFC 3339 timestamp in seconds (``2026-11-24T07:30:00Z``) from an epoch, a datetime or now."""
    if value is None:
        dt = datetime.datetime.now(datetime.timezone.utc)
    elif isinstance(value, datetime.datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
        dt = dt.astimezone(datetime.timezone.utc)
    elif isinstance(value, str):
        return value
    else:
        dt = datetime.datetime.fromtimestamp(float(value), datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def to_epoch(value):
    """Epoch seconds from an epoch, a datetime or an RFC 3339 string (None stays None)."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.timestamp()
    text = str(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    match = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)$", text)
    frac = 0.0
    if match:
        text = match.group(1) + match.group(3)
        if match.group(2):
            frac = float("0" + match.group(2))
    return datetime.datetime.fromisoformat(text).timestamp() + frac


def new_uid():
    """A random UID like the API server's."""
    return str(uuid.uuid4())


def stable_uid(*parts):
    """A UID derived from names (stable for synthetic objects)."""
    digest = hashlib.sha1("/".join(str(p) for p in parts).encode()).hexdigest()
    return str(uuid.UUID(digest[:32]))


def short_hash(obj, length=10):
    """A short hex hash of a JSON-able object (revision hashes)."""
    return hashlib.sha256(repr(_canonical(obj)).encode()).hexdigest()[:length]


def _canonical(obj):
    if isinstance(obj, dict):
        return tuple(sorted((k, _canonical(v)) for k, v in obj.items()))
    if isinstance(obj, list):
        return tuple(_canonical(v) for v in obj)
    return obj


REASONS = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
    406: "NotAcceptable", 409: "Conflict", 410: "Expired", 415: "UnsupportedMediaType", 422: "Invalid",
    429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout",
}


def decorate(res, obj):
    """Give ``obj`` the apiVersion and kind of ``res`` (a ``discovery.Resource``) when it has none."""
    obj.setdefault("apiVersion", res.api_version)
    obj.setdefault("kind", res.kind)
    return obj


def status_obj(code, message, reason=None, details=None):
    """A ``Status`` object as the API server returns it for errors."""
    obj = {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure" if code >= 300 else "Success",
        "message": message, "reason": reason or REASONS.get(code, "Unknown"), "code": code,
    }
    if code == 401:
        obj.pop("message")
        obj["message"] = "Unauthorized"
    if details:
        obj["details"] = details
    return obj


def not_found(resource, name, group=""):
    """The 404 Status for ``resource`` ``name``."""
    gr = resource if not group else "%s.%s" % (resource, group)
    return status_obj(404, '%s "%s" not found' % (gr, name), "NotFound", {"name": name, "group": group, "kind": resource})


class ApiError(Exception):
    """An error that becomes a Status response."""

    def __init__(self, code, message, reason=None, details=None):
        super().__init__(message)
        self.status = status_obj(code, message, reason, details)
        self.code = code


# ---------------------------------------------------------------- selectors

def _split_top(text):
    parts, depth, cur = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(char)
    if cur:
        parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def parse_label_selector(text):
    """Parse a label selector into a list of ``(key, op, values)``; raises ApiError."""
    reqs = []
    for part in _split_top(text or ""):
        match = re.match(r"^([^\s!=<>]+)\s+(in|notin)\s+\((.*)\)$", part)
        if match:
            values = [v.strip() for v in match.group(3).split(",") if v.strip()]
            reqs.append((match.group(1), match.group(2), values))
            continue
        match = re.match(r"^([^\s!=]+)\s*(==|=|!=)\s*(\S*)$", part)
        if match:
            op = "!=" if match.group(2) == "!=" else "="
            reqs.append((match.group(1), op, [match.group(3)]))
            continue
        if part.startswith("!") and re.match(r"^![^\s!=]+$", part):
            reqs.append((part[1:], "!", []))
            continue
        if re.match(r"^[^\s!=()]+$", part):
            reqs.append((part, "exists", []))
            continue
        raise ApiError(400, "unable to parse requirement: %s" % part, "BadRequest")
    return reqs


def match_labels(reqs, labels):
    """True when ``labels`` satisfy every requirement."""
    labels = labels or {}
    for key, op, values in reqs:
        present = key in labels
        val = labels.get(key)
        if op == "=" and (not present or val != values[0]):
            return False
        if op == "!=" and present and val == values[0]:
            return False
        if op == "in" and (not present or val not in values):
            return False
        if op == "notin" and present and val in values:
            return False
        if op == "exists" and not present:
            return False
        if op == "!" and present:
            return False
    return True


def parse_field_selector(text):
    """Parse a field selector into ``(path, op, value)`` triples."""
    reqs = []
    for part in _split_top(text or ""):
        match = re.match(r"^([^!=]+)(==|=|!=)(.*)$", part)
        if not match:
            raise ApiError(400, "invalid field selector: %s" % part, "BadRequest")
        op = "!=" if match.group(2) == "!=" else "="
        reqs.append((match.group(1).strip(), op, match.group(3).strip()))
    return reqs


def match_fields(reqs, obj):
    """True when ``obj`` satisfies every field requirement (dotted paths)."""
    for path, op, value in reqs:
        cur = obj
        for key in path.split("."):
            cur = cur.get(key) if isinstance(cur, dict) else None
        cur = "" if cur is None else str(cur)
        if (op == "=") != (cur == value):
            return False
    return True


# ---------------------------------------------------------------- patches

def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


MERGE_KEYS = {"containers": "name", "initContainers": "name", "volumes": "name", "volumeMounts": "mountPath", "ports": "containerPort",
              "env": "name", "conditions": "type", "ownerReferences": "uid", "tolerations": "key", "imagePullSecrets": "name",
              "volumeClaimTemplates": None}


def strategic_merge_patch(target, patch, key=None):
    """A strategic merge patch good enough for what kubectl sends (merge keys of the core types)."""
    if isinstance(patch, dict):
        if patch.get("$patch") == "replace":
            return {k: v for k, v in copy.deepcopy(patch).items() if k != "$patch"}
        if patch.get("$patch") == "delete":
            return None
        result = copy.deepcopy(target) if isinstance(target, dict) else {}
        for name, value in patch.items():
            if name.startswith("$") or name.startswith("$setElementOrder/"):
                continue
            if value is None:
                result.pop(name, None)
            else:
                merged = strategic_merge_patch(result.get(name), value, name)
                if merged is None:
                    result.pop(name, None)
                else:
                    result[name] = merged
        return result
    if isinstance(patch, list) and MERGE_KEYS.get(key) and isinstance(target, list):
        mkey = MERGE_KEYS[key]
        result = copy.deepcopy(target)
        for item in patch:
            if not isinstance(item, dict) or mkey not in item:
                result.append(copy.deepcopy(item))
                continue
            idx = next((i for i, cur in enumerate(result) if isinstance(cur, dict) and cur.get(mkey) == item[mkey]), None)
            if item.get("$patch") == "delete":
                if idx is not None:
                    result.pop(idx)
            elif idx is None:
                result.append({k: v for k, v in copy.deepcopy(item).items() if not k.startswith("$")})
            else:
                result[idx] = strategic_merge_patch(result[idx], item)
        return result
    return copy.deepcopy(patch)


def _pointer(path):
    if path == "":
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")]


def json_patch(target, ops):
    """RFC 6902 JSON patch (add, remove, replace, test, copy, move)."""
    doc = copy.deepcopy(target)
    for op in ops:
        parts = _pointer(op.get("path", ""))
        kind = op.get("op")
        if kind in ("copy", "move"):
            src = _pointer(op.get("from", ""))
            value = _get_ptr(doc, src)
            if kind == "move":
                doc = _remove_ptr(doc, src)
            doc = _add_ptr(doc, parts, copy.deepcopy(value))
        elif kind == "add":
            doc = _add_ptr(doc, parts, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            doc = _remove_ptr(doc, parts)
        elif kind == "replace":
            doc = _remove_ptr(doc, parts)
            doc = _add_ptr(doc, parts, copy.deepcopy(op.get("value")))
        elif kind == "test":
            if _get_ptr(doc, parts) != op.get("value"):
                raise ApiError(422, "the server rejected our request due to an error in our request: test failed", "Invalid")
        else:
            raise ApiError(400, "unknown patch op %r" % kind)
    return doc


def _get_ptr(doc, parts):
    cur = doc
    try:
        for part in parts:
            cur = cur[int(part)] if isinstance(cur, list) else cur[part]
    except (KeyError, IndexError, ValueError, TypeError) as exc:
        raise ApiError(422, "path not found: /%s" % "/".join(parts), "Invalid") from exc
    return cur


def _add_ptr(doc, parts, value):
    if not parts:
        return value
    parent = _get_ptr(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, list):
        if last == "-":
            parent.append(value)
        else:
            parent.insert(int(last), value)
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise ApiError(422, "cannot add at /%s" % "/".join(parts), "Invalid")
    return doc


def _remove_ptr(doc, parts):
    if not parts:
        return None
    parent = _get_ptr(doc, parts[:-1])
    last = parts[-1]
    try:
        if isinstance(parent, list):
            parent.pop(int(last))
        else:
            del parent[last]
    except (KeyError, IndexError, ValueError) as exc:
        raise ApiError(422, "path not found: /%s" % "/".join(parts), "Invalid") from exc
    return doc


# ---------------------------------------------------------------- quantities

_SUFFIX = {"Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3, "Ti": 1024 ** 4, "k": 1000, "M": 1000 ** 2, "G": 1000 ** 3, "T": 1000 ** 4,
           "m": 0.001, "n": 1e-9, "u": 1e-6}


def parse_quantity(text):
    """A Kubernetes quantity (``512Mi``, ``100m``, ``1.5``) as a float."""
    text = str(text).strip()
    match = re.match(r"^([0-9.eE+-]+)([a-zA-Z]*)$", text)
    if not match:
        raise ValueError("bad quantity %r" % text)
    return float(match.group(1)) * _SUFFIX.get(match.group(2), 1)


def bytes_quantity(value):
    """Bytes as a quantity string (``Ki`` when not a round MiB/GiB)."""
    value = int(value)
    for suffix, size in (("Gi", 1024 ** 3), ("Mi", 1024 ** 2), ("Ki", 1024)):
        if value and value % size == 0:
            return "%d%s" % (value // size, suffix)
    if value >= 1024:
        return "%dKi" % (value // 1024)
    return str(value)
