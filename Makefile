# progressive.delivery — one command to set up, one to test.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PYTHONPATH := $(CURDIR)
# The lab publishes CloudWatch as AWS does (late, no zero counts) unless told otherwise (lab/README.md).
export LAB_CW_SHAPE ?= aws

.PHONY: help setup test checks lint unit sanity integration molecule build demo demo-vm lab-up lab-status lab-down bench clean

help:
	@echo "make setup        create .venv, install ansible + collections + test tools, link this collection"
	@echo "make test         lint, unit, sanity and integration tests"
	@echo "make demo         ECS blue-green deployment against the lab"
	@echo "make demo-vm      VM rolling deployment of $(VM_VERSION) to the lab's SSH hosts, $(VM_SERIAL) at a time"
	@echo "make lab-up | lab-status | lab-down   the local AWS lab"
	@echo "make molecule     molecule's scenarios (ecs_blue_green, vm_deploy) against the lab"
	@echo "make bench        run every benchmark in bench/ (figures printed, JSON in bench/results/, figures into bench/README.md)"

setup:
	bash tools/setup.sh

# The integration suite waits on the lab's clocks most of its ~20 minutes, so lint, unit and sanity run beside it
# (each target's output is printed whole when it ends). Any failure fails `make test`.
test:
	$(MAKE) --no-print-directory -j 2 --output-sync=target checks integration

checks:
	$(MAKE) --no-print-directory lint unit sanity

lint:
	yamllint -s .
	ansible-lint --profile production

unit:
	pytest tests/unit

sanity:
	bash tools/sanity.sh

# pytest-xdist workers, each with a lab of its own (tests/integration/conftest.py derives its ports and names);
# a test file runs wholly in one worker. Tests mostly wait on the lab's clocks, so 3 workers fit 2 cores.
INTEGRATION_WORKERS ?= 4
integration:
	pytest -n $(INTEGRATION_WORKERS) --dist loadfile --durations=40 tests/integration

# molecule's scenarios against the default lab: ecs_blue_green on a freshly seeded world, vm_deploy on its VM hosts.
# `make test` runs the same scenarios through tests/integration/test_molecule.py, each on its worker's own lab.
molecule:
	python -m lab up
	python -m lab reset
	test -f "$(VM_INVENTORY)" || python -m lab.vmhosts up
	LAB_VM_INVENTORY="$$(realpath "$(VM_INVENTORY)")" molecule test --all

build:
	mkdir -p build/dist
	ansible-galaxy collection build --force --output-path build/dist .

demo:
	bash tools/demo.sh

VM_VERSION ?= v1.2.3
VM_SERIAL ?= 2
VM_INVENTORY = $${LAB_VM_INVENTORY:-inventories/lab/vm_hosts.yml}
demo-vm:
	python -m lab up
	test -f "$(VM_INVENTORY)" || python -m lab.vmhosts up
	ansible-playbook playbooks/vm_rolling.yml -i inventories/lab -i "$(VM_INVENTORY)" \
		-e vm_deploy_version=$(VM_VERSION) -e vm_rolling_serial=$(VM_SERIAL) -e aws_endpoint_url=http://127.0.0.1:$${LAB_AWS_PORT:-4566}
	python -m lab status

lab-up:
	python -m lab up

lab-status:
	python -m lab status

lab-down:
	python -m lab down

# A benchmark is a bench/*.py with a __main__ block (helpers such as bench/baselines.py have none).
# BENCH_ARGS is passed to each: by default the full run writes its figures into bench/README.md;
# make bench BENCH_ARGS=--quick is a smoke run that leaves the README alone.
BENCH_ARGS ?= --update-readme
bench:
	@set -e; for script in $$(grep -l '^if __name__ == "__main__":' bench/*.py); do \
		echo "== $$script"; python $$script $(BENCH_ARGS); done

clean:
	rm -rf build tests/output .pytest_cache
