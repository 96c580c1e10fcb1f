// Package runtime runs the containers of ECS tasks on containerd for the
// Berth agent: it pulls or finds images, creates containers with ECS/Docker
// semantics (entrypoint, command, env, user, limits, mounts, network
// namespaces), starts, waits for, stops, execs into, measures and removes
// them, and manages the per-task cgroup (cgroup v1) that groups a task's
// containers.
//
// The hot path (Create, Start) talks to containerd's services directly: the
// image config, rootfs chain ID and /etc/passwd are read once per image
// digest and cached, so Create costs one container record and one snapshot
// prepare, and Start one task create and one task start.
//
// All state lives in containerd (containers, their labels, tasks); a new
// Runtime adopts what an earlier agent process left: List reports every
// container and Wait works for them. Exit statuses are kept by containerd
// until Remove, so an exit that happened while nobody waited (or while the
// agent was down) is returned by the next Wait.
//
// Logs: each container's stdout and stderr go, interleaved as raw bytes
// without prefix or framing, to one file (ContainerSpec.LogPath, by default
// <LogDir>/<ID>.log), appended to. containerd's shim writes the file
// itself, so logging does not depend on the agent process being alive.
// Remove keeps the file.
//
// Non-host network modes get a generated /etc/hosts and /etc/resolv.conf
// per container in <StateDir>/<ID>/ (see ContainerSpec.ExtraHosts,
// DNSServers and DNSSearchDomains); host mode binds the host's files, or
// copies of them with those settings added when the container has any.
//
// Capabilities: containerd's default set (Docker's), changed by
// ContainerSpec.CapAdd and CapDrop with Docker's rules; Privileged gives
// every capability the agent has. /dev/shm is containerd's 64 MiB tmpfs
// unless ContainerSpec.ShmSize; ContainerSpec.Tmpfs adds tmpfs mounts with
// Docker's default options (noexec, nosuid, nodev).
//
// Init: ContainerSpec.Init bind-mounts a static init binary (Config.InitPath,
// found automatically among tini-static and catatonit) read-only at
// /sbin/docker-init and makes it PID 1, as Docker does.
//
// OOM: Exit.OOMKilled comes from the oom_kill counter of the container's
// cgroup (memory.oom_control on v1), which the kernel bumps in the victim's
// cgroup whichever limit (container or task) was hit, and which lives
// until Remove, so it is right for adopted containers too.
//
// Not applied, unlike Docker: seccomp and AppArmor profiles, the image's
// StopSignal (Stop sends SIGTERM), swap limits.
package runtime

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sync/singleflight"
)

// Defaults for Config fields left empty.
const (
	DefaultAddress     = "/run/containerd/containerd.sock"
	DefaultNamespace   = "berth"
	DefaultSnapshotter = "overlayfs"
	DefaultLogDir      = "/var/log/berth/containers"
	DefaultStateDir    = "/run/berth/runtime"
	DefaultCgroupRoot  = "/berth"
	// runcRuntime is the containerd runtime (shim) every container uses.
	runcRuntime = "io.containerd.runc.v2"
)

// initCandidates are static init binaries looked for when Config.InitPath
// is empty, in order.
var initCandidates = []string{
	"/usr/bin/tini-static",
	"/usr/bin/catatonit",
	"/usr/libexec/podman/catatonit",
	"/usr/bin/docker-init",
	"/usr/libexec/docker/docker-init",
}

// Config configures a Runtime. Empty fields take the defaults above.
type Config struct {
	Address     string // containerd socket
	Namespace   string // containerd namespace holding Berth's images and containers
	Snapshotter string
	LogDir      string // container logs: <LogDir>/<id>.log unless ContainerSpec.LogPath
	StateDir    string // generated per-container files (hosts, resolv.conf)
	CgroupRoot  string // task cgroups are <CgroupRoot>/<taskID>, containers below them
	// InitPath is a statically linked init (tini-static, catatonit) used
	// for ContainerSpec.Init. Empty: the first of initCandidates that
	// exists and is static; none found makes Init containers fail Create.
	InitPath string
}

// Sentinel errors; test with errors.Is.
var (
	// ErrNotFound: no container with that ID.
	ErrNotFound = errors.New("container not found")
	// ErrNoProcess: the container exists but has no process (never
	// started, or its process record was lost, e.g. by a host reboot).
	ErrNoProcess = errors.New("container has no process")
	// ErrNotRunning: the operation needs a running container.
	ErrNotRunning = errors.New("container not running")
	// ErrExecTimeout: Exec's command outlived its timeout and was killed.
	ErrExecTimeout = errors.New("exec timed out")
	// ErrImageNotPresent: Create was given an image EnsureImage never made present.
	ErrImageNotPresent = errors.New("image not present")
	// ErrNoInit: ContainerSpec.Init without a usable init binary.
	ErrNoInit = errors.New("no static init binary available for Init (install tini or set Config.InitPath)")
)

