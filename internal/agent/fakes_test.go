package agent

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/gorilla/websocket"

	"github.com/berth/berth/internal/agentproto"
	"github.com/berth/berth/internal/api/sigv4"
	"github.com/berth/berth/internal/credential"
)

const (
	testAKID   = "BKIATESTAAAAAAAAAAAA"
	testSecret = "testSecretKey/0123456789+abcdefghijklmnop"
	testRegion = "us-east-1"
)

var testCreds = aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}

type keyLookup map[string]string

func (l keyLookup) SecretKey(_ context.Context, id string) (string, error) {
	if s, ok := l[id]; ok {
		return s, nil
	}
	return "", fmt.Errorf("%w: %s", credential.ErrNotFound, id)
}

var testVerifier = &sigv4.Verifier{Lookup: keyLookup{testAKID: testSecret}, Region: testRegion}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// fastTiming shrinks every timer for tests.
func fastTiming() Timing {
	t := DefaultTiming()
	t.ACSBackoffMin, t.ACSBackoffMax = 5*time.Millisecond, 20*time.Millisecond
	t.TCSBackoffMin, t.TCSBackoffMax = 5*time.Millisecond, 20*time.Millisecond
	t.ReportBackoffMin, t.ReportBackoffMax = time.Millisecond, 5*time.Millisecond
	t.RegisterBackoffMin, t.RegisterBackoffMax = time.Millisecond, 5*time.Millisecond
	t.MetricsInterval = 50 * time.Millisecond
	t.IdleJitter, t.LifetimeJitter = 0, 0
	return t
}

// fakeEngine records what the ACS client asks of it.
type fakeEngine struct {
	mu       sync.Mutex
	applied  [][]agentproto.Task
	stopped  [][]string
	tasks    []taskState
	applyErr error
	changed  chan struct{}
}

func newFakeEngine(tasks ...taskState) *fakeEngine {
	return &fakeEngine{tasks: tasks, changed: make(chan struct{}, 100)}
}

func (e *fakeEngine) Apply(_ context.Context, tasks []agentproto.Task) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.applyErr != nil {
		return e.applyErr
	}
	e.applied = append(e.applied, tasks)
	e.changed <- struct{}{}
	return nil
}

func (e *fakeEngine) StopTasks(_ context.Context, arns []string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stopped = append(e.stopped, slices.Clone(arns))
	for i := range e.tasks {
		if slices.Contains(arns, e.tasks[i].ARN) {
			e.tasks[i].DesiredStopped = true
		}
	}
	e.changed <- struct{}{}
	return nil
}

func (e *fakeEngine) TaskStates() []taskState {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.tasks)
}

func (e *fakeEngine) stops() [][]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.stopped)
}

// staticEndpoints is a fixed endpointSource.
type staticEndpoints struct{ acs, tcs string }

func (s staticEndpoints) Endpoints(context.Context) (string, string, error) { return s.acs, s.tcs, nil }

// wsConn is one connection a wsServer accepted.
type wsConn struct {
	*websocket.Conn
	req     *http.Request
	authErr error
}

// read returns the next envelope from the agent (TCS header blocks are
// stripped), failing the test after a deadline.
func (c *wsConn) read(t testing.TB) agentproto.Envelope {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, frame, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read from agent: %v", err)
	}
	_, body := splitFrame(frame)
	env, err := agentproto.Decode(body)
	if err != nil {
		t.Fatalf("decode %q: %v", frame, err)
	}
	return env
}

func (c *wsConn) send(t testing.TB, typ string, msg any) {
	t.Helper()
	frame, err := agentproto.Encode(typ, msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMessage(websocket.TextMessage, frame); err != nil {
		t.Fatalf("send %s: %v", typ, err)
	}
}

// splitFrame splits a TCS frame into its header block and body; a frame
// without headers is all body.
func splitFrame(frame []byte) (http.Header, []byte) {
	head, body, ok := bytes.Cut(frame, []byte("\r\n\r\n"))
	if !ok || bytes.HasPrefix(bytes.TrimSpace(frame), []byte("{")) {
		return nil, frame
	}
	h := http.Header{}
	for _, line := range strings.Split(string(head), "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		}
	}
	return h, body
}

// wsServer is a fake control plane for the websockets on 127.0.0.1. Every
// upgrade's SigV4 signature is verified with Berth's own verifier.
type wsServer struct {
	*httptest.Server
	conns chan *wsConn
	// refuse, when it returns a status, refuses the upgrade with body.
	refuse func(r *http.Request) (int, string)

	mu       sync.Mutex
	upgrades []*http.Request
}

func newWSServer(t testing.TB, refuse func(*http.Request) (int, string)) *wsServer {
	s := &wsServer{conns: make(chan *wsConn, 16), refuse: refuse}
	up := websocket.Upgrader{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.upgrades = append(s.upgrades, r)
		s.mu.Unlock()
		_, authErr := testVerifier.Verify(r.Context(), r, nil)
		if s.refuse != nil {
			if status, body := s.refuse(r); status != 0 {
				w.WriteHeader(status)
				io.WriteString(w, body)
				return
			}
		}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		s.conns <- &wsConn{Conn: c, req: r, authErr: authErr}
	}))
	t.Cleanup(s.Close)
	return s
}

// accept waits for the agent's next connection.
func (s *wsServer) accept(t testing.TB) *wsConn {
	t.Helper()
	select {
	case c := <-s.conns:
		t.Cleanup(func() { c.Close() })
		if c.authErr != nil {
			t.Errorf("upgrade signature rejected by Berth's verifier: %v", c.authErr)
		}
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("agent did not connect")
		return nil
	}
}

func (s *wsServer) upgradeCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.upgrades)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
