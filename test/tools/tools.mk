# test/tools/tools.mk: the envtest control plane (kube-apiserver, kubectl, etcd)
# built from Go module sources into $(BIN). Include it from the top Makefile:
#
#   BIN := $(CURDIR)/bin
#   GO  ?= go
#   export GOTOOLCHAIN := local
#   include test/tools/tools.mk
#
# Pins live in the nested wrapper modules test/tools/kube and test/tools/etcd
# (go.mod with `tool` directives; regenerate them with their update.sh, never by
# hand). A binary is rebuilt only when its wrapper's go.mod/go.sum changes; the
# Go build cache (~/.cache/go-build) makes a rebuild after a pin change cheap
# for everything that did not change.

TOOLS_MK_DIR   := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
KUBE_TOOLS_DIR := $(TOOLS_MK_DIR)/kube
ETCD_TOOLS_DIR := $(TOOLS_MK_DIR)/etcd
HELM_TOOLS_DIR := $(TOOLS_MK_DIR)/helm

BIN ?= $(CURDIR)/bin
GO  ?= go

# Versions, read from the pins so there is a single source of truth.
KUBE_VERSION := $(shell sed -n 's|^.*k8s\.io/kubernetes \(v[0-9][0-9.]*\).*$$|\1|p' $(KUBE_TOOLS_DIR)/go.mod)
HELM_VERSION := $(shell sed -n 's|^.*helm\.sh/helm/v4 \(v[0-9][0-9.]*\).*$$|\1|p' $(HELM_TOOLS_DIR)/go.mod)
ETCD_VERSION := $(shell sed -n 's|^.*go\.etcd\.io/etcd/server/v3 \(v[0-9][0-9.]*\).*$$|\1|p' $(ETCD_TOOLS_DIR)/go.mod)
KUBE_VERSION_PARTS := $(subst ., ,$(patsubst v%,%,$(KUBE_VERSION)))

# The module zips carry no git metadata, so the commit is not known; this is
# the null SHA unless the caller passes the real one.
KUBE_GIT_COMMIT ?= 0000000000000000000000000000000000000000
ETCD_GIT_SHA    ?= $(KUBE_GIT_COMMIT)
# Reproducible build date: the commit time of the release tag, as recorded by
# the module proxy (lazily evaluated: only when a binary is actually built).
KUBE_BUILD_DATE = $(shell cd $(KUBE_TOOLS_DIR) && GOWORK=off $(GO) list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)

# Same -X set as kubernetes' hack/lib/version.sh (kube::version::ldflags).
kube_version_ldflag = -X 'k8s.io/client-go/pkg/version.$(1)=$(2)' -X 'k8s.io/component-base/version.$(1)=$(2)'
KUBE_LDFLAGS = -s -w \
	$(call kube_version_ldflag,buildDate,$(KUBE_BUILD_DATE)) \
	$(call kube_version_ldflag,gitCommit,$(KUBE_GIT_COMMIT)) \
	$(call kube_version_ldflag,gitTreeState,clean) \
	$(call kube_version_ldflag,gitVersion,$(KUBE_VERSION)) \
	$(call kube_version_ldflag,gitMajor,$(word 1,$(KUBE_VERSION_PARTS))) \
	$(call kube_version_ldflag,gitMinor,$(word 2,$(KUBE_VERSION_PARTS)))
ETCD_LDFLAGS = -s -w -X 'go.etcd.io/etcd/api/v3/version.GitSHA=$(ETCD_GIT_SHA)'

# As kubernetes' release build (hack/lib/golang.sh, non-debug): static, trimmed,
# tags selinux,notest,grpcnotrace. GOWORK=off: the wrappers are standalone
# modules even if someone adds a go.work above them. GOOS/GOARCH are cleared:
# envtest runs these on the build host. GOEXPERIMENT is cleared: jsonv2, which the
# Makefile sets for Trivy, is not how Kubernetes releases are built. -mod=readonly: a stale go.sum fails
# instead of being rewritten.
CONTROL_PLANE_GOENV   := CGO_ENABLED=0 GOWORK=off GOOS= GOARCH= GOEXPERIMENT=
CONTROL_PLANE_GOFLAGS := -mod=readonly -trimpath

$(BIN)/kube-apiserver $(BIN)/kubectl: $(BIN)/%: $(KUBE_TOOLS_DIR)/go.mod $(KUBE_TOOLS_DIR)/go.sum
	@mkdir -p $(@D)
	cd $(KUBE_TOOLS_DIR) && $(CONTROL_PLANE_GOENV) $(GO) build $(CONTROL_PLANE_GOFLAGS) \
		-tags selinux,notest,grpcnotrace -ldflags "$(KUBE_LDFLAGS)" \
		-o $@ k8s.io/kubernetes/cmd/$*
	@touch $@

$(BIN)/etcd: $(ETCD_TOOLS_DIR)/go.mod $(ETCD_TOOLS_DIR)/go.sum
	@mkdir -p $(@D)
	cd $(ETCD_TOOLS_DIR) && $(CONTROL_PLANE_GOENV) $(GO) build $(CONTROL_PLANE_GOFLAGS) \
		-ldflags "$(ETCD_LDFLAGS)" \
		-o $@ go.etcd.io/etcd/server/v3
	@touch $@

.PHONY: control-plane
control-plane: $(BIN)/kube-apiserver $(BIN)/kubectl $(BIN)/etcd ## envtest assets into $(BIN) (KUBEBUILDER_ASSETS=$(BIN))

# Helm v4 for the chart's tests (lint, template, install into the envtest cluster),
# with the version ldflags of Helm's own Makefile.
$(BIN)/helm: $(HELM_TOOLS_DIR)/go.mod $(HELM_TOOLS_DIR)/go.sum
	@mkdir -p $(@D)
	cd $(HELM_TOOLS_DIR) && $(CONTROL_PLANE_GOENV) $(GO) build $(CONTROL_PLANE_GOFLAGS) \
		-ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$(HELM_VERSION) -X helm.sh/helm/v4/internal/version.gitTreeState=clean" \
		-o $@ helm.sh/helm/v4/cmd/helm
	@touch $@

.PHONY: helm
helm: $(BIN)/helm ## Helm v4, built from its module source into $(BIN)
