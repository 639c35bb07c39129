// Package pgtest runs real PostgreSQL servers for tests, from the binaries of
// Debian's postgresql package: initdb into a temporary directory, postgres on
// a free loopback port with its socket in that directory, and a fresh
// database for each test.
//
//	url := pgtest.Start(t) // a server for this test alone
//
// or one server for all the tests of a package:
//
//	var pg pgtest.Shared
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		pg.Close()
//		os.Exit(code)
//	}
//
//	func TestX(t *testing.T) { url := pg.Database(t); … }
//
// Binaries are looked for in $PGTEST_BINDIR, then in the newest
// /usr/lib/postgresql/*/bin. Their absence fails the test: install Debian's
// postgresql package (make postgres-server does). As root, the server runs as
// the postgres user that package creates, since initdb refuses root.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is a PostgreSQL server running from a temporary directory.
type Server struct {
	bin     string              // directory of initdb and postgres
	dir     string              // holds data/, socket/ and postgres.log
	port    int                 // on 127.0.0.1, kept across restarts
	cred    *syscall.Credential // the postgres user's, when running as root
	durable bool

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited

	databases atomic.Int64
}

// Option changes how a server runs.
type Option func(*Server)

// Durable keeps fsync and synchronous commits on. Without it a test server
// trades crash safety for speed; benchmarks whose figures should hold for a
// real server want it.
func Durable() Option {
	return func(s *Server) { s.durable = true }
}

// readyTimeout bounds the wait for a starting server, stopTimeout for a
// stopping one before it is killed.
const (
	readyTimeout = 60 * time.Second
	stopTimeout  = 30 * time.Second
)

// Start starts a server for this test, stopped when the test ends, and
// returns the URL of an empty database on it.
func Start(tb testing.TB, opts ...Option) string {
	tb.Helper()
	return StartServer(tb, opts...).CreateDatabase(tb)
}

// StartServer starts a server for this test, stopped and removed when the
// test ends.
func StartServer(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s, err := Launch(opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Error(err)
		}
	})
	return s
}

// Launch creates and starts a server; Close stops and removes it.
func Launch(opts ...Option) (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin}
	for _, o := range opts {
		o(s)
	}
	s.dir, err = os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	if err := s.setUp(); err != nil {
		os.RemoveAll(s.dir)
		return nil, err
	}
	return s, nil
}

func (s *Server) setUp() error {
	if err := os.Mkdir(s.socketDir(), 0o700); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		cred, err := postgresUser()
		if err != nil {
			return err
		}
		s.cred = cred
		for _, d := range []string{s.dir, s.socketDir()} {
			if err := os.Chown(d, int(cred.Uid), int(cred.Gid)); err != nil {
				return err
			}
		}
	}
	initdb := s.command(filepath.Join(s.bin, "initdb"), "--pgdata", s.dataDir(), "--username", "postgres",
		"--auth", "trust", "--encoding", "UTF8", "--locale", "C", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	s.port = port
	return s.Start()
}

// binDir finds the directory of initdb and postgres.
func binDir() (string, error) {
	missing := "install Debian's postgresql package (apt-get install postgresql, or make postgres-server), " +
		"or point PGTEST_BINDIR at a directory holding initdb and postgres"
	dir := os.Getenv("PGTEST_BINDIR")
	if dir == "" {
		found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
		if len(found) == 0 {
			return "", errors.New("PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/initdb): " + missing)
		}
		version := func(initdb string) []int {
			var v []int
			for _, part := range strings.Split(filepath.Base(filepath.Dir(filepath.Dir(initdb))), ".") {
				n, _ := strconv.Atoi(part)
				v = append(v, n)
			}
			return v
		}
		dir = filepath.Dir(slices.MaxFunc(found, func(a, b string) int { return slices.Compare(version(a), version(b)) }))
	}
	for _, bin := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return "", fmt.Errorf("PostgreSQL server binaries not found (%v): %s", err, missing)
		}
	}
	return dir, nil
}

