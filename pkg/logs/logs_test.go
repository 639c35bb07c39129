package logs

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

func TestLibrariesLogThroughTheCommandsLogger(t *testing.T) {
	var out bytes.Buffer
	logger := New(&out, "json")
	logger.Info("from bailiff")
	klog.InfoS("from client-go", "lock", "bailiff-system/bailiff-audit")
	klog.Flush()
	ctrllog.Log.WithName("certwatcher").Info("from controller-runtime")

	want := map[string]bool{"from bailiff": false, "from client-go": false, "from controller-runtime": false}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("a line that is not JSON: %q (%v)", line, err)
		}
		msg, _ := entry["msg"].(string)
		if _, ok := want[msg]; ok {
			want[msg] = true
		}
	}
	for msg, seen := range want {
		if !seen {
			t.Errorf("%q is not in the command's log:\n%s", msg, out.String())
		}
	}
}
