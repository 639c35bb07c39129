//go:build !chart

package chart

import "testing"

// The chart's tests need helm, the control plane and the bailiff binaries, built by make:
// they run with the chart build tag, so `go test ./...` does not start a cluster.
func TestChartTestsNeedTheChartTag(t *testing.T) {
	t.Skip("the chart's tests run with -tags chart: make test-chart (or go test -tags chart ./test/chart/ after make control-plane helm build)")
}
