package agent

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/berth/berth/internal/agentproto"
)

const (
	testCluster  = "arn:aws:ecs:us-east-1:000000000000:cluster/c1"
	testInstance = "arn:aws:ecs:us-east-1:000000000000:container-instance/c1/0123456789abcdef"
)

// startACS runs an ACS client against srv until the test ends; the
// returned channel yields run's result.
func startACS(t *testing.T, srv *wsServer, eng *fakeEngine, timing Timing) (*acsClient, <-chan error, context.CancelFunc) {
	t.Helper()
	c := &acsClient{
		dialer:      newWSDialer(testCreds, testRegion, nil),
		endpoints:   staticEndpoints{acs: srv.URL + "/", tcs: srv.URL + "/tcs/"},
		engine:      eng,
		cluster:     "c1",
		instanceARN: testInstance,
		version:     "1.2.3",
		hash:        "abc1234",
		runtime:     "containerd 2.1.4",
		timing:      timing,
		log:         testLogger(t),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		done <- c.run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-stopped:
		case <-time.After(5 * time.Second):
			t.Error("ACS client did not stop")
		}
	})
	return c, done, cancel
}

func TestACSUpgradeQuery(t *testing.T) {
	srv := newWSServer(t, nil)
	startACS(t, srv, newFakeEngine(), fastTiming())
	c := srv.accept(t)
	if c.req.URL.Path != "/ws" {
		t.Errorf("path = %q, want /ws", c.req.URL.Path)
	}
	q := c.req.URL.Query()
	want := map[string]string{
		"agentHash": "abc1234", "agentVersion": "1.2.3", "clusterArn": "c1",
		"containerInstanceArn": testInstance, "dockerVersion": "DockerVersion: containerd 2.1.4",
		"protocolVersion": "2", "sendCredentials": "true", "seqNum": "1",
	}
	for k, v := range want {
		if got := q.Get(k); got != v {
			t.Errorf("query %s = %q, want %q", k, got, v)
		}
	}
	if len(q) != len(want) {
		t.Errorf("query has %d keys, want %d: %v", len(q), len(want), q)
	}
	var keys []string
	for _, kv := range strings.Split(c.req.URL.RawQuery, "&") {
		k, _, _ := strings.Cut(kv, "=")
		keys = append(keys, k)
	}
	if !slices.IsSorted(keys) {
		t.Errorf("query keys not sorted: %v", keys)
	}
	auth := c.req.Header.Get("Authorization")
	if !strings.Contains(auth, "/us-east-1/ecs/aws4_request") || !strings.Contains(auth, "SignedHeaders=host;x-amz-date,") {
		t.Errorf("Authorization = %q, want scope us-east-1/ecs and SignedHeaders=host;x-amz-date", auth)
	}
}

func TestACSHeartbeatAck(t *testing.T) {
	srv := newWSServer(t, nil)
	startACS(t, srv, newFakeEngine(), fastTiming())
	c := srv.accept(t)
	c.send(t, agentproto.TypeHeartbeat, agentproto.HeartbeatMessage{MessageID: "hb-1", Healthy: true})
	env := c.read(t)
	var ack agentproto.HeartbeatAckRequest
	json.Unmarshal(env.Message, &ack)
	if env.Type != agentproto.TypeHeartbeatAck || ack.MessageID != "hb-1" {
		t.Fatalf("got %s %s, want HeartbeatAckRequest hb-1", env.Type, env.Message)
	}
}

