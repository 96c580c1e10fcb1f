package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/berth/berth/internal/agent/engine"
	"github.com/berth/berth/internal/agent/network"
	"github.com/berth/berth/internal/agent/runtime"
	"github.com/berth/berth/internal/agent/tmds"
)

// tokenLookup finds the container a metadata token names.
type tokenLookup interface {
	ContainerByToken(token string) (engine.TaskSnapshot, int, bool)
}

// metadataSource serves the task metadata endpoint from the engine's
// snapshots and the runtime's stats.
type metadataSource struct {
	engine  tokenLookup
	stats   statsReader
	cluster string
	zone    string
}

var _ tmds.Source = (*metadataSource)(nil)

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// Lookup implements tmds.Source.
func (m *metadataSource) Lookup(token string) (tmds.Task, int, bool) {
	s, idx, ok := m.engine.ContainerByToken(token)
	if !ok {
		return tmds.Task{}, 0, false
	}
	return m.task(&s), idx, true
}

// task maps a snapshot to the v4 task metadata shape.
func (m *metadataSource) task(s *engine.TaskSnapshot) tmds.Task {
	cluster := s.ClusterARN
	if cluster == "" {
		cluster = m.cluster
	}
	zone := s.Zone
	if zone == "" {
		zone = m.zone
	}
	t := tmds.Task{
		Cluster: cluster, TaskARN: s.ARN, Family: s.Family, Revision: s.Version,
		DesiredStatus: s.DesiredStatus.String(), KnownStatus: s.KnownStatus.String(),
		PullStartedAt: optTime(s.PullStartedAt), PullStoppedAt: optTime(s.PullStoppedAt),
		ExecutionStoppedAt: optTime(s.ExecutionStoppedAt),
		AvailabilityZone:   zone, LaunchType: s.LaunchType, ServiceName: s.ServiceName,
		Containers: make([]tmds.Container, 0, len(s.Containers)),
	}
	if s.CPU > 0 || s.Memory > 0 {
		t.Limits = &tmds.Limits{CPU: s.CPU, Memory: int64(s.Memory)}
	}
	for _, c := range s.Containers {
		tc := tmds.Container{
			DockerID: c.RuntimeID, Name: c.Name, DockerName: c.RuntimeID, Image: c.Image, ImageID: c.ImageDigest,
			Labels: c.Labels, DesiredStatus: c.DesiredStatus.String(), KnownStatus: c.KnownStatus.String(),
			ExitCode: c.ExitCode, Limits: tmds.Limits{CPU: float64(c.CPU), Memory: int64(c.Memory)},
			CreatedAt: optTime(c.CreatedAt), StartedAt: optTime(c.StartedAt), FinishedAt: optTime(c.FinishedAt),
			Type: "NORMAL", ContainerARN: c.ARN,
		}
		if c.HasHealthCheck {
			tc.Health = &tmds.Health{Status: c.Health.Status.String(), StatusSince: optTime(c.Health.Since),
				ExitCode: c.Health.ExitCode, Output: c.Health.Output}
		}
		if n := s.Network; n != nil {
			tn := tmds.Network{NetworkMode: n.Mode}
			if n.IPv4 != "" {
				tn.IPv4Addresses = []string{n.IPv4}
			}
			if n.Mode == network.ModeAWSVPC {
				tn.MACAddress, tn.IPv4SubnetCIDRBlock, tn.SubnetGatewayIpv4Address = n.MAC, n.SubnetCIDR, n.Gateway
			}
			tc.Networks = []tmds.Network{tn}
		}
		for _, p := range c.Ports {
			tc.Ports = append(tc.Ports, tmds.Port{ContainerPort: p.ContainerPort, Protocol: p.Protocol, HostPort: p.HostPort, HostIP: p.BindIP})
		}
		t.Containers = append(t.Containers, tc)
	}
	return t
}

// Stats implements tmds.Source.
func (m *metadataSource) Stats(ctx context.Context, runtimeID string) (tmds.Stats, error) {
	st, err := m.stats.Stats(ctx, runtimeID)
	if err != nil {
		return tmds.Stats{}, err
	}
	return tmdsStats(st), nil
}

func tmdsStats(st runtime.Stats) tmds.Stats {
	return tmds.Stats{
		Read: st.Read, CPUTotal: st.CPU.TotalUsage, CPUPerCPU: st.CPU.PercpuUsage,
		CPUKernel: st.CPU.UsageInKernelmode, CPUUser: st.CPU.UsageInUsermode,
		SystemCPU: st.CPU.SystemUsage, OnlineCPUs: int(st.CPU.OnlineCPUs),
		ThrottlePeriods: st.CPU.ThrottlingPeriods, ThrottledPeriods: st.CPU.ThrottledPeriods, ThrottledTime: st.CPU.ThrottledTime,
		MemoryUsage: st.Memory.Usage, MemoryMaxUsage: st.Memory.MaxUsage, MemoryLimit: st.Memory.Limit,
		MemoryStats: st.Memory.Stats, Pids: st.Pids.Current,
	}
}

// serveMetadata serves h on port of each address until ctx ends. Bridge
// gateway addresses exist only once a task of that mode is set up, so the
// listeners bind them before they exist (IP_FREEBIND).
func serveMetadata(ctx context.Context, addrs []string, port int, h http.Handler, log *slog.Logger) (<-chan struct{}, error) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	var lns []net.Listener
	for _, a := range addrs {
		ln, err := listenFreebind(ctx, net.JoinHostPort(a, strconv.Itoa(port)))
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("task metadata listener: %w", err)
		}
		lns = append(lns, ln)
	}
	done := make(chan struct{})
	served := make(chan struct{}, len(lns))
	for _, ln := range lns {
		go func() {
			defer func() { served <- struct{}{} }()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("task metadata server", "addr", ln.Addr().String(), "error", err)
			}
		}()
	}
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		for range lns {
			<-served
		}
	}()
	return done, nil
}
