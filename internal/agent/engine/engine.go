// Package engine is the Berth agent's task engine: it runs the tasks ACS
// hands it (Apply) on the container runtime, drives each towards its
// desired status, persists every state change, reports changes to the
// control plane, and adopts its tasks again after an agent restart.
//
// One goroutine owns each task (amazon-ecs-agent's managedTask pattern):
// only it changes the task's known or desired status; everything else
// sends it messages. Slow work (pulls, creates, stops, health probes,
// reports) runs in short-lived worker goroutines that send their outcome
// back to the owner. The decisions themselves are the taskstate package's
// pure functions.
//
// Durability: the owner saves the task's record (taskstate plus what it
// did and what the control plane acknowledged) to the TaskStore after each
// change and before reporting it. A restarted engine (even after kill -9)
// loads the records, lists the runtime's containers, waits again on the
// running ones, marks vanished ones stopped, never creates a container
// twice (runtime IDs are deterministic, <taskID>-<containerName>), and
// re-sends every change the control plane had not acknowledged.
//
// Per task: images are ensured, the task's cgroup, scratch volumes and
// network are set up, containers are created and started in dependsOn
// order, health checks run through the runtime's Exec, and once stopped
// the network and cgroup are released; the containers, scratch volumes and
// record go after Config.CleanupWait.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/berth/berth/internal/agent/runtime"
	"github.com/berth/berth/internal/agentproto"
	"github.com/berth/berth/internal/ecs"
)

// Defaults for Config fields left zero.
const (
	DefaultStopTimeout = 30 * time.Second
	DefaultCleanupWait = time.Hour
	// DefaultRetryMin/Max bound the backoff of failed reports, saves and
	// resource releases.
	DefaultRetryMin = time.Second
	DefaultRetryMax = time.Minute
)

// Config configures an Engine.
type Config struct {
	// Cluster is the cluster name, put on containers as
	// com.amazonaws.ecs.cluster.
	Cluster string
	// Region, when set, is given to containers as AWS_REGION and
	// AWS_DEFAULT_REGION (unless their environment sets them).
	Region string
	// DataDir holds task-scoped scratch volumes (<DataDir>/volumes/<taskID>/<volume>).
	DataDir string
	// MetadataPort is the task metadata endpoint's port; containers get
	// ECS_CONTAINER_METADATA_URI(_V4) = http://<gateway>:<port>/v4/<token>.
	// 0: no metadata URIs.
	MetadataPort int
	// StopTimeout is the SIGTERM→SIGKILL grace for containers whose
	// definition gives no stopTimeout.
	StopTimeout time.Duration
	// CleanupWait is how long a stopped task's containers and scratch
	// volumes are kept.
	CleanupWait time.Duration
	// RetryMin and RetryMax bound the backoff of failed reports, saves and
	// releases.
	RetryMin, RetryMax time.Duration
	// RegistryAuth, when set, gives pull credentials for images whose
	// payload carries none (the agent's per-registry credentials).
	RegistryAuth func(ref string) *runtime.RegistryAuth
	// Clock defaults to the system clock.
	Clock Clock
	// Log defaults to slog.Default().
	Log *slog.Logger
}

// Deps are the engine's collaborators.
type Deps struct {
	Runtime  Runtime
	Network  Network
	Store    TaskStore
	Reporter Reporter
}

// ErrStopped is returned by Apply and StopTasks once Run has returned.
var ErrStopped = errors.New("engine: stopped")

// Engine runs tasks. Create it with New, start it with Run.
type Engine struct {
	cfg   Config
	rt    Runtime
	net   Network
	store TaskStore
	rep   Reporter
	clock Clock
	log   *slog.Logger

	ready chan struct{} // closed once Run has adopted the stored tasks
	wg    sync.WaitGroup

	mu         sync.RWMutex
	ctx        context.Context // Run's; nil before Run
	done       bool            // Run returned
	tasks      map[string]*managedTask
	tokens     map[string]tokenRef
	runtimeIDs map[string]string // runtime ID → task ARN
}

// tokenRef locates the container a metadata token names.
type tokenRef struct {
	arn   string
	index int
}