func TestACSPayload(t *testing.T) {
	task := agentproto.Task{ARN: "arn:aws:ecs:us-east-1:000000000000:task/c1/t1", DesiredStatus: "RUNNING",
		Containers: []agentproto.Container{{Name: "web", Image: "busybox"}}}
	tests := []struct {
		name    string
		payload agentproto.PayloadMessage
		applyOK bool
		wantAck bool
	}{
		{"accepted", agentproto.PayloadMessage{MessageID: "p1", ClusterARN: testCluster, ContainerInstanceARN: testInstance, SeqNum: 1, Tasks: []agentproto.Task{task}}, true, true},
		{"no cluster: dropped", agentproto.PayloadMessage{MessageID: "p1", ContainerInstanceARN: testInstance, SeqNum: 1, Tasks: []agentproto.Task{task}}, true, false},
		{"no instance: dropped", agentproto.PayloadMessage{MessageID: "p1", ClusterARN: testCluster, SeqNum: 1, Tasks: []agentproto.Task{task}}, true, false},
		{"task without arn: dropped", agentproto.PayloadMessage{MessageID: "p1", ClusterARN: testCluster, ContainerInstanceARN: testInstance, SeqNum: 1, Tasks: []agentproto.Task{{DesiredStatus: "RUNNING"}}}, true, false},
		{"engine refuses: no ack", agentproto.PayloadMessage{MessageID: "p1", ClusterARN: testCluster, ContainerInstanceARN: testInstance, SeqNum: 1, Tasks: []agentproto.Task{task}}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newWSServer(t, nil)
			eng := newFakeEngine()
			if !tt.applyOK {
				eng.applyErr = errors.New("boom")
			}
			startACS(t, srv, eng, fastTiming())
			c := srv.accept(t)
			c.send(t, agentproto.TypePayload, tt.payload)
			// A heartbeat after the payload: its ack comes first when the
			// payload was not acknowledged (messages are handled in order).
			c.send(t, agentproto.TypeHeartbeat, agentproto.HeartbeatMessage{MessageID: "hb"})
			env := c.read(t)
			if !tt.wantAck {
				if env.Type != agentproto.TypeHeartbeatAck {
					t.Fatalf("got %s %s, want no ack before the heartbeat ack", env.Type, env.Message)
				}
				if len(eng.applied) != 0 && tt.applyOK {
					t.Errorf("engine got tasks of a dropped payload: %v", eng.applied)
				}
				return
			}
			var ack agentproto.AckRequest
			json.Unmarshal(env.Message, &ack)
			want := agentproto.AckRequest{Cluster: testCluster, ContainerInstance: testInstance, MessageID: "p1"}
			if env.Type != agentproto.TypeAck || ack != want {
				t.Fatalf("got %s %+v, want AckRequest %+v", env.Type, ack, want)
			}
			eng.mu.Lock()
			defer eng.mu.Unlock()
			if len(eng.applied) != 1 || !reflect.DeepEqual(eng.applied[0][0].ARN, task.ARN) {
				t.Errorf("engine applied %+v, want the payload's task", eng.applied)
			}
		})
	}
}

func TestACSManifestAndStopVerification(t *testing.T) {
	const (
		t1 = "arn:aws:ecs:us-east-1:000000000000:task/c1/t1" // in manifest RUNNING: keep
		t2 = "arn:aws:ecs:us-east-1:000000000000:task/c1/t2" // missing: candidate
		t3 = "arn:aws:ecs:us-east-1:000000000000:task/c1/t3" // listed STOPPED: candidate
		t4 = "arn:aws:ecs:us-east-1:000000000000:task/c1/t4" // missing but already stopping: not a candidate
	)
	eng := newFakeEngine(
		taskState{ARN: t1, ClusterARN: testCluster}, taskState{ARN: t2, ClusterARN: testCluster},
		taskState{ARN: t3, ClusterARN: testCluster}, taskState{ARN: t4, ClusterARN: testCluster, DesiredStopped: true})
	srv := newWSServer(t, nil)
	startACS(t, srv, eng, fastTiming())
	c := srv.accept(t)

	// A payload with seqNum 5 makes manifests with timeline <= 5 stale.
	c.send(t, agentproto.TypePayload, agentproto.PayloadMessage{MessageID: "p", ClusterARN: testCluster, ContainerInstanceARN: testInstance, SeqNum: 5})
	if env := c.read(t); env.Type != agentproto.TypeAck {
		t.Fatalf("got %s, want AckRequest", env.Type)
	}
	manifest := agentproto.TaskManifestMessage{MessageID: "m-old", ClusterARN: testCluster, ContainerInstanceARN: testInstance, Timeline: 5,
		Tasks: []agentproto.TaskIdentifier{{TaskARN: t1, DesiredStatus: "RUNNING"}, {TaskARN: t3, DesiredStatus: "STOPPED"}}}
	c.send(t, agentproto.TypeTaskManifest, manifest)
	c.send(t, agentproto.TypeHeartbeat, agentproto.HeartbeatMessage{MessageID: "hb"})
	if env := c.read(t); env.Type != agentproto.TypeHeartbeatAck {
		t.Fatalf("stale manifest answered with %s %s", env.Type, env.Message)
	}

	manifest.MessageID, manifest.Timeline = "m1", 6
	c.send(t, agentproto.TypeTaskManifest, manifest)
	env := c.read(t)
	var ack agentproto.AckRequest
	json.Unmarshal(env.Message, &ack)
	if env.Type != agentproto.TypeAck || ack.MessageID != "m1" || ack.Cluster != testCluster || ack.ContainerInstance != testInstance {
		t.Fatalf("got %s %s, want AckRequest m1", env.Type, env.Message)
	}
	env = c.read(t)
	var ver agentproto.TaskStopVerificationMessage
	json.Unmarshal(env.Message, &ver)
	want := []agentproto.TaskIdentifier{
		{TaskARN: t2, TaskClusterARN: testCluster, DesiredStatus: "STOPPED"},
		{TaskARN: t3, TaskClusterARN: testCluster, DesiredStatus: "STOPPED"},
	}
	if env.Type != agentproto.TypeTaskStopVerification || ver.MessageID != "m1" || !reflect.DeepEqual(ver.StopCandidates, want) {
		t.Fatalf("got %s %+v, want TaskStopVerificationMessage m1 %+v", env.Type, ver, want)
	}

	// An ack for another manifest is ignored; the right one stops tasks.
	c.send(t, agentproto.TypeTaskStopVerificationAck, agentproto.TaskStopVerificationAck{MessageID: "m-old", StopTasks: []agentproto.TaskIdentifier{{TaskARN: t1}}})
	c.send(t, agentproto.TypeTaskStopVerificationAck, agentproto.TaskStopVerificationAck{MessageID: "m1", StopTasks: []agentproto.TaskIdentifier{{TaskARN: t2}}})
	waitFor(t, "StopTasks", func() bool { return len(eng.stops()) > 0 })
	if got := eng.stops(); !reflect.DeepEqual(got, [][]string{{t2}}) {
		t.Fatalf("StopTasks calls = %v, want [[%s]]", got, t2)
	}
}

