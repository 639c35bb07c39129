// Package diskqueue is a durable, crash-tolerant queue of records on disk,
// with one writer and one reader: the trail emitter and the auditor put
// records in it, and their shippers take them out once delivered.
//
// A queue is a directory:
//
//	00000000000000000001.seg  segments: records appended, never rewritten
//	00000000000000000002.seg  the highest-numbered segment is written to
//	ack                       the position up to which records were delivered
//
// A record is a 4-byte big-endian payload length, the 4-byte CRC-32C
// (Castagnoli) of the payload, then the payload (for the trail, one event as JSON).
// The ack file holds the acknowledged position (segment number, byte offset; 8 bytes
// each, big-endian) and the CRC-32C of those 16 bytes, rewritten in place.
//
// A crash can leave a torn record at the end of a segment, and a disk can
// corrupt one in the middle. Either is found by its length or checksum, logged
// and skipped with the rest of its segment, never treated as fatal: the
// segment's length is only trusted up to the last good record. Writing always
// resumes in a new segment after a restart.
package diskqueue

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

const (
	recordHeaderSize = 8
	// maxRecordSize bounds a record's length field, so a corrupt length is
	// recognised instead of read.
	maxRecordSize = 16 << 20
	segmentSuffix = ".seg"
	ackFileName   = "ack"
	ackFileSize   = 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrFull is returned when a record would take the queue past its disk budget.
var ErrFull = errors.New("disk queue full")

// Position is a place in the queue: a byte offset within a segment.
type Position struct {
	segment uint64
	offset  int64
}

func (p Position) Before(q Position) bool {
	return p.segment < q.segment || p.segment == q.segment && p.offset < q.offset
}

// segment is one segment file; size is the length of its valid records.
type segment struct {
	id       uint64
	size     int64 // bytes of valid records
	fileSize int64 // bytes on disk, including any corrupt tail
}

// Queue is an append-only, crash-tolerant queue of records on disk with a
// single writer and a single reader. The writer appends; the reader peeks a
// batch from the acknowledged position and acknowledges it once delivered.
type Queue struct {
	dir          string
	budget       int64 // bytes on disk the segments may take
	segmentBytes int64 // a segment is closed once it reaches this size
	logger       *slog.Logger

	mu       sync.Mutex
	segments []segment // ascending; the last one is written to
	active   *os.File
	ackFile  *os.File
	ack      Position
	records  int64 // records after ack
	onDisk   int64 // bytes of all segment files
	notify   chan struct{}
	closed   bool
}

// Open opens or creates the queue in dir and starts a new segment to
// write to. Segments already acknowledged are removed; damaged records are
// logged and skipped.
func Open(dir string, budget, segmentBytes int64, logger *slog.Logger) (*Queue, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create queue directory: %w", err)
	}
	q := &Queue{dir: dir, budget: budget, segmentBytes: segmentBytes, logger: logger, notify: make(chan struct{}, 1)}
	ackFile, err := os.OpenFile(filepath.Join(dir, ackFileName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open queue ack file: %w", err)
	}
	if err := lockQueueFile(ackFile); err != nil {
		ackFile.Close()
		return nil, err
	}
	q.ackFile = ackFile
	acked := q.readAck()
	q.ack = acked
	ids, err := q.listSegments()
	if err != nil {
		ackFile.Close()
		return nil, err
	}
	var last uint64
	for _, id := range ids {
		last = id
		if id < q.ack.segment {
			if err := os.Remove(q.segmentPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
				q.logger.Warn("cannot remove acknowledged queue segment", "segment", id, "err", err)
			}
			continue
		}
		seg, records, err := q.scanSegment(id)
		if err != nil {
			ackFile.Close()
			return nil, err
		}
		q.segments = append(q.segments, seg)
		q.onDisk += seg.fileSize
		q.records += records
	}
	if len(q.segments) > 0 && q.segments[0].id == q.ack.segment {
		if q.ack.offset > q.segments[0].size {
			q.ack.offset = q.segments[0].size
		}
	} else {
		q.ack = Position{} // the acknowledged segment is gone: start at the first there is
	}
	// Numbers only grow, so no segment written from now on sorts before the
	// acknowledged one, even if the ack file outlives every segment.
	if err := q.startSegment(max(last, acked.segment) + 1); err != nil {
		ackFile.Close()
		return nil, err
	}
	if q.ack.segment == 0 {
		q.ack = Position{segment: q.segments[0].id}
	}
	return q, nil
}

func (q *Queue) segmentPath(id uint64) string {
	return filepath.Join(q.dir, fmt.Sprintf("%020d%s", id, segmentSuffix))
}

func (q *Queue) listSegments() ([]uint64, error) {
	entries, err := os.ReadDir(q.dir)
	if err != nil {
		return nil, fmt.Errorf("read queue directory: %w", err)
	}
	var ids []uint64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), segmentSuffix)
		if !ok || e.IsDir() {
			continue
		}
		id, err := strconv.ParseUint(name, 10, 64)
		if err != nil || id == 0 {
			continue
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

// readAck reads the acknowledged position. A missing, short or corrupt ack
// file means nothing is known to be delivered: the queue is sent again from
// its start, which the receiver's deduplication makes harmless.
func (q *Queue) readAck() Position {
	var buf [ackFileSize]byte
	n, err := q.ackFile.ReadAt(buf[:], 0)
	if n == 0 && errors.Is(err, io.EOF) {
		return Position{}
	}
	if n != ackFileSize || crc32.Checksum(buf[:16], castagnoli) != binary.BigEndian.Uint32(buf[16:]) {
		q.logger.Warn("queue ack file is damaged; re-sending the queue from its start (the server drops duplicates)", "dir", q.dir)
		return Position{}
	}
	return Position{segment: binary.BigEndian.Uint64(buf[:8]), offset: int64(binary.BigEndian.Uint64(buf[8:16]))}
}

func (q *Queue) writeAck(p Position) error {
	var buf [ackFileSize]byte
	binary.BigEndian.PutUint64(buf[:8], p.segment)
	binary.BigEndian.PutUint64(buf[8:16], uint64(p.offset))
	binary.BigEndian.PutUint32(buf[16:], crc32.Checksum(buf[:16], castagnoli))
	if _, err := q.ackFile.WriteAt(buf[:], 0); err != nil {
		return fmt.Errorf("write queue ack: %w", err)
	}
	if err := q.ackFile.Sync(); err != nil {
		return fmt.Errorf("sync queue ack: %w", err)
	}
	return nil
}

// scanSegment finds how much of a segment holds valid records and how many.
func (q *Queue) scanSegment(id uint64) (segment, int64, error) {
	f, err := os.Open(q.segmentPath(id))
	if err != nil {
		return segment{}, 0, fmt.Errorf("open queue segment: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return segment{}, 0, fmt.Errorf("stat queue segment: %w", err)
	}
	seg := segment{id: id, fileSize: info.Size()}
	var records int64
	r := bufio.NewReaderSize(f, 64<<10)
	for seg.size < seg.fileSize {
		payload, err := readRecord(r, seg.fileSize-seg.size)
		if err != nil {
			q.logger.Warn("skipping damaged records at the end of a queue segment (a crash while writing, or disk corruption)",
				"segment", id, "offset", seg.size, "skippedBytes", seg.fileSize-seg.size, "reason", err)
			break
		}
		seg.size += int64(recordHeaderSize + len(payload))
		if id > q.ack.segment || seg.size > q.ack.offset {
			records++
		}
	}
	return seg, records, nil
}

// readRecord reads one record of at most limit bytes and checks it.
func readRecord(r io.Reader, limit int64) ([]byte, error) {
	var h [recordHeaderSize]byte
	if limit < recordHeaderSize {
		return nil, fmt.Errorf("truncated record header (%d bytes)", limit)
	}
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, fmt.Errorf("read record header: %w", err)
	}
	n := int64(binary.BigEndian.Uint32(h[:4]))
	if n > maxRecordSize {
		return nil, fmt.Errorf("record length %d is impossible", n)
	}
	if n > limit-recordHeaderSize {
		return nil, fmt.Errorf("truncated record: %d bytes announced, %d there", n, limit-recordHeaderSize)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return nil, fmt.Errorf("read record: %w", err)
	}
	if crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(h[4:]) {
		return nil, errors.New("checksum mismatch")
	}
	return payload, nil
}

// startSegment closes the active segment and creates segment id.
func (q *Queue) startSegment(id uint64) error {
	if q.active != nil {
		if err := q.active.Close(); err != nil {
			q.logger.Warn("closing queue segment", "err", err)
		}
		q.active = nil
	}
	f, err := os.OpenFile(q.segmentPath(id), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create queue segment: %w", err)
	}
	if err := syncDir(q.dir); err != nil {
		f.Close()
		return err
	}
	q.active = f
	q.segments = append(q.segments, segment{id: id})
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync queue directory: %w", err)
	}
	return nil
}

