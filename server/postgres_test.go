package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/pkg/trail"
	"github.com/bailiff/bailiff/test/logbuf"
	"github.com/bailiff/bailiff/test/pgtest"
	"github.com/bailiff/bailiff/test/poll"
)

// Two server replicas share one PostgreSQL; each of two webhook replicas of
// one cluster delivers through its own server replica, at the same time. The
// cluster's chain must hold every event once and verify.
func TestReplicasShareOnePostgreSQL(t *testing.T) {
	url := pgtest.Start(t)
	var replicas []*httptest.Server
	var st store.Store
	for range 2 {
		api := New(Options{Open: func(ctx context.Context) (store.Store, error) { return store.Open(ctx, url) }})
		if err := api.Connect(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { api.Close() })
		st = api.currentStore()
		ts := httptest.NewTLSServer(api.Handler())
		t.Cleanup(ts.Close)
		replicas = append(replicas, ts)
	}
	token, err := CreateCredential(context.Background(), st, CredentialRequest{Name: "prod", Role: store.RoleCluster, Cluster: "prod"}, "test")
	if err != nil {
		t.Fatal(err)
	}

	var want []string
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, ts := range replicas {
		e, err := trail.NewEmitter(trail.EmitterOptions{
			ServerURL: ts.URL, Token: token, Cluster: "prod", QueueDir: t.TempDir(), BatchEvents: 50,
			MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond,
			HTTPClient: ts.Client(), Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry(),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close(context.Background()) })
		wg.Go(func() {
			for j := range 1000 {
				id := fmt.Sprintf("webhook-%d-%04d", i, j)
				e.Emit(store.Event{ID: id, Source: trail.SourceAdmission, Decision: "allowed", Kind: "Pod", Name: id})
				mu.Lock()
				want = append(want, id)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
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
	if res, err := trail.Verify(context.Background(), st, "prod", trail.Range{}); err != nil || !res.OK || res.Count != 2000 {
		t.Fatalf("verify: %v, %v", res, err)
	}
}

// A server started while PostgreSQL is down waits for it, says so, and is
// not ready until it answers; a PostgreSQL that goes away later makes it
// unready until it is back.
func TestTheServerFollowsPostgreSQLGoingAndComing(t *testing.T) {
	pg := pgtest.StartServer(t)
	url := pg.CreateDatabase(t)
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	logs := &logbuf.Buffer{}
	api := New(Options{
		Open:      func(ctx context.Context) (store.Store, error) { return store.Open(ctx, url) },
		StoreName: url, RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
	})
	defer api.Close()
	ts := httptest.NewServer(api.Handler())
	defer ts.Close()
	connected := make(chan error, 1)
	go func() { connected <- api.Connect(context.Background()) }()

	poll.Until(t, "the server to say why it waits", func() bool {
		return strings.Contains(logs.String(), "store "+url+" unreachable: ")
	})
	if code, body := get(t, ts.Client(), ts.URL+"/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("readyz with PostgreSQL down: %d %s", code, body)
	}
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	if err := <-connected; err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, ts.Client(), ts.URL+"/readyz"); code != http.StatusOK {
		t.Fatalf("readyz with PostgreSQL up: %d %s", code, body)
	}

	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, ts.Client(), ts.URL+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "unreachable") {
		t.Fatalf("readyz after PostgreSQL stopped: %d %s", code, body)
	}
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "ready again", func() bool {
		code, _ := get(t, ts.Client(), ts.URL+"/readyz")
		return code == http.StatusOK
	})
}

// PostgreSQL stops in the middle of a stream of events and comes back: the
// emitter keeps accepting, the server answers 5xx meanwhile, and in the end
// every event is stored exactly once and the chain verifies.
func TestPostgreSQLStoppedMidStreamLosesNothing(t *testing.T) {
	pg := pgtest.StartServer(t)
	url := pg.CreateDatabase(t)
	api := New(Options{
		Open:     func(ctx context.Context) (store.Store, error) { return store.Open(ctx, url) },
		RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond,
	})
	if err := api.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer api.Close()
	st := api.currentStore()
	ts := httptest.NewTLSServer(api.Handler())
	defer ts.Close()
	token, err := CreateCredential(context.Background(), st, CredentialRequest{Name: "prod", Role: store.RoleCluster, Cluster: "prod"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	metrics := prometheus.NewRegistry()
	e, err := trail.NewEmitter(trail.EmitterOptions{
		ServerURL: ts.URL, Token: token, Cluster: "prod", QueueDir: t.TempDir(), BatchEvents: 100,
		MinBackoff: time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		HTTPClient: ts.Client(), Logger: slog.New(slog.DiscardHandler), Registerer: metrics,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())

	var want []string
	emit := func(from, to int) {
		for i := from; i < to; i++ {
			id := fmt.Sprintf("event-%05d", i)
			e.Emit(store.Event{ID: id, Source: trail.SourceAdmission, Decision: "allowed", Kind: "Pod", Namespace: "shop", Name: id})
			want = append(want, id)
			if i%100 == 0 {
				time.Sleep(time.Millisecond) // a stream, not one burst
			}
		}
	}
	emit(0, 1000)
	poll.Until(t, "part of the stream stored", func() bool { return len(stored(t, st, "prod")) > 0 })
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	emit(1000, 2500) // while PostgreSQL is down
	poll.Until(t, "deliveries to fail while PostgreSQL is down", func() bool {
		families, _ := metrics.Gather()
		for _, f := range families {
			if f.GetName() == "bailiff_trail_ship_errors_total" {
				for _, m := range f.GetMetric() {
					if m.GetCounter().GetValue() > 0 {
						return true
					}
				}
			}
		}
		return false
	})
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	emit(2500, 3000)

	poll.Until(t, "every event stored", func() bool { return len(stored(t, st, "prod")) >= len(want) })
	var got []string
	for _, ev := range stored(t, st, "prod") {
		got = append(got, ev.ID)
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
