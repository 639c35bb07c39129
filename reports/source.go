package reports

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/bailiff/bailiff/pkg/store"
)

// Source is what report generation reads. StoreSource implements it over a
// store.Store; the server can implement it over cached queries, tests in memory.
// Every method reads state as of a point in time and must not change anything.
type Source interface {
	// Clusters lists the clusters the source has data for, sorted.
	Clusters(ctx context.Context) ([]string, error)
	// HasCluster says whether the source has any data for the cluster.
	HasCluster(ctx context.Context, cluster string) (bool, error)
	// OpenFindings returns the cluster's findings open at the period's end, which is
	// exclusive: first seen before period.To, not resolved before it. A finding
	// opened before period.From carries the trail events that recorded it; Trail
	// supplies those of findings opened within the period.
	OpenFindings(ctx context.Context, cluster string, period Period) ([]Finding, error)
	// Trail reads the cluster's trail over the period once: it verifies the range
	// and summarises what it records. A broken chain is a result (Range.Status
	// TrailBroken), not an error.
	Trail(ctx context.Context, cluster string, period Period) (TrailSummary, error)
	// Inventory counts the cluster's evaluated objects by kind, for deciding that a
	// control is not applicable; a source that cannot tell returns Known false.
	Inventory(ctx context.Context, cluster string, at time.Time) (Inventory, error)
}

// TrailSummary is what one pass over a period of a cluster's trail yields.
type TrailSummary struct {
	Range      TrailRange
	Admissions Admissions
	// Opened maps a finding ID to the trail events in the period that opened it.
	Opened map[string][]EventRef
}

// Finding is an open finding with the trail events that recorded it.
type Finding struct {
	store.Finding
	Events []EventRef
}

// Admissions is a period's admission activity of one cluster.
type Admissions struct {
	Totals    AdmissionTotals
	PerPolicy map[string]PolicyAdmissions
}

// Inventory is how many objects of each kind a cluster had evaluated.
type Inventory struct {
	Known  bool
	ByKind map[string]int
}

// UnknownClusterError names a cluster the source has no data for, and the ones it has.
type UnknownClusterError struct {
	Name  string
	Valid []string
}

func (e *UnknownClusterError) Error() string {
	if len(e.Valid) == 0 {
		return fmt.Sprintf("unknown cluster %q: the store has no cluster yet (clusters appear with their first trail event or audit result)", e.Name)
	}
	return fmt.Sprintf("unknown cluster %q: use one of %s", e.Name, strings.Join(e.Valid, ", "))
}