// recordSize is the bytes a payload takes in a segment.
func recordSize(payload []byte) int64 { return int64(recordHeaderSize + len(payload)) }

// Append writes payloads in order as far as the disk budget allows, syncing
// once per segment written. It returns how many were written; ErrFull
// means the rest did not fit.
func (q *Queue) Append(payloads [][]byte) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return 0, errors.New("disk queue closed")
	}
	var buf []byte
	written, buffered := 0, 0
	for _, p := range payloads {
		size := recordSize(p)
		if q.onDisk+int64(len(buf))+size > q.budget {
			if err := q.flush(buf, buffered); err != nil {
				return written, err
			}
			return written + buffered, ErrFull
		}
		if seg := q.segments[len(q.segments)-1]; seg.size+int64(len(buf)) > 0 && seg.size+int64(len(buf))+size > q.segmentBytes {
			if err := q.flush(buf, buffered); err != nil {
				return written, err
			}
			written, buffered, buf = written+buffered, 0, buf[:0]
			if err := q.startSegment(seg.id + 1); err != nil {
				return written, err
			}
		}
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(p)))
		buf = binary.BigEndian.AppendUint32(buf, crc32.Checksum(p, castagnoli))
		buf = append(buf, p...)
		buffered++
	}
	if err := q.flush(buf, buffered); err != nil {
		return written, err
	}
	return written + buffered, nil
}

