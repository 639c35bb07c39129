# Bailiff: policy enforcement and compliance for Kubernetes.
#   make demo    scan the examples offline, then admit them through a live cluster
#   make test    every test: Go, Rego, formatting and static checks
#   make bench   the benchmarks whose results README.md reports
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

export GOTOOLCHAIN := local
# Trivy (linked only by bailiff-scanner) needs encoding/json/v2; go vet and go test
# build every package, so the whole build sets it.
export GOEXPERIMENT := jsonv2
GO      ?= go
BIN     := $(CURDIR)/bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
CONFIG  ?= test/demo/config.yaml

include test/tools/tools.mk

.PHONY: build
build: $(BIN)/bailiff $(BIN)/bailiff-scanner ## Build bin/bailiff and bin/bailiff-scanner

# Always handed to go build, whose cache makes an unchanged build a no-op.
# bailiff does not link Trivy, so it is built without GOEXPERIMENT=jsonv2: under the
# experiment encoding/json's v1 API runs on v2 and decodes an AdmissionReview's object
# about twice as slowly (measured 58-66 us against 33 us for a Deployment).
.PHONY: $(BIN)/bailiff
$(BIN)/bailiff:
	GOEXPERIMENT= $(GO) build -ldflags "-X main.version=$(VERSION)" -o $@ ./cmd/bailiff

.PHONY: $(BIN)/bailiff-scanner
$(BIN)/bailiff-scanner:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $@ ./cmd/bailiff-scanner

# OPA at exactly the version go.mod pins (a `tool` directive), for `opa test policies/`.
$(BIN)/opa: go.mod go.sum
	$(GO) build -o $@ github.com/open-policy-agent/opa
	@touch $@

.PHONY: opa
opa: $(BIN)/opa

DEMO_DIR := $(BIN)/demo

.PHONY: demo
demo: $(BIN)/bailiff control-plane ## Scan test/examples/ offline, then run them through a live cluster (CONFIG=...)
	@echo "== 1. Offline: bailiff scan -f test/examples/ --config $(CONFIG)"
	@status=0; $(BIN)/bailiff scan -f test/examples/ --config $(CONFIG) || status=$$?; \
	  if [ $$status -gt 1 ]; then exit $$status; fi
	@echo
	@echo "== 2. Live: kube-apiserver + etcd with objects from before Bailiff; bailiff server, webhook (recording the trail) and auditor; kubectl apply of every example"
	@$(MAKE) --no-print-directory demo-down >/dev/null 2>&1 || true
	@mkdir -p $(DEMO_DIR) && rm -f $(DEMO_DIR)/ready
	$(GO) build -o $(BIN)/demo-cluster ./test/demo/cluster
	@nohup $(BIN)/demo-cluster -dir $(DEMO_DIR) -assets $(BIN) -bailiff $(BIN)/bailiff -config $(CONFIG) -examples test/examples \
	  > $(DEMO_DIR)/cluster.log 2>&1 & echo $$! > $(DEMO_DIR)/pid
	@for i in $$(seq 1 600); do \
	  if [ -f $(DEMO_DIR)/ready ]; then cat $(DEMO_DIR)/report.txt; exit 0; fi; \
	  if ! kill -0 $$(cat $(DEMO_DIR)/pid) 2>/dev/null; then echo "the demo cluster stopped:"; cat $(DEMO_DIR)/cluster.log; exit 1; fi; \
	  sleep 0.5; \
	done; echo "the demo cluster did not come up in time"; cat $(DEMO_DIR)/cluster.log; exit 1

.PHONY: demo-down
demo-down: ## Stop the cluster make demo left running
	@if [ -f $(DEMO_DIR)/pid ] && kill -0 $$(cat $(DEMO_DIR)/pid) 2>/dev/null; then \
	  kill $$(cat $(DEMO_DIR)/pid); \
	  while kill -0 $$(cat $(DEMO_DIR)/pid) 2>/dev/null; do sleep 0.2; done; \
	  echo "demo cluster stopped"; \
	else echo "no demo cluster running"; fi
	@rm -f $(DEMO_DIR)/pid $(DEMO_DIR)/ready

