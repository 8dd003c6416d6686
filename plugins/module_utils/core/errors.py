# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The errors of the domain layer.

Domain code raises these; a module turns ``TargetUnreachable``, ``TargetTimeout`` and
``TargetAuthError`` into ``status: unknown`` with the message as the reason, and only wrong
arguments into ``fail_json``. Messages are written for a person (what failed, where, what to
do) and never contain a secret: ``scrub.redact`` masks the secrets a caller knows of and every
credential of a known shape, ``one_line`` keeps a message to one short line.

``FleetopsError`` is the one root: every error raised on purpose derives from it, so a caller
that must not fail on any of them catches that one class.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class FleetopsError(Exception):
    """Base of every error the collection raises on purpose."""

    def __init__(self, message, **details):
        super(FleetopsError, self).__init__(message)
        self.message = message
        self.details = details

    def __str__(self):
        return self.message


class TargetUnreachable(FleetopsError):
    """The cluster API or the agent could not be reached (refused, DNS, TLS, 5xx, no pod)."""


class TargetAuthError(FleetopsError):
    """The credentials were rejected (401) or not allowed (403)."""


class TargetTimeout(FleetopsError):
    """No answer within the timeout."""


class TargetConfigError(TargetUnreachable):
    """The connection cannot even be set up: kubeconfig missing, unknown context, bad CA file."""


class MissingLibrary(FleetopsError):
    """An optional library (``kubernetes``) is needed for what was asked and is not installed."""

    def __init__(self, library, message=None):
        super(MissingLibrary, self).__init__(message or 'the Python library %s is required for this and is not installed' % library)
        self.library = library


class ParseError(FleetopsError):
    """Input that is not what it should be (e.g. a page that is not a Prometheus metrics page)."""

    def __init__(self, message, line=None):
        if line is not None:
            message = 'line %d: %s' % (line, message)
        super(ParseError, self).__init__(message)
        self.line = line


class QueryRefused(FleetopsError):
    """The query API answered but refused the query (a PromQL error, ``status`` not ``success``)."""


def one_line(text, limit=300):
    """``text`` on one line (white space folded), cut at ``limit`` characters."""
    text = ' '.join(str(text).split())
    return text if len(text) <= limit else text[:limit] + '...'
