package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth/berth/internal/agent/runtime"
	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/store"
	"github.com/berth/berth/internal/testimage"
)

func TestParseTaskModes(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{"bridge,none", []string{"bridge", "none"}, ""},
		{" none , bridge", []string{"none", "bridge"}, ""},
		{"none", []string{"none"}, ""},
		{"host", nil, "unknown network mode"},
		{"bridge,bridge", nil, "given twice"},
		{"", nil, "unknown network mode"},
	}
	for _, tt := range tests {
		got, err := ParseTaskModes(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseTaskModes(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ParseTaskModes(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestTaskStartConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*TaskStartConfig)
		wantErr string
	}{
		{"defaults", func(*TaskStartConfig) {}, ""},
		{"no tasks", func(c *TaskStartConfig) { c.Tasks = 0 }, "tasks must be"},
		{"negative warm-up", func(c *TaskStartConfig) { c.WarmUp = -1 }, "warm-up must be"},
		{"no warm-up", func(c *TaskStartConfig) { c.WarmUp = 0 }, ""},
		{"no modes", func(c *TaskStartConfig) { c.Modes = nil }, "no network mode"},
		{"bad mode", func(c *TaskStartConfig) { c.Modes = []string{"awsvpc"} }, "unknown network mode"},
		{"no namespace", func(c *TaskStartConfig) { c.Namespace = "" }, "namespace"},
		{"no timeout", func(c *TaskStartConfig) { c.TaskTimeout = 0 }, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewTaskStartConfig()
			tt.change(&c)
			err := c.Validate()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Validate() = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// series builds a StartSeries of samples in milliseconds.
func series(msecs ...int) StartSeries {
	var s StartSeries
	for _, m := range msecs {
		s.add(time.Duration(m) * time.Millisecond)
	}
	return s
}

func TestTaskModeJudge(t *testing.T) {
	tests := []struct {
		name                   string
		berth, ctr             StartSeries
		berthFailed            int
		wantRatio              float64
		wantRatioOK, wantP99OK bool
	}{
		{"well under", series(100, 110, 120), series(100, 100, 100), 0, 1.1, true, true},
		{"ratio exactly at the target", series(150, 150, 150), series(100, 100, 100), 0, 1.5, true, true},
		{"ratio over", series(160, 170, 180), series(100, 100, 100), 0, 1.7, false, true},
		{"p99 at one second fails", series(100, 100, 1000), series(100, 100, 100), 0, 1, true, false},
		{"no ctr samples", series(100), StartSeries{}, 0, 0, false, true},
		{"a failed start fails both", series(100, 100, 100), series(100, 100, 100), 1, 1, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := TaskModeReport{Mode: "none", Berth: tt.berth, Ctr: tt.ctr}
			for range tt.berthFailed {
				m.Berth.fail(errors.New("boom"))
			}
			m.judge()
			if d := m.Ratio - tt.wantRatio; d > 1e-9 || d < -1e-9 {
				t.Errorf("ratio = %v, want %v", m.Ratio, tt.wantRatio)
			}
			if m.RatioOK != tt.wantRatioOK || m.P99OK != tt.wantP99OK {
				t.Errorf("ratioOK, p99OK = %v, %v; want %v, %v", m.RatioOK, m.P99OK, tt.wantRatioOK, tt.wantP99OK)
			}
			if m.Pass() != (tt.wantRatioOK && tt.wantP99OK) {
				t.Errorf("Pass() = %v", m.Pass())
			}
		})
	}
}

func TestReportOutput(t *testing.T) {
	m := TaskModeReport{Mode: "bridge", Berth: series(120, 140, 900), Ctr: series(100, 110, 130)}
	m.Ctr.fail(errors.New("ctr run x: exit status 1"))
	m.Phases = &PhaseReport{Starts: 3, StoreCommit: time.Millisecond,
		Steps: []PhaseStep{{Milestone: msPendingCommitted, N: 3, AtP50: 3 * time.Millisecond, StepP50: 3 * time.Millisecond}}}
	m.judge()
	r := TaskStartReport{Tasks: 3, WarmUp: 1, Image: testimage.DefaultRef, Command: taskStartCommand, Modes: []TaskModeReport{m}}

	var table bytes.Buffer
	if err := r.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"mode bridge", "berth", "ctr run -d", "140.00", "110.00",
		"median(berth)/median(ctr) = 1.27 (target ≤ 1.5): PASS", "p99(berth) = 900.00 ms", "ctr: 1 failed; first: ctr run x",
		msPendingCommitted, "overall: PASS"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}

	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var got taskStartJSON
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatalf("JSON does not decode: %v\n%s", err, js.String())
	}
	if len(got.Modes) != 1 || !got.Pass || got.TargetMaxRatio != TargetMaxRatio {
		t.Fatalf("JSON = %+v", got)
	}
	gm := got.Modes[0]
	if gm.Berth.N != 3 || gm.Berth.MedianMs != 140 || gm.Ctr.Failed != 1 || !slices.Equal(gm.Berth.SamplesMs, []float64{120, 140, 900}) ||
		gm.Phases == nil || gm.Phases.Steps[0].Milestone != msPendingCommitted || gm.Phases.StoreCommitMs != 1 {
		t.Errorf("JSON mode = %+v", gm)
	}

	// A run that ended early is no pass, whatever it measured.
	r.Incomplete = true
	table.Reset()
	if err := r.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if r.Pass() || !strings.Contains(table.String(), "overall: INCOMPLETE") {
		t.Errorf("incomplete run: Pass() = %v, table:\n%s", r.Pass(), table.String())
	}
}

func TestMilestonesOf(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rec := func(msg string, attrs ...any) slog.Record {
		r := slog.NewRecord(at, slog.LevelDebug, msg, 0)
		r.Add(attrs...)
		return r
	}
	tests := []struct {
		name string
		r    slog.Record
		want []stamp
	}{
		{"payload sent", rec("sent payload", "messageId", "m1"), []stamp{{at, msPayloadSent}}},
		{"pulled", rec("container status", "container", "app", "known", stringer("PULLED")), []stamp{{at, msImageReady}}},
		{"created", rec("container status", "known", stringer("CREATED")), []stamp{{at, msContainerCreated}}},
		{"stopped container is no milestone", rec("container status", "known", stringer("STOPPED")), nil},
		{"task running", rec("task status", "known", stringer("RUNNING")), []stamp{{at, msTaskRunning}}},
		{"task stopped is no milestone", rec("task status", "known", stringer("STOPPED")), nil},
		{"network with took", rec("task network set up", "took", 30*time.Millisecond),
			[]stamp{{at, msNetworkDone}, {at.Add(-30 * time.Millisecond), msNetworkBegan}}},
		{"network without took", rec("task network set up"), []stamp{{at, msNetworkDone}}},
		{"other", rec("agent connected"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := milestonesOf(tt.r); !slices.Equal(got, tt.want) {
				t.Errorf("milestonesOf = %v, want %v", got, tt.want)
			}
		})
	}
}

// stringer stands for the engine's status types, logged as fmt.Stringers.
type stringer string

func (s stringer) String() string { return string(s) }

func TestPhaseRecorder(t *testing.T) {
	var forwarded bytes.Buffer
	next := slog.NewTextHandler(&forwarded, &slog.HandlerOptions{Level: slog.LevelWarn})
	rec := newPhaseRecorder(next)
	log := slog.New(rec).With("task", "arn:1")
	t0 := time.Now()
	log.Debug("task accepted")
	log.Warn("something odd")
	mid := time.Now()
	log.Debug("sent payload")
	p := rec.phases(t0, mid)
	if _, ok := p.at[msTaskAccepted]; !ok || len(p.at) != 1 {
		t.Errorf("phases in [t0, mid) = %v, want only %q", p.at, msTaskAccepted)
	}
	if p := rec.phases(mid, time.Now().Add(time.Second)); len(p.at) != 1 || p.at[msPayloadSent] < 0 {
		t.Errorf("phases after mid = %v, want only %q", p.at, msPayloadSent)
	}
	if !strings.Contains(forwarded.String(), "something odd") || strings.Contains(forwarded.String(), "task accepted") {
		t.Errorf("forwarded = %q, want only the warning", forwarded.String())
	}
}

func TestSummarizePhases(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	tasks := []taskPhases{
		{at: map[string]time.Duration{"a": ms(2), "b": ms(10), "c": ms(11)}},
		{at: map[string]time.Duration{"a": ms(4), "b": ms(20), "c": ms(22)}},
		{at: map[string]time.Duration{"a": ms(3), "c": ms(30)}}, // b missing
	}
	rep := summarizePhases(tasks)
	var names []string
	for _, s := range rep.Steps {
		names = append(names, s.Milestone)
	}
	if !slices.Equal(names, []string{"a", "b", "c"}) || rep.Starts != 3 {
		t.Fatalf("milestones = %v (%d starts), want a, b, c", names, rep.Starts)
	}
	a, b, c := rep.Steps[0], rep.Steps[1], rep.Steps[2]
	if a.N != 3 || a.AtP50 != ms(3) || a.StepP50 != ms(3) {
		t.Errorf("a = %+v", a)
	}
	// b-a per start: 8, 16 → nearest-rank median 8.
	if b.N != 2 || b.AtP50 != ms(10) || b.StepP50 != ms(8) || b.StepP90 != ms(16) {
		t.Errorf("b = %+v", b)
	}
	// c-b per start: 1, 2 (the third start has no b).
	if c.N != 3 || c.StepP50 != ms(1) || c.StepP90 != ms(2) {
		t.Errorf("c = %+v", c)
	}
}

func TestTaskWatch(t *testing.T) {
	w := newTaskWatch(slog.New(slog.DiscardHandler))
	put := func(arn string, status ecs.TaskStatus, runtimeID string) store.Event {
		task := ecs.Task{ARN: arn, LastStatus: status, Containers: []ecs.TaskContainer{{Name: "app", RuntimeID: runtimeID}}}
		if status == ecs.TaskStopped {
			task.StoppedReason = "Essential container in task exited"
		}
		b, err := json.Marshal(task)
		if err != nil {
			t.Fatal(err)
		}
		return store.Event{Type: store.EventPut, KV: store.KV{Key: "/tasks/c/" + arn, Value: b}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t0 := time.Now()
	w.observe(t0, put("a", ecs.TaskPending, ""))
	done := make(chan watchedTask, 1)
	go func() {
		st, err := w.wait(ctx, "a", ecs.TaskRunning)
		if err != nil {
			t.Error(err)
		}
		done <- st
	}()
	t1 := t0.Add(time.Millisecond)
	w.observe(t1, put("a", ecs.TaskRunning, "a-app"))
	w.observe(t1.Add(time.Millisecond), put("a", ecs.TaskRunning, "a-app")) // a later write keeps the first time
	st := <-done
	if st.at[ecs.TaskPending] != t0 || st.at[ecs.TaskRunning] != t1 || !slices.Equal(st.runtimeIDs, []string{"a-app"}) {
		t.Errorf("watched = %+v", st)
	}

	// A task that stops without running: waiting for RUNNING returns, without a RUNNING time.
	w.observe(t0, put("b", ecs.TaskPending, ""))
	w.observe(t1, put("b", ecs.TaskStopped, ""))
	st, err := w.wait(ctx, "b", ecs.TaskRunning)
	if _, ran := st.at[ecs.TaskRunning]; err != nil || ran || st.at[ecs.TaskStopped] != t1 || st.reason == "" {
		t.Errorf("wait(b) = %+v, %v; want STOPPED at t1 with a reason and no RUNNING time", st, err)
	}

	// The watch ending wakes waiters with an error.
	w.forget("a")
	errc := make(chan error, 1)
	go func() { _, err := w.wait(ctx, "c", ecs.TaskRunning); errc <- err }()
	w.end(errors.New("store closed"))
	if err := <-errc; err == nil || !strings.Contains(err.Error(), "store closed") {
		t.Errorf("wait after end = %v", err)
	}
}

func TestCtrConflistAndArgs(t *testing.T) {
	b, err := ctrConflist("/tmp/x/ipam")
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		Name    string           `json:"name"`
		Plugins []map[string]any `json:"plugins"`
	}
	if err := json.Unmarshal(b, &conf); err != nil {
		t.Fatal(err)
	}
	if conf.Name != CtrNetworkName || len(conf.Plugins) != 2 || conf.Plugins[0]["bridge"] != CtrBridge ||
		conf.Plugins[0]["ipMasq"] != true || conf.Plugins[1]["type"] != "portmap" {
		t.Errorf("conflist = %s", b)
	}
	ipam := conf.Plugins[0]["ipam"].(map[string]any)
	if ipam["dataDir"] != "/tmp/x/ipam" || !strings.Contains(string(b), `"subnet":"`+CtrSubnet+`"`) || !strings.Contains(string(b), `"gateway":"10.217.2.1"`) {
		t.Errorf("ipam = %v", ipam)
	}

	base := CtrBaseline{Address: "/s.sock", Namespace: "ns", Image: "img", Command: []string{"sleep", "3600"}}
	if got, want := strings.Join(base.args("c1"), " "), "--address /s.sock --namespace ns run -d img c1 sleep 3600"; got != want {
		t.Errorf("args = %q, want %q", got, want)
	}
	base.CNI, base.MemoryLimit, base.CPUShares = true, 32<<20, 10
	if got, want := strings.Join(base.args("c1"), " "),
		"--address /s.sock --namespace ns run -d --cni --memory-limit 33554432 --cpu-shares 10 img c1 sleep 3600"; got != want {
		t.Errorf("args = %q, want %q", got, want)
	}
}

// TestTaskStartSmall runs the whole benchmark with five tasks per mode
// (when root with containerd, ctr and the CNI plugins), so that the code
// path runs; it checks what was measured and cleaned, not how fast.
func TestTaskStartSmall(t *testing.T) {
	testimage.RequireContainerd(t)
	if _, err := exec.LookPath("ctr"); err != nil {
		t.Skip("ctr absent")
	}
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		t.Skip("CNI plugins absent from /usr/lib/cni")
	}
	_, pluginDirErr := os.Lstat(ctrPluginDir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	cfg := NewTaskStartConfig()
	cfg.Tasks, cfg.WarmUp, cfg.Phases = 5, 1, true
	cfg.TaskTimeout = 30 * time.Second
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rep, err := RunTaskStart(ctx, cfg)
	if err != nil {
		t.Fatalf("RunTaskStart: %v", err)
	}
	if len(rep.Modes) != 2 || rep.Modes[0].Mode != TaskModeBridge || rep.Modes[1].Mode != TaskModeNone {
		t.Fatalf("modes = %+v", rep.Modes)
	}
	for _, m := range rep.Modes {
		for name, s := range map[string]StartSeries{"berth": m.Berth, "ctr": m.Ctr} {
			if len(s.Samples) != 5 || s.Failed != 0 || s.P50 <= 0 || s.Max < s.P50 {
				t.Errorf("%s %s: %d samples, %d failed (%s), p50 %v, max %v", m.Mode, name, len(s.Samples), s.Failed, s.FirstError, s.P50, s.Max)
			}
		}
		if m.Ratio <= 0 {
			t.Errorf("%s: ratio %v", m.Mode, m.Ratio)
		}
		if m.Phases == nil {
			t.Fatalf("%s: no phases", m.Mode)
		}
		seen := map[string]int{}
		for _, s := range m.Phases.Steps {
			seen[s.Milestone] = s.N
		}
		for _, ms := range []string{msPendingCommitted, msTaskAccepted, msCtrdTaskCreate, msRunningCommitted} {
			if seen[ms] != 5 {
				t.Errorf("%s: milestone %q seen in %d starts, want 5 (all: %v)", m.Mode, ms, seen[ms], seen)
			}
		}
		if m.Mode == TaskModeBridge && seen[msNetworkDone] != 5 {
			t.Errorf("bridge: network set up seen in %d starts, want 5", seen[msNetworkDone])
		}
	}
	var out bytes.Buffer
	if err := rep.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", out.String())

	// Everything the run made is gone; the image stays.
	for _, link := range []string{benchBridge, benchVPCBridge, CtrBridge} {
		if _, err := net.InterfaceByName(link); err == nil {
			t.Errorf("link %s left behind", link)
		}
	}
	if _, err := os.Stat(filepath.Join(ctrConfDir, ctrConfFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ctr network list left behind: %v", err)
	}
	if _, err := os.Lstat(ctrPluginDir); errors.Is(err, os.ErrNotExist) != errors.Is(pluginDirErr, os.ErrNotExist) {
		t.Errorf("%s: before the run %v, after %v", ctrPluginDir, pluginDirErr, err)
	}
	rt, err := runtime.New(ctx, runtime.Config{Address: cfg.ContainerdAddress, Namespace: cfg.Namespace}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	infos, err := rt.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 0 {
		t.Errorf("containers left in %s: %+v", cfg.Namespace, infos)
	}
}

// testWriter sends log lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