.PHONY: test
test: lint test-rego test-go test-e2e test-chart ## Every test

.PHONY: test-rego
test-rego: $(BIN)/opa
	$(BIN)/opa test policies/

.PHONY: test-go
test-go: postgres-server test-packages
	$(GO) test -count=1 ./...

# Debian's PostgreSQL server binaries, which the store's tests start (test/pgtest).
.PHONY: postgres-server
postgres-server:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  sudo=; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
	  $$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql; \
	fi

# Debian's poppler-utils (pdftoppm, pdftotext: the PDF reports are rendered and read
# back) and chromium (the web UI is tested in it, headless).
.PHONY: test-packages
test-packages:
	@missing=; command -v pdftoppm >/dev/null || missing="$$missing poppler-utils"; \
	  command -v chromium >/dev/null || missing="$$missing chromium"; \
	  if [ -n "$$missing" ]; then \
	    sudo=; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
	    $$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	  fi

# End-to-end: a real kube-apiserver and etcd (built from module sources by
# control-plane) through envtest, the real bailiff binary, driven with the real kubectl.
.PHONY: test-e2e
test-e2e: control-plane build
	KUBEBUILDER_ASSETS=$(BIN) BAILIFF_BIN=$(BIN)/bailiff BAILIFF_SCANNER_BIN=$(BIN)/bailiff-scanner $(GO) test -tags e2e -count=1 ./test/e2e/

# The Helm chart (charts/bailiff): helm lint and template over a matrix of values, the
# schema's refusals, bailiff scan of the rendered chart, a server-side dry run and a real
# install into an envtest API server (webhook on this host, real kubectl), upgrade and
# uninstall. cert-manager's and prometheus-operator's CRDs come from the module sources
# pinned in test/tools/crds, downloaded here so the tests need no network.
.PHONY: test-chart
test-chart: control-plane helm build
	cd test/tools/crds && GOWORK=off GOFLAGS=-mod=readonly $(GO) mod download github.com/cert-manager/cert-manager github.com/prometheus-operator/prometheus-operator
	$(GO) vet -tags chart ./test/chart/
	KUBEBUILDER_ASSETS=$(BIN) HELM_BIN=$(BIN)/helm BAILIFF_BIN=$(BIN)/bailiff BAILIFF_SCANNER_BIN=$(BIN)/bailiff-scanner \
	  $(GO) test -tags chart -count=1 ./test/chart/

.PHONY: lint
lint: $(BIN)/opa ## gofmt, go vet, opa fmt, opa check --strict
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^test/tools/')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	@if $(GO) list -deps ./cmd/bailiff | grep -q '^github.com/aquasecurity/'; then \
	  echo "cmd/bailiff links Trivy; only cmd/bailiff-scanner may"; exit 1; fi
	$(GO) vet -tags e2e ./test/e2e/
	@unformatted=$$($(BIN)/opa fmt -l policies/); \
	  if [ -n "$$unformatted" ]; then echo "opa fmt needed: $$unformatted"; exit 1; fi
	$(BIN)/opa check --strict policies/

.PHONY: bench
bench: bench-engine bench-images bench-store bench-webhook bench-webhook-trail bench-api bench-audit bench-reports bench-ui ## Every benchmark (results go in README.md)

.PHONY: bench-engine
bench-engine: $(BIN)/bailiff
	$(GO) test -run '^$$' -bench . -benchmem -count=1 ./pkg/policy/ ./pkg/scan/
	$(GO) run ./test/bench/manifests -n 10000 > $(BIN)/bench-10k.yaml
	@echo "== bailiff scan of 10,000 objects (whole process: start, compile, read, evaluate, print)"
	@for i in 1 2 3; do \
	  start=$$(date +%s.%N); $(BIN)/bailiff scan -f $(BIN)/bench-10k.yaml -o json > /dev/null || [ $$? -eq 1 ]; end=$$(date +%s.%N); \
	  awk -v s=$$start -v e=$$end 'BEGIN { printf "run %d: %.2fs, %.0f objects/s\n", '$$i', e-s, 10000/(e-s) }'; \
	done