// Runtime runs containers through one containerd connection. Its methods
// are safe for concurrent use.
type Runtime struct {
	cfg         Config
	log         *slog.Logger
	client      *client.Client
	tasks       tasks.TasksClient
	containers  containers.Store
	snapshotter snapshots.Snapshotter
	cgroups     cgroupMounts
	hostMemory  uint64
	rlimits     []specs.POSIXRlimit // defaults for every container
	caps        []string            // capabilities the agent can grant (its effective set)

	// closing is canceled by Close; every Wait goroutine ends with it.
	closing context.Context
	cancel  context.CancelFunc
	waiters sync.WaitGroup

	pulls singleflight.Group

	mu       sync.Mutex
	closed   bool
	images   map[string]*imageInfo // by normalized ref
	byDigest map[string]*imageInfo // by manifest digest
	ctrs     map[string]*ctrState  // containers this process created
}

// ctrState is what Start, Exec and Wait need about a container, cached by
// Create so that they need no metadata round trip.
type ctrState struct {
	cgroup  string // cgroups path (relative to the hierarchy roots)
	logPath string
	process *specs.Process // read-only; Exec copies it
	rootfs  []mount.Mount  // from Prepare; nil for adopted containers
}

// New connects to containerd and prepares the log and state directories.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Runtime, error) {
	if log == nil {
		log = slog.Default()
	}
	setDefault(&cfg.Address, DefaultAddress)
	setDefault(&cfg.Namespace, DefaultNamespace)
	setDefault(&cfg.Snapshotter, DefaultSnapshotter)
	setDefault(&cfg.LogDir, DefaultLogDir)
	setDefault(&cfg.StateDir, DefaultStateDir)
	setDefault(&cfg.CgroupRoot, DefaultCgroupRoot)
	cfg.CgroupRoot = filepath.Join("/", cfg.CgroupRoot)
	if cfg.InitPath == "" {
		cfg.InitPath = findInit()
	} else if err := checkStatic(cfg.InitPath); err != nil {
		return nil, fmt.Errorf("init binary: %w", err)
	}
	for _, d := range []string{cfg.LogDir, cfg.StateDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", d, err)
		}
	}
	mounts, err := readCgroupMounts()
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg.Address, client.WithDefaultNamespace(cfg.Namespace), client.WithDefaultRuntime(runcRuntime))
	if err != nil {
		return nil, fmt.Errorf("connect to containerd at %s: %w", cfg.Address, err)
	}
	closing, cancel := context.WithCancel(context.Background())
	r := &Runtime{
		cfg:         cfg,
		log:         log,
		client:      c,
		tasks:       c.TaskService(),
		containers:  c.ContainerService(),
		snapshotter: c.SnapshotService(cfg.Snapshotter),
		cgroups:     mounts,
		hostMemory:  readHostMemory(),
		rlimits:     defaultRlimits(),
		caps:        agentCapabilities(),
		closing:     closing,
		cancel:      cancel,
		images:      map[string]*imageInfo{},
		byDigest:    map[string]*imageInfo{},
		ctrs:        map[string]*ctrState{},
	}
	// One cheap call proves the daemon answers before the engine relies on it.
	if _, err := c.Version(r.ns(ctx)); err != nil {
		r.Close()
		return nil, fmt.Errorf("containerd at %s: %w", cfg.Address, err)
	}
	return r, nil
}

// Close ends pending Waits (their channels close without a value) and the
// containerd connection. Containers keep running.
func (r *Runtime) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.waiters.Wait()
	return r.client.Close()
}

// ns puts the runtime's containerd namespace on ctx.
func (r *Runtime) ns(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, r.cfg.Namespace)
}

func (r *Runtime) state(id string) *ctrState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ctrs[id]
}

// loadState returns the cached state of container id, rebuilding it from the
// container record for containers created by an earlier process.
func (r *Runtime) loadState(ctx context.Context, id string) (*ctrState, error) {
	if st := r.state(id); st != nil {
		return st, nil
	}
	c, err := r.containers.Get(ctx, id)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil, fmt.Errorf("%s: %w", id, ErrNotFound)
		}
		return nil, fmt.Errorf("get container %s: %w", id, err)
	}
	st, err := stateFromRecord(c)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.ctrs[id] = st
	r.mu.Unlock()
	return st, nil
}

func setDefault(s *string, v string) {
	if *s == "" {
		*s = v
	}
}

func findInit() string {
	for _, p := range initCandidates {
		if checkStatic(p) == nil {
			return p
		}
	}
	return ""
}

// checkStatic accepts an existing, statically linked ELF executable (an
// init bind-mounted into images without a libc must not need one).
func checkStatic(p string) error {
	f, err := elf.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked", p)
		}
	}
	return nil
}
