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
		type count struct {
			sql string
			set func(c *ClusterInfo, n int64)
		}
		for _, c := range []count{
			{"SELECT cluster, COUNT(*) FROM objects WHERE deleted_at IS NULL GROUP BY cluster", func(c *ClusterInfo, n int64) { c.Objects = n }},
			{"SELECT cluster, COUNT(*) FROM findings WHERE resolved_at IS NULL GROUP BY cluster", func(c *ClusterInfo, n int64) { c.OpenFindings = n }},
		} {
			rs, err := q.query(ctx, c.sql)
			if err != nil {
				return err
			}
			for rs.Next() {
				var name string
				var n int64
				if err := rs.Scan(&name, &n); err != nil {
					rs.Close()
					return err
				}
				c.set(get(name), n)
			}
			rs.Close()
			if err := rs.Err(); err != nil {
				return err
			}
		}
		rs, err := q.query(ctx, `SELECT h.cluster, h.seq, h.hash, e.event_time FROM chain_heads h
			JOIN events e ON e.cluster = h.cluster AND e.seq = h.seq`)
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			var name string
			var head ChainPosition
			if err := rs.Scan(&name, &head.Seq, &head.Hash, s.d.timeDest(&head.Time)); err != nil {
				return err
			}
			get(name).Head = &head
		}
		return rs.Err()
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

// ChainPosition is an event's place in its cluster's chain.
type ChainPosition struct {
	Seq  int64     `json:"seq"`
	Hash string    `json:"hash"`
	Time time.Time `json:"time"`
}
