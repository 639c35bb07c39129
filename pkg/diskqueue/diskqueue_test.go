package diskqueue

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func payloads(from, to int) [][]byte {
	var out [][]byte
	for i := from; i < to; i++ {
		out = append(out, []byte(fmt.Sprintf(`{"n":%d}`, i)))
	}
	return out
}

func openQueue(t *testing.T, dir string, budget, segmentBytes int64, log *strings.Builder) *Queue {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	if log != nil {
		logger = slog.New(slog.NewTextHandler(log, nil))
	}
	q, err := Open(dir, budget, segmentBytes, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func mustAppend(t *testing.T, q *Queue, p [][]byte) {
	t.Helper()
	if n, err := q.Append(p); err != nil || n != len(p) {
		t.Fatalf("append: wrote %d of %d: %v", n, len(p), err)
	}
}

// drain peeks and commits until the queue is empty and returns what it read.
func drain(t *testing.T, q *Queue, per int) []string {
	t.Helper()
	var got []string
	for {
		b, err := q.Peek(per, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Commit(b); err != nil {
			t.Fatal(err)
		}
		if len(b.Payloads) == 0 {
			return got
		}
		for _, p := range b.Payloads {
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

	b, err := q.Peek(4, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strs(b.Payloads), strs(payloads(0, 4)); !slices.Equal(got, want) {
		t.Fatalf("first batch: got %v, want %v", got, want)
	}
	again, _ := q.Peek(4, 1<<20)
	if !slices.Equal(strs(again.Payloads), strs(b.Payloads)) {
		t.Fatal("a batch not acknowledged must be read again")
	}
	if err := q.Commit(b); err != nil {
		t.Fatal(err)
	}
	if records, _, _ := q.Stats(); records != 6 {
		t.Fatalf("records waiting: got %d, want 6", records)
	}
	q.Close()

	q = openQueue(t, dir, 1<<20, 1<<20, nil)
	if records, _, _ := q.Stats(); records != 6 {
		t.Fatalf("records waiting after reopening: got %d, want 6", records)
	}
	mustAppend(t, q, payloads(10, 12))
	if got, want := drain(t, q, 3), strs(payloads(4, 12)); !slices.Equal(got, want) {
		t.Fatalf("after reopening: got %v, want %v", got, want)
	}
	if records, pending, _ := q.Stats(); records != 0 || pending != 0 {
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
	b, err := q.Peek(10, 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Payloads) != 1 {
		t.Fatalf("an oversized record goes alone: got %d records", len(b.Payloads))
	}
	q.Commit(b)
	b, _ = q.Peek(10, 1)
	if got := strs(b.Payloads); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("got %v", got)
	}
}

func TestDiskQueueSkipsATruncatedTail(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, dir, 1<<20, 1<<20, nil)
	mustAppend(t, q, payloads(0, 5))
	q.Close()
	seg := segmentFiles(t, dir)[0]
	info, _ := os.Stat(seg)
	if err := os.Truncate(seg, info.Size()-3); err != nil { // a crash in the middle of the last write
		t.Fatal(err)
	}

	var log strings.Builder
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
	q.Close()
	q = openQueue(t, dir, 1<<20, 1<<20, nil) // a second segment
	mustAppend(t, q, payloads(5, 8))
	q.Close()

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

	var log strings.Builder
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
	n, err := q.Append(payloads(0, 8))
	if !errors.Is(err, ErrFull) || n != 5 {
		t.Fatalf("got %d written, %v; want 5 and ErrFull", n, err)
	}
	if n, err := q.Append(payloads(8, 9)); !errors.Is(err, ErrFull) || n != 0 {
		t.Fatalf("a full queue took a record: %d, %v", n, err)
	}
	if got := drain(t, q, 100); !slices.Equal(got, strs(payloads(0, 5))) {
		t.Fatalf("got %v", got)
	}
	_, _, onDisk := q.Stats()
	if onDisk > 5*record {
		t.Fatalf("%d bytes on disk, budget %d", onDisk, 5*record)
	}
}

func TestDiskQueueFreesItsBudgetAsSegmentsAreDelivered(t *testing.T) {
	record := recordSize(payloads(0, 1)[0])
	q := openQueue(t, t.TempDir(), 8*record, 2*record, nil)
	mustAppend(t, q, payloads(0, 8))
	if n, err := q.Append(payloads(8, 9)); !errors.Is(err, ErrFull) || n != 0 {
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
	b, _ := q.Peek(2, 1<<20)
	q.Commit(b)
	q.Close()
	if err := os.WriteFile(filepath.Join(dir, ackFileName), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
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
		q.Close()
		q = openQueue(t, dir, 1<<20, 1<<20, nil)
	}
	q.Close()
	for _, f := range segmentFiles(t, dir) { // an operator cleans up the segments, not the ack file
		os.Remove(f)
	}
	q = openQueue(t, dir, 1<<20, 1<<20, nil)
	mustAppend(t, q, payloads(0, 3))
	q.Close() // a crash before anything is delivered
	q = openQueue(t, dir, 1<<20, 1<<20, nil)
	if got := drain(t, q, 100); !slices.Equal(got, strs(payloads(0, 3))) {
		t.Fatalf("got %v: records written after the cleanup were taken as delivered", got)
	}
}

func TestDiskQueueRefusesASecondWriterOfItsDirectory(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, dir, 1<<20, 1<<16, nil)
	if _, err := Open(dir, 1<<20, 1<<16, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("a second queue on the directory: %v", err)
	}
	// Once the first is closed, the directory can be opened again.
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	openQueue(t, dir, 1<<20, 1<<16, nil)
}

func TestDiskQueueEndIsAcknowledgedOnceEverythingAppendedIsCommitted(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, dir, 1<<20, 64, nil)
	mustAppend(t, q, payloads(0, 10))
	end := q.End()
	mustAppend(t, q, payloads(10, 12))
	b, _ := q.Peek(9, 1<<20)
	q.Commit(b)
	if !q.AckedBefore(end) {
		t.Fatal("nine of ten records committed, yet the end of the tenth counts as acknowledged")
	}
	b, _ = q.Peek(1, 1<<20)
	q.Commit(b)
	if q.AckedBefore(end) {
		t.Fatal("all ten records committed, yet the end of the tenth is not acknowledged")
	}
	q.Close()
	q = openQueue(t, dir, 1<<20, 64, nil) // a reopened queue with nothing appended yet
	if got := drain(t, q, 100); !slices.Equal(got, strs(payloads(10, 12))) {
		t.Fatalf("got %v", got)
	}
	if q.AckedBefore(q.End()) {
		t.Fatal("an emptied queue does not count its end as acknowledged")
	}
}
