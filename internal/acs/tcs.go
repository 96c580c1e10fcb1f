package acs

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/berth/berth/internal/agentproto"
	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
)

// ackText is the message of TCS acknowledgements.
const ackText = "ok"

// tcsSession is one agent's TCS connection.
type tcsSession struct {
	*conn
	h   *Handler
	key instKey
	adm admission
	log *slog.Logger
}

// serveTCS runs an upgraded TCS connection until it ends.
func (h *Handler) serveTCS(ctx context.Context, ws *websocket.Conn, adm admission) {
	k := instKey{adm.cluster, adm.inst.ID}
	log := h.log.With("channel", kindTCS, "cluster", adm.cluster, "instance", adm.inst.ID)
	s := &tcsSession{conn: newConn(ws, log, h.readTimeout()), h: h, key: k, adm: adm, log: log}
	old, ok := h.hub.addTCS(k, s)
	if !ok {
		s.closeWith(websocket.CloseGoingAway, "server shutting down")
		return
	}
	defer h.hub.done()
	h.live.Add(1) // counted until done, so that Close sees zero
	defer h.live.Add(-1)
	defer h.hub.removeTCS(k, s)
	if old != nil {
		old.stop(stopReplaced)
	}
	log.Debug("telemetry connected")
	s.run(ctx)
	log.Debug("telemetry disconnected")
}

func (s *tcsSession) run(ctx context.Context) {
	hb := time.NewTicker(s.h.hbEvery)
	defer hb.Stop()
	for {
		var err error
		select {
		case f, ok := <-s.frames:
			if !ok {
				s.drop()
				return
			}
			err = s.handleFrame(ctx, f)
		case <-hb.C:
			err = s.send(agentproto.TypeHeartbeat, agentproto.HeartbeatMessage{MessageID: newMessageID(), Healthy: true})
		case <-s.resyncCh:
			err = s.checkInstance(ctx)
		case <-s.stopCh:
			switch s.reason {
			case stopReplaced:
				s.closeWith(websocket.ClosePolicyViolation, "replaced by a newer connection of this container instance")
			case stopInactive:
				s.send(agentproto.TypeInactiveInstanceException, agentproto.ErrorBody{Message: "Container instance " + s.adm.inst.ARN + " is inactive (deregistered)."})
				s.closeWith(websocket.CloseNormalClosure, agentproto.TypeInactiveInstanceException)
			default:
				s.closeWith(websocket.CloseGoingAway, "server shutting down")
			}
			return
		}
		if err != nil {
			if !errors.Is(err, errWrite) {
				s.log.Warn("ending TCS session", "err", err)
				s.closeWith(websocket.CloseInternalServerErr, "server error")
				return
			}
			s.drop()
			return
		}
	}
}

// checkInstance ends the session if the instance was deregistered while
// the store watch was not looking.
func (s *tcsSession) checkInstance(ctx context.Context) error {
	inst, _, err := state.Get[ecs.ContainerInstance](ctx, s.h.store, state.InstanceKey(s.key.cluster, s.key.id))
	if errors.Is(err, store.ErrNotFound) || (err == nil && inst.Status == ecs.InstanceInactive) {
		s.stop(stopInactive)
		return nil
	}
	return err
}

