# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The RULES check: are the collection's agent alert rules deployed, current and valid.

Pure Python (no Ansible, no Kubernetes imports), unit-tested alone. ``rules_status`` feeds it
the PrometheusRule objects of a cluster, the rules the collection ships, the metric names the
running agent exports and the result of ``promtool check rules``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import re

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.core.errors import ParseError
from ansible_collections.fleetops.prometheus_agent.plugins.module_utils.prometheus import exposition

SHA_ANNOTATION = "fleetops.io/rules-sha256"

# Names the runbook used that no Prometheus agent exports (old, renamed or invented), and the
# head-block family agents do not have: a rule on them never fires.
NEVER_EXPORTED = (
    "prometheus_remote_storage_queue_length",
    "prometheus_remote_storage_queue_capacity",
    "prometheus_remote_storage_pending_samples",
    "prometheus_remote_storage_succeeded_samples_total",
    "prometheus_remote_storage_failed_samples_total",
    "prometheus_remote_storage_retried_samples_total",
    "prometheus_remote_storage_dropped_samples_total",
    "prometheus_remote_storage_sent_samples_total",
    "prometheus_remote_storage_send_duration_seconds",
    "prometheus_tsdb_wal_corruptions_total",
)
NEVER_EXPORTED_PREFIXES = ("prometheus_tsdb_head_",)
# Names this check compares with the running agent's /metrics (others come from other exporters)
AGENT_PREFIXES = ("prometheus_", "process_", "go_")

_PROMQL_WORDS = frozenset("""
abs absent absent_over_time acos acosh and asin asinh atan atanh avg avg_over_time bool bottomk by ceil changes
clamp clamp_max clamp_min count count_over_time count_values cos cosh day_of_month day_of_week day_of_year
days_in_month deg delta deriv exp floor group group_left group_right histogram_avg histogram_count
histogram_fraction histogram_quantile histogram_stddev histogram_stdvar histogram_sum holt_winters hour idelta
ignoring increase inf irate label_join label_replace last_over_time limitk limit_ratio ln log10 log2 mad_over_time
max max_over_time min min_over_time minute month nan offset on or pi predict_linear present_over_time quantile
quantile_over_time rad rate resets round scalar sgn sin sinh sort sort_by_label sort_by_label_desc sort_desc
sqrt stddev stddev_over_time stdvar stdvar_over_time sum sum_over_time tan tanh time timestamp topk unless
vector without year atan2 double_exponential_smoothing info
""".split())

_STRINGS = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_BRACES = re.compile(r"\{[^}]*\}")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_DURATION = re.compile(r"\[[^\]]*\]")
_TOKEN = re.compile(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)")


def _stripped(expr):
    """A PromQL expression without strings, label matchers, groupings, ranges and offsets."""
    text = _STRINGS.sub(" ", str(expr))
    text = _BRACES.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _DURATION.sub(" ", text)
    return re.sub(r"\boffset\s+-?[0-9a-z]+", " ", text)


def metric_names(expr):
    """The metric names a PromQL expression reads."""
    return _names(_stripped(expr))


def _names(text):
    """The metric names of a stripped expression."""
    names = set()
    for match in _TOKEN.finditer(text):
        word = match.group(1)
        rest = text[match.end():].lstrip()
        if word.lower() in _PROMQL_WORDS or rest.startswith("("):
            continue
        if re.fullmatch(r"[0-9a-fA-FxX]+|e[0-9]+", word):
            continue
        names.add(word)
    return names


def base_name(name):
    """A histogram's or summary's family name (``_bucket``, ``_sum``, ``_count`` stripped)."""
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def groups_of(obj):
    """The rule groups of a PrometheusRule object (dict) or of a rules file (dict with ``groups``)."""
    if not isinstance(obj, dict):
        return []
    spec = obj.get("spec") if "spec" in obj else obj
    return [g for g in (spec or {}).get("groups") or [] if isinstance(g, dict)]


def alerts_of(groups):
    """{alert name: rule} of rule groups."""
    found = {}
    for group in groups:
        for rule in group.get("rules") or []:
            if isinstance(rule, dict) and rule.get("alert"):
                found[rule["alert"]] = rule
    return found


def canonical_sha(groups):
    """A digest of rule groups that ignores formatting and key order."""
    def norm(rule):
        rule = dict(rule)
        if isinstance(rule.get("expr"), str):
            rule["expr"] = " ".join(rule["expr"].split())
        return rule
    data = [{"name": g.get("name"), "interval": g.get("interval"), "rules": [norm(r) for r in g.get("rules") or []]} for g in groups]
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def exported_names(metrics_text):
    """The metric names a /metrics page exports: its families (``# TYPE`` / ``# HELP``) and every
    sample name (a histogram's ``_bucket``, ``_sum``, ``_count`` too), read by ``exposition.parse``
    (the one reader of the text format); None when the page is not a metrics page."""
    try:
        metrics = exposition.parse(metrics_text or '', source='the agent\'s /metrics')
    except ParseError:
        return None
    return set(metrics.by_name) | set(metrics.types) | set(metrics.help)


