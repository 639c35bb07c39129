package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// connections is how many keep-alive connections a sender keeps open: far more than
// the requests in flight at any rate the webhook sustains, so a request waits for a
// connection only when the webhook stalls, and then the wait counts in its latency.
const connections = 64

// sender posts AdmissionReviews over keep-alive HTTPS connections, writing each request
// as prepared bytes and reading the response with net/http's parser. It costs a
// fraction of an http.Client per request (no per-request goroutines, transport
// bookkeeping or header maps on the way out), so on a shared machine the load generator
// takes as little CPU from the webhook it measures as it can.
type sender struct {
	addr      string
	tlsConfig *tls.Config
	requests  [][]byte // one prepared HTTP/1.1 request per review
	conns     []*conn  // kept open from one drive to the next

}

// newSender prepares a POST to endpoint for each review.
func newSender(endpoint string, tlsConfig *tls.Config, reviews [][]byte) (*sender, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("endpoint %q: %w", endpoint, err)
	}
	if u.Scheme != "https" {
		return nil, fmt.Errorf("endpoint %q: only https is supported", endpoint)
	}
	s := &sender{addr: u.Host, tlsConfig: tlsConfig.Clone(), requests: make([][]byte, len(reviews)), conns: make([]*conn, connections)}
	for i := range s.conns {
		s.conns[i] = &conn{s: s}
	}
	if s.tlsConfig.ServerName == "" {
		s.tlsConfig.ServerName = u.Hostname()
	}
	s.tlsConfig.NextProtos = []string{"http/1.1"}
	for i, body := range reviews {
		head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
			u.RequestURI(), u.Host, len(body))
		s.requests[i] = append([]byte(head), body...)
	}
	return s, nil
}

// close closes the sender's connections.
func (s *sender) close() {
	for _, c := range s.conns {
		if c.tls != nil {
			c.tls.Close()
			c.tls = nil
		}
	}
}

// conn is one keep-alive connection, dialled on first use and again after an error.
type conn struct {
	s    *sender
	tls  *tls.Conn
	read *bufio.Reader
}

// roundTrip sends one prepared request and reads its response to the end.
func (c *conn) roundTrip(req []byte) error {
	if c.tls == nil {
		raw, err := net.DialTimeout("tcp", c.s.addr, 5*time.Second)
		if err != nil {
			return err
		}
		c.tls = tls.Client(raw, c.s.tlsConfig)
		c.read = bufio.NewReaderSize(c.tls, 16<<10)
	}
	_ = c.tls.SetDeadline(time.Now().Add(10 * time.Second))
	err := c.exchange(req)
	if err != nil {
		c.tls.Close()
		c.tls = nil
	}
	return err
}

func (c *conn) exchange(req []byte) error {
	if _, err := c.tls.Write(req); err != nil {
		return err
	}
	resp, err := http.ReadResponse(c.read, nil)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	if resp.Close {
		return fmt.Errorf("the webhook closed the connection")
	}
	return nil
}

// drive sends requests at rate for duration, open loop, and measures each from its
// scheduled start, so a stalled server shows in the latencies instead of slowing the
// sender (no coordinated omission): requests are released on schedule into a queue the
// connections drain, and time spent queued counts.
func drive(s *sender, rate int, duration time.Duration) result {
	total := int(float64(rate) * duration.Seconds())
	latencies := make([]time.Duration, total)
	ok := make([]bool, total)
	var errors atomic.Int64
	var firstError atomic.Value
	interval := time.Second / time.Duration(rate)
	queue := make(chan int, total)
	start := time.Now()
	var wg sync.WaitGroup
	for worker := range s.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range queue {
				scheduled := start.Add(time.Duration(i) * interval)
				if err := s.conns[worker].roundTrip(s.requests[i%len(s.requests)]); err != nil {
					errors.Add(1)
					firstError.CompareAndSwap(nil, err.Error())
					continue
				}
				latencies[i] = time.Since(scheduled)
				ok[i] = true
			}
		}()
	}
	for i := 0; i < total; {
		// Release every request whose time has come, then sleep until the next one.
		due := int(time.Since(start)/interval) + 1
		for ; i < total && i < due; i++ {
			queue <- i
		}
		if i < total {
			time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		}
	}
	close(queue)
	wg.Wait()
	r := result{sent: int64(total), errors: errors.Load(), elapsed: time.Since(start)}
	if e, _ := firstError.Load().(string); e != "" {
		r.firstError = e
	}
	for i, l := range latencies {
		if ok[i] {
			r.latencies = append(r.latencies, l)
		}
	}
	return r
}
