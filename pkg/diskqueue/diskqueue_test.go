package trail

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// logBuffer collects log output safely from several goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

func payloads(from, to int) [][]byte {
	var out [][]byte
	for i := from; i < to; i++ {
		out = append(out, []byte(fmt.Sprintf(`{"n":%d}`, i)))
	}
	return out
}

func openQueue(t *testing.T, dir string, budget, segmentBytes int64, log *logBuffer) *diskQueue {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	if log != nil {
		logger = log.logger()
	}
	q, err := openDiskQueue(dir, budget, segmentBytes, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.close() })
	return q
}

func mustAppend(t *testing.T, q *diskQueue, p [][]byte) {
	t.Helper()
	if n, err := q.append(p); err != nil || n != len(p) {
		t.Fatalf("append: wrote %d of %d: %v", n, len(p), err)
	}
}

// drain peeks and commits until the queue is empty and returns what it read.
func drain(t *testing.T, q *diskQueue, per int) []string {
	t.Helper()
	var got []string
	for {
		b, err := q.peek(per, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if err := q.commit(b); err != nil {
			t.Fatal(err)
		}
		if len(b.payloads) == 0 {
			return got
		}
		for _, p := range b.payloads {
			got = append(got, string(p))
		}
	}
}

func strs(p [][]byte) []string {
	var out []string
	for _, b := range p {
		out = append(out, string(b))
	}
	return out
}

func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m)
	return m
}

func TestDiskQueueDeliversInOrderAndResumesFromTheAcknowledgement(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, dir, 1<<20, 1<<20, nil)
	mustAppend(t, q, payloads(0, 10))

	b, err := q.peek(4, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strs(b.payloads), strs(payloads(0, 4)); !slices.Equal(got, want) {
		t.Fatalf("first batch: got %v, want %v", got, want)
	}
	again, _ := q.peek(4, 1<<20)
	if !slices.Equal(strs(again.payloads), strs(b.payloads)) {
		t.Fatal("a batch not acknowledged must be read again")
	}
	if err := q.commit(b); err != nil {
		t.Fatal(err)
	}
	if records, _, _ := q.stats(); records != 6 {
		t.Fatalf("records waiting: got %d, want 6", records)
	}
	q.close()

	q = openQueue(t, dir, 1<<20, 1<<20, nil)
	if records, _, _ := q.stats(); records != 6 {
		t.Fatalf("records waiting after reopening: got %d, want 6", records)
	}
	mustAppend(t, q, payloads(10, 12))
	if got, want := drain(t, q, 3), strs(payloads(4, 12)); !slices.Equal(got, want) {
		t.Fatalf("after reopening: got %v, want %v", got, want)
	}
	if records, pending, _ := q.stats(); records != 0 || pending != 0 {
		t.Fatalf("an empty queue reports %d records, %d bytes", records, pending)
	}
}

func TestDiskQueueRollsSegmentsAndRemovesDeliveredOnes(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, dir, 1<<20, 64, nil) // about four records a segment
	mustAppend(t, q, payloads(0, 20))
	if n := len(segmentFiles(t, dir)); n < 4 {
		t.Fatalf("got %d segments, want several", n)
	}
	if got, want := drain(t, q, 7), strs(payloads(0, 20)); !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if n := len(segmentFiles(t, dir)); n != 1 {
		t.Fatalf("got %d segments after delivering everything, want only the one being written", n)
	}
}

func TestDiskQueueBatchesAreBoundedByBytesButHoldAtLeastOneRecord(t *testing.T) {
	q := openQueue(t, t.TempDir(), 1<<20, 1<<20, nil)
	mustAppend(t, q, [][]byte{bytes.Repeat([]byte("a"), 100), []byte("b"), []byte("c")})
	b, err := q.peek(10, 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.payloads) != 1 {
		t.Fatalf("an oversized record goes alone: got %d records", len(b.payloads))
	}
	q.commit(b)
	b, _ = q.peek(10, 1)
	if got := strs(b.payloads); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("got %v", got)
	}
}

func TestDiskQueueSkipsATruncatedTail(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, dir, 1<<20, 1<<20, nil)
	mustAppend(t, q, payloads(0, 5))
	q.close()
	seg := segmentFiles(t, dir)[0]
	info, _ := os.Stat(seg)
	if err := os.Truncate(seg, info.Size()-3); err != nil { // a crash in the middle of the last write
		t.Fatal(err)
	}

	var log logBuffer
	q = openQueue(t, dir, 1<<20, 1<<20, &log)
	mustAppend(t, q, payloads(5, 7))
	want := append(strs(payloads(0, 4)), strs(payloads(5, 7))...)
	if got := drain(t, q, 100); !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if !strings.Contains(log.String(), "truncated record") {
		t.Errorf("the damage is not logged:\n%s", log.String())
	}
}

