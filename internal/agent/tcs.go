package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/berth/berth/internal/agentproto"
)

// containerSample is one reading of a running container's resource use.
type containerSample struct {
	TaskARN, Family, Version string
	Container                string
	// CPUUsage is the container's cumulative CPU time.
	CPUUsage time.Duration
	// MemoryBytes is the container's current memory use.
	MemoryBytes uint64
}

// statsSource reads the resource use of every running container.
type statsSource interface {
	ContainerSamples(ctx context.Context) ([]containerSample, error)
}

// maxTasksPerMetricsMessage splits a publication into messages, as the
// real agent does; the last one has fin set.
const maxTasksPerMetricsMessage = 10

// epochSeconds is t as fractional epoch seconds.
func epochSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func newMessageID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// containerHealth is one container's health, as the engine reports it.
type containerHealth struct {
	Container string
	Status    string // HEALTHY, UNHEALTHY or UNKNOWN
	Since     time.Time
}

// healthBook holds the latest health of every container with a health
// check and which tasks changed since they were last published.
type healthBook struct {
	mu     sync.Mutex
	tasks  map[string]*agentproto.TaskHealth
	dirty  map[string]bool
	notify chan struct{}
}

func newHealthBook() *healthBook {
	return &healthBook{tasks: map[string]*agentproto.TaskHealth{}, dirty: map[string]bool{}, notify: make(chan struct{}, 1)}
}

// set records a task's container health and wakes the publisher if it
// changed.
func (h *healthBook) set(taskARN, clusterARN, family, version string, containers []containerHealth) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.tasks[taskARN]
	if !ok {
		t = &agentproto.TaskHealth{TaskARN: taskARN, ClusterARN: clusterARN, TaskDefinitionFamily: family, TaskDefinitionVersion: version}
		h.tasks[taskARN] = t
	}
	changed := !ok
	for _, c := range containers {
		found := false
		for i := range t.Containers {
			if t.Containers[i].ContainerName == c.Container {
				found = true
				if t.Containers[i].HealthStatus != c.Status {
					t.Containers[i].HealthStatus, t.Containers[i].StatusSince = c.Status, epochSeconds(c.Since)
					changed = true
				}
			}
		}
		if !found {
			t.Containers = append(t.Containers, agentproto.ContainerHealth{ContainerName: c.Container, HealthStatus: c.Status, StatusSince: epochSeconds(c.Since)})
			changed = true
		}
	}
	if changed {
		h.dirty[taskARN] = true
		select {
		case h.notify <- struct{}{}:
		default:
		}
	}
}

// forget drops a task (it stopped).
func (h *healthBook) forget(taskARN string) {
	h.mu.Lock()
	delete(h.tasks, taskARN)
	delete(h.dirty, taskARN)
	h.mu.Unlock()
}

// markAllDirty makes the next take return every task (after a reconnect).
func (h *healthBook) markAllDirty() {
	h.mu.Lock()
	for arn := range h.tasks {
		h.dirty[arn] = true
	}
	h.mu.Unlock()
}

// take returns the changed tasks and clears the changed set.
func (h *healthBook) take() []agentproto.TaskHealth {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []agentproto.TaskHealth
	for arn := range h.dirty {
		if t, ok := h.tasks[arn]; ok {
			c := *t
			c.Containers = append([]agentproto.ContainerHealth(nil), t.Containers...)
			out = append(out, c)
		}
	}
	clear(h.dirty)
	sort.Slice(out, func(i, j int) bool { return out[i].TaskARN < out[j].TaskARN })
	return out
}

// putBack marks tasks changed again after a failed send.
func (h *healthBook) putBack(tasks []agentproto.TaskHealth) {
	h.mu.Lock()
	for _, t := range tasks {
		if _, ok := h.tasks[t.TaskARN]; ok {
			h.dirty[t.TaskARN] = true
		}
	}
	h.mu.Unlock()
}

// metricsWindow aggregates container samples between two publishes.
type metricsWindow struct {
	last map[string]cpuReading // by task ARN + container
	sets map[string]*containerSets
}

type cpuReading struct {
	usage time.Duration
	at    time.Time
}

type containerSets struct {
	task, family, version, container string
	cpu, mem                         agentproto.CWStatsSet
}

func newMetricsWindow() *metricsWindow {
	return &metricsWindow{last: map[string]cpuReading{}, sets: map[string]*containerSets{}}
}

