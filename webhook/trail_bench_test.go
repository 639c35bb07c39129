package webhook

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bailiff/bailiff/pkg/trail"
)

// BenchmarkValidateRecorded is what recording a decision in the trail adds to a
// /validate answer on the webhook's side: building the events, the emitter's memory
// and disk queues, and delivery to a server that accepts everything at once.
func BenchmarkValidateRecorded(b *testing.B) {
	body := reviewOf(podRequest("shop", privilegedPod))
	for _, recorded := range []bool{false, true} {
		name := "trail off"
		if recorded {
			name = "trail on"
		}
		b.Run(name, func(b *testing.B) {
			h := testHandler(b, func(o *Options) {
				if !recorded {
					return
				}
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					_, _ = io.Copy(io.Discard, r.Body)
					w.Header().Set("Content-Type", "application/json")
					_, _ = io.WriteString(w, `{"stored":0,"duplicates":0,"lastSeq":0}`)
				}))
				b.Cleanup(srv.Close)
				e, err := trail.NewEmitter(trail.EmitterOptions{ServerURL: srv.URL, Token: "t", Cluster: "bench", QueueDir: b.TempDir()})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = e.Close(context.Background()) })
				o.Auditor = NewTrailAuditor(e, "")
			})
			b.Cleanup(func() { _ = h.Close(context.Background()) })
			validate := h.Validate()
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
				r.Header.Set("Content-Type", "application/json")
				validate.ServeHTTP(httptest.NewRecorder(), r)
			}
		})
	}
}

// BenchmarkDecisionEvents is the cost of turning one decision (a denial naming several
// violations) into its trail event, paid off the request path.
func BenchmarkDecisionEvents(b *testing.B) {
	var captured capturingAuditor
	h := testHandler(b, func(o *Options) { o.Auditor = &captured })
	post(b, h.Validate(), reviewOf(podRequest("shop", privilegedPod)))
	if err := h.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		DecisionEvents(captured.d)
	}
}

// capturingAuditor keeps the last decision.
type capturingAuditor struct{ d Decision }

func (c *capturingAuditor) Record(_ context.Context, d Decision) { c.d = d }
