package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/bailiff/bailiff/pkg/audit/results"
	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/pkg/trail"
)

// ingest stores a batch of a cluster's events (POST /api/v1/events). The
// whole batch is checked before anything is stored, and the store appends it
// all or nothing, so a refused batch leaves no trace but the refusal. A batch
// writing another cluster or holding events only the server writes is
// forbidden, and the refusal is recorded in the server's own chain.
func (s *Server) ingest(w http.ResponseWriter, r *http.Request, st store.Store, c store.Credential) {
	req, code, err := s.decodeBatch(w, r)
	if err != nil {
		writeError(w, code, err.Error())
		return
	}
	if target, ok := foreignCluster(c, req); !ok {
		s.forbid(w, r, st, c, fmt.Sprintf("credential %s may only write events of cluster %s, not %s", c.Name, c.Cluster, target), target)
		return
	}
	if reason, ok := serverOnlySource(req); !ok {
		s.forbid(w, r, st, c, fmt.Sprintf("credential %s may not send %s", c.Name, reason), req.Cluster)
		return
	}
	if err := checkBatch(req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	for i := range req.Events {
		normalize(&req.Events[i])
	}
	res, err := st.AppendEvents(r.Context(), req.Cluster, req.Events, trail.Hash)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	s.metrics.events.WithLabelValues("stored").Add(float64(res.Stored))
	s.metrics.events.WithLabelValues("duplicate").Add(float64(res.Duplicates))
	writeJSON(w, http.StatusOK, trail.IngestResponse{Stored: res.Stored, Duplicates: res.Duplicates, LastSeq: res.LastSeq})
}

// decodeBatch reads the body strictly: bounded in size, one JSON document,
// no unknown fields, at least one and at most MaxBatchEvents events.
func (s *Server) decodeBatch(w http.ResponseWriter, r *http.Request) (trail.IngestRequest, int, error) {
	req, status, err := decodeStrict[trail.IngestRequest](w, r, s.opts.MaxBodyBytes)
	if err != nil {
		return req, status, err
	}
	switch {
	case len(req.Events) == 0:
		return req, http.StatusBadRequest, errors.New("events: the batch holds no events")
	case len(req.Events) > s.opts.MaxBatchEvents:
		return req, http.StatusRequestEntityTooLarge, fmt.Errorf("events: the batch holds %d events, at most %d are accepted", len(req.Events), s.opts.MaxBatchEvents)
	}
	return req, 0, nil
}

// foreignCluster returns the first cluster in the batch a cluster credential
// may not write, and false; admins may write any cluster.
func foreignCluster(c store.Credential, req trail.IngestRequest) (string, bool) {
	if c.Role != store.RoleCluster {
		return "", true
	}
	if req.Cluster != c.Cluster {
		return req.Cluster, false
	}
	for _, e := range req.Events {
		if e.Cluster != "" && e.Cluster != c.Cluster {
			return e.Cluster, false
		}
	}
	return "", true
}

// serverOnlySources are sources only the server writes, whoever the caller:
// audit events it derives from audit results (POST /api/v1/results), so that
// a cluster cannot make up findings that opened or resolved, and server
// events are its own record in the ServerCluster chain.
var serverOnlySources = []string{trail.SourceAudit, trail.SourceServer}

// serverOnlySource describes the first event in the batch whose source only
// the server writes, and returns false.
func serverOnlySource(req trail.IngestRequest) (string, bool) {
	for i, e := range req.Events {
		if slices.Contains(serverOnlySources, e.Source) {
			how := "they are the server's own"
			if e.Source == trail.SourceAudit {
				how = "the server derives them from audit results sent to POST " + results.Path
			}
			// Not yet validated: the ID is cut to the longest valid one, as it is recorded.
			return fmt.Sprintf("events[%d] (id %.*q) of source %q: only the server writes %s events; %s", i, trail.MaxIDLength, e.ID, e.Source, e.Source, how), false
		}
	}
	return "", true
}

// checkBatch reports the first reason the batch cannot be stored, naming the
// event by index and ID.
func checkBatch(req trail.IngestRequest) error {
	if err := trail.ValidateClusterName(req.Cluster); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	seen := make(map[string]int, len(req.Events))
	for i, e := range req.Events {
		if err := trail.ValidateEvent(e); err != nil {
			return fmt.Errorf("events[%d] (id %q): %w", i, e.ID, err)
		}
		if e.Cluster != req.Cluster {
			return fmt.Errorf("events[%d] (id %q): cluster %q is not the batch's cluster %q", i, e.ID, e.Cluster, req.Cluster)
		}
		if j, dup := seen[e.ID]; dup {
			return fmt.Errorf("events[%d]: id %q is also the id of events[%d]", i, e.ID, j)
		}
		seen[e.ID] = i
	}
	return nil
}

// normalize puts an event in the form it is stored and hashed in, so what is
// stored is exactly what the hash covers.
func normalize(e *store.Event) {
	e.Time = trail.NormalizeTime(e.Time)
	e.Patch = nullAsEmpty(e.Patch)
	e.Details = nullAsEmpty(e.Details)
}

func nullAsEmpty(m json.RawMessage) json.RawMessage {
	if string(m) == "null" {
		return nil
	}
	return m
}
