package store

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Clusters lists every cluster the store holds events or objects of, by name.
func (s *sqlStore) Clusters(ctx context.Context) ([]ClusterInfo, error) {
	byName := map[string]*ClusterInfo{}
	get := func(name string) *ClusterInfo {
		c, ok := byName[name]
		if !ok {
			c = &ClusterInfo{Name: name}
			byName[name] = c
		}
		return c
	}
	err := s.db.read(ctx, func(q querier) error {
		for _, c := range []struct {
			sql  string
			scan func(rs rows) error
		}{
			{"SELECT cluster, COUNT(*) FROM objects WHERE deleted_at IS NULL GROUP BY cluster", func(rs rows) error {
				var name string
				var n int64
				if err := rs.Scan(&name, &n); err != nil {
					return err
				}
				get(name).Objects = n
				return nil
			}},
			{"SELECT cluster, severity, COUNT(*) FROM findings WHERE resolved_at IS NULL GROUP BY cluster, severity", func(rs rows) error {
				var name, severity string
				var n int64
				if err := rs.Scan(&name, &severity, &n); err != nil {
					return err
				}
				c := get(name)
				c.OpenFindings += n
				if c.OpenBySeverity == nil {
					c.OpenBySeverity = map[string]int64{}
				}
				c.OpenBySeverity[severity] += n
				return nil
			}},
			// The recorded head, not the last stored event: a cluster whose last
			// events were deleted still has a chain, for verification to find broken.
			{`SELECT h.cluster, h.seq, h.hash, e.event_time FROM chain_heads h
				LEFT JOIN events e ON e.cluster = h.cluster AND e.seq = h.seq
				WHERE h.seq > 0`, func(rs rows) error {
				var name string
				var head ChainPosition
				var at *time.Time
				if err := rs.Scan(&name, &head.Seq, &head.Hash, s.d.nullTimeDest(&at)); err != nil {
					return err
				}
				if at != nil {
					head.Time = *at
				}
				get(name).Head = &head
				return nil
			}},
		} {
			if err := eachRow(ctx, q, c.sql, c.scan); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list clusters: %w", err)
	}
	out := make([]ClusterInfo, 0, len(byName))
	for _, c := range byName {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b ClusterInfo) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out, nil
}

// eachRow runs a query and calls scan for each row.
func eachRow(ctx context.Context, q querier, sql string, scan func(rows) error, args ...any) error {
	rs, err := q.query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rs.Close()
	for rs.Next() {
		if err := scan(rs); err != nil {
			return err
		}
	}
	return rs.Err()
}

// ChainPosition is an event's place in its cluster's chain.
type ChainPosition struct {
	Seq  int64     `json:"seq"`
	Hash string    `json:"hash"`
	Time time.Time `json:"time"`
}
