package acs

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/berth/berth/internal/agentproto"
	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
)

const (
	// maxPayloadTasks caps the tasks of one PayloadMessage; more are sent
	// in several.
	maxPayloadTasks = 10
	// eventQueue is how many task changes may wait for a session; past
	// that the session re-reads the store instead.
	eventQueue = 64
)

// acsSession is one agent's ACS connection. Its state belongs to the
// goroutine running run.
type acsSession struct {
	*conn
	h   *Handler
	key instKey
	adm admission
	log *slog.Logger

	events chan *ecs.Task

	inst ecs.ContainerInstance // as of connect or the last resync
	// known is the highest Seq seen per task ARN, sent or not; a change
	// is pushed only when a task's Seq grows or the task is new.
	known      map[string]int64
	seq        int64                // last seqNum/timeline sent
	unacked    map[string]time.Time // payload/manifest messageId → sent at
	manifestID string
	lastSeen   time.Time // AgentSeenAt this session last wrote
}

// serveACS runs an upgraded ACS connection until it ends.
func (h *Handler) serveACS(ctx context.Context, ws *websocket.Conn, adm admission) {
	k := instKey{adm.cluster, adm.inst.ID}
	log := h.log.With("channel", kindACS, "cluster", adm.cluster, "instance", adm.inst.ID)
	s := &acsSession{
		conn: newConn(ws, log, h.readTimeout()), h: h, key: k, adm: adm, log: log,
		events: make(chan *ecs.Task, eventQueue), known: map[string]int64{}, unacked: map[string]time.Time{},
	}

	unlock := h.hub.lock(k)
	old, ok := h.hub.addACS(k, s)
	if !ok {
		unlock()
		s.closeWith(websocket.CloseGoingAway, "server shutting down")
		return
	}
	defer h.hub.done()
	h.live.Add(1) // counted until done, so that Close sees zero
	defer h.live.Add(-1)
	if old != nil {
		log.Info("agent reconnected; replacing its previous ACS connection")
		old.stop(stopReplaced)
	}
	now := h.now()
	inst, err := h.markConnected(ctx, k, &adm, now)
	if err != nil {
		h.hub.removeACS(k, s)
		unlock()
		s.refuseOpen(err)
		return
	}
	s.inst, s.lastSeen = inst, now
	unlock()
	log.Info("agent connected", "agentVersion", adm.version.AgentVersion)

	s.run(ctx)

	unlock = h.hub.lock(k)
	defer unlock()
	if h.hub.removeACS(k, s) {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		defer cancel()
		if err := h.markDisconnected(wctx, k, s.lastSeen); err != nil {
			log.Warn("could not record the agent's disconnection", "err", err)
		}
	}
	log.Info("agent disconnected")
}

// refuseOpen ends a connection whose instance changed between the checks
// of the upgrade and the connect bookkeeping.
func (s *acsSession) refuseOpen(err error) {
	typ, msg := agentproto.TypeServerException, "The server could not record the connection; try again."
	switch {
	case errors.Is(err, errInactive):
		typ, msg = agentproto.TypeInactiveInstanceException, "Container instance "+s.adm.inst.ARN+" is inactive (deregistered)."
	case errors.Is(err, errGone):
		typ, msg = agentproto.TypeInvalidInstanceException, "Container instance "+s.adm.inst.ARN+" no longer exists."
	case errors.Is(err, errNotOwner):
		typ, msg = agentproto.TypeAccessDeniedException, "Container instance "+s.adm.inst.ARN+" was re-registered by another credential."
	default:
		s.log.Error("could not record the agent's connection", "err", err)
	}
	s.send(typ, agentproto.ErrorBody{Message: msg})
	s.closeWith(websocket.CloseNormalClosure, typ)
}

// readTimeout is how long a session waits for any frame: three heartbeat
// intervals (the agent answers each heartbeat), at least minReadTimeout.
func (h *Handler) readTimeout() time.Duration { return max(3*h.hbEvery, minReadTimeout) }

// deliver hands a changed task to the session; when the session is behind
// it re-reads the store instead.
func (s *acsSession) deliver(t *ecs.Task) {
	select {
	case s.events <- t:
	default:
		s.resyncNow()
	}
}

