package acs

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/berth/berth/internal/agentproto"
	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
)

var (
	clusterARN = testNamer.Cluster(testCluster)
	ci1ARN     = testNamer.ContainerInstance(testCluster, "ci1")
)

// TestACSPayloads runs with and without a cluster view: with one, the
// handler routes the writes the view has already decoded without decoding
// them again.
func TestACSPayloads(t *testing.T) {
	t.Run("store", func(t *testing.T) { testACSPayloads(t) })
	t.Run("view", func(t *testing.T) { testACSPayloads(t, withView()) })
}

func testACSPayloads(t *testing.T, opts ...envOption) {
	e := newEnv(t, opts...)
	running := newTask("t-run", "ci1")
	stopped := newTask("t-stopped", "ci1")
	stopped.LastStatus, stopped.DesiredStatus = ecs.TaskStopped, ecs.TaskStopped
	elsewhere := newTask("t-elsewhere", "ci2")
	for _, tk := range []ecs.Task{running, stopped, elsewhere} {
		e.putTask(tk)
	}

	a := e.dialACS(agent1, "ci1")
	first := a.expectPayload()
	if first.ClusterARN != clusterARN || first.ContainerInstanceARN != ci1ARN || first.MessageID == "" || first.SeqNum <= 0 || first.GeneratedAt <= 0 {
		t.Fatalf("payload header %+v", first)
	}
	if got := taskARNs(first); !slices.Equal(got, []string{running.ARN}) {
		t.Fatalf("initial payload tasks %v", got)
	}
	if !reflect.DeepEqual(first.Tasks[0], PayloadTask(running, testAccount)) {
		t.Fatalf("task %+v", first.Tasks[0])
	}
	inst := e.instance("ci1")
	wantVersion := ecs.VersionInfo{AgentVersion: "1.105.1", AgentHash: "a8b3e7d3", DockerVersion: "DockerVersion: 20.10.24+dfsg1"}
	if !inst.AgentConnected || !inst.AgentSeenAt.Equal(e.clock.Now()) || inst.VersionInfo != wantVersion {
		t.Fatalf("instance after connect: connected %v seen %v version %+v", inst.AgentConnected, inst.AgentSeenAt, inst.VersionInfo)
	}
	a.ack(first.MessageID, first.ClusterARN, first.ContainerInstanceARN)

	// A new task on the instance is pushed.
	added := newTask("t-added", "ci1")
	e.putTask(added)
	p := a.expectPayload()
	if got := taskARNs(p); !slices.Equal(got, []string{added.ARN}) || p.SeqNum <= first.SeqNum {
		t.Fatalf("payload %v seq %d after %d", got, p.SeqNum, first.SeqNum)
	}
	a.ack(p.MessageID, p.ClusterARN, p.ContainerInstanceARN)

	// A change that is not a desired-state change (Seq unchanged) is not
	// pushed; a StopTask (desired STOPPED, Seq+1) is.
	e.updateTask("t-run", func(t *ecs.Task) { t.LastStatus, t.Version = ecs.TaskRunning, t.Version+1 })
	e.updateTask("t-run", func(t *ecs.Task) { t.DesiredStatus, t.Seq, t.Version = ecs.TaskStopped, t.Seq+1, t.Version+1 })
	p2 := a.expectPayload()
	if got := taskARNs(p2); !slices.Equal(got, []string{running.ARN}) || p2.Tasks[0].DesiredStatus != "STOPPED" || p2.SeqNum <= p.SeqNum {
		t.Fatalf("stop payload %+v", p2)
	}

	// Tasks of other instances never reach this agent; the next payload
	// holds only the next task of this instance.
	e.putTask(newTask("t-elsewhere-2", "ci2"))
	last := newTask("t-last", "ci1")
	e.putTask(last)
	if got := taskARNs(a.expectPayload()); !slices.Equal(got, []string{last.ARN}) {
		t.Fatalf("payload %v", got)
	}
}

