package trail

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/bailiff/bailiff/pkg/store"
)

// Client speaks the central server's API for a cluster (ingest) and for
// auditors (verify).
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// Name is the server's URL without credentials, for logs.
func (c *Client) Name() string { return c.base.Redacted() }

// NewClient returns a client for the server at serverURL (https://host:port),
// authenticating with token. A nil httpClient means http.DefaultClient.
func NewClient(serverURL, token string, httpClient *http.Client) (*Client, error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return nil, fmt.Errorf("server URL %q: %w", serverURL, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("server URL %q: want https://host[:port]", serverURL)
	}
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	return &Client{base: u, token: strings.TrimSpace(token), http: httpClient}, nil
}

// StatusError is a non-2xx answer from the server.
type StatusError struct {
	StatusCode int
	Message    string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("server answered %d %s: %s", e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// Rejected reports whether the server refused the request's content itself
// (400, 413, 422): sending it again cannot succeed.
func (e *StatusError) Rejected() bool {
	switch e.StatusCode {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return true
	}
	return false
}

// Ingest posts one batch of a cluster's events, each already encoded as JSON.
func (c *Client) Ingest(ctx context.Context, cluster string, events []json.RawMessage) (IngestResponse, error) {
	name, err := json.Marshal(cluster)
	if err != nil {
		return IngestResponse{}, err
	}
	size := len(`{"cluster":,"events":[]}`) + len(name) + len(events)
	for _, e := range events {
		size += len(e)
	}
	body := make([]byte, 0, size)
	body = append(body, `{"cluster":`...)
	body = append(body, name...)
	body = append(body, `,"events":[`...)
	for i, e := range events {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, e...)
	}
	body = append(body, "]}"...)
	var out IngestResponse
	err = c.Do(ctx, http.MethodPost, EventsPath, nil, body, &out)
	return out, err
}

// Verify asks the server to verify a range of a cluster's chain.
func (c *Client) Verify(ctx context.Context, cluster string, r Range) (VerifyResult, error) {
	q := url.Values{}
	if !r.From.IsZero() {
		q.Set("from", r.From.Format(time.RFC3339Nano))
	}
	if !r.To.IsZero() {
		q.Set("to", r.To.Format(time.RFC3339Nano))
	}
	if r.FromSeq != 0 {
		q.Set("fromSeq", strconv.FormatInt(r.FromSeq, 10))
	}
	if r.ToSeq != 0 {
		q.Set("toSeq", strconv.FormatInt(r.ToSeq, 10))
	}
	var out VerifyResult
	path := strings.Replace(VerifyPathPattern, "{cluster}", url.PathEscape(cluster), 1)
	err := c.Do(ctx, http.MethodGet, path, q, nil, &out)
	return out, err
}

// Clusters lists the clusters the server holds, by name.
func (c *Client) Clusters(ctx context.Context) ([]store.ClusterInfo, error) {
	var out ClusterList
	if err := c.Do(ctx, http.MethodGet, ClustersPath, nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Clusters, nil
}

// maxResponse bounds what the client reads of an answer.
const maxResponse = 8 << 20

// Do calls the server's API at path with the client's token: body (nil for none)
// is sent as JSON and a 2xx answer decoded into out; any other answer is a
// *StatusError carrying the server's reason.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, body []byte, out any) error {
	data, err := c.send(ctx, method, path, query, body, maxResponse)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode answer of %s %s: %w", method, path, err)
	}
	return nil
}

// Download GETs a file from the server's API, such as a rendered report, reading
// at most limit bytes of it (more is an error, never a truncated file).
func (c *Client) Download(ctx context.Context, path string, query url.Values, limit int64) ([]byte, error) {
	return c.send(ctx, http.MethodGet, path, query, nil, limit)
}

// send makes one call and returns a 2xx answer's body.
func (c *Client) send(ctx context.Context, method, path string, query url.Values, body []byte, limit int64) ([]byte, error) {
	u := c.base.JoinPath(path)
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read answer of %s %s: %w", method, u.Path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var e ErrorResponse
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(data[:min(len(data), 4096)]))
		}
		return nil, &StatusError{StatusCode: resp.StatusCode, Message: e.Error}
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("the answer of %s %s is larger than %d bytes", method, u.Path, limit)
	}
	return data, nil
}
