package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth/berth/internal/agent/network"
	"github.com/berth/berth/internal/agent/runtime"
)

// fakeClock is a Clock that moves only when a test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	clk     *fakeClock
	c       chan time.Time
	at      time.Time
	stopped bool
	fired   bool
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{clk: c, c: make(chan time.Time, 1), at: c.now.Add(d)}
	if d <= 0 {
		t.fired = true
		t.c <- c.now
		return t
	}
	c.timers = append(c.timers, t)
	return t
}

// Advance moves the clock and fires the timers that fall due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		switch {
		case t.stopped:
		case !t.at.After(c.now):
			t.fired = true
			t.c <- c.now
		default:
			kept = append(kept, t)
		}
	}
	c.timers = kept
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	was := !t.stopped && !t.fired
	t.stopped = true
	return was
}

// fakeRuntime is an in-memory container runtime that records its calls.
type fakeRuntime struct {
	mu       sync.Mutex
	clock    *fakeClock
	present  map[string]bool          // images already present
	pullErr  map[string]error         // by image ref
	pullGate map[string]chan struct{} // pulls of that ref wait for the channel to close
	ctrs     map[string]*fakeCtr
	calls    []string
	specs    map[string]runtime.ContainerSpec
	cgroups  map[string]runtime.TaskResources

	createErr map[string]error // by container ID
	startErr  map[string]error
	// onCreate runs after a successful Create (simulating a crash, say).
	onCreate func(id string)
	// exec answers health probes: exit code by container ID (default 0).
	execCode map[string]int
	// ignoreTERM: Stop has to SIGKILL those (exit 137) after the timeout.
	ignoreTERM   map[string]bool
	stopTimeouts map[string]time.Duration
}

type fakeCtr struct {
	spec    runtime.ContainerSpec
	running bool
	exit    *runtime.Exit
	waiters []*fakeWaiter
}

type fakeWaiter struct {
	ch   chan runtime.Exit
	once sync.Once
}

func (w *fakeWaiter) deliver(ex *runtime.Exit) {
	w.once.Do(func() {
		if ex != nil {
			w.ch <- *ex
		}
		close(w.ch)
	})
}

func newFakeRuntime(clock *fakeClock) *fakeRuntime {
	return &fakeRuntime{
		clock: clock, present: map[string]bool{}, pullErr: map[string]error{}, pullGate: map[string]chan struct{}{},
		ctrs: map[string]*fakeCtr{}, specs: map[string]runtime.ContainerSpec{}, cgroups: map[string]runtime.TaskResources{},
		createErr: map[string]error{}, startErr: map[string]error{}, execCode: map[string]int{},
		ignoreTERM: map[string]bool{}, stopTimeouts: map[string]time.Duration{},
	}
}

func (r *fakeRuntime) record(format string, args ...any) {
	r.calls = append(r.calls, fmt.Sprintf(format, args...))
}

// callsOf returns the recorded calls starting with prefix.
func (r *fakeRuntime) callsOf(prefix string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, c := range r.calls {
		if strings.HasPrefix(c, prefix) {
			out = append(out, c)
		}
	}
	return out
}

func (r *fakeRuntime) allCalls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func (r *fakeRuntime) EnsureImage(ctx context.Context, ref string, _ *runtime.RegistryAuth) (runtime.Image, error) {
	r.mu.Lock()
	r.record("pull:%s", ref)
	gate := r.pullGate[ref]
	r.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return runtime.Image{}, ctx.Err()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.pullErr[ref]; err != nil {
		return runtime.Image{}, err
	}
	pulled := !r.present[ref]
	r.present[ref] = true
	return runtime.Image{Ref: ref, Digest: "sha256:" + strings.Repeat("a", 8) + ref, Pulled: pulled}, nil
}

