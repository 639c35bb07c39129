// Package chart tests charts/bailiff with the real helm (v4, built from its module source
// by make helm), the real bailiff binary and, for the server-side dry run and the install,
// a real kube-apiserver and etcd started through envtest (make control-plane):
//
//	make test-chart
//	go test -tags chart ./test/chart/    # after make control-plane helm build
//
// Binaries come from $KUBEBUILDER_ASSETS, $HELM_BIN, $BAILIFF_BIN and $BAILIFF_SCANNER_BIN,
// or the repository's bin/. cert-manager's and prometheus-operator's CRDs come from the
// module sources pinned in test/tools/crds (downloaded by make test-chart): nothing here
// needs the network.
package chart
