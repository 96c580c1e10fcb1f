package engine

import (
	"context"
	"errors"
	"testing"

	"github.com/berth/berth/internal/agent/runtime"
	"github.com/berth/berth/internal/agent/taskstate"
	"github.com/berth/berth/internal/agentproto"
	"github.com/berth/berth/internal/ecs"
)

func TestMetadataSnapshot(t *testing.T) {
	h := newHarness(t)
	web := ctr("web", true)
	web.ContainerARN = "arn:aws:ecs:eu-west-1:123456789012:container/prod/t1/c-1"
	web.PortMappings = []agentproto.PortMapping{{ContainerPort: 80, HostPort: 49153}}
	web.DockerConfig = agentproto.DockerConfig{Config: `{"Labels":{"team":"x"}}`, HostConfig: `{"MemoryReservation":1048576}`}
	p := payload("t1", web, ctr("side", false))
	p.CPU, p.Memory, p.ServiceName = 0.25, 512, "svc"
	h.apply(p)
	h.waitReported(p.ARN, ecs.TaskRunning)

	token := h.eng.snapshotToken(p.ARN, 0)
	s, i, ok := h.eng.ContainerByToken(token)
	if !ok || i != 0 {
		t.Fatalf("ContainerByToken = %d %v", i, ok)
	}
	if s.ARN != p.ARN || s.Family != "web" || s.Version != "3" || s.KnownStatus != ecs.TaskRunning || s.DesiredStatus != ecs.TaskRunning ||
		s.CPU != 0.25 || s.Memory != 512 || s.ServiceName != "svc" || s.NetworkMode != "bridge" || s.Network == nil || s.Network.IPv4 != "10.213.0.5" {
		t.Errorf("task snapshot = %+v", s)
	}
	c := s.Containers[0]
	if c.Name != "web" || c.ARN != web.ContainerARN || c.RuntimeID != "t1-web" || c.Image != testImage || c.ImageDigest == "" ||
		c.KnownStatus != taskstate.ContainerRunning || c.CreatedAt.IsZero() || c.StartedAt.IsZero() || c.Labels["team"] != "x" ||
		c.Labels[LabelTaskARN] != p.ARN || c.CPU != 10 || c.Memory != 64 || c.MemoryReservation != 1<<20 ||
		len(c.Ports) != 1 || c.Ports[0].HostPort != 49153 || c.MetadataToken != token {
		t.Errorf("container snapshot = %+v", c)
	}
	if _, _, ok := h.eng.ContainerByToken("nope"); ok {
		t.Error("unknown token found")
	}

	st, err := h.eng.Stats(context.Background(), token)
	if err != nil || st.Memory.Usage != 1<<20 {
		t.Errorf("Stats = %+v, %v", st, err)
	}
	if _, err := h.eng.ContainerStats(context.Background(), "t1-side"); err != nil {
		t.Errorf("ContainerStats: %v", err)
	}
	if _, err := h.eng.ContainerStats(context.Background(), "someone-else"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("ContainerStats of an unmanaged container = %v", err)
	}

	// Snapshots are copies.
	s.Containers[0].Labels["team"] = "changed"
	s.Containers[0].Ports[0].HostPort = 1
	again, _ := h.eng.Task(p.ARN)
	if again.Containers[0].Labels["team"] != "x" || again.Containers[0].Ports[0].HostPort != 49153 {
		t.Error("a snapshot aliases the engine's state")
	}

	h.rt.exitCtr("t1-web", 0, false)
	h.waitReported(p.ARN, ecs.TaskStopped)
	waitFor(t, "stopped snapshot", func() bool {
		s, _ := h.eng.Task(p.ARN)
		return s.KnownStatus == ecs.TaskStopped && !s.ExecutionStoppedAt.IsZero()
	})
	if _, err := h.eng.Stats(context.Background(), token); !errors.Is(err, runtime.ErrNotRunning) {
		t.Errorf("Stats of a stopped container = %v", err)
	}
	s, _ = h.eng.Task(p.ARN)
	if ec := s.Containers[0].ExitCode; ec == nil || *ec != 0 || s.Containers[0].FinishedAt.IsZero() {
		t.Errorf("stopped container snapshot = %+v", s.Containers[0])
	}
}
