# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compile each template string once while one task templates the same variables for many hosts.

fleet_gather templates a handful of option dicts for every host of the play (the connection
options, the audit options, the evaluation options). Their values are the same template strings
on every host (role defaults and play variables); only the variables they read differ. ansible-core
2.19 keeps no cache of compiled templates: it parses and compiles a template string again each
time it renders one, and at 500 hosts that was 83 of the 135 seconds fleet_gather spent templating
(47 compiles per host, bench/results/fleet_audit-500-memory.md).

``compiled_once()`` keeps, for the time of its ``with`` block, each compiled template by what
decides its compilation: the template string, the template options and the base directory of the
Jinja environment (an environment depends on nothing else; the variables and the templar of a
rendering come from the rendering's own context, not from the compiled template). A compile error
is kept the same way and raised where the template is used, as ansible-core does.

It wraps a method of ansible-core's internal template engine, which may change between versions:
when that method is not there (another ansible-core), templating is left as it is, only slower.
The block runs in the forked worker of the one task, so no other task sees the wrapper.
"""

from __future__ import annotations

import contextlib

try:  # the internal template engine of ansible-core 2.19
    from ansible._internal._templating import _engine as _template_engine
except ImportError:  # pragma: no cover - another ansible-core: no cache
    _template_engine = None


def _engine_class():
    engine = getattr(_template_engine, "TemplateEngine", None)
    if engine is None or not callable(getattr(engine, "_compile_template", None)):
        return None
    return engine


@contextlib.contextmanager
def compiled_once():
    """Within the block each distinct template string is compiled once; yields the counts
    (``compiled``, ``reused``) for the caller to report."""
    counts = {"compiled": 0, "reused": 0}
    engine = _engine_class()
    if engine is None:
        yield counts
        return
    original = engine.__dict__["_compile_template"]
    cache = {}

    def compile_template(self, template, options):
        try:
            key = (getattr(self, "basedir", None), template, options)
            compiled = cache.get(key)
        except TypeError:  # something unhashable: as ansible-core does it
            return original(self, template, options)
        if compiled is None:
            compiled = cache[key] = original(self, template, options)
            counts["compiled"] += 1
        else:
            counts["reused"] += 1
        return compiled

    engine._compile_template = compile_template
    try:
        yield counts
    finally:
        engine._compile_template = original