func TestStopCandidates(t *testing.T) {
	running := []taskState{{ARN: "a"}, {ARN: "b"}, {ARN: "c", Stopped: true}, {ARN: "d", DesiredStopped: true}}
	tests := []struct {
		name     string
		manifest []agentproto.TaskIdentifier
		want     []string
	}{
		{"empty manifest", nil, []string{"a", "b"}},
		{"all listed", []agentproto.TaskIdentifier{{TaskARN: "a", DesiredStatus: "RUNNING"}, {TaskARN: "b", DesiredStatus: "RUNNING"}}, nil},
		{"one stopped", []agentproto.TaskIdentifier{{TaskARN: "a", DesiredStatus: "STOPPED"}, {TaskARN: "b", DesiredStatus: "RUNNING"}}, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, c := range stopCandidates(tt.manifest, running) {
				got = append(got, c.TaskARN)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("candidates = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestACSReconnectsOnCloseWithoutCredentials(t *testing.T) {
	srv := newWSServer(t, nil)
	startACS(t, srv, newFakeEngine(), fastTiming())
	c := srv.accept(t)
	if got := c.req.URL.Query().Get("sendCredentials"); got != "true" {
		t.Errorf("first connection sendCredentials = %q, want true", got)
	}
	c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(time.Second))
	// The agent echoes the close frame.
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := c.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Errorf("after close: %v, want the agent's close frame 1000", err)
	}
	c2 := srv.accept(t)
	if got := c2.req.URL.Query().Get("sendCredentials"); got != "false" {
		t.Errorf("reconnection sendCredentials = %q, want false", got)
	}
	// The new connection works.
	c2.send(t, agentproto.TypeHeartbeat, agentproto.HeartbeatMessage{MessageID: "hb2"})
	if env := c2.read(t); env.Type != agentproto.TypeHeartbeatAck {
		t.Fatalf("got %s, want HeartbeatAckRequest", env.Type)
	}
}

func TestACSBackoffOnRefusal(t *testing.T) {
	var refusals atomic.Int32
	srv := newWSServer(t, func(*http.Request) (int, string) {
		if refusals.Add(1) <= 3 {
			return http.StatusInternalServerError, `{"type":"ServerException","message":{"message":"try later"}}`
		}
		return 0, ""
	})
	timing := fastTiming()
	startACS(t, srv, newFakeEngine(), timing)
	c := srv.accept(t)
	if n := srv.upgradeCount(); n != 4 {
		t.Errorf("upgrades = %d, want 3 refused + 1", n)
	}
	// Refused attempts never connected: the first success still asks for credentials.
	if got := c.req.URL.Query().Get("sendCredentials"); got != "true" {
		t.Errorf("sendCredentials = %q, want true", got)
	}
}

func TestACSIdleTimeoutReconnects(t *testing.T) {
	srv := newWSServer(t, nil)
	timing := fastTiming()
	timing.IdleTimeout = 50 * time.Millisecond
	startACS(t, srv, newFakeEngine(), timing)
	c := srv.accept(t)
	// Silence: the agent drops the connection and opens a new one.
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := c.ReadMessage(); err == nil {
		t.Fatal("agent sent a frame; want it to drop the idle connection")
	}
	srv.accept(t)
}

func TestACSInactiveInstance(t *testing.T) {
	body := `{"type":"InactiveInstanceException","message":{"message":"Container instance is inactive (deregistered)."}}`
	t.Run("refused upgrade", func(t *testing.T) {
		srv := newWSServer(t, func(*http.Request) (int, string) { return http.StatusBadRequest, body })
		_, done, _ := startACS(t, srv, newFakeEngine(), fastTiming())
		select {
		case err := <-done:
			if !errors.Is(err, ErrInstanceInactive) {
				t.Fatalf("run = %v, want ErrInstanceInactive", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("run did not return")
		}
		if n := srv.upgradeCount(); n != 1 {
			t.Errorf("upgrades = %d, want 1 (no retry)", n)
		}
	})
	t.Run("exception frame", func(t *testing.T) {
		srv := newWSServer(t, nil)
		_, done, _ := startACS(t, srv, newFakeEngine(), fastTiming())
		c := srv.accept(t)
		c.send(t, agentproto.TypeInactiveInstanceException, agentproto.ErrorBody{Message: "deregistered"})
		select {
		case err := <-done:
			if !errors.Is(err, ErrInstanceInactive) || !strings.Contains(err.Error(), "deregistered") {
				t.Fatalf("run = %v, want ErrInstanceInactive with the server's message", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("run did not return")
		}
	})
}

func TestParseServerError(t *testing.T) {
	tests := []struct {
		body     string
		wantType string
		wantMsg  string
	}{
		{`{"type":"InactiveInstanceException","message":{"message":"gone"}}`, "InactiveInstanceException", "gone"},
		{`{"InactiveInstanceException":"gone"}`, "InactiveInstanceException", "gone"},
		{`{"type":"AccessDeniedException","message":"no"}`, "AccessDeniedException", "no"},
		{`not json`, "", ""},
		{`{"foo":"bar"}`, "", ""},
	}
	for _, tt := range tests {
		se := parseServerError([]byte(tt.body))
		switch {
		case tt.wantType == "" && se != nil:
			t.Errorf("%s: got %+v, want nil", tt.body, se)
		case tt.wantType != "" && (se == nil || se.Type != tt.wantType || se.Message != tt.wantMsg):
			t.Errorf("%s: got %+v, want %s %q", tt.body, se, tt.wantType, tt.wantMsg)
		}
	}
}

func TestSocketURL(t *testing.T) {
	tests := []struct{ base, want string }{
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8080/ws?a=1"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080/ws?a=1"},
		{"https://h/tcs/", "https://h/tcs/ws?a=1"},
		{"https://h/tcs", "https://h/tcs/ws?a=1"},
	}
	for _, tt := range tests {
		u, err := socketURL(tt.base, map[string][]string{"a": {"1"}})
		if err != nil || u.String() != tt.want {
			t.Errorf("socketURL(%q) = %v, %v; want %s", tt.base, u, err, tt.want)
		}
	}
	if _, err := socketURL("ftp://h/", nil); err == nil {
		t.Error("ftp endpoint accepted")
	}
}

func TestACSConnectionLifetime(t *testing.T) {
	srv := newWSServer(t, nil)
	timing := fastTiming()
	timing.ConnectionLifetime = 50 * time.Millisecond
	timing.ACSBackoffMin, timing.ACSBackoffMax = time.Hour, time.Hour // a backoff would stall the test
	startACS(t, srv, newFakeEngine(), timing)
	c := srv.accept(t)
	// Keep the connection busy: only its age ends it; the next one comes at once.
	go func() {
		for {
			if c.WriteMessage(websocket.TextMessage, []byte(`{"type":"HeartbeatMessage","message":{"messageId":"x"}}`)) != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	srv.accept(t)
}