func (s *acsSession) run(ctx context.Context) {
	hb := time.NewTicker(s.h.hbEvery)
	defer hb.Stop()
	mf := time.NewTicker(s.h.mfEvery)
	defer mf.Stop()
	err := s.resync(ctx)
	for err == nil {
		select {
		case f, ok := <-s.frames:
			if !ok {
				s.log.Debug("agent closed the connection", "err", s.readErr)
				s.drop()
				return
			}
			err = s.handleFrame(ctx, f)
		case <-hb.C:
			err = s.heartbeat()
		case <-mf.C:
			err = s.manifest(ctx)
		case t := <-s.events:
			err = s.pushChanged(ctx, t)
		case <-s.resyncCh:
			err = s.resync(ctx)
		case <-s.stopCh:
			s.finish(ctx)
			return
		}
	}
	select {
	case <-s.stopCh: // told to end while failing (Close cancels store reads)
		s.finish(ctx)
	default:
		s.fail(err)
	}
}

// fail ends the session after an error: a write that failed (the agent is
// gone) or a store that cannot be read.
func (s *acsSession) fail(err error) {
	if errors.Is(err, errWrite) {
		s.log.Debug("ending ACS session", "err", err)
		s.drop()
		return
	}
	s.log.Warn("ending ACS session", "err", err)
	s.send(agentproto.TypeServerException, agentproto.ErrorBody{Message: "The server hit an error; reconnect."})
	s.closeWith(websocket.CloseInternalServerErr, "server error")
}

// finish ends the session as told.
func (s *acsSession) finish(ctx context.Context) {
	switch s.reason {
	case stopReplaced:
		s.closeWith(websocket.ClosePolicyViolation, "replaced by a newer connection of this container instance")
	case stopShutdown:
		s.closeWith(websocket.CloseGoingAway, "server shutting down")
	case stopInactive:
		s.finishInactive(ctx)
	}
}

// finishInactive tells the agent of a deregistered instance to stop every
// task it still runs, then says the instance is inactive and closes.
func (s *acsSession) finishInactive(ctx context.Context) {
	tasks, err := s.h.instanceTasks(ctx, s.key)
	if err != nil {
		s.log.Warn("could not list the tasks of an inactive instance", "err", err)
	}
	var stop []ecs.Task
	for _, t := range tasks {
		if !t.Stopped() {
			t.DesiredStatus = ecs.TaskStopped
			stop = append(stop, t)
		}
	}
	if err := s.sendPayloads(stop); err != nil {
		s.drop()
		return
	}
	s.send(agentproto.TypeInactiveInstanceException, agentproto.ErrorBody{Message: "Container instance " + s.inst.ARN + " is inactive (deregistered)."})
	s.log.Info("instance deregistered; closing its ACS connection", "stoppedTasks", len(stop))
	s.closeWith(websocket.CloseNormalClosure, agentproto.TypeInactiveInstanceException)
}

// resync re-reads the instance and its tasks and pushes every task that is
// new to this session or whose Seq grew.
func (s *acsSession) resync(ctx context.Context) error {
	inst, _, err := state.Get[ecs.ContainerInstance](ctx, s.h.store, state.InstanceKey(s.key.cluster, s.key.id))
	if errors.Is(err, store.ErrNotFound) || (err == nil && inst.Status == ecs.InstanceInactive) {
		s.stop(stopInactive)
		return nil
	}
	if err != nil {
		return err
	}
	s.inst = inst
	tasks, err := s.h.instanceTasks(ctx, s.key)
	if err != nil {
		return err
	}
	var send []ecs.Task
	for _, t := range tasks {
		if s.consider(&t) {
			send = append(send, t)
		}
	}
	return s.sendPayloads(send)
}