# The webhook under load on this machine: 1,000 requests/s for 60 s, then a peak search,
# with the webhook's peak RSS. The load generator shares the machine's two cores.
.PHONY: bench-images
bench-images: ## Scan lookups (cached, over HTTP) and a Trivy scan of a small image
	$(GO) test -run '^$$' -bench . -benchmem -count=1 ./pkg/images/ ./pkg/images/trivyscan/
	$(GO) test -run '^$$' -bench ImageFacts -benchmem -count=1 ./webhook/

.PHONY: bench-store
bench-store: postgres-server ## Event ingest into SQLite and PostgreSQL, hash chain included; one event's hash
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 20x -count=1 ./pkg/store/
	$(GO) test -run '^$$' -bench Hash -benchmem -count=1 ./pkg/trail/

.PHONY: bench-webhook
bench-webhook: $(BIN)/bailiff
	$(GO) build -o $(BIN)/loadgen ./test/bench/loadgen
	@rm -rf $(BIN)/bench-certs; \
	  $(BIN)/bailiff webhook --no-cluster --tls-self-signed --cert-dir $(BIN)/bench-certs --addr 127.0.0.1:18443 \
	    --config test/demo/config.yaml --log-format text 2> $(BIN)/bench-webhook.log & pid=$$!; \
	  trap "kill $$pid" EXIT; \
	  for i in $$(seq 1 100); do [ -f $(BIN)/bench-certs/ca.crt ] && curl -sf --cacert $(BIN)/bench-certs/ca.crt https://127.0.0.1:18443/readyz >/dev/null && break; sleep 0.1; done; \
	  $(BIN)/loadgen -url https://127.0.0.1:18443/validate -ca $(BIN)/bench-certs/ca.crt -rate 1000 -duration 60s -peak -pid $$pid

# The webhook at 1,000 requests/s for 60 s without, then with, the audit trail: every
# decision recorded and delivered to a local bailiff server (SQLite) on the same machine.
.PHONY: bench-webhook-trail
bench-webhook-trail: $(BIN)/bailiff
	$(GO) build -o $(BIN)/loadgen ./test/bench/loadgen
	$(BIN)/loadgen -compare-trail -bailiff $(BIN)/bailiff -config test/demo/config.yaml -rate 1000 -duration 60s

# What the webhook adds to kubectl create through a real API server (same run, same objects).
.PHONY: bench-api
bench-api: $(BIN)/bailiff control-plane
	$(GO) run ./test/bench/apilatency -assets $(BIN) -bailiff $(BIN)/bailiff -n 100

# A full audit of 10,000, then of 50,000 objects (Pods, Deployments, Roles, RoleBindings)
# on a real API server: the first sweep, a steady-state sweep and a restart, with the
# auditor's peak RSS.
.PHONY: bench-audit
bench-audit: $(BIN)/bailiff control-plane
	$(GO) run ./test/bench/audit -assets $(BIN) -bailiff $(BIN)/bailiff -n 10000
	$(GO) run ./test/bench/audit -assets $(BIN) -bailiff $(BIN)/bailiff -n 50000

# A compliance report of a cluster with 10,000 objects' findings and 100,000 trail
# events (SQLite), generated, signed and rendered as JSON and PDF.
.PHONY: bench-reports
bench-reports:
	$(GO) test -run '^$$' -bench 'ReportJSON|ReportPDF$$' -benchtime 3x -count=1 ./reports/

# The auditors' pages over a year of daily reports of 50 clusters: p95 per page.
.PHONY: bench-ui
bench-ui:
	$(GO) test -run '^$$' -bench UIPages -benchtime 200x -count=1 ./server/

.PHONY: clean
clean:
	rm -rf $(BIN)
