package audit

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/bailiff/bailiff/pkg/audit/results"
	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/pkg/trail"
)

// Sink is where audit results go: the store directly, or the central server.
type Sink interface {
	// OpenFindings calls fn with the open findings the sink holds for a
	// cluster, a page at a time, so a restarted auditor knows what it
	// reported before and which objects went away while it was down.
	OpenFindings(ctx context.Context, cluster string, fn func([]store.Finding) error) error
	// Write records a batch of results and deletions, and appends the audit
	// events of what they opened and resolved to the cluster's trail.
	Write(ctx context.Context, batch results.Request) (results.Response, error)
	// Name describes the sink in logs, without secrets.
	Name() string
}

// StoreSink writes to a store directly: for one cluster, or a demo.
type StoreSink struct {
	Store store.Store
	// Label names the store in logs; never put a password in it.
	Label string
}

var _ Sink = StoreSink{}

// OpenFindings implements Sink.
func (s StoreSink) OpenFindings(ctx context.Context, cluster string, fn func([]store.Finding) error) error {
	q := store.FindingQuery{Cluster: cluster, State: "open", Limit: 1000}
	for {
		page, err := s.Store.Findings(ctx, q)
		if err != nil {
			return err
		}
		if err := fn(page.Findings); err != nil {
			return err
		}
		if page.Next == "" {
			return nil
		}
		q.Cursor = page.Next
	}
}

// Write implements Sink.
func (s StoreSink) Write(ctx context.Context, batch results.Request) (results.Response, error) {
	if err := results.Validate(batch, time.Now()); err != nil {
		return results.Response{}, &RejectedError{Err: err}
	}
	return results.Apply(ctx, s.Store, batch)
}

// Name implements Sink.
func (s StoreSink) Name() string { return s.Label }

// RejectedError is a batch the sink refused as invalid: sending it again
// cannot succeed.
type RejectedError struct{ Err error }

func (e *RejectedError) Error() string { return "results refused: " + e.Err.Error() }
func (e *RejectedError) Unwrap() error { return e.Err }

// ServerSink sends results to the central server (POST /api/v1/results)
// with a cluster credential's bearer token. The auditor keeps each batch
// within results.MaxBodyBytes, the most the server takes by default; the
// server's 400 and 413 answers are RejectedErrors.
type ServerSink struct {
	client *trail.Client
}

var _ Sink = (*ServerSink)(nil)

// NewServerSink returns a sink for the server at serverURL (https://host:port).
// A nil httpClient means one with a 30 s timeout.
func NewServerSink(serverURL, token string, httpClient *http.Client) (*ServerSink, error) {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	client, err := trail.NewClient(serverURL, token, httpClient)
	if err != nil {
		return nil, err
	}
	return &ServerSink{client: client}, nil
}

// Name implements Sink.
func (s *ServerSink) Name() string { return s.client.Name() }

// OpenFindings implements Sink.
func (s *ServerSink) OpenFindings(ctx context.Context, cluster string, fn func([]store.Finding) error) error {
	cursor := ""
	for {
		q := url.Values{"cluster": {cluster}, "limit": {"1000"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page struct {
			Findings []store.Finding `json:"findings"`
			Next     string          `json:"next"`
		}
		if err := s.client.Do(ctx, http.MethodGet, results.Path, q, nil, &page); err != nil {
			return err
		}
		if err := fn(page.Findings); err != nil {
			return err
		}
		if page.Next == "" {
			return nil
		}
		cursor = page.Next
	}
}

// Write implements Sink. It makes one attempt; the auditor retries.
func (s *ServerSink) Write(ctx context.Context, batch results.Request) (results.Response, error) {
	body, err := json.Marshal(batch)
	if err != nil {
		return results.Response{}, err
	}
	var out results.Response
	err = s.client.Do(ctx, http.MethodPost, results.Path, nil, body, &out)
	var status *trail.StatusError
	if errors.As(err, &status) && status.Rejected() {
		return out, &RejectedError{Err: err}
	}
	return out, err
}
