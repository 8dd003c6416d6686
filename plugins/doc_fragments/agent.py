# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which agent a module reads in the cluster, and the thresholds its checks use (argument spec: module_utils/args_common.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  namespace:
    description: Namespace of the agent pods.
    type: str
    default: monitoring
  pod:
    description: Name of the agent pod. When not set, the first ready pod matching I(label_selector).
    type: str
  label_selector:
    description:
      - Label selector of the agent pods. The Prometheus Operator's PrometheusAgent labels its pods
        C(app.kubernetes.io/name=prometheus-agent); other installs differ (set it per cluster).
    type: str
    default: app.kubernetes.io/name=prometheus-agent
  container:
    description: The agent's container in the pod.
    type: str
    default: prometheus
  port:
    description: The agent's HTTP port in the pod.
    type: int
    default: 9090
  thresholds:
    description:
      - Thresholds merged over the defaults of the check catalog (docs/checks.md), e.g.
        C(rw_lag_warning), C(memory_warning). Values are numbers (bytes, seconds, ratios).
    type: dict
    default: {}
'''
