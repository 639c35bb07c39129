package store

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// reportColumns are the columns Reports lists; Report adds body.
const reportColumns = "id, cluster, scope, frameworks, generated_at, period_from, period_to, trail_ok, summary, body_size"

// PutReport keeps a signed report. Reports are immutable: storing one whose ID
// is already stored is an error unless the bodies are the same (a retry).
func (s *sqlStore) PutReport(ctx context.Context, r ReportRecord) error {
	if err := checkReport(r); err != nil {
		return fmt.Errorf("put report: %w", err)
	}
	frameworks, err := json.Marshal(r.Frameworks)
	if err != nil {
		return fmt.Errorf("put report %s: %w", r.ID, err)
	}
	var body bytes.Buffer
	zw := gzip.NewWriter(&body)
	if _, err := zw.Write(r.Body); err != nil {
		return fmt.Errorf("put report %s: compress: %w", r.ID, err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("put report %s: compress: %w", r.ID, err)
	}
	var from *time.Time
	if !r.PeriodFrom.IsZero() {
		t := normTime(r.PeriodFrom)
		from = &t
	}
	err = s.db.write(ctx, func(q querier) error {
		n, err := q.exec(ctx, `INSERT INTO reports (id, cluster, scope, frameworks, generated_at, period_from, period_to, trail_ok, summary, body_size, body)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			r.ID, r.Cluster, r.Scope, string(frameworks), s.d.timeArg(normTime(r.GeneratedAt)), s.d.nullTimeArg(from),
			s.d.timeArg(normTime(r.PeriodTo)), r.TrailOK, []byte(r.Summary), int64(len(r.Body)), body.Bytes())
		if err != nil || n == 1 {
			return err
		}
		stored, err := s.reportBody(ctx, q, r.ID)
		if err != nil {
			return err
		}
		if !bytes.Equal(stored, r.Body) {
			return fmt.Errorf("a different report with ID %s is already stored; reports are never changed", r.ID)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("put report %s: %w", r.ID, err)
	}
	return nil
}

func checkReport(r ReportRecord) error {
	switch {
	case r.ID == "":
		return errors.New("the report has no ID")
	case r.Scope == "":
		return errors.New("the report has no scope")
	case r.GeneratedAt.IsZero() || r.PeriodTo.IsZero():
		return errors.New("the report has no generation time or period end")
	case len(r.Body) == 0:
		return errors.New("the report has no body")
	case !json.Valid(r.Summary):
		return errors.New("the report's summary is not JSON")
	}
	return nil
}

// Reports lists reports without their bodies, newest first.
func (s *sqlStore) Reports(ctx context.Context, q ReportQuery) (ReportPage, error) {
	limit, err := pageLimit(q.Limit)
	if err != nil {
		return ReportPage{}, fmt.Errorf("list reports: %w", err)
	}
	var w where
	if q.Cluster != nil {
		w.add("cluster = ?", *q.Cluster)
	}
	if q.Framework != "" {
		// frameworks is a JSON list of IDs, which hold no quotes.
		w.add("frameworks LIKE ?", `%"`+strings.ReplaceAll(q.Framework, `"`, "")+`"%`)
	}
	if !q.Time.From.IsZero() {
		w.add("generated_at >= ?", s.d.timeArg(normTime(q.Time.From)))
	}
	if !q.Time.To.IsZero() {
		w.add("generated_at < ?", s.d.timeArg(normTime(q.Time.To)))
	}
	if q.Cursor != "" {
		var c reportCursor
		if err := decodeCursor(q.Cursor, &c); err != nil {
			return ReportPage{}, fmt.Errorf("list reports: %w", err)
		}
		w.add("(generated_at < ? OR (generated_at = ? AND id < ?))",
			s.d.timeArg(time.UnixMicro(c.GeneratedAt).UTC()), s.d.timeArg(time.UnixMicro(c.GeneratedAt).UTC()), c.ID)
	}
	var out []ReportRecord
	err = s.db.read(ctx, func(qr querier) error {
		return eachRow(ctx, qr, "SELECT "+reportColumns+" FROM reports"+w.sql()+" ORDER BY generated_at DESC, id DESC LIMIT ?", func(rs rows) error {
			r, err := s.scanReport(rs)
			if err != nil {
				return err
			}
			out = append(out, r)
			return nil
		}, append(w.args, limit+1)...)
	})
	if err != nil {
		return ReportPage{}, fmt.Errorf("list reports: %w", err)
	}
	page := ReportPage{Reports: out}
	if len(out) > limit {
		page.Reports = out[:limit]
		last := page.Reports[limit-1]
		page.Next = encodeCursor(reportCursor{GeneratedAt: last.GeneratedAt.UnixMicro(), ID: last.ID})
	}
	return page, nil
}

type reportCursor struct {
	GeneratedAt int64  `json:"g"`
	ID          string `json:"i"`
}

func (s *sqlStore) scanReport(rs rows) (ReportRecord, error) {
	var (
		r          ReportRecord
		frameworks string
		from       *time.Time
		summary    []byte
	)
	if err := rs.Scan(&r.ID, &r.Cluster, &r.Scope, &frameworks, s.d.timeDest(&r.GeneratedAt), s.d.nullTimeDest(&from),
		s.d.timeDest(&r.PeriodTo), &r.TrailOK, &summary, &r.Size); err != nil {
		return ReportRecord{}, err
	}
	if err := json.Unmarshal([]byte(frameworks), &r.Frameworks); err != nil {
		return ReportRecord{}, fmt.Errorf("report %s: frameworks: %w", r.ID, err)
	}
	if from != nil {
		r.PeriodFrom = *from
	}
	r.Summary = json.RawMessage(summary)
	return r, nil
}

// Report returns one report with its body.
func (s *sqlStore) Report(ctx context.Context, id string) (ReportRecord, error) {
	var r ReportRecord
	err := s.db.read(ctx, func(q querier) error {
		found := false
		err := eachRow(ctx, q, "SELECT "+reportColumns+" FROM reports WHERE id = ?", func(rs rows) error {
			var err error
			r, err = s.scanReport(rs)
			found = true
			return err
		}, id)
		if err != nil {
			return err
		}
		if !found {
			return ErrNotFound
		}
		r.Body, err = s.reportBody(ctx, q, id)
		return err
	})
	if err != nil {
		return ReportRecord{}, fmt.Errorf("report %s: %w", id, err)
	}
	return r, nil
}

// reportBody reads and decompresses a stored report's body.
func (s *sqlStore) reportBody(ctx context.Context, q querier, id string) ([]byte, error) {
	var compressed []byte
	if err := queryOne(ctx, q, []any{&compressed}, "SELECT body FROM reports WHERE id = ?", id); err != nil {
		if errors.Is(err, errNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(compressed))
	if err != nil {
		return nil, fmt.Errorf("decompress the body: %w", err)
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("decompress the body: %w", err)
	}
	return body, nil
}