func addSample(s *agentproto.CWStatsSet, v float64) {
	if s.SampleCount == 0 || v < s.Min {
		s.Min = v
	}
	if s.SampleCount == 0 || v > s.Max {
		s.Max = v
	}
	s.Sum += v
	s.SampleCount++
}

// add records samples taken at now. CPU is reported as percent of one CPU
// over the time since the container's previous sample; memory in MiB.
func (w *metricsWindow) add(samples []containerSample, now time.Time) {
	seen := map[string]bool{}
	for _, s := range samples {
		key := s.TaskARN + "\x00" + s.Container
		seen[key] = true
		cs, ok := w.sets[key]
		if !ok {
			cs = &containerSets{task: s.TaskARN, family: s.Family, version: s.Version, container: s.Container}
			w.sets[key] = cs
		}
		addSample(&cs.mem, float64(s.MemoryBytes)/(1<<20))
		if prev, ok := w.last[key]; ok && now.After(prev.at) && s.CPUUsage >= prev.usage {
			addSample(&cs.cpu, 100*float64(s.CPUUsage-prev.usage)/float64(now.Sub(prev.at)))
		}
		w.last[key] = cpuReading{usage: s.CPUUsage, at: now}
	}
	for key := range w.last {
		if !seen[key] {
			delete(w.last, key)
		}
	}
}

// flush returns the window's metrics by task and starts a new window.
func (w *metricsWindow) flush() []agentproto.TaskMetric {
	byTask := map[string]*agentproto.TaskMetric{}
	for _, cs := range w.sets {
		t, ok := byTask[cs.task]
		if !ok {
			t = &agentproto.TaskMetric{TaskARN: cs.task, TaskDefinitionFamily: cs.family, TaskDefinitionVersion: cs.version}
			byTask[cs.task] = t
		}
		m := agentproto.ContainerMetric{ContainerName: cs.container}
		mem := cs.mem
		m.MemoryStatsSet = &mem
		if cs.cpu.SampleCount > 0 {
			cpu := cs.cpu
			m.CPUStatsSet = &cpu
		}
		t.ContainerMetrics = append(t.ContainerMetrics, m)
	}
	clear(w.sets)
	out := make([]agentproto.TaskMetric, 0, len(byTask))
	for _, t := range byTask {
		sort.Slice(t.ContainerMetrics, func(i, j int) bool { return t.ContainerMetrics[i].ContainerName < t.ContainerMetrics[j].ContainerName })
		out = append(out, *t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TaskARN < out[j].TaskARN })
	return out
}

// metricsMessages splits one publication into PublishMetricsRequests of
// at most maxTasksPerMetricsMessage tasks; an idle instance sends one
// message with idle set and no tasks.
func metricsMessages(cluster, instanceARN string, tasks []agentproto.TaskMetric, now time.Time) []agentproto.PublishMetricsRequest {
	var out []agentproto.PublishMetricsRequest
	for len(tasks) > 0 || len(out) == 0 {
		n := min(len(tasks), maxTasksPerMetricsMessage)
		out = append(out, agentproto.PublishMetricsRequest{
			Metadata: agentproto.MetricsMetadata{Cluster: cluster, ContainerInstance: instanceARN,
				MessageID: newMessageID(), Idle: len(tasks) == 0},
			TaskMetrics: append([]agentproto.TaskMetric{}, tasks[:n]...),
			Timestamp:   epochSeconds(now),
		})
		tasks = tasks[n:]
	}
	out[len(out)-1].Metadata.Fin = true
	return out
}

// tcsClient publishes metrics and container health over the TCS socket.
type tcsClient struct {
	dialer      *wsDialer
	endpoints   endpointSource
	stats       statsSource // nil: no metrics, idle reports only
	health      *healthBook
	cluster     string
	instanceARN string
	version     string
	hash        string
	runtime     string
	timing      Timing
	log         *slog.Logger
}

// run keeps TCS up until ctx ends or the server says the instance is
// inactive (ACS handles that). TCS failures never affect tasks.
func (c *tcsClient) run(ctx context.Context) {
	b := newBackoff(c.timing.TCSBackoffMin, c.timing.TCSBackoffMax, 1.5, 0.2)
	for {
		start := time.Now()
		connected, err := c.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if isInactive(err) {
			c.log.Warn("TCS: the container instance is inactive; telemetry stops", "error", err)
			return
		}
		if connected && (reconnectAtOnce(err) || time.Since(start) >= c.timing.IdleTimeout) {
			b.Reset()
		}
		d := b.Next()
		c.log.Warn("TCS connection ended; reconnecting", "error", err, "in", d)
		if !sleep(ctx, d) {
			return
		}
	}
}

