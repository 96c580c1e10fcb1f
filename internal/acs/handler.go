// Package acs is the control-plane side of the agent channel: the
// websockets that container agents hold open to Berth, in the shapes of
// ECS's Agent Communication Service (ACS, GET /ws) and telemetry service
// (TCS, GET /tcs/ws), so that Berth's agent and the unmodified Amazon ECS
// agent can both join.
//
// Over ACS the server pushes PayloadMessages (the tasks an instance must
// run or stop, mapped by PayloadTask), heartbeats, task manifests and stop
// verification answers; the agent acknowledges them. Over TCS the agent
// publishes metrics (kept in memory, see LatestMetrics), container health
// (written to the task records) and instance status.
//
// The upgrade is SigV4-signed like any API call; only the credential that
// registered the container instance may open its channels. One ACS and one
// TCS session exist per instance: a new connection replaces the old one.
// A single store watch per Handler (Run) follows every task and instance
// record and fans changes out to the sessions of the instances concerned.
package acs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/berth/berth/internal/agentproto"
	"github.com/berth/berth/internal/api"
	"github.com/berth/berth/internal/api/sigv4"
	"github.com/berth/berth/internal/clusterview"
	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/ecs/arn"
	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
)

// Defaults of the Config's zero fields.
const (
	DefaultHeartbeatInterval = 30 * time.Second
	DefaultManifestInterval  = 60 * time.Second
)

// Paths the Handler serves.
const (
	PathACS = "/ws"
	PathTCS = "/tcs/ws"
)

const (
	// writeTimeout bounds one websocket write.
	writeTimeout = 10 * time.Second
	// closeWait is how long a closing session waits for the agent's close
	// frame before dropping the connection.
	closeWait = 2 * time.Second
	// minReadTimeout is the least time a session waits for a frame.
	minReadTimeout = 5 * time.Second
	// seenWriteEvery bounds how often heartbeats refresh AgentSeenAt.
	seenWriteEvery = 10 * time.Second
	// maxFrameBytes bounds a frame from the agent.
	maxFrameBytes = 4 << 20
	// storeTimeout bounds the bookkeeping writes of a closing session.
	storeTimeout = 5 * time.Second
)

// Config configures a Handler.
type Config struct {
	Store store.Store
	// View, when set and running, tells which tasks are on an instance
	// without listing the cluster's task records.
	View *clusterview.View
	// Auth authenticates upgrades. Nil means no authentication (the
	// server's insecure mode): every caller is "anonymous", as in the API.
	Auth   api.Authenticator
	Namer  arn.Namer
	Logger *slog.Logger
	Now    func() time.Time
	// HeartbeatInterval is how often both channels send HeartbeatMessage
	// (default 30 s); agents count as connected while heard from within
	// three intervals.
	HeartbeatInterval time.Duration
	// ManifestInterval is how often ACS sends TaskManifestMessage (default 60 s).
	ManifestInterval time.Duration
	// PullCredentials, when set, gives the pull credentials a container's
	// payload carries for its image (nil: none, the agent's own apply):
	// short-lived ones for images in Berth's registry.
	PullCredentials func(image string) *agentproto.RegistryAuthentication
}

// Handler serves the ACS and TCS websockets. Run must be running for
// sessions to see task and instance changes.
type Handler struct {
	store   store.Store
	view    *clusterview.View
	auth    api.Authenticator
	namer   arn.Namer
	log     *slog.Logger
	now     func() time.Time
	hbEvery time.Duration
	mfEvery time.Duration
	pull    func(image string) *agentproto.RegistryAuthentication
	// delivered is, per task key, the Seq last handed to a session (the
	// task watch's own: see onTaskEvent).
	delivered map[string]int64

	upgrader websocket.Upgrader
	hub      *hub
	metrics  *metricsCache

	// ctx is the sessions' context, cancelled by Close once they are told
	// to end (their final store writes use their own timeouts).
	ctx       context.Context
	cancel    context.CancelFunc
	closeOnce sync.Once
	closed    chan struct{}
	// live counts open sessions (ACS and TCS).
	live atomic.Int64
}