// pushChanged sends t and any other queued changes in one payload.
func (s *acsSession) pushChanged(ctx context.Context, first *ecs.Task) error {
	var send []ecs.Task
	index := map[string]int{}
	add := func(t *ecs.Task) {
		if t.ContainerInstanceID != s.key.id || !s.consider(t) {
			return
		}
		if i, ok := index[t.ARN]; ok {
			send[i] = *t
			return
		}
		index[t.ARN] = len(send)
		send = append(send, *t)
	}
	add(first)
drain:
	for range eventQueue {
		select {
		case t := <-s.events:
			add(t)
		default:
			break drain
		}
	}
	return s.sendPayloads(send)
}

// consider records t's Seq and reports whether the agent must hear of it:
// it is not stopped and is new to this session or its Seq grew.
func (s *acsSession) consider(t *ecs.Task) bool {
	prev, seen := s.known[t.ARN]
	if seen && t.Seq <= prev {
		return false
	}
	s.known[t.ARN] = t.Seq
	return !t.Stopped()
}

// nextSeq returns the next seqNum/timeline of this connection.
func (s *acsSession) nextSeq() int64 {
	if s.seq == 0 {
		s.seq = s.h.hub.seqBase(s.key, s.h.now().UnixMilli())
	} else {
		s.seq++
	}
	s.h.hub.noteSeq(s.key, s.seq)
	return s.seq
}

// withPullCredentials gives the containers of a task to run the pull
// credentials of their images.
func (h *Handler) withPullCredentials(pt *agentproto.Task) {
	if h.pull == nil || pt.DesiredStatus != ecs.TaskRunning.String() {
		return
	}
	for i := range pt.Containers {
		if c := &pt.Containers[i]; c.RegistryAuthentication == nil {
			c.RegistryAuthentication = h.pull(c.Image)
		}
	}
}

// sendPayloads sends tasks in PayloadMessages of at most maxPayloadTasks.
func (s *acsSession) sendPayloads(tasks []ecs.Task) error {
	cidr := awsvpcCIDR(&s.inst)
	for len(tasks) > 0 {
		n := min(len(tasks), maxPayloadTasks)
		msg := agentproto.PayloadMessage{
			MessageID:            newMessageID(),
			ClusterARN:           s.adm.clusterARN,
			ContainerInstanceARN: s.inst.ARN,
			GeneratedAt:          s.h.now().UnixMilli(),
			SeqNum:               s.nextSeq(),
			Tasks:                make([]agentproto.Task, 0, n),
		}
		for _, t := range tasks[:n] {
			pt := PayloadTask(t, s.h.namer.Account)
			withGateway(&pt, cidr)
			s.h.withPullCredentials(&pt)
			msg.Tasks = append(msg.Tasks, pt)
		}
		if err := s.send(agentproto.TypePayload, msg); err != nil {
			return err
		}
		s.unacked[msg.MessageID] = time.Now()
		s.log.Debug("sent payload", "messageId", msg.MessageID, "seqNum", msg.SeqNum, "tasks", n)
		tasks = tasks[n:]
	}
	return nil
}

func (s *acsSession) heartbeat() error {
	for id, at := range s.unacked {
		if time.Since(at) > 2*s.h.hbEvery {
			s.log.Warn("agent has not acknowledged a message; it gets its tasks again when it reconnects", "messageId", id)
			delete(s.unacked, id)
		}
	}
	return s.send(agentproto.TypeHeartbeat, agentproto.HeartbeatMessage{MessageID: newMessageID(), Healthy: true})
}

// manifest sends the tasks the instance should be running or stopping.
func (s *acsSession) manifest(ctx context.Context) error {
	tasks, err := s.h.instanceTasks(ctx, s.key)
	if err != nil {
		return err
	}
	msg := agentproto.TaskManifestMessage{
		MessageID:            newMessageID(),
		ClusterARN:           s.adm.clusterARN,
		ContainerInstanceARN: s.inst.ARN,
		GeneratedAt:          s.h.now().UnixMilli(),
		Timeline:             s.nextSeq(),
		Tasks:                []agentproto.TaskIdentifier{},
	}
	for _, t := range tasks {
		if !t.Stopped() {
			msg.Tasks = append(msg.Tasks, agentproto.TaskIdentifier{TaskARN: t.ARN, TaskClusterARN: s.adm.clusterARN, DesiredStatus: t.DesiredStatus.String()})
		}
	}
	if err := s.send(agentproto.TypeTaskManifest, msg); err != nil {
		return err
	}
	s.manifestID = msg.MessageID
	s.unacked[msg.MessageID] = time.Now()
	return nil
}

