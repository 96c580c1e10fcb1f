package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/berth/berth/internal/agentproto"
)

type fakeStats struct {
	mu      sync.Mutex
	samples []containerSample
}

func (f *fakeStats) ContainerSamples(context.Context) ([]containerSample, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]containerSample(nil), f.samples...), nil
}

func startTCS(t *testing.T, srv *wsServer, stats statsSource, health *healthBook) {
	t.Helper()
	c := &tcsClient{
		dialer: newWSDialer(testCreds, testRegion, nil), endpoints: staticEndpoints{acs: srv.URL + "/", tcs: srv.URL + "/tcs/"},
		stats: stats, health: health, cluster: "c1", instanceARN: testInstance,
		version: "1.2.3", hash: "abc", runtime: "containerd 2.1.4", timing: fastTiming(), log: testLogger(t),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// readSigned reads the agent's next TCS frame, checks its signature with
// Berth's verifier (a GET of the socket URL with the JSON as body), and
// decodes it.
func readSigned(t *testing.T, c *wsConn) agentproto.Envelope {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, frame, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	h, body := splitFrame(frame)
	if h == nil {
		t.Fatalf("frame has no header block: %q", frame)
	}
	req, _ := http.NewRequest(http.MethodGet, c.req.URL.String(), nil)
	req.Host = h.Get("Host")
	req.Header.Set("Authorization", h.Get("Authorization"))
	req.Header.Set("X-Amz-Date", h.Get("X-Amz-Date"))
	if _, err := testVerifier.Verify(context.Background(), req, body); err != nil {
		t.Errorf("frame signature rejected: %v", err)
	}
	env, err := agentproto.Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestTCSPublishesSignedMetrics(t *testing.T) {
	srv := newWSServer(t, nil)
	stats := &fakeStats{}
	startTCS(t, srv, stats, newHealthBook())
	c := srv.accept(t)
	if c.req.URL.Path != "/tcs/ws" {
		t.Errorf("path = %s", c.req.URL.Path)
	}
	q := c.req.URL.Query()
	if q.Get("cluster") != "c1" || q.Get("containerInstance") != testInstance || q.Get("dockerVersion") != "containerd 2.1.4" || q.Get("agentVersion") != "1.2.3" {
		t.Errorf("query = %v", q)
	}
	// The first publication goes out at once: idle, no tasks.
	env := readSigned(t, c)
	var m agentproto.PublishMetricsRequest
	json.Unmarshal(env.Message, &m)
	if env.Type != agentproto.TypePublishMetrics || !m.Metadata.Idle || !m.Metadata.Fin || len(m.TaskMetrics) != 0 || m.Metadata.ContainerInstance != testInstance {
		t.Fatalf("first message %s %s, want an idle PublishMetricsRequest", env.Type, env.Message)
	}
	stats.mu.Lock()
	stats.samples = []containerSample{{TaskARN: "t1", Family: "web", Version: "3", Container: "app", MemoryBytes: 64 << 20}}
	stats.mu.Unlock()
	waitFor(t, "task metrics", func() bool {
		env := readSigned(t, c)
		json.Unmarshal(env.Message, &m)
		return len(m.TaskMetrics) == 1
	})
	tm := m.TaskMetrics[0]
	if tm.TaskARN != "t1" || tm.TaskDefinitionFamily != "web" || tm.TaskDefinitionVersion != "3" || m.Metadata.Idle ||
		len(tm.ContainerMetrics) != 1 || tm.ContainerMetrics[0].MemoryStatsSet == nil || tm.ContainerMetrics[0].MemoryStatsSet.Max != 64 {
		t.Errorf("metrics = %+v", m)
	}
}

func TestTCSPublishesHealthChanges(t *testing.T) {
	srv := newWSServer(t, nil)
	health := newHealthBook()
	startTCS(t, srv, nil, health)
	c := srv.accept(t)
	readSigned(t, c) // idle metrics
	since := time.Unix(1700000000, 0)
	health.set("t1", testCluster, "web", "3", []containerHealth{{Container: "app", Status: "HEALTHY", Since: since}})
	var h agentproto.PublishHealthRequest
	waitFor(t, "health report", func() bool {
		env := readSigned(t, c)
		if env.Type != agentproto.TypePublishHealth {
			return false
		}
		json.Unmarshal(env.Message, &h)
		return true
	})
	if len(h.Tasks) != 1 || h.Tasks[0].TaskARN != "t1" || h.Tasks[0].Containers[0].HealthStatus != "HEALTHY" ||
		h.Tasks[0].Containers[0].StatusSince != 1700000000 || h.Metadata.Cluster != "c1" {
		t.Errorf("health = %+v", h)
	}
	// The same status again is not a change; after a reconnect it is resent.
	health.set("t1", testCluster, "web", "3", []containerHealth{{Container: "app", Status: "HEALTHY", Since: since}})
	c.Close()
	c2 := srv.accept(t)
	readSigned(t, c2) // metrics
	env := readSigned(t, c2)
	if env.Type != agentproto.TypePublishHealth {
		t.Fatalf("after reconnect got %s, want PublishHealthRequest", env.Type)
	}
}

func TestMetricsWindow(t *testing.T) {
	w := newMetricsWindow()
	t0 := time.Unix(1000, 0)
	w.add([]containerSample{{TaskARN: "t", Container: "a", CPUUsage: 0, MemoryBytes: 10 << 20}}, t0)
	w.add([]containerSample{{TaskARN: "t", Container: "a", CPUUsage: 500 * time.Millisecond, MemoryBytes: 30 << 20}}, t0.Add(time.Second))
	w.add([]containerSample{{TaskARN: "t", Container: "a", CPUUsage: 2500 * time.Millisecond, MemoryBytes: 20 << 20}}, t0.Add(2*time.Second))
	got := w.flush()
	if len(got) != 1 || len(got[0].ContainerMetrics) != 1 {
		t.Fatalf("flush = %+v", got)
	}
	cm := got[0].ContainerMetrics[0]
	wantCPU := agentproto.CWStatsSet{Min: 50, Max: 200, Sum: 250, SampleCount: 2}
	wantMem := agentproto.CWStatsSet{Min: 10, Max: 30, Sum: 60, SampleCount: 3}
	if *cm.CPUStatsSet != wantCPU || *cm.MemoryStatsSet != wantMem {
		t.Errorf("cpu %+v mem %+v, want %+v %+v", *cm.CPUStatsSet, *cm.MemoryStatsSet, wantCPU, wantMem)
	}
	if again := w.flush(); len(again) != 0 {
		t.Errorf("second flush = %+v, want empty", again)
	}
}

func TestMetricsMessagesSplit(t *testing.T) {
	var tasks []agentproto.TaskMetric
	for i := range 23 {
		tasks = append(tasks, agentproto.TaskMetric{TaskARN: fmt.Sprint(i)})
	}
	msgs := metricsMessages("c", "i", tasks, time.Unix(5, 0))
	if len(msgs) != 3 || len(msgs[0].TaskMetrics) != 10 || len(msgs[2].TaskMetrics) != 3 {
		t.Fatalf("split into %d messages", len(msgs))
	}
	for i, m := range msgs {
		if m.Metadata.Fin != (i == 2) || m.Metadata.Idle || m.Timestamp != 5 {
			t.Errorf("message %d metadata %+v", i, m.Metadata)
		}
	}
	idle := metricsMessages("c", "i", nil, time.Unix(5, 0))
	if len(idle) != 1 || !idle[0].Metadata.Idle || !idle[0].Metadata.Fin || idle[0].TaskMetrics == nil {
		t.Errorf("idle = %+v", idle)
	}
}

func TestTCSStopsWhenInstanceInactive(t *testing.T) {
	srv := newWSServer(t, nil)
	c := &tcsClient{
		dialer: newWSDialer(testCreds, testRegion, nil), endpoints: staticEndpoints{acs: srv.URL + "/", tcs: srv.URL + "/tcs/"},
		health: newHealthBook(), cluster: "c1", instanceARN: testInstance, timing: fastTiming(), log: testLogger(t),
	}
	done := make(chan struct{})
	go func() { defer close(done); c.run(context.Background()) }()
	conn := srv.accept(t)
	readSigned(t, conn)
	conn.send(t, agentproto.TypeInactiveInstanceException, agentproto.ErrorBody{Message: "deregistered"})
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("TCS kept running after InactiveInstanceException")
	}
	if n := srv.upgradeCount(); n != 1 {
		t.Errorf("upgrades = %d, want 1 (no reconnect)", n)
	}
}