def _top_level(text):
    """(the text with each outermost parenthesis emptied to ``()``, [the text inside each])."""
    outer, inner, depth, start = [], [], 0, 0
    for pos, char in enumerate(text):
        if char == "(":
            if depth == 0:
                outer.append(text[start:pos + 1])
                start = pos + 1
            depth += 1
        elif char == ")" and depth:
            depth -= 1
            if depth == 0:
                inner.append(text[start:pos])
                start = pos
    outer.append(text[start:] if depth == 0 else "")
    return "".join(outer), inner


def _missing(text, is_missing):
    """The names that leave a stripped expression without data: in ``a or b`` (old and new names of
    one metric) only names of every alternative, since one with data is enough."""
    outer, inner = _top_level(text)
    alternatives = re.split(r"\bor\b", outer)
    if len(alternatives) > 1:
        # put each alternative's parentheses back, in order
        parts, pos = [], 0
        for alternative in alternatives:
            count = alternative.count("()")
            parts.append((alternative, inner[pos:pos + count]))
            pos += count
        found = [_missing_parts(alternative, groups, is_missing) for alternative, groups in parts]
        return set().union(*found) if all(found) else set()
    return _missing_parts(outer, inner, is_missing)


def _missing_parts(outer, groups, is_missing):
    found = {name for name in _names(outer) if is_missing(name)}
    for group in groups:
        found |= _missing(group, is_missing)
    return found


def unusable_names(groups, exported=None):
    """{alert: [names]} of names a rule reads that the agent does not (or never) export; a name
    with an ``or`` fallback that has data (another version's name of the metric) is not one."""
    found = {}
    exported_bases = {base_name(n) for n in exported} if exported else None

    def is_missing(name):
        if name in NEVER_EXPORTED or name.startswith(NEVER_EXPORTED_PREFIXES):
            return True
        return exported_bases is not None and name.startswith(AGENT_PREFIXES) and base_name(name) not in exported_bases \
            and name not in exported

    for alert, rule in alerts_of(groups).items():
        bad = sorted(_missing(_stripped(rule.get("expr", "")), is_missing))
        if bad:
            found[alert] = bad
    return found


def evaluate(deployed, expected_groups, exported=None, promtool_errors=None, group_name="prometheus-agent"):
    """The RULES check (a dict: status, value, threshold, message, and details).

    ``deployed``: PrometheusRule objects (dicts). ``expected_groups``: the shipped rule groups.
    ``exported``: metric names of the running agent (None: not known). ``promtool_errors``:
    {object name: error text} of objects ``promtool check rules`` refused.
    """
    expected_alerts = alerts_of(expected_groups)
    expected_sha = canonical_sha(expected_groups)
    ours = []
    for obj in deployed or []:
        groups = groups_of(obj)
        names = {g.get("name") for g in groups}
        if group_name in names or set(alerts_of(groups)) & set(expected_alerts):
            ours.append(obj)
    details = {"objects": [("%s/%s" % ((o.get("metadata") or {}).get("namespace"), (o.get("metadata") or {}).get("name"))) for o in ours],
               "expected_sha256": expected_sha, "expected_alerts": sorted(expected_alerts)}
    threshold = "deployed, current (sha256 %s...) and valid" % expected_sha[:12]
    if promtool_errors:
        bad = ", ".join(sorted(promtool_errors))
        details["promtool_errors"] = promtool_errors
        return dict(status="critical", value="invalid", threshold=threshold, details=details,
                    message="promtool check rules refuses %s: fix and redeploy the rules" % bad)
    if not ours:
        return dict(status="warning", value="missing", threshold=threshold, details=details,
                    message="no PrometheusRule with the agent alerts (group %s): deploy the collection's rules" % group_name)
    deployed_groups = [g for o in ours for g in groups_of(o)]
    deployed_alerts = alerts_of(deployed_groups)
    problems = []
    missing = sorted(set(expected_alerts) - set(deployed_alerts))
    if missing:
        problems.append("alerts missing: %s" % ", ".join(missing))
    unusable = unusable_names(deployed_groups, exported)
    if unusable:
        details["unusable_names"] = unusable
        problems.append("rules on metrics this agent does not export (they never fire): %s" % "; ".join(
            "%s (%s)" % (alert, ", ".join(names)) for alert, names in sorted(unusable.items())))
    changed = sorted(a for a in set(expected_alerts) & set(deployed_alerts)
                     if " ".join(str(expected_alerts[a].get("expr", "")).split()) != " ".join(str(deployed_alerts[a].get("expr", "")).split()))
    if changed:
        problems.append("expressions differ from the shipped rules: %s" % ", ".join(changed))
    shas = {((o.get("metadata") or {}).get("annotations") or {}).get(SHA_ANNOTATION) for o in ours} - {None}
    details["deployed_sha256"] = sorted(shas)
    if shas and expected_sha not in shas and not changed and not missing:
        problems.append("deployed from an older version of the rules (sha256 %s)" % ", ".join(s[:12] for s in sorted(shas)))
    if problems:
        return dict(status="warning", value="stale", threshold=threshold, details=details,
                    message="the deployed agent alert rules are stale, %s: redeploy the collection's rules" % "; ".join(problems))
    return dict(status="ok", value="current", threshold=threshold, details=details,
                message="the agent alert rules are deployed and current (%s)" % ", ".join(details["objects"]))