// New builds a Handler.
func New(cfg Config) *Handler {
	h := &Handler{
		store: cfg.Store, view: cfg.View, auth: cfg.Auth, namer: cfg.Namer, log: cfg.Logger, now: cfg.Now,
		hbEvery: cfg.HeartbeatInterval, mfEvery: cfg.ManifestInterval, pull: cfg.PullCredentials,
		hub: newHub(), metrics: newMetricsCache(), closed: make(chan struct{}), delivered: map[string]int64{},
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.log = h.log.With("component", "acs")
	if h.now == nil {
		h.now = time.Now
	}
	if h.hbEvery <= 0 {
		h.hbEvery = DefaultHeartbeatInterval
	}
	if h.mfEvery <= 0 {
		h.mfEvery = DefaultManifestInterval
	}
	h.upgrader = websocket.Upgrader{HandshakeTimeout: 10 * time.Second}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	return h
}

// ServeHTTP serves GET /ws (ACS) and GET /tcs/ws (TCS).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var kind channelKind
	switch r.URL.Path {
	case PathACS:
		kind = kindACS
	case PathTCS:
		kind = kindTCS
	default:
		writeRefusal(w, refuse(http.StatusNotFound, agentproto.TypeBadRequestException, "No agent channel at %s: ACS is GET %s, TCS is GET %s.", r.URL.Path, PathACS, PathTCS))
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeRefusal(w, refuse(http.StatusMethodNotAllowed, agentproto.TypeBadRequestException, "The agent channel is opened with GET."))
		return
	}
	select {
	case <-h.closed:
		writeRefusal(w, refuse(http.StatusServiceUnavailable, agentproto.TypeServerException, "The server is shutting down."))
		return
	default:
	}
	adm, ref := h.admit(r, kind)
	if ref != nil {
		if ref.status >= 500 {
			h.log.Error("agent channel refused", "channel", kind, "err", ref.cause)
		} else {
			h.log.Debug("agent channel refused", "channel", kind, "type", ref.typ, "msg", ref.msg)
		}
		writeRefusal(w, ref)
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		writeRefusal(w, refuse(http.StatusBadRequest, agentproto.TypeBadRequestException, "Expected a websocket upgrade."))
		return
	}
	ws, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		// The upgrader has answered the client already.
		h.log.Debug("websocket upgrade failed", "channel", kind, "err", err)
		return
	}
	ws.SetReadLimit(maxFrameBytes)
	switch kind {
	case kindACS:
		h.serveACS(h.ctx, ws, adm)
	case kindTCS:
		h.serveTCS(h.ctx, ws, adm)
	}
}

// Close ends every session (close code 1001, so agents reconnect at once,
// to this server once restarted or to another), waits for them to record
// their disconnection, and makes Run return. Upgrades after Close are
// refused.
func (h *Handler) Close() {
	h.closeOnce.Do(func() {
		close(h.closed)
		for _, s := range h.hub.closeAll() {
			s.stop(stopShutdown)
		}
		h.cancel()
		h.hub.wait()
	})
}

// Sessions returns how many ACS and TCS sessions are open.
func (h *Handler) Sessions() int { return int(h.live.Load()) }

type channelKind string

const (
	kindACS channelKind = "ACS"
	kindTCS channelKind = "TCS"
)

// admission is an authenticated, authorised upgrade.
type admission struct {
	principal  api.Principal
	cluster    string // cluster name
	clusterARN string
	inst       ecs.ContainerInstance
	version    ecs.VersionInfo // from the ACS query
}

// refusal is an upgrade answered with an HTTP error and the body the ECS
// agent decodes: {"type":"<Exception>","message":{"message":"..."}}.
type refusal struct {
	status int
	typ    string
	msg    string
	cause  error // logged for server errors
}

func refuse(status int, typ, format string, args ...any) *refusal {
	return &refusal{status: status, typ: typ, msg: fmt.Sprintf(format, args...)}
}

func serverRefusal(err error) *refusal {
	return &refusal{status: http.StatusInternalServerError, typ: agentproto.TypeServerException,
		msg: "The server could not open the agent channel; try again.", cause: err}
}

