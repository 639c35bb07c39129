package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/pkg/trail"
	"github.com/bailiff/bailiff/test/poll"
)

// The whole delivery path: emitter, disk queue, HTTPS, this server, SQLite.
// The server is unreachable first, then comes up; the emitter is restarted
// in between. Every event must be stored exactly once and the chain verify.
func TestEventsReachTheStoreExactlyOnceAcrossAnOutageAndARestart(t *testing.T) {
	st, _ := sqliteStore(t)
	api := New(Options{Store: st})
	var down atomic.Bool
	down.Store(true)
	handler := api.Handler()
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			writeError(w, http.StatusServiceUnavailable, "down for the test")
			return
		}
		handler.ServeHTTP(w, r)
	}))
	defer ts.Close()
	token, err := CreateCredential(context.Background(), st, CredentialRequest{Name: "prod", Role: store.RoleCluster, Cluster: "prod"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	newEmitter := func() *trail.Emitter {
		e, err := trail.NewEmitter(trail.EmitterOptions{
			ServerURL: ts.URL, Token: token, Cluster: "prod", QueueDir: dir,
			MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond,
			HTTPClient: ts.Client(), Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry(),
		})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	emit := func(e *trail.Emitter, prefix string, n int) (ids []string) {
		for i := range n {
			id := fmt.Sprintf("%s-%05d", prefix, i)
			e.Emit(store.Event{ID: id, Source: trail.SourceAdmission, Decision: "allowed", Kind: "Pod", Namespace: "shop", Name: id})
			ids = append(ids, id)
		}
		return ids
	}

	first := newEmitter()
	want := emit(first, "first", 1500)
	if err := first.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	second := newEmitter()
	defer second.Close(context.Background())
	want = append(want, emit(second, "second", 700)...)
	down.Store(false)

	poll.Until(t, "every event stored", func() bool { return len(stored(t, st, "prod")) >= len(want) })
	var got []string
	for _, e := range stored(t, st, "prod") {
		got = append(got, e.ID)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("stored %d events, want the %d emitted, once each", len(got), len(want))
	}
	res, err := trail.Verify(context.Background(), st, "prod", trail.Range{})
	if err != nil || !res.OK || res.Count != int64(len(want)) {
		t.Fatalf("verify: %v, %v", res, err)
	}
}
