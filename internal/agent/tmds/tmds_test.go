package tmds

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

type fakeSource struct {
	tasks map[string]struct {
		task Task
		idx  int
	}
	stats map[string]Stats
}

func (f *fakeSource) Lookup(token string) (Task, int, bool) {
	e, ok := f.tasks[token]
	return e.task, e.idx, ok
}

func (f *fakeSource) Stats(_ context.Context, id string) (Stats, error) {
	s, ok := f.stats[id]
	if !ok {
		return Stats{}, errors.New("no such container")
	}
	return s, nil
}

func newFake() *fakeSource {
	task := Task{
		Cluster: "default", TaskARN: "arn:aws:ecs:us-east-1:000000000000:task/default/abc", Family: "web", Revision: "3",
		DesiredStatus: "RUNNING", KnownStatus: "RUNNING", Limits: &Limits{CPU: 0.25, Memory: 512},
		Containers: []Container{
			{DockerID: "abc-app", Name: "app", DockerName: "abc-app", Image: "busybox", DesiredStatus: "RUNNING", KnownStatus: "RUNNING", Type: "NORMAL",
				Limits: Limits{CPU: 128, Memory: 256}, Networks: []Network{{NetworkMode: "bridge", IPv4Addresses: []string{"10.213.0.2"}}}},
			{DockerID: "abc-side", Name: "side", DockerName: "abc-side", Image: "busybox", DesiredStatus: "RUNNING", KnownStatus: "RUNNING", Type: "NORMAL"},
		},
	}
	f := &fakeSource{tasks: map[string]struct {
		task Task
		idx  int
	}{}, stats: map[string]Stats{}}
	f.tasks["tok-app"] = struct {
		task Task
		idx  int
	}{task, 0}
	f.tasks["tok-side"] = struct {
		task Task
		idx  int
	}{task, 1}
	f.stats["abc-app"] = Stats{Read: time.Unix(100, 0).UTC(), CPUTotal: 5e9, OnlineCPUs: 2, MemoryUsage: 1 << 20, MemoryLimit: 256 << 20, Pids: 3}
	return f
}

func get(t *testing.T, srv *httptest.Server, path string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: not a JSON object: %s", path, b)
	}
	return resp.StatusCode, m
}

func TestRoutes(t *testing.T) {
	srv := httptest.NewServer(New(newFake(), nil))
	defer srv.Close()
	tests := []struct {
		path   string
		status int
		check  func(t *testing.T, m map[string]any)
	}{
		{"/v4/tok-app", 200, func(t *testing.T, m map[string]any) {
			if m["Name"] != "app" || m["DockerId"] != "abc-app" || m["Type"] != "NORMAL" {
				t.Errorf("container = %v", m)
			}
			nets := m["Networks"].([]any)
			if nets[0].(map[string]any)["IPv4Addresses"].([]any)[0] != "10.213.0.2" {
				t.Errorf("networks = %v", nets)
			}
		}},
		{"/v4/tok-side/task", 200, func(t *testing.T, m map[string]any) {
			if m["Family"] != "web" || m["Revision"] != "3" || len(m["Containers"].([]any)) != 2 {
				t.Errorf("task = %v", m)
			}
			if m["Limits"].(map[string]any)["CPU"] != 0.25 {
				t.Errorf("limits = %v", m["Limits"])
			}
		}},
		{"/v4/tok-app/stats", 200, func(t *testing.T, m map[string]any) {
			cpu := m["cpu_stats"].(map[string]any)["cpu_usage"].(map[string]any)
			if cpu["total_usage"] != float64(5e9) {
				t.Errorf("cpu = %v", cpu)
			}
			if m["memory_stats"].(map[string]any)["limit"] != float64(256<<20) {
				t.Errorf("memory = %v", m["memory_stats"])
			}
		}},
		{"/v4/tok-app/task/stats", 200, func(t *testing.T, m map[string]any) {
			if _, ok := m["abc-app"].(map[string]any); !ok {
				t.Errorf("task stats = %v", m)
			}
			if v, ok := m["abc-side"]; !ok || v != nil {
				t.Errorf("a container without stats must be null, got %v", m)
			}
		}},
		{"/v4/unknown", 404, nil},
		{"/v4/tok-app/nope", 404, nil},
		{"/v3/tok-app", 404, nil},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			code, m := get(t, srv, tt.path)
			if code != tt.status {
				t.Fatalf("status = %d, want %d (%v)", code, tt.status, m)
			}
			if tt.check != nil {
				tt.check(t, m)
			}
		})
	}
}

func TestStatsPreviousSample(t *testing.T) {
	f := newFake()
	srv := httptest.NewServer(New(f, nil))
	defer srv.Close()
	_, first := get(t, srv, "/v4/tok-app/stats")
	if first["precpu_stats"].(map[string]any)["cpu_usage"].(map[string]any)["total_usage"] != float64(0) {
		t.Fatalf("first read has a previous sample: %v", first["precpu_stats"])
	}
	s := f.stats["abc-app"]
	s.CPUTotal, s.Read = 7e9, s.Read.Add(time.Second)
	f.stats["abc-app"] = s
	_, second := get(t, srv, "/v4/tok-app/stats")
	if got := second["precpu_stats"].(map[string]any)["cpu_usage"].(map[string]any)["total_usage"]; got != float64(5e9) {
		t.Fatalf("precpu total = %v, want the first sample's 5e9", got)
	}
}

func TestOnlyGet(t *testing.T) {
	srv := httptest.NewServer(New(newFake(), nil))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/v4/tok-app", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST status = %d", resp.StatusCode)
	}
}
