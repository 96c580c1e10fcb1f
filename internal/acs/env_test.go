package acs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/gorilla/websocket"

	"github.com/berth/berth/internal/agentproto"
	"github.com/berth/berth/internal/api"
	"github.com/berth/berth/internal/api/sigv4"
	"github.com/berth/berth/internal/clusterview"
	"github.com/berth/berth/internal/credential"
	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/ecs/arn"
	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
	"github.com/berth/berth/internal/store/embedded"
)

// This file holds the harness of the integration tests: an embedded store
// in a temporary directory, the Handler behind an httptest server on
// 127.0.0.1 authenticating with the real SigV4 verifier, and a websocket
// client that signs its upgrade with aws-sdk-go-v2's signer, as the ECS
// agent does. Set BERTH_TEST_LOG=1 to see the Handler's logs.

const (
	testRegion  = "us-west-2"
	testAccount = "123456789012"
	testCluster = "demo"
	waitFor     = 10 * time.Second
)

var testNamer = arn.Namer{Region: testRegion, Account: testAccount}

// testCred is a Berth credential: access key, secret and name.
type testCred struct{ akid, secret, name string }

var (
	agent1 = testCred{"BKIAAGENTONE0000000A", "secret-one", "agent1"}
	agent2 = testCred{"BKIAAGENTTWO0000000B", "secret-two", "agent2"}
)

// secrets is a sigv4.SecretLookup over fixed credentials.
type secrets map[string]testCred

func (s secrets) SecretKey(_ context.Context, akid string) (string, error) {
	c, ok := s[akid]
	if !ok {
		return "", credential.ErrNotFound
	}
	return c.secret, nil
}

// testAuth is the server's authenticator in miniature: the real verifier,
// then the credential's name.
type testAuth struct {
	v    *sigv4.Verifier
	keys secrets
}

func (a testAuth) Authenticate(ctx context.Context, r *http.Request, body []byte) (api.Principal, error) {
	id, err := a.v.Verify(ctx, r, body)
	if err != nil {
		return api.Principal{}, err
	}
	return api.Principal{AccessKeyID: id.AccessKeyID, Name: a.keys[id.AccessKeyID].name}, nil
}

// testClock is a settable clock for the Handler's record times.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

type testEnv struct {
	t     *testing.T
	st    store.Store
	h     *Handler
	srv   *httptest.Server
	clock *testClock
	run   func() // starts Run (already started unless noRun)
}

type envOption func(*Config, *bool)

func withIntervals(hb, mf time.Duration) envOption {
	return func(c *Config, _ *bool) { c.HeartbeatInterval, c.ManifestInterval = hb, mf }
}

// withView gives the handler a running cluster view of the store.
func withView() envOption {
	return func(c *Config, _ *bool) { c.View = clusterview.New(c.Store, c.Logger) }
}

func withoutRun() envOption { return func(_ *Config, run *bool) { *run = false } }