// handleFrame acts on one frame from the agent. Undecodable frames are
// logged and skipped; only failures to answer end the session.
func (s *acsSession) handleFrame(ctx context.Context, f []byte) error {
	env, err := agentproto.Decode(f)
	if err != nil {
		s.log.Warn("undecodable frame from agent", "err", err)
		return nil
	}
	s.noteSeen(ctx)
	switch env.Type {
	case agentproto.TypeAck:
		var m agentproto.AckRequest
		if err := decodeMessage(env, &m); err != nil {
			s.log.Warn("bad frame", "err", err)
			return nil
		}
		if at, ok := s.unacked[m.MessageID]; ok {
			s.log.Debug("agent acknowledged", "messageId", m.MessageID, "after", time.Since(at))
			delete(s.unacked, m.MessageID)
		}
	case agentproto.TypeHeartbeatAck:
	case agentproto.TypeTaskStopVerification:
		var m agentproto.TaskStopVerificationMessage
		if err := decodeMessage(env, &m); err != nil {
			s.log.Warn("bad frame", "err", err)
			return nil
		}
		return s.verifyStops(ctx, &m)
	case agentproto.TypeNack:
		var m agentproto.NackRequest
		decodeMessage(env, &m)
		s.log.Warn("agent refused a message", "messageId", m.MessageID, "reason", m.Reason)
		delete(s.unacked, m.MessageID)
	case agentproto.TypeIAMRoleCredentialsAck:
	default:
		s.log.Debug("ignoring frame from agent", "type", env.Type)
	}
	return nil
}

// noteSeen refreshes AgentSeenAt when the last refresh is older than
// seenWriteEvery (or the heartbeat interval, when that is shorter).
func (s *acsSession) noteSeen(ctx context.Context) {
	now := s.h.now()
	if now.Sub(s.lastSeen) < min(seenWriteEvery, s.h.hbEvery) {
		return
	}
	if err := s.h.markSeen(ctx, s.key, now); err != nil {
		s.log.Warn("could not record the agent's heartbeat", "err", err)
		return
	}
	s.lastSeen = now
}

// verifyStops answers a TaskStopVerificationMessage: of the candidates,
// those the server does not know on this instance, or wants stopped.
func (s *acsSession) verifyStops(ctx context.Context, m *agentproto.TaskStopVerificationMessage) error {
	ack := agentproto.TaskStopVerificationAck{MessageID: m.MessageID, GeneratedAt: s.h.now().UnixMilli(), StopTasks: []agentproto.TaskIdentifier{}}
	for _, c := range m.StopCandidates {
		keep, err := s.keepRunning(ctx, c.TaskARN)
		if err != nil {
			return err
		}
		if !keep {
			cl := c.TaskClusterARN
			if cl == "" {
				cl = clusterARNOfTask(c.TaskARN)
			}
			ack.StopTasks = append(ack.StopTasks, agentproto.TaskIdentifier{TaskARN: c.TaskARN, TaskClusterARN: cl, DesiredStatus: ecs.TaskStopped.String()})
		}
	}
	if m.MessageID != s.manifestID {
		s.log.Debug("stop verification answers an older manifest", "messageId", m.MessageID, "latest", s.manifestID)
	}
	return s.send(agentproto.TypeTaskStopVerificationAck, ack)
}

// keepRunning reports whether the server wants taskARN running on this
// instance.
func (s *acsSession) keepRunning(ctx context.Context, taskARN string) (bool, error) {
	cluster, id, ok := s.h.taskRef(taskARN)
	if !ok {
		return false, nil
	}
	t, _, err := state.Get[ecs.Task](ctx, s.h.store, state.TaskKey(cluster, id))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return cluster == s.key.cluster && t.ContainerInstanceID == s.key.id && t.DesiredStatus == ecs.TaskRunning && !t.Stopped(), nil
}

// newMessageID returns a random UUID (version 4), as ECS's message ids are.
func newMessageID() string { return uuid.NewString() }
