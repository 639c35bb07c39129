package server

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/bailiff/bailiff/pkg/audit/results"
	"github.com/bailiff/bailiff/pkg/store"
)

// postResults records a batch of a cluster's audit results (POST
// /api/v1/results): each object's findings are synced, deleted objects are
// forgotten, and what opened and resolved is appended to the cluster's trail
// as audit events. The whole batch is checked before anything is recorded.
func (s *Server) postResults(w http.ResponseWriter, r *http.Request, st store.Store, c store.Credential) {
	req, code, err := s.decodeResults(w, r)
	if err != nil {
		writeError(w, code, err.Error())
		return
	}
	if c.Role == store.RoleCluster && req.Cluster != c.Cluster {
		s.forbid(w, r, st, c, fmt.Sprintf("credential %s may only write results of cluster %s, not %s", c.Name, c.Cluster, req.Cluster), req.Cluster)
		return
	}
	if err := results.Validate(req, time.Now()); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	resp, err := results.Apply(r.Context(), st, req)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	s.metrics.events.WithLabelValues("stored").Add(float64(resp.Events))
	writeJSON(w, http.StatusOK, resp)
}

// decodeResults reads the body as strictly as an events batch: bounded in
// size, one JSON document, no unknown fields, at most MaxBatchEvents items.
func (s *Server) decodeResults(w http.ResponseWriter, r *http.Request) (results.Request, int, error) {
	req, status, err := decodeStrict[results.Request](w, r, s.opts.MaxBodyBytes)
	if err != nil {
		return req, status, err
	}
	if req.Len() > s.opts.MaxBatchEvents {
		return req, http.StatusRequestEntityTooLarge, fmt.Errorf("the batch holds %d results and deletions, at most %d are accepted", req.Len(), s.opts.MaxBatchEvents)
	}
	return req, 0, nil
}

// openResults answers GET /api/v1/results?cluster=…: a page of the cluster's
// open findings, so a restarted auditor knows what it reported before and
// which objects went away while it was down. A cluster credential reads only
// its own cluster.
func (s *Server) openResults(w http.ResponseWriter, r *http.Request, st store.Store, c store.Credential) {
	p, err := parseParams(r.URL.Query(), "cluster", "cursor", "limit")
	q := store.FindingQuery{Cluster: p.str("cluster"), State: "open", Cursor: p.str("cursor"), Limit: p.limit()}
	if q.Cluster == "" {
		p.fail("cluster", errors.New("name the cluster whose open findings to read"))
	}
	if err = errors.Join(err, p.err); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if c.Role == store.RoleCluster && q.Cluster != c.Cluster {
		s.forbid(w, r, st, c, fmt.Sprintf("credential %s may only read results of cluster %s, not %s", c.Name, c.Cluster, q.Cluster), q.Cluster)
		return
	}
	page, err := st.Findings(r.Context(), q)
	if err != nil {
		s.queryError(w, r, q.Cursor, err)
		return
	}
	writeJSON(w, http.StatusOK, FindingPage{Findings: nonNil(page.Findings), Next: page.Next})
}
