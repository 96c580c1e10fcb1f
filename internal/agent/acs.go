package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/berth/berth/internal/agentproto"
)

// writeTimeout bounds one websocket write.
const writeTimeout = 10 * time.Second

// taskState is what the ACS and TCS clients need to know about one task the
// engine holds.
type taskState struct {
	ARN            string
	ClusterARN     string
	DesiredStopped bool // the engine was told to stop it
	Stopped        bool // every container has exited (known status STOPPED)
}

// acsEngine is the part of the task engine the ACS client drives.
type acsEngine interface {
	// Apply accepts the tasks of a payload (new tasks, desired-status
	// changes); it returns once they are recorded, before containers run.
	Apply(ctx context.Context, tasks []agentproto.Task) error
	// StopTasks sets the desired status of the named tasks to STOPPED.
	StopTasks(ctx context.Context, arns []string) error
	// TaskStates lists the tasks the engine holds.
	TaskStates() []taskState
}

// endpointSource returns the ACS and TCS base URLs (DiscoverPollEndpoint).
type endpointSource interface {
	Endpoints(ctx context.Context) (acs, tcs string, err error)
}

// Reasons a session ended, besides errors from the socket.
var (
	errIdle     = errors.New("no message from the server within the idle timeout")
	errLifetime = errors.New("connection reached its maximum lifetime")
)

// acsClient holds the agent's ACS websocket: it connects, answers the
// server's messages, and reconnects as the real ECS agent does.
type acsClient struct {
	dialer      *wsDialer
	endpoints   endpointSource
	engine      acsEngine
	cluster     string
	instanceARN string
	version     string
	hash        string
	runtime     string // container runtime version, e.g. "containerd 2.1.4"
	timing      Timing
	log         *slog.Logger

	// onConnect, when set, is called after each successful upgrade (tests).
	onConnect func()

	mu         sync.Mutex
	seqNum     int64  // highest payload seqNum seen on this connection
	manifestID string // messageId of the latest accepted manifest
}

// run keeps the ACS connection up until ctx ends or the server says the
// instance is inactive (the error then wraps ErrInstanceInactive).
func (c *acsClient) run(ctx context.Context) error {
	b := newBackoff(c.timing.ACSBackoffMin, c.timing.ACSBackoffMax, 1.5, 0.2)
	sendCredentials := true
	for {
		start := time.Now()
		connected, err := c.session(ctx, sendCredentials)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if connected {
			sendCredentials = false
		}
		if isInactive(err) {
			return fmt.Errorf("%w: %v", ErrInstanceInactive, err)
		}
		if connected && reconnectAtOnce(err) {
			c.log.Info("ACS connection closed; reconnecting", "reason", err)
			b.Reset()
			continue
		}
		if connected && time.Since(start) >= c.timing.IdleTimeout {
			b.Reset()
		}
		d := b.Next()
		c.log.Warn("ACS connection failed; retrying", "error", err, "in", d)
		if !sleep(ctx, d) {
			return ctx.Err()
		}
	}
}

// reconnectAtOnce reports whether a session ended in a way after which the
// real agent reconnects without backoff: a close frame (1000, 1001, 1006,
// 1011), a plain EOF, or the agent's own lifetime limit.
func reconnectAtOnce(err error) bool {
	if errors.Is(err, errLifetime) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	return websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway,
		websocket.CloseAbnormalClosure, websocket.CloseInternalServerErr)
}

// acsQuery is the upgrade query, keys as the real agent sends them.
func (c *acsClient) acsQuery(sendCredentials bool) url.Values {
	return url.Values{
		"agentHash":            {c.hash},
		"agentVersion":         {c.version},
		"clusterArn":           {c.cluster},
		"containerInstanceArn": {c.instanceARN},
		"dockerVersion":        {"DockerVersion: " + c.runtime},
		"protocolVersion":      {"2"},
		"sendCredentials":      {strconv.FormatBool(sendCredentials)},
		"seqNum":               {"1"},
	}
}

// session opens one connection and serves it until it ends. connected
// reports whether the upgrade succeeded.
func (c *acsClient) session(ctx context.Context, sendCredentials bool) (connected bool, err error) {
	base, _, err := c.endpoints.Endpoints(ctx)
	if err != nil {
		return false, fmt.Errorf("discover ACS endpoint: %w", err)
	}
	u, err := socketURL(base, c.acsQuery(sendCredentials))
	if err != nil {
		return false, err
	}
	conn, err := c.dialer.dial(ctx, u)
	if err != nil {
		return false, err
	}
	c.log.Info("ACS connected", "url", u.Scheme+"://"+u.Host+u.Path, "sendCredentials", sendCredentials)
	// Berth's server numbers payloads per connection, so the highest
	// seqNum seen (which manifests must exceed) starts again.
	c.mu.Lock()
	c.seqNum, c.manifestID = 0, ""
	c.mu.Unlock()
	if c.onConnect != nil {
		c.onConnect()
	}
	s := &acsConn{client: c, conn: conn}
	return true, s.serve(ctx)
}