// flush writes buf, holding n records, at the end of the active segment and
// syncs it. On failure the segment is cut back to its last good record, so a
// partial write is never followed by good ones.
func (q *Queue) flush(buf []byte, n int) error {
	if len(buf) == 0 {
		return nil
	}
	seg := &q.segments[len(q.segments)-1]
	_, err := q.active.WriteAt(buf, seg.size)
	if err == nil {
		err = q.active.Sync()
	}
	if err != nil {
		if terr := q.active.Truncate(seg.size); terr != nil {
			q.logger.Warn("cannot cut back a queue segment after a failed write; starting a new one", "segment", seg.id, "err", terr)
			seg.fileSize = seg.size + int64(len(buf))
			q.onDisk += int64(len(buf))
			if serr := q.startSegment(seg.id + 1); serr != nil {
				return errors.Join(err, serr)
			}
		}
		return fmt.Errorf("write queue segment: %w", err)
	}
	seg.size += int64(len(buf))
	seg.fileSize = seg.size
	q.onDisk += int64(len(buf))
	q.records += int64(n)
	select {
	case q.notify <- struct{}{}:
	default:
	}
	return nil
}

// Batch is a run of records read from the queue; Next is the position after it.
type Batch struct {
	Payloads [][]byte
	Bytes    int64 // of the payloads
	Next     Position
}