func TestACSManyTasksArriveOnce(t *testing.T) {
	e := newEnv(t)
	a := e.dialACS(agent1, "ci1")
	e.eventually("connection", func() bool { return e.instance("ci1").AgentConnected })

	// 100 tasks in one transaction: more than a session queues (it then
	// re-reads the store) and more than one payload holds.
	const n = 100
	var ops []store.Op
	want := map[string]bool{}
	for i := range n {
		tk := newTask(fmt.Sprintf("bulk-%03d", i), "ci1")
		op, err := state.PutOp(state.TaskKey(testCluster, tk.ID), tk, store.ExpectAny)
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, op)
		want[tk.ARN] = true
	}
	if _, err := e.st.Txn(t.Context(), ops...); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var lastSeq int64
	for len(seen) < n {
		p := a.expectPayload()
		if len(p.Tasks) > maxPayloadTasks || p.SeqNum <= lastSeq {
			t.Fatalf("payload of %d tasks, seq %d after %d", len(p.Tasks), p.SeqNum, lastSeq)
		}
		lastSeq = p.SeqNum
		for _, arn := range taskARNs(p) {
			if seen[arn] || !want[arn] {
				t.Fatalf("task %s sent twice or unexpected", arn)
			}
			seen[arn] = true
		}
	}
}

func TestACSHeartbeatRefreshesSeen(t *testing.T) {
	e := newEnv(t)
	a := e.dialACS(agent1, "ci1")
	var hb agentproto.HeartbeatMessage
	decodeInto(t, a.expect(agentproto.TypeHeartbeat), &hb)
	if hb.MessageID == "" || !hb.Healthy {
		t.Fatalf("heartbeat %+v", hb)
	}
	later := e.clock.Now().Add(time.Minute)
	e.clock.Set(later)
	// The client answers every heartbeat; the next answer is recorded.
	e.eventually("AgentSeenAt to follow heartbeats", func() bool { return e.instance("ci1").AgentSeenAt.Equal(later) })
	if !e.instance("ci1").AgentConnected {
		t.Fatal("instance not connected")
	}
}

func TestACSManifestAndStopVerification(t *testing.T) {
	e := newEnv(t, withIntervals(50*time.Millisecond, 100*time.Millisecond))
	keep := newTask("t-keep", "ci1")
	stopping := newTask("t-stopping", "ci1")
	stopping.LastStatus, stopping.DesiredStatus, stopping.Seq = ecs.TaskRunning, ecs.TaskStopped, 2
	elsewhere := newTask("t-elsewhere", "ci2")
	for _, tk := range []ecs.Task{keep, stopping, elsewhere} {
		e.putTask(tk)
	}
	a := e.dialACS(agent1, "ci1")
	p := a.expectPayload()
	a.ack(p.MessageID, p.ClusterARN, p.ContainerInstanceARN)

	var m agentproto.TaskManifestMessage
	decodeInto(t, a.expect(agentproto.TypeTaskManifest), &m)
	if m.Timeline <= p.SeqNum || m.ClusterARN != clusterARN || m.ContainerInstanceARN != ci1ARN {
		t.Fatalf("manifest %+v after payload seq %d", m, p.SeqNum)
	}
	want := []agentproto.TaskIdentifier{
		{TaskARN: keep.ARN, TaskClusterARN: clusterARN, DesiredStatus: "RUNNING"},
		{TaskARN: stopping.ARN, TaskClusterARN: clusterARN, DesiredStatus: "STOPPED"},
	}
	if !reflect.DeepEqual(m.Tasks, want) {
		t.Fatalf("manifest tasks %+v", m.Tasks)
	}
	a.ack(m.MessageID, m.ClusterARN, m.ContainerInstanceARN)

	unknown := testNamer.Task(testCluster, "t-unknown")
	foreign := "arn:aws:ecs:eu-west-1:999999999999:task/demo/t-keep"
	a.send(agentproto.TypeTaskStopVerification, agentproto.TaskStopVerificationMessage{MessageID: m.MessageID, StopCandidates: []agentproto.TaskIdentifier{
		{TaskARN: keep.ARN, TaskClusterARN: clusterARN, DesiredStatus: "STOPPED"},
		{TaskARN: stopping.ARN, TaskClusterARN: clusterARN, DesiredStatus: "STOPPED"},
		{TaskARN: unknown, TaskClusterARN: clusterARN, DesiredStatus: "STOPPED"},
		{TaskARN: elsewhere.ARN, TaskClusterARN: clusterARN, DesiredStatus: "STOPPED"},
		{TaskARN: foreign, DesiredStatus: "STOPPED"},
	}})
	var ack agentproto.TaskStopVerificationAck
	decodeInto(t, a.expect(agentproto.TypeTaskStopVerificationAck), &ack)
	if ack.MessageID != m.MessageID || ack.GeneratedAt <= 0 {
		t.Fatalf("ack %+v", ack)
	}
	var stop []string
	for _, s := range ack.StopTasks {
		if s.DesiredStatus != "STOPPED" || s.TaskClusterARN == "" {
			t.Errorf("stop entry %+v", s)
		}
		stop = append(stop, s.TaskARN)
	}
	if want := []string{stopping.ARN, unknown, elsewhere.ARN, foreign}; !slices.Equal(stop, want) {
		t.Fatalf("stopTasks %v, want %v", stop, want)
	}
}

