package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/pkg/trail"
)

// EventPage is the answer of GET /api/v1/events; Next is empty on the last page.
type EventPage struct {
	Events []store.Event `json:"events"`
	Next   string        `json:"next"`
}

// FindingPage is the answer of GET /api/v1/findings; Next is empty on the last page.
type FindingPage struct {
	Findings []store.Finding `json:"findings"`
	Next     string          `json:"next"`
}

// Values the query parameters may take.
var (
	eventSources = append(slices.Clone(trail.Sources), trail.SourceServer)
	severities   = []string{"critical", "high", "medium", "low"}
	states       = []string{"open", "resolved"}
)

// listEvents answers GET /api/v1/events.
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request, st store.Store, _ store.Credential) {
	p, err := parseParams(r.URL.Query(), "cluster", "namespace", "kind", "policy", "user", "source", "decision", "uid", "from", "to", "cursor", "limit")
	q := store.EventQuery{
		Cluster: p.str("cluster"), Namespace: p.str("namespace"), Kind: p.str("kind"), PolicyID: p.str("policy"),
		User: p.str("user"), Source: p.oneOf("source", eventSources), Decision: p.str("decision"), UID: p.str("uid"),
		Time:   store.TimeRange{From: p.time("from"), To: p.time("to")},
		Cursor: p.str("cursor"), Limit: p.limit(),
	}
	p.timeOrder("from", q.Time.From, "to", q.Time.To)
	if err = errors.Join(err, p.err); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	page, err := st.Events(r.Context(), q)
	if err != nil {
		s.queryError(w, r, q.Cursor, err)
		return
	}
	writeJSON(w, http.StatusOK, EventPage{Events: nonNil(page.Events), Next: page.Next})
}

// listClusters answers GET /api/v1/clusters.
func (s *Server) listClusters(w http.ResponseWriter, r *http.Request, st store.Store, _ store.Credential) {
	if _, err := parseParams(r.URL.Query()); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	clusters, err := st.Clusters(r.Context())
	if err != nil {
		s.queryError(w, r, "", err)
		return
	}
	writeJSON(w, http.StatusOK, trail.ClusterList{Clusters: nonNil(clusters)})
}

// listFindings answers GET /api/v1/findings. From and to keep the findings
// open at some time in between: opened before to, and not resolved before from.
func (s *Server) listFindings(w http.ResponseWriter, r *http.Request, st store.Store, _ store.Credential) {
	p, err := parseParams(r.URL.Query(), "cluster", "namespace", "kind", "policy", "severity", "state", "from", "to", "cursor", "limit")
	q := store.FindingQuery{
		Cluster: p.str("cluster"), Namespace: p.str("namespace"), Kind: p.str("kind"), PolicyID: p.str("policy"),
		Severity: p.oneOf("severity", severities), State: p.oneOf("state", states),
		Time:   store.TimeRange{From: p.time("from"), To: p.time("to")},
		Cursor: p.str("cursor"), Limit: p.limit(),
	}
	p.timeOrder("from", q.Time.From, "to", q.Time.To)
	if err = errors.Join(err, p.err); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	page, err := st.Findings(r.Context(), q)
	if err != nil {
		s.queryError(w, r, q.Cursor, err)
		return
	}
	writeJSON(w, http.StatusOK, FindingPage{Findings: nonNil(page.Findings), Next: page.Next})
}

// verify answers GET /api/v1/clusters/{cluster}/verify with a trail.VerifyResult;
// a broken chain is a successful answer whose ok is false.
func (s *Server) verify(w http.ResponseWriter, r *http.Request, st store.Store, _ store.Credential) {
	cluster := r.PathValue("cluster")
	p, err := parseParams(r.URL.Query(), "from", "to", "fromSeq", "toSeq")
	rng := trail.Range{From: p.time("from"), To: p.time("to"), FromSeq: p.seq("fromSeq"), ToSeq: p.seq("toSeq")}
	p.timeOrder("from", rng.From, "to", rng.To)
	if rng.FromSeq != 0 && rng.ToSeq != 0 && rng.ToSeq < rng.FromSeq {
		p.fail("toSeq", fmt.Errorf("%d is before fromSeq %d", rng.ToSeq, rng.FromSeq))
	}
	if cluster == "" || len(cluster) > trail.MaxClusterLength {
		p.fail("cluster", errors.New("name a cluster in the path: /api/v1/clusters/{cluster}/verify"))
	}
	if err = errors.Join(err, p.err); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	res, err := trail.Verify(r.Context(), st, cluster, rng)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// queryError answers a failed store query: 400 if the cursor was refused,
// 500 otherwise.
func (s *Server) queryError(w http.ResponseWriter, r *http.Request, cursor string, err error) {
	// The store reports a bad cursor only in words; see the note to pkg/store.
	if cursor != "" && strings.Contains(err.Error(), "cursor") {
		writeError(w, http.StatusBadRequest, "parameter cursor: pass the next value of a previous page of the same query")
		return
	}
	s.internalError(w, r, err)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// params reads query parameters, collecting the first problem of each.
type params struct {
	v   url.Values
	err error
}

// parseParams refuses parameters other than known, and any given twice, so
// a misspelt filter is an error rather than silently ignored.
func parseParams(v url.Values, known ...string) (*params, error) {
	var errs []error
	for name, values := range v {
		switch {
		case !slices.Contains(known, name):
			errs = append(errs, fmt.Errorf("unknown parameter %q; known are %s", name, strings.Join(known, ", ")))
		case len(values) > 1:
			errs = append(errs, fmt.Errorf("parameter %s is given %d times", name, len(values)))
		}
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return &params{v: v}, errors.Join(errs...)
}

func (p *params) fail(name string, err error) {
	p.err = errors.Join(p.err, fmt.Errorf("parameter %s: %w", name, err))
}

func (p *params) str(name string) string { return p.v.Get(name) }

func (p *params) oneOf(name string, allowed []string) string {
	s := p.v.Get(name)
	if s != "" && !slices.Contains(allowed, s) {
		p.fail(name, fmt.Errorf("%q is not one of %s", s, strings.Join(allowed, ", ")))
	}
	return s
}

func (p *params) time(name string) time.Time {
	s := p.v.Get(name)
	if s == "" {
		return time.Time{}
	}
	t, err := trail.ParseTime(s)
	if err != nil {
		p.fail(name, err)
	}
	return t
}

func (p *params) timeOrder(fromName string, from time.Time, toName string, to time.Time) {
	if !from.IsZero() && !to.IsZero() && !to.After(from) {
		p.fail(toName, fmt.Errorf("%s is not after %s", to.Format(time.RFC3339Nano), fromName))
	}
}

func (p *params) seq(name string) int64 {
	s := p.v.Get(name)
	if s == "" {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 {
		p.fail(name, fmt.Errorf("%q is not a positive integer", s))
	}
	return n
}

// limit is the page size, 1 to 1000; absent means the store's default, 100.
func (p *params) limit() int {
	s := p.v.Get("limit")
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 1000 {
		p.fail("limit", fmt.Errorf("%q is not a number from 1 to 1000", s))
		return 0
	}
	return n
}
