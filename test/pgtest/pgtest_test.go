package pgtest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bailiff/bailiff/test/pgtest"
)

func TestServerKeepsDataAcrossRestart(t *testing.T) {
	srv := pgtest.StartServer(t)
	url := srv.CreateDatabase(t)
	if other := srv.CreateDatabase(t); other == url {
		t.Fatalf("two databases share the URL %s", url)
	}

	exec(t, url, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before the restart')")
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if conn, err := pgx.Connect(ctx, url); err == nil {
		conn.Close(ctx)
		t.Fatal("a stopped server accepted a connection")
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}

	conn := connect(t, url)
	var v string
	if err := conn.QueryRow(ctx, "SELECT v FROM kept").Scan(&v); err != nil {
		t.Fatalf("read after restart: %v", err)
	}
	if v != "before the restart" {
		t.Errorf("read %q after restart", v)
	}
}

func TestSharedStartsOneServer(t *testing.T) {
	var pg pgtest.Shared
	defer func() {
		if err := pg.Close(); err != nil {
			t.Error(err)
		}
	}()
	if pg.Server(t) != pg.Server(t) {
		t.Error("Shared started two servers")
	}
	exec(t, pg.Database(t), "SELECT 1")
}

func TestMissingBinariesSayWhatToInstall(t *testing.T) {
	t.Setenv("PGTEST_BINDIR", t.TempDir())
	_, err := pgtest.Launch()
	if err == nil || !strings.Contains(err.Error(), "install Debian's postgresql package") {
		t.Errorf("Launch without binaries: %v", err)
	}
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func exec(t *testing.T, url, sql string) {
	t.Helper()
	if _, err := connect(t, url).Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