func (r *fakeRuntime) Create(_ context.Context, spec runtime.ContainerSpec) error {
	r.mu.Lock()
	r.record("create:%s", spec.ID)
	if err := r.createErr[spec.ID]; err != nil {
		r.mu.Unlock()
		return err
	}
	if _, ok := r.ctrs[spec.ID]; ok {
		r.mu.Unlock()
		return fmt.Errorf("container %s already exists", spec.ID)
	}
	r.ctrs[spec.ID] = &fakeCtr{spec: spec}
	r.specs[spec.ID] = spec
	hook := r.onCreate
	r.mu.Unlock()
	if hook != nil {
		hook(spec.ID)
	}
	return nil
}

func (r *fakeRuntime) Start(_ context.Context, id string) (uint32, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.record("start:%s", id)
	if err := r.startErr[id]; err != nil {
		return 0, err
	}
	c, ok := r.ctrs[id]
	if !ok {
		return 0, runtime.ErrNotFound
	}
	c.running = true
	return 42, nil
}

func (r *fakeRuntime) Wait(ctx context.Context, id string) (<-chan runtime.Exit, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.ctrs[id]
	if !ok {
		return nil, runtime.ErrNotFound
	}
	w := &fakeWaiter{ch: make(chan runtime.Exit, 1)}
	switch {
	case c.exit != nil:
		w.deliver(c.exit)
	case !c.running:
		return nil, runtime.ErrNoProcess
	default:
		c.waiters = append(c.waiters, w)
		context.AfterFunc(ctx, func() { w.deliver(nil) })
	}
	return w.ch, nil
}

// exitCtr makes a running container exit.
func (r *fakeRuntime) exitCtr(id string, code int, oom bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.exitLocked(id, code, oom)
}

func (r *fakeRuntime) exitLocked(id string, code int, oom bool) {
	c, ok := r.ctrs[id]
	if !ok || !c.running {
		return
	}
	c.running = false
	c.exit = &runtime.Exit{Code: code, At: r.clock.Now(), OOMKilled: oom}
	for _, w := range c.waiters {
		w.deliver(c.exit)
	}
	c.waiters = nil
}

func (r *fakeRuntime) Stop(_ context.Context, id string, timeout time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.record("stop:%s", id)
	r.stopTimeouts[id] = timeout
	code := 143 // SIGTERM
	if r.ignoreTERM[id] {
		code = 137 // SIGKILL after the timeout
	}
	r.exitLocked(id, code, false)
	return nil
}

func (r *fakeRuntime) Exec(_ context.Context, id string, argv []string, timeout time.Duration) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.record("exec:%s:%s:%s", id, strings.Join(argv, " "), timeout)
	c, ok := r.ctrs[id]
	if !ok || !c.running {
		return -1, runtime.ErrNotRunning
	}
	return r.execCode[id], nil
}

func (r *fakeRuntime) List(context.Context) ([]runtime.Info, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []runtime.Info
	for id, c := range r.ctrs {
		info := runtime.Info{ID: id, Labels: c.spec.Labels, Image: c.spec.Image, Running: c.running}
		if c.exit != nil {
			ex := *c.exit
			info.Exit = &ex
		}
		out = append(out, info)
	}
	return out, nil
}

func (r *fakeRuntime) Remove(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.record("remove:%s", id)
	delete(r.ctrs, id)
	return nil
}

// vanish drops a container as if it were removed behind the agent's back.
func (r *fakeRuntime) vanish(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.ctrs, id)
}

func (r *fakeRuntime) CreateTaskCgroup(_ context.Context, taskID string, res runtime.TaskResources) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.record("cgroup-create:%s", taskID)
	r.cgroups[taskID] = res
	return nil
}

func (r *fakeRuntime) RemoveTaskCgroup(_ context.Context, taskID string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.record("cgroup-remove:%s", taskID)
	delete(r.cgroups, taskID)
	return nil
}

func (r *fakeRuntime) Stats(_ context.Context, id string) (runtime.Stats, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.ctrs[id]; !ok || !c.running {
		return runtime.Stats{}, runtime.ErrNotRunning
	}
	return runtime.Stats{Read: r.clock.Now(), Memory: runtime.MemoryStats{Usage: 1 << 20}}, nil
}

