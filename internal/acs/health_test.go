package acs

import (
	"net/netip"
	"testing"

	"github.com/berth/berth/internal/agentproto"
	"github.com/berth/berth/internal/ecs"
)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// healthTask has an essential checked container "web", an essential
// unchecked "log" and a non-essential checked "side".
func healthTask(web, log, side string) ecs.Task {
	check := &ecs.HealthCheck{Command: []string{"CMD", "true"}}
	return ecs.Task{
		Definition: ecs.TaskDefinition{ContainerDefinitions: []ecs.ContainerDefinition{
			{Name: "web", HealthCheck: check},
			{Name: "log"},
			{Name: "side", Essential: new(false), HealthCheck: check},
		}},
		Containers: []ecs.TaskContainer{{Name: "web", HealthStatus: web}, {Name: "log", HealthStatus: log}, {Name: "side", HealthStatus: side}},
	}
}

func TestTaskHealthStatus(t *testing.T) {
	noChecks := ecs.Task{Definition: ecs.TaskDefinition{ContainerDefinitions: []ecs.ContainerDefinition{{Name: "a"}}},
		Containers: []ecs.TaskContainer{{Name: "a", HealthStatus: "HEALTHY"}}}
	onlySide := ecs.Task{Definition: ecs.TaskDefinition{ContainerDefinitions: []ecs.ContainerDefinition{
		{Name: "a"}, {Name: "b", Essential: new(false), HealthCheck: &ecs.HealthCheck{Command: []string{"CMD", "x"}}}}},
		Containers: []ecs.TaskContainer{{Name: "b", HealthStatus: "HEALTHY"}}}
	twoChecked := func(a, b string) ecs.Task {
		check := &ecs.HealthCheck{Command: []string{"CMD", "true"}}
		return ecs.Task{Definition: ecs.TaskDefinition{ContainerDefinitions: []ecs.ContainerDefinition{{Name: "a", HealthCheck: check}, {Name: "b", HealthCheck: check}}},
			Containers: []ecs.TaskContainer{{Name: "a", HealthStatus: a}, {Name: "b", HealthStatus: b}}}
	}
	tests := []struct {
		name string
		task ecs.Task
		want string
	}{
		{"essential healthy", healthTask("HEALTHY", "", ""), "HEALTHY"},
		{"essential unhealthy", healthTask("UNHEALTHY", "", "HEALTHY"), "UNHEALTHY"},
		{"essential not yet reported", healthTask("", "", "HEALTHY"), "UNKNOWN"},
		{"essential unknown", healthTask("UNKNOWN", "", ""), "UNKNOWN"},
		{"non-essential unhealthy does not count", healthTask("HEALTHY", "", "UNHEALTHY"), "HEALTHY"},
		{"no health checks", noChecks, "UNKNOWN"},
		{"only a non-essential check", onlySide, "UNKNOWN"},
		{"all of two healthy", twoChecked("HEALTHY", "HEALTHY"), "HEALTHY"},
		{"one of two pending", twoChecked("HEALTHY", "UNKNOWN"), "UNKNOWN"},
		{"one of two unhealthy", twoChecked("UNKNOWN", "UNHEALTHY"), "UNHEALTHY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TaskHealthStatus(&tt.task); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestApplyHealth(t *testing.T) {
	task := healthTask("", "", "")
	task.HealthStatus = ecs.HealthUnknown
	if applyHealth(&task, nil) {
		t.Error("empty report changed the task")
	}
	reports := []agentproto.ContainerHealth{
		{ContainerName: "web", HealthStatus: "HEALTHY"},
		{ContainerName: "side", HealthStatus: "BOGUS"},
		{ContainerName: "missing", HealthStatus: "UNHEALTHY"},
	}
	if !applyHealth(&task, reports) {
		t.Fatal("no change reported")
	}
	if task.Containers[0].HealthStatus != "HEALTHY" || task.Containers[2].HealthStatus != "" || task.HealthStatus != "HEALTHY" {
		t.Fatalf("%+v", task)
	}
	if applyHealth(&task, reports) {
		t.Error("the same report changed the task again")
	}
	if !applyHealth(&task, []agentproto.ContainerHealth{{ContainerName: "web", HealthStatus: "UNHEALTHY"}}) || task.HealthStatus != "UNHEALTHY" {
		t.Errorf("%+v", task)
	}
}

func TestTCSFrame(t *testing.T) {
	const body = `{"type":"PublishHealthRequest","message":{}}`
	tests := []struct{ name, in, want string }{
		{"plain", body, body},
		{"plain with leading space", " \r\n" + body, body},
		{"header block", "Authorization: AWS4-HMAC-SHA256 Credential=x\r\nHost: h\r\nX-Amz-Date: 20260101T000000Z\r\n\r\n" + body, body},
		{"garbage stays garbage", "nothing here", "nothing here"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(tcsFrame([]byte(tt.in))); got != tt.want {
				t.Errorf("got %q", got)
			}
		})
	}
}