// postgresUser is the credential of the postgres user, which runs the server as root.
func postgresUser() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL needs the postgres user to run as (initdb refuses root): "+
			"install Debian's postgresql package, which creates it: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, err
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) dataDir() string   { return filepath.Join(s.dir, "data") }
func (s *Server) socketDir() string { return filepath.Join(s.dir, "socket") }
func (s *Server) logFile() string   { return filepath.Join(s.dir, "postgres.log") }

// command runs a PostgreSQL binary as the server's user, with a clean
// environment so that PG* variables of the caller do not leak in.
func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = s.dir
	cmd.Env = []string{"LC_ALL=C", "PATH=" + os.Getenv("PATH")}
	// The server dies with the test process, should that be killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGQUIT}
	return cmd
}

// Start starts the server and waits until it accepts connections. After
// Stop, it restarts the same server: same data, same port.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("the PostgreSQL server is running already")
	}
	log, err := os.OpenFile(s.logFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	args := []string{"-D", s.dataDir(), "-p", strconv.Itoa(s.port), "-h", "127.0.0.1", "-k", s.socketDir(),
		"-c", "max_connections=200"}
	if !s.durable {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	cmd := s.command(filepath.Join(s.bin, "postgres"), args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	if err := s.waitReady(exited); err != nil {
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("start postgres: %w\n%s", err, s.logTail())
	}
	s.cmd, s.exited = cmd, exited
	return nil
}

func (s *Server) waitReady(exited <-chan struct{}) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, s.URL("postgres"))
		if err == nil {
			err = conn.Close(ctx)
		}
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return errors.New("the server exited")
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s: %w", readyTimeout, err)
		}
	}
}

// logTail is the end of the server's log, for error messages.
func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.logFile())
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(bytes.TrimSpace(b))
}

// Stop shuts the server down (fast: clients are disconnected, open
// transactions roll back) and keeps its data for Start.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	cmd, exited := s.cmd, s.exited
	s.cmd, s.exited = nil, nil
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		return fmt.Errorf("stop postgres: %w", err)
	}
	select {
	case <-exited:
		return nil
	case <-time.After(stopTimeout):
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("stop postgres: still running after %s, killed\n%s", stopTimeout, s.logTail())
	}
}

// Close stops the server and removes its directory.
func (s *Server) Close() error {
	return errors.Join(s.Stop(), os.RemoveAll(s.dir))
}

// Port is the server's TCP port on 127.0.0.1.
func (s *Server) Port() int { return s.port }

// URL is the URL of a database on the server, as the superuser postgres.
func (s *Server) URL(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, database)
}

// CreateDatabase creates an empty database and returns its URL.
func (s *Server) CreateDatabase(tb testing.TB) string {
	tb.Helper()
	name := "test_" + strconv.FormatInt(s.databases.Add(1), 10)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		tb.Fatalf("create database: %v", err)
	}
	defer conn.Close(ctx)
	// FILE_COPY (PostgreSQL 15 and later) copies the template's files
	// instead of logging every page, twice as fast with fsync off.
	create := "CREATE DATABASE " + name
	var version int
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err == nil && version >= 150000 {
		create += " STRATEGY FILE_COPY"
	}
	if _, err := conn.Exec(ctx, create); err != nil {
		tb.Fatalf("create database %s: %v", name, err)
	}
	return s.URL(name)
}

// Shared is one server for the tests of a package, started when a test
// first asks for it; TestMain closes it (see the package documentation).
type Shared struct {
	// Options apply when the server starts.
	Options []Option

	once sync.Once
	srv  *Server
	err  error
}

// Server returns the shared server, starting it on first use.
func (sh *Shared) Server(tb testing.TB) *Server {
	tb.Helper()
	sh.once.Do(func() { sh.srv, sh.err = Launch(sh.Options...) })
	if sh.err != nil {
		tb.Fatal(sh.err)
	}
	return sh.srv
}

// Database creates an empty database on the shared server and returns its URL.
func (sh *Shared) Database(tb testing.TB) string {
	tb.Helper()
	return sh.Server(tb).CreateDatabase(tb)
}

// Close stops and removes the shared server, if it was started.
func (sh *Shared) Close() error {
	if sh.srv == nil {
		return nil
	}
	return sh.srv.Close()
}
