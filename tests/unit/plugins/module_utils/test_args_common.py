"""The checks of args_common the argument spec cannot express (messages name the option)."""

from __future__ import annotations

from ansible_collections.fleetops.prometheus_agent.plugins.module_utils import args_common

from ansible_collections.fleetops.prometheus_agent.plugins.plugin_utils import fleet_checks
from ansible_collections.fleetops.prometheus_agent.plugins.modules import fleet_evaluate

QUEUE = {"capacity": {"type": "int"}, "batch_send_deadline": {"type": "str"}}


def test_validate_common_module_bounds():
    assert args_common.validate_common({"timeout": 5}, positive=("step",), not_negative=("wait",)) is None
    assert args_common.validate_common({"step": 0}, positive=("step",)) == "step must be a positive number, got 0"
    assert args_common.validate_common({"wait": -1}, not_negative=("wait",)) == "wait must not be negative, got -1"
    assert args_common.validate_common({"wait": 0, "step": None}, positive=("step",), not_negative=("wait",)) is None
    # the shared options first
    assert args_common.validate_common({"timeout": -1, "wait": -1}, not_negative=("wait",)).startswith("timeout ")


def test_validate_dict_option_converts_and_names_the_option():
    params = {"queue": {"capacity": "100"}}
    assert args_common.validate_dict_option(params, "queue", QUEUE) is None
    assert params["queue"] == {"capacity": 100, "batch_send_deadline": None}
    params = {"queue": "capacity=5"}
    assert args_common.validate_dict_option(params, "queue", QUEUE) is None
    assert params["queue"]["capacity"] == 5
    assert args_common.validate_dict_option({"queue": None}, "queue", QUEUE) is None


def test_validate_dict_option_errors():
    assert args_common.validate_dict_option({"queue": "bigger"}, "queue", QUEUE).startswith("queue must be a dictionary")
    assert args_common.validate_dict_option({"queue": [1]}, "queue", QUEUE) == "queue must be a dictionary, got list [1]"
    msg = args_common.validate_dict_option({"queue": {"capacity": "lots"}}, "queue", QUEUE)
    assert msg.startswith("queue: ") and "capacity" in msg
    msg = args_common.validate_dict_option({"queue": {"colour": 1}}, "queue", QUEUE)
    assert msg.startswith("queue: unsupported parameters: colour")


def test_fleet_evaluate_cadences_are_the_evaluators():
    assert set(fleet_evaluate.argument_spec()["cadence"]["choices"]) == set(fleet_checks.CADENCE_CHECKS)