func writeRefusal(w http.ResponseWriter, r *refusal) {
	b, err := agentproto.Encode(r.typ, agentproto.ErrorBody{Message: r.msg})
	if err != nil {
		b = []byte(`{"type":"ServerException","message":{"message":"encode error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Errortype", r.typ)
	w.WriteHeader(r.status)
	w.Write(b)
}

// admit authenticates the upgrade and checks its cluster and instance: the
// cluster must exist and be ACTIVE, the instance must exist in it, be
// owned by the caller and not be INACTIVE.
func (h *Handler) admit(r *http.Request, kind channelKind) (admission, *refusal) {
	ctx := r.Context()
	var adm admission
	if h.auth == nil {
		adm.principal = api.Principal{Name: "anonymous", Admin: true}
	} else {
		p, err := h.auth.Authenticate(ctx, r, nil)
		var se *sigv4.Error
		switch {
		case errors.As(err, &se):
			return adm, refuse(http.StatusUnauthorized, agentproto.TypeAccessDeniedException, "%s", se.Msg)
		case err != nil:
			return adm, serverRefusal(fmt.Errorf("authenticate: %w", err))
		}
		adm.principal = p
	}
	q := r.URL.Query()
	clusterRef, instRef := q.Get("clusterArn"), q.Get("containerInstanceArn")
	if kind == kindTCS {
		clusterRef, instRef = q.Get("cluster"), q.Get("containerInstance")
	}
	if kind == kindACS {
		adm.version = ecs.VersionInfo{AgentVersion: q.Get("agentVersion"), AgentHash: q.Get("agentHash"), DockerVersion: q.Get("dockerVersion")}
	}
	if instRef == "" {
		return adm, refuse(http.StatusBadRequest, agentproto.TypeBadRequestException, "The container instance is required (query parameter %s).", map[channelKind]string{kindACS: "containerInstanceArn", kindTCS: "containerInstance"}[kind])
	}
	cluster, ref := h.resolveCluster(ctx, clusterRef)
	if ref != nil {
		return adm, ref
	}
	adm.cluster, adm.clusterARN = cluster, h.namer.Cluster(cluster)
	id, ok := h.instanceID(cluster, instRef)
	if !ok {
		return adm, refuse(http.StatusBadRequest, agentproto.TypeInvalidInstanceException, "Container instance %s is not an instance of cluster %s.", instRef, cluster)
	}
	inst, _, err := state.Get[ecs.ContainerInstance](ctx, h.store, state.InstanceKey(cluster, id))
	if errors.Is(err, store.ErrNotFound) {
		return adm, refuse(http.StatusBadRequest, agentproto.TypeInvalidInstanceException, "Container instance %s not found in cluster %s.", instRef, cluster)
	}
	if err != nil {
		return adm, serverRefusal(err)
	}
	if inst.Owner != adm.principal.Name {
		return adm, refuse(http.StatusForbidden, agentproto.TypeAccessDeniedException,
			"%s may not open the agent channel of container instance %s: only the credential that registered it may.", adm.principal.Name, inst.ARN)
	}
	if inst.Status == ecs.InstanceInactive {
		return adm, refuse(http.StatusBadRequest, agentproto.TypeInactiveInstanceException, "Container instance %s is inactive (deregistered).", inst.ARN)
	}
	adm.inst = inst
	return adm, nil
}

// resolveCluster resolves the cluster an agent names (a name or an ARN of
// this region and account; none means "default") to an ACTIVE cluster.
func (h *Handler) resolveCluster(ctx context.Context, ref string) (string, *refusal) {
	name := ecs.DefaultClusterName
	if ref != "" {
		n, ok := arn.ClusterName(ref)
		if !ok || (arn.IsARN(ref) && !h.ownARN(ref)) {
			return "", refuse(http.StatusBadRequest, agentproto.TypeInvalidClusterException, "Cluster %s not found.", ref)
		}
		name = n
	}
	c, _, err := state.Get[ecs.Cluster](ctx, h.store, state.ClusterKey(name))
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.Status != ecs.ClusterActive) {
		return "", refuse(http.StatusBadRequest, agentproto.TypeInvalidClusterException, "Cluster %s not found.", name)
	}
	if err != nil {
		return "", serverRefusal(err)
	}
	return name, nil
}

// instanceID returns the id of a container instance named by id or ARN
// (container-instance/<cluster>/<id>, or the old container-instance/<id>)
// within cluster.
func (h *Handler) instanceID(cluster, ref string) (string, bool) {
	return h.namer.ContainerInstanceID(cluster, ref)
}

// ownARN reports whether an ARN names this server's region and account.
func (h *Handler) ownARN(ref string) bool {
	a, err := arn.Parse(ref)
	return err == nil && a.Region == h.namer.Region && a.Account == h.namer.Account
}

// stopReason says why a session is told to end.
type stopReason int

const (
	stopNone     stopReason = iota
	stopReplaced            // a newer connection of the same instance took over
	stopInactive            // the instance was deregistered (or deleted)
	stopShutdown            // the Handler is closing
)

// encodeFrame encodes a frame; the messages are plain structs, so failure
// is a programming error reported as such.
func encodeFrame(typ string, msg any) []byte {
	b, err := agentproto.Encode(typ, msg)
	if err != nil {
		panic(fmt.Sprintf("acs: %v", err))
	}
	return b
}

// decodeMessage decodes an envelope's message into v.
func decodeMessage(e agentproto.Envelope, v any) error {
	if err := json.Unmarshal(e.Message, v); err != nil {
		return fmt.Errorf("decode %s: %w", e.Type, err)
	}
	return nil
}