func TestACSRefusals(t *testing.T) {
	e := newEnv(t)
	e.putInstance("ci-old", agent1.name, ecs.InstanceInactive)
	wrongSecret := testCred{agent1.akid, "not-the-secret", agent1.name}
	unknownKey := testCred{"BKIAUNKNOWN000000000", "x", "nobody"}
	withInstance := func(q url.Values, key, v string) url.Values { q.Set(key, v); return q }
	tests := []struct {
		name   string
		cred   testCred
		path   string
		query  url.Values
		status int
		typ    string
	}{
		{"not the owner", agent2, PathACS, acsQuery("ci1"), http.StatusForbidden, agentproto.TypeAccessDeniedException},
		{"not the owner (TCS)", agent2, PathTCS, tcsQuery("ci1"), http.StatusForbidden, agentproto.TypeAccessDeniedException},
		{"unknown instance", agent1, PathACS, acsQuery("ci-none"), http.StatusBadRequest, agentproto.TypeInvalidInstanceException},
		{"inactive instance", agent1, PathACS, acsQuery("ci-old"), http.StatusBadRequest, agentproto.TypeInactiveInstanceException},
		{"inactive instance (TCS)", agent1, PathTCS, tcsQuery("ci-old"), http.StatusBadRequest, agentproto.TypeInactiveInstanceException},
		{"instance of another cluster", agent1, PathACS, withInstance(acsQuery("ci1"), "containerInstanceArn", testNamer.ContainerInstance("other", "ci1")), http.StatusBadRequest, agentproto.TypeInvalidInstanceException},
		{"unknown cluster", agent1, PathACS, withInstance(acsQuery("ci1"), "clusterArn", "nope"), http.StatusBadRequest, agentproto.TypeInvalidClusterException},
		{"cluster of another account", agent1, PathACS, withInstance(acsQuery("ci1"), "clusterArn", "arn:aws:ecs:us-west-2:999999999999:cluster/demo"), http.StatusBadRequest, agentproto.TypeInvalidClusterException},
		{"no instance", agent1, PathACS, withInstance(acsQuery("ci1"), "containerInstanceArn", ""), http.StatusBadRequest, agentproto.TypeBadRequestException},
		{"bad signature", wrongSecret, PathACS, acsQuery("ci1"), http.StatusUnauthorized, agentproto.TypeAccessDeniedException},
		{"unknown access key", unknownKey, PathACS, acsQuery("ci1"), http.StatusUnauthorized, agentproto.TypeAccessDeniedException},
		{"unsigned", testCred{}, PathACS, acsQuery("ci1"), http.StatusUnauthorized, agentproto.TypeAccessDeniedException},
		{"unknown path", agent1, "/other/ws", acsQuery("ci1"), http.StatusNotFound, agentproto.TypeBadRequestException},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, resp, err := e.dial(tt.cred, tt.path, tt.query)
			if err != websocket.ErrBadHandshake || resp == nil {
				t.Fatalf("dial: %v, want a refused handshake", err)
			}
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			var body struct {
				Type    string `json:"type"`
				Message struct {
					Message string `json:"message"`
				} `json:"message"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("body: %v", err)
			}
			if body.Type != tt.typ || body.Message.Message == "" {
				t.Errorf("body %+v, want type %s with a message", body, tt.typ)
			}
		})
	}
	if e.instance("ci1").AgentConnected {
		t.Error("a refused upgrade marked the instance connected")
	}
}

func TestACSDisconnect(t *testing.T) {
	e := newEnv(t)
	a := e.dialACS(agent1, "ci1")
	a.expect(agentproto.TypeHeartbeat)
	if !e.instance("ci1").AgentConnected {
		t.Fatal("not connected")
	}
	v := e.instance("ci1").Version
	a.ws.Close()
	e.eventually("AgentConnected=false", func() bool { return !e.instance("ci1").AgentConnected })
	if got := e.instance("ci1").Version; got != v+1 {
		t.Errorf("version %d after disconnect, want %d", got, v+1)
	}
	e.eventually("session end", func() bool { return e.h.Sessions() == 0 })
}

func TestACSInactiveWhileConnected(t *testing.T) {
	e := newEnv(t)
	running := newTask("t-run", "ci1")
	e.putTask(running)
	a := e.dialACS(agent1, "ci1")
	tc := e.dialTCS(agent1, "ci1")
	p := a.expectPayload()
	a.ack(p.MessageID, p.ClusterARN, p.ContainerInstanceARN)

	e.updateInstance("ci1", func(in *ecs.ContainerInstance) { in.Status = ecs.InstanceInactive })
	final := a.expectPayload()
	if got := taskARNs(final); !slices.Equal(got, []string{running.ARN}) || final.Tasks[0].DesiredStatus != "STOPPED" {
		t.Fatalf("final payload %+v", final)
	}
	var eb agentproto.ErrorBody
	decodeInto(t, a.expect(agentproto.TypeInactiveInstanceException), &eb)
	if eb.Message == "" {
		t.Error("exception without message")
	}
	if code := a.expectClose(); code != websocket.CloseNormalClosure {
		t.Errorf("ACS close code %d", code)
	}
	if code := tc.expectClose(); code != websocket.CloseNormalClosure {
		t.Errorf("TCS close code %d", code)
	}
	e.eventually("AgentConnected=false", func() bool { return !e.instance("ci1").AgentConnected })
	_, resp, err := e.dial(agent1, PathACS, acsQuery("ci1"))
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("reconnect of an inactive instance: %v %s", err, refusalText(resp))
	}
}

func TestACSReplacement(t *testing.T) {
	e := newEnv(t)
	e.putTask(newTask("t-run", "ci1"))
	old := e.dialACS(agent1, "ci1")
	p1 := old.expectPayload()

	fresh := e.dialACS(agent1, "ci1")
	if code := old.expectClose(); code != websocket.ClosePolicyViolation {
		t.Errorf("replaced connection closed with %d", code)
	}
	p2 := fresh.expectPayload()
	if !slices.Equal(taskARNs(p2), taskARNs(p1)) || p2.SeqNum <= p1.SeqNum {
		t.Fatalf("new connection's payload %v seq %d (old %d)", taskARNs(p2), p2.SeqNum, p1.SeqNum)
	}
	e.eventually("old session to end", func() bool { return e.h.Sessions() == 1 })
	if !e.instance("ci1").AgentConnected {
		t.Fatal("the replaced session's end marked the instance disconnected")
	}
	added := newTask("t-added", "ci1")
	e.putTask(added)
	if got := taskARNs(fresh.expectPayload()); !slices.Equal(got, []string{added.ARN}) {
		t.Fatalf("payload %v", got)
	}
}

func TestSessionsOpenedBeforeRun(t *testing.T) {
	e := newEnv(t, withoutRun())
	a := e.dialACS(agent1, "ci1")
	e.eventually("connection", func() bool { return e.instance("ci1").AgentConnected })
	tk := newTask("t-early", "ci1")
	e.putTask(tk) // no watch yet: Run's start must make the session look again
	e.run()
	if got := taskARNs(a.expectPayload()); !slices.Equal(got, []string{tk.ARN}) {
		t.Fatalf("payload %v", got)
	}
}

func TestCloseEndsSessions(t *testing.T) {
	e := newEnv(t)
	a := e.dialACS(agent1, "ci1")
	tc := e.dialTCS(agent1, "ci1")
	a.expect(agentproto.TypeHeartbeat)
	tc.expect(agentproto.TypeHeartbeat)
	e.h.Close()
	if code := a.expectClose(); code != websocket.CloseGoingAway {
		t.Errorf("ACS close code %d", code)
	}
	if code := tc.expectClose(); code != websocket.CloseGoingAway {
		t.Errorf("TCS close code %d", code)
	}
	// Close waited for the sessions' bookkeeping.
	if e.instance("ci1").AgentConnected || e.h.Sessions() != 0 {
		t.Fatal("instance still connected after Close")
	}
	_, resp, err := e.dial(agent1, PathACS, acsQuery("ci1"))
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("upgrade after Close: %v %s", err, refusalText(resp))
	}
}

func TestTCS(t *testing.T) {
	e := newEnv(t)
	mine := newTask("t-mine", "ci1")
	mine.Containers[0].LastStatus = ecs.ContainerRunning
	mine.LastStatus = ecs.TaskRunning
	theirs := newTask("t-theirs", "ci2")
	e.putTask(mine)
	e.putTask(theirs)
	tc := e.dialTCS(agent1, "ci1")
	tc.expect(agentproto.TypeHeartbeat)

	tc.sendSigned(agentproto.TypePublishMetrics, agentproto.PublishMetricsRequest{
		Metadata: agentproto.MetricsMetadata{Cluster: testCluster, ContainerInstance: ci1ARN, MessageID: "m1", Fin: true},
		TaskMetrics: []agentproto.TaskMetric{{TaskARN: mine.ARN, TaskDefinitionFamily: "web", TaskDefinitionVersion: "1",
			ContainerMetrics: []agentproto.ContainerMetric{{ContainerName: "app", CPUStatsSet: &agentproto.CWStatsSet{Min: 1, Max: 3, SampleCount: 2, Sum: 4}}}}},
		Timestamp: 1772366400,
	})
	var ack agentproto.TelemetryAck
	decodeInto(t, tc.expect(agentproto.TypeAckPublishMetric), &ack)
	m, ok := e.h.LatestMetrics(mine.ARN)
	if !ok || m.ContainerInstanceARN != ci1ARN || m.Metric.ContainerMetrics[0].CPUStatsSet.Sum != 4 {
		t.Fatalf("metrics %+v %v", m, ok)
	}

	health := func(taskARN, status string) agentproto.PublishHealthRequest {
		return agentproto.PublishHealthRequest{
			Metadata: agentproto.HealthMetadata{Cluster: testCluster, ContainerInstance: ci1ARN, MessageID: "h1", Fin: true},
			Tasks: []agentproto.TaskHealth{{TaskARN: taskARN, TaskDefinitionFamily: "web", TaskDefinitionVersion: "1",
				Containers: []agentproto.ContainerHealth{{ContainerName: "app", HealthStatus: status, StatusSince: 1772366400}}}},
			Timestamp: 1772366400,
		}
	}
	tc.sendSigned(agentproto.TypePublishHealth, health(mine.ARN, ecs.HealthHealthy))
	decodeInto(t, tc.expect(agentproto.TypeAckPublishHealth), &ack)
	if ack.Message == "" {
		t.Error("empty ack message")
	}
	got := e.task("t-mine")
	if got.HealthStatus != ecs.HealthHealthy || got.Containers[0].HealthStatus != ecs.HealthHealthy || got.Version != mine.Version+1 {
		t.Fatalf("task after health report: %s / %s, version %d", got.HealthStatus, got.Containers[0].HealthStatus, got.Version)
	}

	// A report about another instance's task is acknowledged but ignored.
	tc.send(agentproto.TypePublishHealth, health(theirs.ARN, ecs.HealthUnhealthy))
	tc.expect(agentproto.TypeAckPublishHealth)
	if got := e.task("t-theirs"); got.HealthStatus != "" || got.Containers[0].HealthStatus != "" || got.Version != theirs.Version {
		t.Fatalf("another instance's task changed: %+v", got)
	}

	tc.sendSigned(agentproto.TypePublishInstanceStatus, agentproto.PublishInstanceStatusRequest{
		Metadata: agentproto.InstanceStatusMetadata{Cluster: testCluster, ContainerInstance: ci1ARN, RequestID: "r1"},
		Statuses: []agentproto.InstanceStatus{{Type: "ContainerRuntime", Status: "OK"}},
	})
	tc.expect(agentproto.TypeAckPublishInstanceStatus)

	// A second TCS connection replaces the first.
	tc2 := e.dialTCS(agent1, "ci1")
	if code := tc.expectClose(); code != websocket.ClosePolicyViolation {
		t.Errorf("replaced TCS closed with %d", code)
	}
	tc2.expect(agentproto.TypeHeartbeat)
}

func TestMarkDisconnectedLeavesOtherSessions(t *testing.T) {
	e := newEnv(t)
	k := instKey{testCluster, "ci1"}
	mine := e.clock.Now()
	theirs := mine.Add(time.Second)
	e.updateInstance("ci1", func(in *ecs.ContainerInstance) { in.AgentConnected, in.AgentSeenAt = true, theirs })
	// Another server's session wrote the record since this one did.
	if err := e.h.markDisconnected(t.Context(), k, mine); err != nil {
		t.Fatal(err)
	}
	if !e.instance("ci1").AgentConnected {
		t.Fatal("disconnect of a superseded session cleared the flag")
	}
	if err := e.h.markDisconnected(t.Context(), k, theirs); err != nil {
		t.Fatal(err)
	}
	if e.instance("ci1").AgentConnected {
		t.Fatal("disconnect of the current session left the flag set")
	}
	// A deleted instance is not re-created.
	if _, err := e.st.Txn(t.Context(), store.Delete(state.InstanceKey(testCluster, "ci1"), store.ExpectAny)); err != nil {
		t.Fatal(err)
	}
	if err := e.h.markDisconnected(t.Context(), k, theirs); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Get(t.Context(), state.InstanceKey(testCluster, "ci1")); err == nil {
		t.Fatal("the instance record came back")
	}
}

func TestACSInstanceDeleted(t *testing.T) {
	e := newEnv(t)
	a := e.dialACS(agent1, "ci1")
	a.expect(agentproto.TypeHeartbeat)
	if _, err := e.st.Txn(t.Context(), store.Delete(state.InstanceKey(testCluster, "ci1"), store.ExpectAny)); err != nil {
		t.Fatal(err)
	}
	a.expect(agentproto.TypeInactiveInstanceException)
	if code := a.expectClose(); code != websocket.CloseNormalClosure {
		t.Errorf("close code %d", code)
	}
	e.eventually("session end", func() bool { return e.h.Sessions() == 0 })
	if _, err := e.st.Get(t.Context(), state.InstanceKey(testCluster, "ci1")); err == nil {
		t.Fatal("the deleted instance's record came back")
	}
}
