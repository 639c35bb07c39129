package trail

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/test/logbuf"
	"github.com/bailiff/bailiff/test/poll"
)

// A trickle of events, such as admission decisions, is delivered in a batch or two
// rather than one POST each. The delay is far longer than the trickle, so the test
// does not depend on how fast the machine is.
func TestBatchDelayDeliversATrickleInFewBatches(t *testing.T) {
	srv := newIngestServer(t, serverUp)
	e, err := NewEmitter(EmitterOptions{
		ServerURL: srv.URL, Token: testToken, Cluster: "prod", QueueDir: t.TempDir(),
		BatchDelay: 2 * time.Second, HTTPClient: srv.Client(), Logger: (&logbuf.Buffer{}).Logger(), Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	const n = 10
	for i := range n {
		e.Emit(store.Event{ID: fmt.Sprintf("ev-%02d", i), Source: SourceAdmission, Decision: "allowed", Kind: "Pod", Name: fmt.Sprintf("pod-%d", i)})
		time.Sleep(10 * time.Millisecond)
	}
	poll.Until(t, "every event stored", func() bool { return len(storedIDs(t, srv.store, "prod")) == n })
	if got := srv.requestCount(); got > 3 {
		t.Errorf("%d events took %d requests; a batch delay should gather them", n, got)
	}
}

// Closing an emitter whose shipper is letting a batch fill does not wait for it:
// the events are on disk for the next start.
func TestCloseDoesNotWaitForABatchToFill(t *testing.T) {
	srv := newIngestServer(t, serverUp)
	dir := t.TempDir()
	e, err := NewEmitter(EmitterOptions{
		ServerURL: srv.URL, Token: testToken, Cluster: "prod", QueueDir: dir,
		BatchDelay: time.Hour, HTTPClient: srv.Client(), Logger: (&logbuf.Buffer{}).Logger(), Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.Emit(store.Event{ID: "ev-1", Source: SourceAdmission, Decision: "allowed"})
	poll.Until(t, "the event on disk", func() bool { return diskEvents(e) == 1 })
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	newTestEmitter(t, srv, emitterSetup{dir: dir})
	poll.Until(t, "the event delivered by the next emitter", func() bool { return len(storedIDs(t, srv.store, "prod")) == 1 })
}
