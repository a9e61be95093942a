# Collect & Verything tenant platform. `make test` and `make demo` work on a
# fresh machine: every step installs what it needs.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
ROOT := $(abspath .)
NODE_BIN := $(shell bash $(ROOT)/scripts/ensure-node.sh)
export PATH := $(NODE_BIN):$(PATH)
NPM := node $(shell bash $(ROOT)/scripts/npm-cli.sh)
JEST := node node_modules/jest/bin/jest.js

.PHONY: deps typecheck lint format mutation test test-unit test-contract test-engine test-api toolchain local-up local-down demo synth bench bench-webhooks actionlint clean

node_modules/.deps-stamp: package.json package-lock.json
	$(NPM) ci --no-audit --no-fund
	touch $@

deps: node_modules/.deps-stamp

typecheck: deps
	node node_modules/typescript/bin/tsc -p tsconfig.json --noEmit --noCheck false

# Typed lint (the dependency rule included, see CONTRIBUTING.md) and the formatting check.
lint: deps
	node node_modules/eslint/bin/eslint.js --max-warnings 0 .
	node node_modules/prettier/bin/prettier.cjs --check --log-level warn .

format: deps
	node node_modules/prettier/bin/prettier.cjs --write --log-level warn .

# Mutation testing of the unit suite (a benchmark, not part of `make test`): test/MUTATION.md.
mutation: deps
	node node_modules/@stryker-mutator/core/bin/stryker.js run

test-unit: deps
	$(JEST) --selectProjects unit

toolchain:
	bash scripts/bootstrap-toolchain.sh

local-up: toolchain
	bash scripts/local-up.sh

local-down:
	bash scripts/local-down.sh

test-contract: deps local-up
	$(JEST) --selectProjects contract --runInBand

test-engine: deps local-up
	source .work/toolchain.env && $(JEST) --selectProjects engine --runInBand

test-api: deps
	bash scripts/schemathesis.sh

actionlint:
	bash scripts/actionlint.sh

# Everything, with per-step timings; services are stopped afterwards.
test: deps
	bash scripts/test.sh

# The main job: bootstrap, start the local control plane, `pulumi up` the local stack, show what exists.
demo: deps
	bash scripts/demo.sh

synth: deps
	for s in eu-west us-east apac; do ./tenantctl synth --stack $$s; echo; done

bench: deps
	./tenantctl bench --tenants 10,100,1000

bench-webhooks: deps local-up
	source .work/toolchain.env && ./tenantctl bench-webhooks

clean:
	bash scripts/local-down.sh || true
	rm -rf .work dist coverage