func TestDiskQueueSkipsACorruptRecordAndTheRestOfItsSegment(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, dir, 1<<20, 1<<20, nil)
	mustAppend(t, q, payloads(0, 5))
	q.close()
	q = openQueue(t, dir, 1<<20, 1<<20, nil) // a second segment
	mustAppend(t, q, payloads(5, 8))
	q.close()

	first := segmentFiles(t, dir)[0]
	data, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data, []byte(`{"n":2}`))
	data[i+5] = '9' // the third record's payload no longer matches its checksum
	if err := os.WriteFile(first, data, 0o600); err != nil {
		t.Fatal(err)
	}

	var log logBuffer
	q = openQueue(t, dir, 1<<20, 1<<20, &log)
	want := append(strs(payloads(0, 2)), strs(payloads(5, 8))...)
	if got := drain(t, q, 100); !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if !strings.Contains(log.String(), "checksum mismatch") {
		t.Errorf("the damage is not logged:\n%s", log.String())
	}
}

func TestDiskQueueRefusesRecordsBeyondItsBudget(t *testing.T) {
	dir := t.TempDir()
	record := recordSize(payloads(0, 1)[0])
	q := openQueue(t, dir, 5*record, 1<<20, nil)
	n, err := q.append(payloads(0, 8))
	if !errors.Is(err, errQueueFull) || n != 5 {
		t.Fatalf("got %d written, %v; want 5 and errQueueFull", n, err)
	}
	if n, err := q.append(payloads(8, 9)); !errors.Is(err, errQueueFull) || n != 0 {
		t.Fatalf("a full queue took a record: %d, %v", n, err)
	}
	if got := drain(t, q, 100); !slices.Equal(got, strs(payloads(0, 5))) {
		t.Fatalf("got %v", got)
	}
	_, _, onDisk := q.stats()
	if onDisk > 5*record {
		t.Fatalf("%d bytes on disk, budget %d", onDisk, 5*record)
	}
}

func TestDiskQueueFreesItsBudgetAsSegmentsAreDelivered(t *testing.T) {
	record := recordSize(payloads(0, 1)[0])
	q := openQueue(t, t.TempDir(), 8*record, 2*record, nil)
	mustAppend(t, q, payloads(0, 8))
	if n, err := q.append(payloads(8, 9)); !errors.Is(err, errQueueFull) || n != 0 {
		t.Fatalf("a full queue took a record: %d, %v", n, err)
	}
	drain(t, q, 100)
	mustAppend(t, q, payloads(0, 6))
	if got := drain(t, q, 100); !slices.Equal(got, strs(payloads(0, 6))) {
		t.Fatalf("got %v", got)
	}
}

func TestDiskQueueWithADamagedAckFileSendsEverythingAgain(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, dir, 1<<20, 1<<20, nil)
	mustAppend(t, q, payloads(0, 4))
	b, _ := q.peek(2, 1<<20)
	q.commit(b)
	q.close()
	if err := os.WriteFile(filepath.Join(dir, ackFileName), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	var log logBuffer
	q = openQueue(t, dir, 1<<20, 1<<20, &log)
	if got := drain(t, q, 100); !slices.Equal(got, strs(payloads(0, 4))) {
		t.Fatalf("got %v", got)
	}
	if !strings.Contains(log.String(), "ack file is damaged") {
		t.Errorf("the damage is not logged:\n%s", log.String())
	}
}

func TestDiskQueueNumbersNewSegmentsAfterTheAcknowledgedOne(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, dir, 1<<20, 1<<20, nil)
	for range 3 { // three segments, all delivered
		mustAppend(t, q, payloads(0, 2))
		drain(t, q, 100)
		q.close()
		q = openQueue(t, dir, 1<<20, 1<<20, nil)
	}
	q.close()
	for _, f := range segmentFiles(t, dir) { // an operator cleans up the segments, not the ack file
		os.Remove(f)
	}
	q = openQueue(t, dir, 1<<20, 1<<20, nil)
	mustAppend(t, q, payloads(0, 3))
	q.close() // a crash before anything is delivered
	q = openQueue(t, dir, 1<<20, 1<<20, nil)
	if got := drain(t, q, 100); !slices.Equal(got, strs(payloads(0, 3))) {
		t.Fatalf("got %v: records written after the cleanup were taken as delivered", got)
	}
}

func TestDiskQueueRefusesASecondWriterOfItsDirectory(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, dir, 1<<20, 1<<16, nil)
	if _, err := openDiskQueue(dir, 1<<20, 1<<16, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("a second queue on the directory: %v", err)
	}
	// Once the first is closed, the directory can be opened again.
	if err := q.close(); err != nil {
		t.Fatal(err)
	}
	openQueue(t, dir, 1<<20, 1<<16, nil)
}