func (r *fakeRuntime) running(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.ctrs[id]
	return ok && c.running
}

func (r *fakeRuntime) spec(id string) (runtime.ContainerSpec, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.specs[id]
	return s, ok
}

// fakeNetwork records setups and teardowns.
type fakeNetwork struct {
	mu        sync.Mutex
	setups    []netCall
	teardowns []netCall
	setupErr  error
	up        map[string]bool
}

type netCall struct {
	id, mode string
	ports    []network.PortMapping
	opts     int
}

func newFakeNetwork() *fakeNetwork { return &fakeNetwork{up: map[string]bool{}} }

func (n *fakeNetwork) Setup(_ context.Context, id, mode string, ports []network.PortMapping, opts ...network.SetupOption) (network.Attachment, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.setups = append(n.setups, netCall{id: id, mode: mode, ports: ports, opts: len(opts)})
	if n.setupErr != nil {
		return network.Attachment{}, n.setupErr
	}
	if n.up[id] {
		return network.Attachment{}, fmt.Errorf("network of %s is already set up", id)
	}
	if mode == network.ModeHost {
		return network.Attachment{Mode: mode}, nil
	}
	n.up[id] = true
	att := network.Attachment{Mode: mode, NetNSPath: "/run/berth/netns/" + id}
	if mode != network.ModeNone {
		att.IPv4, att.Gateway, att.SubnetCIDR, att.MAC, att.Interface = "10.213.0.5", n.GatewayIP(mode), "10.213.0.0/17", "0a:58:0a:d5:00:05", "eth0"
	}
	return att, nil
}

func (n *fakeNetwork) Teardown(_ context.Context, id, mode string, ports []network.PortMapping) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.teardowns = append(n.teardowns, netCall{id: id, mode: mode, ports: ports})
	delete(n.up, id)
	return nil
}

func (n *fakeNetwork) GatewayIP(mode string) string {
	switch mode {
	case network.ModeBridge:
		return "10.213.0.1"
	case network.ModeAWSVPC:
		return "10.213.128.1"
	case network.ModeHost:
		return "127.0.0.1"
	}
	return ""
}

func (n *fakeNetwork) calls() (setups, teardowns []netCall) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.setups), slices.Clone(n.teardowns)
}

// fakeReporter records reports; while failing it refuses them.
type fakeReporter struct {
	mu         sync.Mutex
	tasks      []TaskChange
	containers []ContainerChange
	health     []HealthChange
	failing    bool
	attempts   int
	// onTask runs before a task change is accepted (to look at the store).
	onTask func(TaskChange)
}

var errUnreachable = errors.New("control plane unreachable")

func (r *fakeReporter) ReportTask(_ context.Context, c TaskChange) error {
	r.mu.Lock()
	r.attempts++
	if r.failing {
		r.mu.Unlock()
		return errUnreachable
	}
	hook := r.onTask
	r.mu.Unlock()
	if hook != nil {
		hook(c)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tasks = append(r.tasks, c)
	return nil
}

func (r *fakeReporter) ReportContainer(_ context.Context, c ContainerChange) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts++
	if r.failing {
		return errUnreachable
	}
	r.containers = append(r.containers, c)
	return nil
}

func (r *fakeReporter) ReportHealth(_ context.Context, h HealthChange) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.health = append(r.health, h)
	return nil
}

func (r *fakeReporter) setFailing(f bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failing = f
}

func (r *fakeReporter) taskChanges(arn string) []TaskChange {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []TaskChange
	for _, c := range r.tasks {
		if c.TaskARN == arn {
			out = append(out, c)
		}
	}
	return out
}

func (r *fakeReporter) containerChanges(arn string) []ContainerChange {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []ContainerChange
	for _, c := range r.containers {
		if c.TaskARN == arn {
			out = append(out, c)
		}
	}
	return out
}

func (r *fakeReporter) healthChanges() []HealthChange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.health)
}

func (r *fakeReporter) taskReportCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.tasks)
}

func (r *fakeReporter) attemptCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