func testLogger() *slog.Logger {
	if os.Getenv("BERTH_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newEnv starts a store holding cluster "demo" with instance "ci1" (owned
// by agent1, awsvpc subnet 10.213.128.0/17) and "ci2" (owned by agent2),
// and a Handler serving them.
func newEnv(t *testing.T, opts ...envOption) *testEnv {
	t.Helper()
	st, err := embedded.Open(filepath.Join(t.TempDir(), "state.db"), embedded.Options{Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &testEnv{t: t, st: st, clock: &testClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}}
	e.put(state.ClusterKey(testCluster), ecs.Cluster{Name: testCluster, ARN: testNamer.Cluster(testCluster), Status: ecs.ClusterActive})
	e.putInstance("ci1", agent1.name, ecs.InstanceActive)
	e.putInstance("ci2", agent2.name, ecs.InstanceActive)

	keys := secrets{agent1.akid: agent1, agent2.akid: agent2}
	cfg := Config{
		Store: st, Namer: testNamer, Logger: testLogger(), Now: e.clock.Now,
		Auth:              testAuth{v: &sigv4.Verifier{Lookup: keys, Region: testRegion, Service: "ecs"}, keys: keys},
		HeartbeatInterval: 50 * time.Millisecond, ManifestInterval: time.Hour,
	}
	run := true
	for _, o := range opts {
		o(&cfg, &run)
	}
	if cfg.View != nil {
		vctx, vcancel := context.WithCancel(context.Background())
		vdone := make(chan struct{})
		go func() { cfg.View.Run(vctx); close(vdone) }()
		t.Cleanup(func() { vcancel(); <-vdone })
	}
	e.h = New(cfg)
	e.srv = httptest.NewServer(e.h)
	t.Cleanup(e.srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var once sync.Once
	started := false
	e.run = func() { once.Do(func() { started = true; go func() { done <- e.h.Run(ctx) }() }) }
	t.Cleanup(func() {
		cancel()
		if !started {
			return
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(waitFor):
			t.Error("Run did not return")
		}
	})
	t.Cleanup(e.h.Close)
	if run {
		e.run()
	}
	return e
}

func (e *testEnv) put(key string, v any) {
	e.t.Helper()
	op, err := state.PutOp(key, v, store.ExpectAny)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.st.Txn(context.Background(), op); err != nil {
		e.t.Fatal(err)
	}
}

func (e *testEnv) putInstance(id, owner string, status ecs.ContainerInstanceStatus) {
	e.put(state.InstanceKey(testCluster, id), ecs.ContainerInstance{
		ID: id, ARN: testNamer.ContainerInstance(testCluster, id), Cluster: testCluster, Status: status, Owner: owner,
		Attributes: []ecs.Attribute{{Name: ecs.AttributeAwsvpcCIDR, Value: "10.213.128.0/17"}},
	})
}

func (e *testEnv) instance(id string) ecs.ContainerInstance {
	e.t.Helper()
	inst, _, err := state.Get[ecs.ContainerInstance](context.Background(), e.st, state.InstanceKey(testCluster, id))
	if err != nil {
		e.t.Fatal(err)
	}
	return inst
}

func (e *testEnv) updateInstance(id string, fn func(*ecs.ContainerInstance)) {
	e.t.Helper()
	_, err := state.Update(context.Background(), e.st, state.InstanceKey(testCluster, id), func(in *ecs.ContainerInstance, _ bool) ([]store.Op, error) {
		fn(in)
		return nil, nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// newTask is a task of one container ("app") placed on instance.
func newTask(id, instance string) ecs.Task {
	return ecs.Task{
		ID: id, ARN: testNamer.Task(testCluster, id), Cluster: testCluster, ContainerInstanceID: instance,
		ContainerInstanceARN: testNamer.ContainerInstance(testCluster, instance),
		Definition: ecs.TaskDefinition{Family: "web", Revision: 1, ContainerDefinitions: []ecs.ContainerDefinition{
			{Name: "app", Image: "busybox", Memory: new(64), HealthCheck: &ecs.HealthCheck{Command: []string{"CMD", "true"}}}}},
		LaunchType: "EXTERNAL",
		Containers: []ecs.TaskContainer{{Name: "app", ARN: testNamer.Container(testCluster, id, "c-"+id), LastStatus: ecs.ContainerPending}},
		LastStatus: ecs.TaskPending, DesiredStatus: ecs.TaskRunning, Version: 1, Seq: 1,
	}
}

func (e *testEnv) putTask(t ecs.Task) { e.t.Helper(); e.put(state.TaskKey(testCluster, t.ID), t) }

func (e *testEnv) task(id string) ecs.Task {
	e.t.Helper()
	t, _, err := state.Get[ecs.Task](context.Background(), e.st, state.TaskKey(testCluster, id))
	if err != nil {
		e.t.Fatal(err)
	}
	return t
}

func (e *testEnv) updateTask(id string, fn func(*ecs.Task)) {
	e.t.Helper()
	_, err := state.Update(context.Background(), e.st, state.TaskKey(testCluster, id), func(t *ecs.Task, _ bool) ([]store.Op, error) {
		fn(t)
		return nil, nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// eventually polls cond until it holds or waitFor passes.
func (e *testEnv) eventually(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// signHeaders signs a request as the ECS agent does (aws-sdk-go-v2's v4
// signer, service "ecs"); the result carries Authorization and X-Amz-Date.
func signHeaders(t *testing.T, c testCred, method, rawURL string, body []byte) http.Header {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: c.akid, SecretAccessKey: c.secret},
		req, hex.EncodeToString(sum[:]), "ecs", testRegion, time.Now()); err != nil {
		t.Fatal(err)
	}
	if sh := req.Header.Get("Authorization"); !strings.Contains(sh, "SignedHeaders=host;x-amz-date,") {
		t.Fatalf("signer signed other headers: %s", sh)
	}
	return http.Header{"Authorization": req.Header.Values("Authorization"), "X-Amz-Date": req.Header.Values("X-Amz-Date")}
}

// acsQuery is the ECS agent's ACS query for an instance of "demo".
func acsQuery(instance string) url.Values {
	return url.Values{
		"agentHash": {"a8b3e7d3"}, "agentVersion": {"1.105.1"}, "clusterArn": {testCluster},
		"containerInstanceArn": {testNamer.ContainerInstance(testCluster, instance)},
		"dockerVersion":        {"DockerVersion: 20.10.24+dfsg1"}, "protocolVersion": {"2"}, "sendCredentials": {"true"}, "seqNum": {"1"},
	}
}

// tcsQuery is the ECS agent's TCS query.
func tcsQuery(instance string) url.Values {
	return url.Values{
		"agentHash": {"a8b3e7d3"}, "agentVersion": {"1.105.1"}, "cluster": {testCluster},
		"containerInstance": {testNamer.ContainerInstance(testCluster, instance)}, "dockerVersion": {"20.10.24"},
	}
}

// dial opens path?q signed with c (unsigned when c is zero).
func (e *testEnv) dial(c testCred, path string, q url.Values) (*agentClient, *http.Response, error) {
	host := strings.TrimPrefix(e.srv.URL, "http://")
	raw := "http://" + host + path + "?" + q.Encode()
	var hdr http.Header
	if c.akid != "" {
		hdr = signHeaders(e.t, c, http.MethodGet, raw, nil)
	}
	ws, resp, err := websocket.DefaultDialer.Dial("ws://"+host+path+"?"+q.Encode(), hdr)
	if err != nil {
		return nil, resp, err
	}
	a := &agentClient{t: e.t, ws: ws, url: raw, frames: make(chan agentproto.Envelope, 256), closed: make(chan struct{}), cred: c}
	go a.read()
	e.t.Cleanup(func() { ws.Close() })
	return a, resp, nil
}

func (e *testEnv) dialACS(c testCred, instance string) *agentClient {
	e.t.Helper()
	a, resp, err := e.dial(c, PathACS, acsQuery(instance))
	if err != nil {
		e.t.Fatalf("dial ACS: %v (%s)", err, refusalText(resp))
	}
	return a
}

func (e *testEnv) dialTCS(c testCred, instance string) *agentClient {
	e.t.Helper()
	a, resp, err := e.dial(c, PathTCS, tcsQuery(instance))
	if err != nil {
		e.t.Fatalf("dial TCS: %v (%s)", err, refusalText(resp))
	}
	return a
}

func refusalText(resp *http.Response) string {
	if resp == nil {
		return "no response"
	}
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, b)
}

// agentClient is a test agent: it answers heartbeats (as the ECS agent
// does) and queues every other frame.
type agentClient struct {
	t      *testing.T
	ws     *websocket.Conn
	url    string
	cred   testCred
	wmu    sync.Mutex
	frames chan agentproto.Envelope
	closed chan struct{}
	err    error // why reading stopped, set before closed closes
}

func (a *agentClient) read() {
	defer close(a.closed)
	for {
		_, data, err := a.ws.ReadMessage()
		if err != nil {
			a.err = err
			return
		}
		env, err := agentproto.Decode(data)
		if err != nil {
			a.err = fmt.Errorf("server sent an undecodable frame %q: %w", data, err)
			return
		}
		if env.Type == agentproto.TypeHeartbeat {
			var hb agentproto.HeartbeatMessage
			json.Unmarshal(env.Message, &hb)
			a.write(agentproto.TypeHeartbeatAck, agentproto.HeartbeatAckRequest{MessageID: hb.MessageID})
		}
		select {
		case a.frames <- env:
		default: // a test not reading heartbeats does not block the reader
		}
	}
}

func (a *agentClient) write(typ string, msg any) error {
	b, err := agentproto.Encode(typ, msg)
	if err != nil {
		return err
	}
	return a.writeRaw(b)
}

func (a *agentClient) writeRaw(b []byte) error {
	a.wmu.Lock()
	defer a.wmu.Unlock()
	return a.ws.WriteMessage(websocket.TextMessage, b)
}

func (a *agentClient) send(typ string, msg any) {
	a.t.Helper()
	if err := a.write(typ, msg); err != nil {
		a.t.Fatalf("send %s: %v", typ, err)
	}
}

// sendSigned sends a TCS frame as the ECS agent does: its signing headers
// (a GET of the TCS URL with the JSON as body), a blank line, the JSON.
func (a *agentClient) sendSigned(typ string, msg any) {
	a.t.Helper()
	body, err := agentproto.Encode(typ, msg)
	if err != nil {
		a.t.Fatal(err)
	}
	hdr := signHeaders(a.t, a.cred, http.MethodGet, a.url, body)
	u, _ := url.Parse(a.url)
	frame := "Authorization: " + hdr.Get("Authorization") + "\r\nHost: " + u.Host + "\r\nX-Amz-Date: " + hdr.Get("X-Amz-Date") + "\r\n\r\n" + string(body)
	if err := a.writeRaw([]byte(frame)); err != nil {
		a.t.Fatalf("send %s: %v", typ, err)
	}
}

// expect returns the next frame of type typ, skipping heartbeats and
// manifests unless one of those is asked for; any other frame fails.
func (a *agentClient) expect(typ string) agentproto.Envelope {
	a.t.Helper()
	timeout := time.After(waitFor)
	for {
		var env agentproto.Envelope
		select {
		case env = <-a.frames:
		case <-a.closed:
			// Frames read before the close come first.
			select {
			case env = <-a.frames:
			default:
				a.t.Fatalf("expected %s, connection closed: %v", typ, a.err)
			}
		case <-timeout:
			a.t.Fatalf("timed out waiting for %s", typ)
		}
		if env.Type == typ {
			return env
		}
		if env.Type != agentproto.TypeHeartbeat && env.Type != agentproto.TypeTaskManifest {
			a.t.Fatalf("expected %s, got %s: %s", typ, env.Type, env.Message)
		}
	}
}

// expectPayload returns the next PayloadMessage.
func (a *agentClient) expectPayload() agentproto.PayloadMessage {
	a.t.Helper()
	var m agentproto.PayloadMessage
	decodeInto(a.t, a.expect(agentproto.TypePayload), &m)
	return m
}

// ack acknowledges a payload or manifest as the ECS agent does.
func (a *agentClient) ack(messageID, clusterARN, instanceARN string) {
	a.t.Helper()
	a.send(agentproto.TypeAck, agentproto.AckRequest{Cluster: clusterARN, ContainerInstance: instanceARN, MessageID: messageID})
}

// expectClose waits for the server to close the connection and returns
// its close code (-1 when it closed without a close frame).
func (a *agentClient) expectClose() int {
	a.t.Helper()
	select {
	case <-a.closed:
	case <-time.After(waitFor):
		a.t.Fatal("timed out waiting for the server to close")
	}
	var ce *websocket.CloseError
	if errors.As(a.err, &ce) {
		return ce.Code
	}
	return -1
}

func decodeInto(t *testing.T, env agentproto.Envelope, v any) {
	t.Helper()
	if err := json.Unmarshal(env.Message, v); err != nil {
		t.Fatalf("decode %s: %v", env.Type, err)
	}
}

func taskARNs(m agentproto.PayloadMessage) []string {
	var out []string
	for _, t := range m.Tasks {
		out = append(out, t.ARN)
	}
	return out
}