// acsConn is one open ACS socket.
type acsConn struct {
	client *acsClient
	conn   *websocket.Conn

	writeMu sync.Mutex

	endMu  sync.Mutex
	endErr error // why the agent closed the socket itself
}

// end closes the socket for reason (the first reason wins).
func (s *acsConn) end(reason error) {
	s.endMu.Lock()
	if s.endErr == nil {
		s.endErr = reason
	}
	s.endMu.Unlock()
	s.conn.Close() // like the real agent: drop the connection, no close frame
}

func (s *acsConn) reason(readErr error) error {
	s.endMu.Lock()
	defer s.endMu.Unlock()
	if s.endErr != nil {
		return s.endErr
	}
	return readErr
}

// watch arms the connection's idle timer (which the caller resets on every
// server message) and its lifetime timer, as the ECS agent does, and ends
// the connection with ctx; release disarms them and closes the socket.
func (s *acsConn) watch(ctx context.Context, t Timing) (idle *time.Timer, release func()) {
	idle = time.AfterFunc(jittered(t.IdleTimeout, t.IdleJitter), func() { s.end(errIdle) })
	life := time.AfterFunc(jittered(t.ConnectionLifetime, t.LifetimeJitter), func() { s.end(errLifetime) })
	stop := context.AfterFunc(ctx, func() { s.end(ctx.Err()) })
	return idle, func() {
		s.conn.Close()
		stop()
		life.Stop()
		idle.Stop()
	}
}

func (s *acsConn) serve(ctx context.Context) error {
	c := s.client
	idle, release := s.watch(ctx, c.timing)
	defer release()

	for {
		_, frame, err := s.conn.ReadMessage()
		if err != nil {
			return s.reason(err)
		}
		idle.Reset(jittered(c.timing.IdleTimeout, c.timing.IdleJitter))
		if err := s.handle(ctx, frame); err != nil {
			s.end(err)
			return s.reason(err)
		}
	}
}

// send writes one envelope.
func (s *acsConn) send(typ string, msg any) error {
	frame, err := agentproto.Encode(typ, msg)
	if err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := s.conn.WriteMessage(websocket.TextMessage, frame); err != nil {
		return fmt.Errorf("ACS write %s: %w", typ, err)
	}
	return nil
}

// handle answers one server frame. An error ends the connection.
func (s *acsConn) handle(ctx context.Context, frame []byte) error {
	log := s.client.log
	env, err := agentproto.Decode(frame)
	if err != nil {
		log.Warn("ACS: undecodable frame dropped", "error", err)
		return nil
	}
	switch env.Type {
	case agentproto.TypeHeartbeat:
		var m agentproto.HeartbeatMessage
		if err := json.Unmarshal(env.Message, &m); err != nil || m.MessageID == "" {
			log.Warn("ACS: malformed heartbeat dropped", "error", err)
			return nil
		}
		return s.send(agentproto.TypeHeartbeatAck, agentproto.HeartbeatAckRequest{MessageID: m.MessageID})
	case agentproto.TypePayload:
		var m agentproto.PayloadMessage
		if err := json.Unmarshal(env.Message, &m); err != nil {
			log.Warn("ACS: malformed payload dropped", "error", err)
			return nil
		}
		return s.handlePayload(ctx, m)
	case agentproto.TypeTaskManifest:
		var m agentproto.TaskManifestMessage
		if err := json.Unmarshal(env.Message, &m); err != nil {
			log.Warn("ACS: malformed task manifest dropped", "error", err)
			return nil
		}
		return s.handleManifest(m)
	case agentproto.TypeTaskStopVerificationAck:
		var m agentproto.TaskStopVerificationAck
		if err := json.Unmarshal(env.Message, &m); err != nil {
			log.Warn("ACS: malformed stop verification ack dropped", "error", err)
			return nil
		}
		s.handleStopVerificationAck(ctx, m)
		return nil
	case agentproto.TypeCloseMessage, agentproto.TypeErrorMessage:
		log.Info("ACS: server message", "type", env.Type, "message", string(env.Message))
		return nil
	}
	if isExceptionType(env.Type) {
		se := &ServerError{Type: env.Type}
		var m agentproto.ErrorBody
		if json.Unmarshal(env.Message, &m) == nil {
			se.Message = m.Message
		}
		if se.Type == agentproto.TypeInactiveInstanceException {
			return se
		}
		log.Warn("ACS: server exception", "type", se.Type, "message", se.Message)
		return nil
	}
	log.Debug("ACS: message type not handled", "type", env.Type)
	return nil
}

