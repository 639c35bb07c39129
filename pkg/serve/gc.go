package serve

import (
	"log/slog"
	"os"
	"runtime/debug"
)

// GC is how a long-running server's garbage collector is tuned. A server answering
// many small requests with a small live heap (the webhook: compiled policies and a few
// caches) pays for each collection mostly in fixed costs, so collecting less often
// saves CPU and tail latency; the soft memory limit keeps the heap bounded whatever
// the percentage, the collector working harder as the heap nears it.
type GC struct {
	// Percent is GOGC: how much the heap may grow past the live heap before a
	// collection. 0 keeps the runtime's setting.
	Percent int
	// MemoryLimit is GOMEMLIMIT in bytes: a soft limit on the memory the Go runtime
	// uses. 0 keeps the runtime's setting.
	MemoryLimit int64
}

// Apply sets the tuning, except what the environment already sets: GOGC and
// GOMEMLIMIT, when given, are the operator's word and win. It logs what is in force.
func (g GC) Apply(logger *slog.Logger) {
	percent, limit := "GOGC", "GOMEMLIMIT"
	if _, set := os.LookupEnv("GOGC"); !set && g.Percent > 0 {
		debug.SetGCPercent(g.Percent)
		percent = "flag"
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set && g.MemoryLimit > 0 {
		debug.SetMemoryLimit(g.MemoryLimit)
		limit = "flag"
	}
	current := debug.SetGCPercent(-1)
	debug.SetGCPercent(current)
	logger.Info("garbage collector tuned", "gcPercent", current, "gcPercentFrom", percent,
		"memoryLimitBytes", debug.SetMemoryLimit(-1), "memoryLimitFrom", limit)
}
