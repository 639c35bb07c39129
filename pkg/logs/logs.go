// Package logs makes the logger of a Bailiff command, and has the libraries it runs log
// through it: controller-runtime (manager, certificate watcher) and client-go's klog
// (informers, leader election) would otherwise write their own formats to stderr.
package logs

import (
	"io"
	"log/slog"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// New returns a logger writing to w as JSON, or as text when format is "text", and
// routes the libraries' logs through it. controller-runtime takes the first logger it
// is given in a process, klog the last: a process runs one command.
func New(w io.Writer, format string) *slog.Logger {
	var logger *slog.Logger
	if format == "text" {
		logger = slog.New(slog.NewTextHandler(w, nil))
	} else {
		logger = slog.New(slog.NewJSONHandler(w, nil))
	}
	libraries := logr.FromSlogHandler(logger.Handler())
	ctrllog.SetLogger(libraries)
	klog.SetLogger(libraries)
	return logger
}
