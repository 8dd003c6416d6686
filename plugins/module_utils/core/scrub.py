# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one secret scrubber: what the collection returns, prints or writes carries no credential.

Standard library only. Two entry points:

* ``redact(text, secrets=())``: ``text`` (anything, as str) with every secret the caller knows of
  (at least 4 characters) masked, and every credential of a known shape:

  - the user information of a URL (``https://user:password@host`` -> ``https://***@host``);
  - the value of an ``Authorization`` / ``Proxy-Authorization`` / ``Cookie`` header and of any
    ``X-...-Key`` / ``X-...-Token`` / ``X-...-Auth`` header (``X-Api-Key: ...``);
  - ``Bearer <token>`` and ``Basic <base64 of user:password>``;
  - the value of a ``password=`` / ``passwd:`` / ``secret=`` / ``token=`` / ``api_key=`` field
    (``key=value``, ``key: value``, ``"key": "value"``).

* ``scrub(value, secrets=())``: a copy of a result (dicts, lists, strings, numbers): every string
  redacted, and the entries whose key names a secret (``token``, ``password``, ``api_key``...)
  and whose value is a string left out. Entries whose value is a dict or a list stay (a job or
  cluster named ``secret-store`` is not a secret; what it holds is scrubbed).

Used at the funnels: ``runners.run_module`` (every read-only module and its in-worker action), the
remediation modules (``args_common.exit_scrubbed``), the ``fleet_evaluate`` and ``fleet_report``
actions and the report writer; error messages use ``redact``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import re

MASK = '***'
KNOWN_MASK = '********'

# keys whose string value is a secret (dropped by scrub)
SECRET_KEY = re.compile(r'(token|password|passwd|secret|api_key|apikey|bearer|authorization|client_key|private)', re.I)

# scheme://userinfo@ : everything up to the last '@' before the host's end (a password may hold '@')
_URL_USERINFO = re.compile(r'(?P<scheme>\b[a-z][a-z0-9+.-]*://)[^\s/?#"\'<>]*@', re.I)
# header-like fields: Authorization, Proxy-Authorization, Cookie, X-...-Key/Token/Auth/Secret/Password
_HEADER = re.compile(
    r'(?P<key>\b(?:proxy-)?authori[sz]ation|\bset-cookie|\bcookie|\bx-[a-z0-9-]*(?:key|token|auth|secret|password)[a-z0-9-]*)'
    r'(?P<sep>["\']?[ \t]*[:=][ \t]*["\']?)(?P<value>[^\r\n"\',;]+)', re.I)
_SCHEME_TOKEN = re.compile(r'(?P<scheme>\b(?:bearer|basic))(?P<sep>\s+)(?P<value>[A-Za-z0-9._~+/=-]{8,})', re.I)
# password=..., "client_secret": "...", token: ... (not the words alone: "token rejected" stays)
_FIELD = re.compile(
    r'(?P<key>\b[\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key)[\w.-]*)'
    r'(?P<sep>["\']?[ \t]*[:=][ \t]*)(?P<value>"[^"\n]*"|\'[^\'\n]*\'|[^\s,;&"\'})\]]+)', re.I)
# a quick test before the patterns run (most strings of a result hold none of these)
_HINT = re.compile(r'@|bearer|basic|authori|cookie|x-|pass|pwd|secret|token|key', re.I)
_WORD = re.compile(r'[A-Za-z][a-z]*$')
_PLACEHOLDER = re.compile(r'^(\*+|<secret>|xxxxx|VALUE_SPECIFIED_IN_NO_LOG_PARAMETER)$')


def _scheme_token(match):
    value = match.group('value')
    if _WORD.match(value):          # "Bearer authentication", "basic auth": words, not credentials
        return match.group(0)
    if match.group('scheme').lower() == 'basic':
        try:
            decoded = base64.b64decode(value + '=' * (-len(value) % 4), validate=True)
        except (binascii.Error, ValueError):
            return match.group(0)
        if b':' not in decoded:
            return match.group(0)
    return match.group('scheme') + match.group('sep') + MASK


def _field(match):
    value = match.group('value')
    bare = value.strip('"\'')
    if not bare or _PLACEHOLDER.match(bare):
        return match.group(0)
    quote = value[0] if value[0] in '"\'' and value[-1] == value[0] and len(value) > 1 else ''
    return match.group('key') + match.group('sep') + quote + MASK + quote


def _header(match):
    value = match.group('value').strip()
    if not value or _PLACEHOLDER.match(value):
        return match.group(0)
    return match.group('key') + match.group('sep') + MASK


def redact(text, secrets=()):
    """``text`` as str with the known ``secrets`` and every credential of a known shape masked."""
    text = str(text)
    for secret in secrets or ():
        if secret and len(secret) >= 4:
            text = text.replace(secret, KNOWN_MASK)
    if not _HINT.search(text):
        return text
    text = _URL_USERINFO.sub(r'\g<scheme>' + MASK + '@', text)
    text = _HEADER.sub(_header, text)
    text = _SCHEME_TOKEN.sub(_scheme_token, text)
    return _FIELD.sub(_field, text)


def scrub(value, secrets=()):
    """A copy of ``value`` without secrets (see the module docstring)."""
    if isinstance(value, dict):
        return dict((k, scrub(v, secrets)) for k, v in value.items()
                    if not (isinstance(v, str) and SECRET_KEY.search(str(k))))
    if isinstance(value, (list, tuple)):
        return [scrub(v, secrets) for v in value]
    if isinstance(value, str):
        return redact(value, secrets)
    return value


__all__ = ['redact', 'scrub', 'SECRET_KEY', 'MASK']
