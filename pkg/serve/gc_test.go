package serve

import (
	"log/slog"
	"os"
	"runtime/debug"
	"testing"
)

// gcPercent reads the GC percentage without changing it.
func gcPercent() int {
	p := debug.SetGCPercent(-1)
	debug.SetGCPercent(p)
	return p
}

// unsetenv removes an environment variable for the rest of the test.
func unsetenv(t *testing.T, key string) {
	t.Helper()
	if old, ok := os.LookupEnv(key); ok {
		t.Cleanup(func() { os.Setenv(key, old) })
	}
	os.Unsetenv(key)
}

func TestGCApply(t *testing.T) {
	defer debug.SetGCPercent(gcPercent())
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	logger := slog.New(slog.DiscardHandler)
	tuned := GC{Percent: 400, MemoryLimit: 96 << 20}

	tests := []struct {
		name        string
		env         map[string]string // nil value: unset
		gc          GC
		wantPercent int
		wantLimit   int64
	}{
		{"the flags apply", map[string]string{}, tuned, 400, 96 << 20},
		{"the environment wins", map[string]string{"GOGC": "150", "GOMEMLIMIT": "1GiB"}, tuned, 100, 1 << 40},
		{"zero keeps the runtime's", map[string]string{}, GC{}, 100, 1 << 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			debug.SetGCPercent(100)
			debug.SetMemoryLimit(1 << 40)
			unsetenv(t, "GOGC")
			unsetenv(t, "GOMEMLIMIT")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			tt.gc.Apply(logger)
			if got := gcPercent(); got != tt.wantPercent {
				t.Errorf("GC percent = %d, want %d", got, tt.wantPercent)
			}
			if got := debug.SetMemoryLimit(-1); got != tt.wantLimit {
				t.Errorf("memory limit = %d, want %d", got, tt.wantLimit)
			}
		})
	}
}