// New returns an engine; nothing runs until Run.
func New(cfg Config, deps Deps) (*Engine, error) {
	if deps.Runtime == nil || deps.Network == nil || deps.Store == nil || deps.Reporter == nil {
		return nil, errors.New("engine: runtime, network, store and reporter are required")
	}
	if cfg.DataDir == "" {
		return nil, errors.New("engine: data dir is required")
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = DefaultStopTimeout
	}
	if cfg.CleanupWait <= 0 {
		cfg.CleanupWait = DefaultCleanupWait
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = DefaultRetryMin
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(DefaultRetryMax, cfg.RetryMin)
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Engine{
		cfg: cfg, rt: deps.Runtime, net: deps.Network, store: deps.Store, rep: deps.Reporter,
		clock: cfg.Clock, log: cfg.Log,
		ready:      make(chan struct{}),
		tasks:      map[string]*managedTask{},
		tokens:     map[string]tokenRef{},
		runtimeIDs: map[string]string{},
	}, nil
}

// Ready is closed once Run has adopted the tasks of an earlier agent
// process; Apply, StopTasks wait for it.
func (e *Engine) Ready() <-chan struct{} { return e.ready }

// Run adopts the stored tasks, then runs every task until ctx ends. It
// leaves containers running when it returns (an agent restart adopts
// them), and returns once every goroutine it started has ended. It fails
// only when the stored tasks or the runtime's containers cannot be read.
func (e *Engine) Run(ctx context.Context) error {
	e.mu.Lock()
	if e.ctx != nil {
		e.mu.Unlock()
		return errors.New("engine: Run called twice")
	}
	e.ctx = ctx
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.done = true
		e.mu.Unlock()
		e.wg.Wait()
	}()

	adopted, err := e.adopt(ctx)
	if err != nil {
		return err
	}
	e.mu.Lock()
	for _, mt := range adopted {
		e.register(mt)
		e.startTask(mt)
	}
	e.mu.Unlock()
	close(e.ready)
	e.log.Info("task engine running", "adopted", len(adopted))
	<-ctx.Done()
	return nil
}

// waitReady waits for Run's adoption; it fails if ctx ends first or Run
// has returned.
func (e *Engine) waitReady(ctx context.Context) error {
	select {
	case <-e.ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.done || e.ctx.Err() != nil {
		return ErrStopped
	}
	return nil
}

// Apply accepts the tasks of an ACS payload: a task the engine does not
// know yet is recorded (saved to the store) and started; a known task gets
// its desired status updated (only ever RUNNING → STOPPED). It returns
// once every task's new state is saved, before any container runs, and is
// idempotent: a repeated payload changes nothing. Tasks without an ARN are
// skipped.
func (e *Engine) Apply(ctx context.Context, tasks []agentproto.Task) error {
	if err := e.waitReady(ctx); err != nil {
		return err
	}
	var errs []error
	for _, p := range tasks {
		if p.ARN == "" {
			e.log.Warn("payload task without an ARN skipped")
			continue
		}
		e.mu.RLock()
		mt := e.tasks[p.ARN]
		e.mu.RUnlock()
		if mt != nil {
			if err := mt.setDesired(ctx, desiredOf(p.DesiredStatus), ""); err != nil {
				errs = append(errs, fmt.Errorf("task %s: %w", p.ARN, err))
			}
			continue
		}
		if err := e.accept(ctx, p); err != nil {
			errs = append(errs, fmt.Errorf("task %s: %w", p.ARN, err))
		}
	}
	return errors.Join(errs...)
}

// accept records and starts a new task.
func (e *Engine) accept(ctx context.Context, p agentproto.Task) error {
	rec := newRecord(p, e.clock.Now())
	b, err := rec.encode()
	if err != nil {
		return err
	}
	if err := e.store.SaveTask(ctx, p.ARN, b); err != nil {
		return fmt.Errorf("save new task: %w", err)
	}
	mt := newManagedTask(e, rec, false)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.done || e.ctx.Err() != nil {
		return ErrStopped
	}
	if e.tasks[p.ARN] != nil {
		return nil // a concurrent Apply accepted it first
	}
	e.log.Info("task accepted", "task", p.ARN, "family", p.Family, "version", p.Version,
		"desired", rec.State.Desired, "containers", len(p.Containers))
	e.register(mt)
	e.startTask(mt)
	return nil
}

// StopTasks makes the named tasks desire STOPPED (stop verification,
// manifests); unknown ARNs are ignored.
func (e *Engine) StopTasks(ctx context.Context, arns []string) error {
	if err := e.waitReady(ctx); err != nil {
		return err
	}
	var errs []error
	for _, arn := range arns {
		e.mu.RLock()
		mt := e.tasks[arn]
		e.mu.RUnlock()
		if mt == nil {
			continue
		}
		if err := mt.setDesired(ctx, ecs.TaskStopped, ""); err != nil {
			errs = append(errs, fmt.Errorf("task %s: %w", arn, err))
		}
	}
	return errors.Join(errs...)
}

// register indexes mt (e.mu held).
func (e *Engine) register(mt *managedTask) {
	e.tasks[mt.arn] = mt
	for i, c := range mt.rec.Containers {
		e.tokens[c.Token] = tokenRef{arn: mt.arn, index: i}
		e.runtimeIDs[c.RuntimeID] = mt.arn
	}
}

// startTask starts mt's owner goroutine (e.mu held).
func (e *Engine) startTask(mt *managedTask) {
	mt.start(e.ctx)
}

// forget drops a cleaned-up task.
func (e *Engine) forget(mt *managedTask) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.tasks[mt.arn] == mt {
		delete(e.tasks, mt.arn)
	}
	for _, c := range mt.rec.Containers {
		if e.tokens[c.Token].arn == mt.arn {
			delete(e.tokens, c.Token)
		}
		if e.runtimeIDs[c.RuntimeID] == mt.arn {
			delete(e.runtimeIDs, c.RuntimeID)
		}
	}
}

// goWorker runs fn in a goroutine Run waits for.
func (e *Engine) goWorker(fn func()) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		fn()
	}()
}