// Peek reads up to maxRecords records, and up to maxBytes of payload (but at
// least one record), from the acknowledged position. Only the single reader
// calls Peek and Commit, so the segments it reads are not removed under it.
func (q *Queue) Peek(maxRecords int, maxBytes int64) (Batch, error) {
	q.mu.Lock()
	segments := slices.Clone(q.segments)
	pos := q.ack
	q.mu.Unlock()

	b := Batch{Next: pos}
	for i, seg := range segments {
		if seg.id < pos.segment {
			continue
		}
		last := i == len(segments)-1
		if seg.id > b.Next.segment {
			b.Next = Position{segment: seg.id}
		}
		if b.Next.offset < seg.size {
			done, err := q.readSegment(seg, &b, maxRecords, maxBytes)
			if err != nil {
				return Batch{}, err
			}
			if done {
				break
			}
		}
		if !last && b.Next.offset >= seg.size {
			b.Next = Position{segment: segments[i+1].id}
		}
	}
	return b, nil
}

// readSegment adds records of seg from b.Next to b; done means b is full.
func (q *Queue) readSegment(seg segment, b *Batch, maxRecords int, maxBytes int64) (done bool, err error) {
	f, err := os.Open(q.segmentPath(seg.id))
	if err != nil {
		return false, fmt.Errorf("open queue segment: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(io.NewSectionReader(f, b.Next.offset, seg.size-b.Next.offset), 64<<10)
	for b.Next.offset < seg.size {
		if len(b.Payloads) >= maxRecords {
			return true, nil
		}
		payload, err := readRecord(r, seg.size-b.Next.offset)
		if err != nil {
			q.logger.Warn("skipping damaged records in a queue segment (disk corruption)",
				"segment", seg.id, "offset", b.Next.offset, "skippedBytes", seg.size-b.Next.offset, "reason", err)
			b.Next.offset = seg.size
			return false, nil
		}
		if len(b.Payloads) > 0 && b.Bytes+int64(len(payload)) > maxBytes {
			return true, nil
		}
		b.Payloads = append(b.Payloads, payload)
		b.Bytes += int64(len(payload))
		b.Next.offset += recordSize(payload)
	}
	return false, nil
}

// Commit acknowledges everything before b.Next: the position is made durable
// and segments wholly before it are removed.
func (q *Queue) Commit(b Batch) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.ack.Before(b.Next) {
		return nil
	}
	if err := q.writeAck(b.Next); err != nil {
		return err
	}
	q.ack = b.Next
	q.records = max(q.records-int64(len(b.Payloads)), 0)
	keep := q.segments[:0]
	for _, seg := range q.segments {
		if seg.id >= q.ack.segment {
			keep = append(keep, seg)
			continue
		}
		if err := os.Remove(q.segmentPath(seg.id)); err != nil && !errors.Is(err, os.ErrNotExist) {
			q.logger.Warn("cannot remove delivered queue segment", "segment", seg.id, "err", err)
			keep = append(keep, seg)
			continue
		}
		q.onDisk -= seg.fileSize
	}
	q.segments = keep
	if q.pendingBytesLocked() == 0 {
		q.records = 0
	}
	return nil
}

// Stats returns the records and bytes waiting to be delivered, and the bytes on disk.
func (q *Queue) Stats() (records, pendingBytes, onDisk int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.records, q.pendingBytesLocked(), q.onDisk
}

func (q *Queue) pendingBytesLocked() int64 {
	var n int64
	for _, seg := range q.segments {
		switch {
		case seg.id == q.ack.segment:
			n += seg.size - q.ack.offset
		case seg.id > q.ack.segment:
			n += seg.size
		}
	}
	return n
}

// Ready signals, at most once per wait, that records were appended.
func (q *Queue) Ready() <-chan struct{} { return q.notify }

// Close releases the files; what was appended stays on disk.
func (q *Queue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil
	}
	q.closed = true
	return errors.Join(q.active.Close(), q.ackFile.Close())
}

// AckedBefore reports whether the acknowledged position is before p.
func (q *Queue) AckedBefore(p Position) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.ack.Before(p)
}

// End is the position after the last record appended: once AckedBefore(End())
// is false, everything appended before it has been committed.
func (q *Queue) End() Position {
	q.mu.Lock()
	defer q.mu.Unlock()
	seg := q.segments[len(q.segments)-1]
	return Position{segment: seg.id, offset: seg.size}
}