// tcsFrame returns the JSON envelope of a TCS frame: the agent prefixes
// it with its signing headers and a blank line; plain JSON is accepted too.
// The upgrade was authenticated, so the per-frame signature is not checked.
func tcsFrame(f []byte) []byte {
	trimmed := bytes.TrimLeft(f, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '{' {
		return trimmed
	}
	if _, body, ok := bytes.Cut(f, []byte("\r\n\r\n")); ok {
		return body
	}
	return f
}

func (s *tcsSession) handleFrame(ctx context.Context, f []byte) error {
	env, err := agentproto.Decode(tcsFrame(f))
	if err != nil {
		s.log.Warn("undecodable frame from agent", "err", err)
		return nil
	}
	switch env.Type {
	case agentproto.TypePublishMetrics:
		var m agentproto.PublishMetricsRequest
		if err := decodeMessage(env, &m); err != nil {
			s.log.Warn("bad frame", "err", err)
			return nil
		}
		s.h.metrics.put(s.key.cluster, s.adm.inst.ARN, s.h.now(), m.TaskMetrics, s.h.taskRef)
		return s.send(agentproto.TypeAckPublishMetric, agentproto.TelemetryAck{Message: ackText})
	case agentproto.TypePublishHealth:
		var m agentproto.PublishHealthRequest
		if err := decodeMessage(env, &m); err != nil {
			s.log.Warn("bad frame", "err", err)
			return nil
		}
		if err := s.publishHealth(ctx, &m); err != nil {
			return err
		}
		return s.send(agentproto.TypeAckPublishHealth, agentproto.TelemetryAck{Message: ackText})
	case agentproto.TypePublishInstanceStatus:
		return s.send(agentproto.TypeAckPublishInstanceStatus, agentproto.TelemetryAck{Message: ackText})
	default:
		s.log.Debug("ignoring frame from agent", "type", env.Type)
	}
	return nil
}

// publishHealth records container health on the tasks of this instance;
// reports about tasks elsewhere are ignored (and logged).
func (s *tcsSession) publishHealth(ctx context.Context, m *agentproto.PublishHealthRequest) error {
	for _, th := range m.Tasks {
		cluster, id, ok := s.h.taskRef(th.TaskARN)
		if !ok || cluster != s.key.cluster {
			s.log.Warn("access denied: health report for a task not on this instance", "task", th.TaskARN)
			continue
		}
		_, err := s.h.updateTask(ctx, cluster, id, func(t *ecs.Task) error {
			if t.ContainerInstanceID != s.key.id {
				return errNotHere
			}
			if t.Stopped() || !applyHealth(t, th.Containers) {
				return errUnchanged
			}
			t.Version++
			return nil
		})
		switch {
		case err == nil, errors.Is(err, errUnchanged):
		case errors.Is(err, errNotHere), errors.Is(err, errGone):
			s.log.Warn("access denied: health report for a task not on this instance", "task", th.TaskARN)
		default:
			return err
		}
	}
	return nil
}

// metricsTTL is how long published metrics are kept.
const metricsTTL = 5 * time.Minute

// TaskMetrics is the latest metrics an agent published for one task.
// ContainerInstanceARN names the instance whose agent published them:
// metrics are not checked against task placement, so a consumer that
// cares compares it with the task's instance.
type TaskMetrics struct {
	ContainerInstanceARN string
	ReceivedAt           time.Time
	Metric               agentproto.TaskMetric
}

// LatestMetrics returns the latest metrics published for a task in the
// last five minutes, if any.
func (h *Handler) LatestMetrics(taskARN string) (TaskMetrics, bool) {
	return h.metrics.get(taskARN, h.now())
}

type metricsCache struct {
	mu        sync.Mutex
	byTask    map[string]TaskMetrics
	lastSweep time.Time
}

func newMetricsCache() *metricsCache { return &metricsCache{byTask: map[string]TaskMetrics{}} }

// put keeps the metrics of tasks of cluster (by ARN) and forgets entries
// older than metricsTTL.
func (m *metricsCache) put(cluster, instARN string, now time.Time, ms []agentproto.TaskMetric, ref func(string) (string, string, bool)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, tm := range ms {
		if c, _, ok := ref(tm.TaskARN); !ok || c != cluster {
			continue
		}
		m.byTask[tm.TaskARN] = TaskMetrics{ContainerInstanceARN: instARN, ReceivedAt: now, Metric: tm}
	}
	if now.Sub(m.lastSweep) < metricsTTL {
		return
	}
	m.lastSweep = now
	for k, v := range m.byTask {
		if now.Sub(v.ReceivedAt) > metricsTTL {
			delete(m.byTask, k)
		}
	}
}

func (m *metricsCache) get(taskARN string, now time.Time) (TaskMetrics, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.byTask[taskARN]
	if !ok || now.Sub(v.ReceivedAt) > metricsTTL {
		return TaskMetrics{}, false
	}
	return v, true
}
