# fleetops.prometheus_agent: the two commands of the README, and a few for developers.
SHELL := /bin/bash
VENV ?= .venv
LAB ?= /tmp/fleetops-lab

.PHONY: test test-full demo bench bootstrap unit sanity integration lint molecule docs build lab-up lab-down

test:            ## install what is missing, run every test
	tests/scripts/test.sh

test-full:       ## make test plus the daily playbook on 200 synthetic clusters
	FLEETOPS_FULL_TESTS=1 tests/scripts/test.sh

demo:            ## start a small lab with trouble, audit it, show the report, stop the lab
	tests/scripts/demo.sh

bench: bootstrap ## benchmarks (not part of make test)
	$(VENV)/bin/python bench/run_all.py

bootstrap:
	tests/scripts/bootstrap.sh

unit sanity integration lint molecule docs build:
	tests/scripts/test.sh $@

N ?= 5
.PHONY: test-repeat
test-repeat:     ## the integration stage N times in a row (make test-repeat N=5): each run's time and result
	FLEETOPS_REPEAT=$(N) tests/scripts/test.sh integration

lab-up:          ## a 3-cluster lab for development (make lab-down to stop it)
	tests/scripts/bootstrap.sh && $(VENV)/bin/python tests/lab/fleetlab up --workdir $(LAB) --clusters 3

lab-down:
	$(VENV)/bin/python tests/lab/fleetlab down --workdir $(LAB)
