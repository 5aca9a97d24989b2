# Waypoint: `make run` starts the local ambient rig (the main job); `make test` runs the suite.
SHELL := /bin/bash
DOTNET ?= dotnet
CONFIGURATION ?= Release
ENVOY_API := .cache/envoy-api/stamp.txt

.PHONY: all build protos test test-unit run bench clean e2e-kind

all: build

protos: ## Unpack Envoy's API protos from the pinned npm package (cached).
	node build/envoy-api/prepare.mjs

build: protos
	$(DOTNET) build Waypoint.sln -c $(CONFIGURATION)

test: build
	bash build/run-tests.sh $(CONFIGURATION)

run: build
	$(DOTNET) run --no-build -c $(CONFIGURATION) --project src/Waypoint.Host -- local examples/basic

bench: protos
	$(DOTNET) run -c Release --project bench/Waypoint.Benchmarks -- $(BENCH_ARGS)

e2e-kind:
	bash istio-integration/e2e-kind.sh

clean:
	$(DOTNET) clean Waypoint.sln
	rm -rf .cache