// handlePayload hands a payload's tasks to the engine and acknowledges it,
// as the real agent does: without clusterArn, containerInstanceArn or a
// task arn the payload is dropped unanswered.
func (s *acsConn) handlePayload(ctx context.Context, m agentproto.PayloadMessage) error {
	c := s.client
	if m.MessageID == "" || m.ClusterARN == "" || m.ContainerInstanceARN == "" {
		c.log.Warn("ACS: payload without messageId, clusterArn or containerInstanceArn dropped", "messageId", m.MessageID)
		return nil
	}
	for _, t := range m.Tasks {
		if t.ARN == "" {
			c.log.Warn("ACS: payload with a task without arn dropped", "messageId", m.MessageID)
			return nil
		}
	}
	c.mu.Lock()
	if m.SeqNum > c.seqNum {
		c.seqNum = m.SeqNum
	}
	c.mu.Unlock()
	if len(m.Tasks) > 0 {
		if err := c.engine.Apply(ctx, m.Tasks); err != nil {
			c.log.Error("ACS: engine refused payload; not acknowledged", "messageId", m.MessageID, "error", err)
			return nil
		}
	}
	c.log.Debug("ACS: payload accepted", "messageId", m.MessageID, "seqNum", m.SeqNum, "tasks", len(m.Tasks))
	return s.send(agentproto.TypeAck, agentproto.AckRequest{
		Cluster: m.ClusterARN, ContainerInstance: m.ContainerInstanceARN, MessageID: m.MessageID})
}

// handleManifest acknowledges a manifest newer than every payload seen and
// asks to verify stopping the tasks the agent runs that it omits or lists
// as STOPPED.
func (s *acsConn) handleManifest(m agentproto.TaskManifestMessage) error {
	c := s.client
	if m.MessageID == "" || m.ClusterARN == "" || m.ContainerInstanceARN == "" {
		c.log.Warn("ACS: task manifest without messageId, clusterArn or containerInstanceArn dropped")
		return nil
	}
	c.mu.Lock()
	if m.Timeline <= c.seqNum {
		seq := c.seqNum
		c.mu.Unlock()
		c.log.Debug("ACS: stale task manifest ignored", "timeline", m.Timeline, "seqNum", seq)
		return nil
	}
	c.manifestID = m.MessageID
	c.mu.Unlock()

	if err := s.send(agentproto.TypeAck, agentproto.AckRequest{
		Cluster: m.ClusterARN, ContainerInstance: m.ContainerInstanceARN, MessageID: m.MessageID}); err != nil {
		return err
	}
	candidates := stopCandidates(m.Tasks, c.engine.TaskStates())
	if len(candidates) == 0 {
		return nil
	}
	c.log.Info("ACS: tasks missing from the manifest; asking to verify their stop", "tasks", len(candidates))
	return s.send(agentproto.TypeTaskStopVerification, agentproto.TaskStopVerificationMessage{
		MessageID: m.MessageID, StopCandidates: candidates})
}

// stopCandidates returns the running tasks (desired RUNNING) that manifest
// omits or lists as STOPPED.
func stopCandidates(manifest []agentproto.TaskIdentifier, running []taskState) []agentproto.TaskIdentifier {
	listed := make(map[string]string, len(manifest))
	for _, t := range manifest {
		listed[t.TaskARN] = t.DesiredStatus
	}
	var out []agentproto.TaskIdentifier
	for _, t := range running {
		if t.DesiredStopped || t.Stopped {
			continue
		}
		desired, ok := listed[t.ARN]
		if !ok || desired == "STOPPED" {
			out = append(out, agentproto.TaskIdentifier{TaskARN: t.ARN, TaskClusterARN: t.ClusterARN, DesiredStatus: "STOPPED"})
		}
	}
	return out
}

// handleStopVerificationAck stops the tasks the server confirmed, if the
// ack answers the latest manifest.
func (s *acsConn) handleStopVerificationAck(ctx context.Context, m agentproto.TaskStopVerificationAck) {
	c := s.client
	c.mu.Lock()
	latest := c.manifestID
	c.mu.Unlock()
	if m.MessageID == "" || m.MessageID != latest {
		c.log.Debug("ACS: stop verification ack for an older manifest ignored", "messageId", m.MessageID)
		return
	}
	arns := make([]string, 0, len(m.StopTasks))
	for _, t := range m.StopTasks {
		if t.TaskARN != "" {
			arns = append(arns, t.TaskARN)
		}
	}
	if len(arns) == 0 {
		return
	}
	c.log.Info("ACS: stopping tasks the control plane confirmed", "tasks", arns)
	if err := c.engine.StopTasks(ctx, arns); err != nil {
		c.log.Error("ACS: stop tasks", "error", err)
	}
}
