# Waypoint: `make run` starts the local ambient rig (the main job); `make test` runs the suite.
SHELL := /bin/bash
DOTNET ?= dotnet
CONFIGURATION ?= Release
ENVOY_API := .cache/envoy-api/stamp.txt

.PHONY: all build protos test test-unit run smoke-run bench clean e2e-kind

all: build

protos: ## Unpack Envoy's API protos from the pinned npm package (cached).
	node build/envoy-api/prepare.mjs

build: protos
	$(DOTNET) build Waypoint.sln -c $(CONFIGURATION)

test: build
	bash build/run-tests.sh $(CONFIGURATION)

WAYPOINT := $(DOTNET) src/Waypoint.Host/bin/$(CONFIGURATION)/net10.0/waypoint.dll

# The built host runs from the repository root, so paths on its command line are the ones typed here
# (`dotnet run` of a Web SDK project would run it in src/Waypoint.Host).
run: build
	$(WAYPOINT) local examples/basic

smoke-run: build ## What CI checks of `make run`: the mesh comes up, answers one request, stops cleanly.
	bash build/smoke-run.sh $(CONFIGURATION)

bench: protos
	$(DOTNET) run -c Release --project bench/Waypoint.Benchmarks -- $(BENCH_ARGS)

e2e-kind:
	bash istio-integration/e2e-kind.sh

clean:
	$(DOTNET) clean Waypoint.sln
	rm -rf .cache