func (c *tcsClient) session(ctx context.Context) (bool, error) {
	_, base, err := c.endpoints.Endpoints(ctx)
	if err != nil {
		return false, fmt.Errorf("discover TCS endpoint: %w", err)
	}
	u, err := socketURL(base, url.Values{
		"agentHash":         {c.hash},
		"agentVersion":      {c.version},
		"cluster":           {c.cluster},
		"containerInstance": {c.instanceARN},
		"dockerVersion":     {c.runtime},
	})
	if err != nil {
		return false, err
	}
	conn, err := c.dialer.dial(ctx, u)
	if err != nil {
		return false, err
	}
	c.log.Info("TCS connected", "url", u.Scheme+"://"+u.Host+u.Path)
	s := &acsConn{conn: conn} // reuse the close bookkeeping
	return true, c.serve(ctx, s, u)
}

func (c *tcsClient) serve(ctx context.Context, s *acsConn, u *url.URL) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	idle, release := s.watch(ctx, c.timing)
	defer release()

	readErr := make(chan error, 1)
	go func() {
		for {
			_, frame, err := s.conn.ReadMessage()
			if err != nil {
				readErr <- s.reason(err)
				return
			}
			idle.Reset(jittered(c.timing.IdleTimeout, c.timing.IdleJitter))
			if env, err := agentproto.Decode(frame); err == nil && isExceptionType(env.Type) {
				se := &ServerError{Type: env.Type}
				var m agentproto.ErrorBody
				if json.Unmarshal(env.Message, &m) == nil {
					se.Message = m.Message
				}
				if se.Type == agentproto.TypeInactiveInstanceException {
					s.end(se)
					continue
				}
				c.log.Warn("TCS: server exception", "type", se.Type, "message", se.Message)
			}
		}
	}()

	send := func(typ string, msg any) error {
		payload, err := agentproto.Encode(typ, msg)
		if err != nil {
			return err
		}
		frame, err := c.dialer.signFrame(ctx, u, payload)
		if err != nil {
			return err
		}
		s.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
		if err := s.conn.WriteMessage(websocket.TextMessage, frame); err != nil {
			return fmt.Errorf("TCS write %s: %w", typ, err)
		}
		return nil
	}

	window := newMetricsWindow()
	sample := func() {
		if c.stats == nil {
			return
		}
		samples, err := c.stats.ContainerSamples(ctx)
		if err != nil {
			c.log.Debug("TCS: read container stats", "error", err)
			return
		}
		window.add(samples, time.Now())
	}
	publishMetrics := func() error {
		for _, m := range metricsMessages(c.cluster, c.instanceARN, window.flush(), time.Now()) {
			if err := send(agentproto.TypePublishMetrics, m); err != nil {
				return err
			}
		}
		return nil
	}
	publishHealth := func() error {
		tasks := c.health.take()
		if len(tasks) == 0 {
			return nil
		}
		err := send(agentproto.TypePublishHealth, agentproto.PublishHealthRequest{
			Metadata:  agentproto.HealthMetadata{Cluster: c.cluster, ContainerInstance: c.instanceARN, MessageID: newMessageID(), Fin: true},
			Tasks:     tasks,
			Timestamp: epochSeconds(time.Now()),
		})
		if err != nil {
			c.health.putBack(tasks)
		}
		return err
	}

	sample()
	if err := publishMetrics(); err != nil {
		return err
	}
	c.health.markAllDirty()
	if err := publishHealth(); err != nil {
		return err
	}
	sampleEvery := max(c.timing.MetricsInterval/4, 10*time.Millisecond)
	sampler := time.NewTicker(sampleEvery)
	defer sampler.Stop()
	publisher := time.NewTicker(c.timing.MetricsInterval)
	defer publisher.Stop()
	for {
		select {
		case err := <-readErr:
			return err
		case <-sampler.C:
			sample()
		case <-publisher.C:
			if err := publishMetrics(); err != nil {
				return err
			}
		case <-c.health.notify:
			if err := publishHealth(); err != nil {
				return err
			}
		}
	}
}
