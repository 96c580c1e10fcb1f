package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/agent"
	"github.com/berth/berth/internal/agent/engine"
	"github.com/berth/berth/internal/agent/network"
	"github.com/berth/berth/internal/agent/runtime"
	"github.com/berth/berth/internal/credential"
	"github.com/berth/berth/internal/server"
	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/testimage"
)

// The benchmark agent's networks: bridges and subnets of its own, so that
// it never meets a `berth dev` agent (berth0, 10.213.0.0/16) on the machine.
const (
	benchBridge    = "bb-br0"
	benchSubnet    = "10.217.0.0/24"
	benchVPCBridge = "bb-vpc0"
	benchVPCSubnet = "10.217.1.0/24"
)

// benchCluster is the cluster the benchmark's agent joins.
const benchCluster = "berth-bench"

// benchInstanceID is the agent's EC2-style instance id.
const benchInstanceID = "i-00000000bec40001"

// benchStopTimeout is the agent's SIGTERM→SIGKILL grace: `sleep` as PID 1
// ignores SIGTERM, and stops are not measured.
const benchStopTimeout = 100 * time.Millisecond

// benchCleanupWait is the agent's task cleanup wait: a stopped task's
// container goes at once, and the benchmark waits for that before the next
// start, so every start finds an idle agent and no stopped containers
// (nor their shims) pile up.
const benchCleanupWait = time.Millisecond

// connectTimeout bounds the agent's registration and connection.
const connectTimeout = time.Minute

// taskEnv is a Berth server and an agent in this process, with what the
// benchmark needs to drive and observe them.
type taskEnv struct {
	cfg     TaskStartConfig
	log     *slog.Logger
	dir     string
	srv     *server.Server
	api     *sdkecs.Client
	hc      *http.Client
	cd      *containerd.Client
	cluster string
	watch   *taskWatch
	rec     *phaseRecorder // nil unless Config.Phases
	agent   agent.Config

	stopWatch, stopAgent context.CancelFunc
	agentDone            chan error

	lock *os.File // held for the whole run

	mu         sync.Mutex
	runtimeIDs []string // every Berth container seen, for their log files
}

// runLock is held by the running benchmark: two runs would share the
// namespace, the bridges and ctr's network list.
const runLock = "/run/berth-bench-tasks.lock"

// lockRun takes runLock, or fails at once if another run holds it.
func lockRun() (*os.File, error) {
	f, err := os.OpenFile(runLock, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("bench: another task start benchmark is running (%s is locked): %w", runLock, err)
	}
	return f, nil
}

// startTaskEnv imports the image and starts the server, the store watch
// and the agent; it returns once the agent is connected. On failure it
// cleans up after itself.
func startTaskEnv(ctx context.Context, cfg TaskStartConfig) (_ *taskEnv, err error) {
	if _, err := os.Stat(cfg.ContainerdAddress); err != nil {
		return nil, fmt.Errorf("bench: containerd socket: %w", err)
	}
	e := &taskEnv{cfg: cfg, log: cfg.Logger, cluster: benchCluster}
	defer func() {
		if err != nil {
			e.close(ctx)
		}
	}()
	if e.lock, err = lockRun(); err != nil {
		return nil, err
	}
	if e.cd, err = containerd.New(cfg.ContainerdAddress, containerd.WithDefaultNamespace(cfg.Namespace)); err != nil {
		return nil, fmt.Errorf("bench: connect to containerd: %w", err)
	}
	if err = testimage.Import(ctx, e.cd, cfg.Namespace, testimage.DefaultRef); err != nil {
		return nil, fmt.Errorf("bench: import the busybox image: %w", err)
	}
	if e.dir, err = os.MkdirTemp(cfg.DataDir, "berth-bench-tasks-"); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	h := cfg.Logger.Handler()
	if cfg.Phases {
		e.rec = newPhaseRecorder(h)
		h = e.rec
		if err = e.rec.subscribe(ctx, e.cd, cfg.Namespace); err != nil {
			return nil, err
		}
	}
	log := slog.New(h)

	scfg := server.NewConfig()
	scfg.DataDir = filepath.Join(e.dir, "server")
	scfg.Listen = "127.0.0.1:0"
	scfg.Logger = log.With("component", "server")
	if e.srv, err = server.New(scfg); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if err = e.srv.Start(ctx); err != nil {
		return nil, fmt.Errorf("bench: start the server: %w", err)
	}
	if err = checkLoopbackURL(e.srv.Endpoint()); err != nil {
		return nil, err
	}

	e.watch = newTaskWatch(cfg.Logger)
	wctx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	e.stopWatch = stopWatch
	started := make(chan error, 1)
	go e.watch.run(wctx, e.srv.Store(), state.TasksPrefix(e.cluster), started)
	if err = <-started; err != nil {
		return nil, fmt.Errorf("bench: watch the store: %w", err)
	}

	admin, err := credential.ReadSharedFile(filepath.Join(scfg.DataDir, "credentials"), "default")
	if err != nil {
		return nil, fmt.Errorf("bench: administrator credential: %w", err)
	}
	e.hc, _ = newHTTPClient(4, cfg.TaskTimeout)
	e.api = newSDKECS(Config{Region: scfg.Region, Endpoint: e.srv.Endpoint(), AccessKeyID: admin.AccessKeyID, Secret: admin.SecretAccessKey}, e.hc)
	if _, err = e.api.CreateCluster(ctx, &sdkecs.CreateClusterInput{ClusterName: aws.String(e.cluster)}); err != nil {
		return nil, fmt.Errorf("bench: create cluster: %w", err)
	}
	if err = e.startAgent(ctx, scfg.Region, log.With("component", "agent")); err != nil {
		return nil, err
	}
	return e, nil
}

// startAgent runs the agent with a credential of its own and waits until
// its instance is registered and connected.
func (e *taskEnv) startAgent(ctx context.Context, region string, log *slog.Logger) error {
	a := agent.NewConfig()
	a.ServerURL, a.Region, a.Cluster = e.srv.Endpoint(), region, e.cluster
	a.DataDir = filepath.Join(e.dir, "agent")
	a.InstanceID = benchInstanceID
	a.ContainerdAddress, a.ContainerdNamespace = e.cfg.ContainerdAddress, e.cfg.Namespace
	a.Network = network.Config{BridgeName: benchBridge, BridgeSubnet: benchSubnet, VPCBridgeName: benchVPCBridge, VPCSubnet: benchVPCSubnet}
	a.IntrospectionPort = 0
	port, err := freeLoopbackPort()
	if err != nil {
		return err
	}
	a.MetadataPort = port
	a.ContainerStopTimeout = benchStopTimeout
	a.TaskCleanupWait = benchCleanupWait
	a.CredentialsFile = filepath.Join(a.DataDir, "credentials")
	c, err := e.srv.EnsureCredential(ctx, "bench-agent", a.CredentialsFile)
	if err != nil {
		return fmt.Errorf("bench: agent credential: %w", err)
	}
	a.AccessKeyID, a.SecretAccessKey = c.AccessKeyID, c.SecretAccessKey
	e.agent = a

	actx, stop := context.WithCancel(context.WithoutCancel(ctx))
	e.stopAgent, e.agentDone = stop, make(chan error, 1)
	go func() { e.agentDone <- agent.Run(actx, a, log) }()

	deadline := time.Now().Add(connectTimeout)
	for {
		l, err := e.api.ListContainerInstances(ctx, &sdkecs.ListContainerInstancesInput{Cluster: aws.String(e.cluster)})
		if err == nil && len(l.ContainerInstanceArns) == 1 {
			d, err := e.api.DescribeContainerInstances(ctx, &sdkecs.DescribeContainerInstancesInput{
				Cluster: aws.String(e.cluster), ContainerInstances: l.ContainerInstanceArns})
			if err == nil && len(d.ContainerInstances) == 1 && d.ContainerInstances[0].AgentConnected {
				return nil
			}
		}
		select {
		case err := <-e.agentDone:
			e.agentDone <- err // for close
			return fmt.Errorf("bench: the agent stopped before it connected: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("bench: the agent did not connect within a minute")
		}
	}
}

// freeLoopbackPort returns a TCP port free on 127.0.0.1 (the agent's
// metadata endpoint listens on it on its own addresses).
func freeLoopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("bench: find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// noteRuntimeID remembers a Berth container, whose log file close removes.
func (e *taskEnv) noteRuntimeID(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !slices.Contains(e.runtimeIDs, id) {
		e.runtimeIDs = append(e.runtimeIDs, id)
	}
}

// waitContainerGone waits until containerd no longer has container id.
func (e *taskEnv) waitContainerGone(ctx context.Context, id string) error {
	ctx = namespaces.WithNamespace(ctx, e.cfg.Namespace)
	for {
		_, err := e.cd.ContainerService().Get(ctx, id)
		if errdefs.IsNotFound(err) {
			return nil
		}
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("look for container %s: %w", id, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the agent did not remove container %s: %w", id, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// closeTimeout bounds the clean-up.
const closeTimeout = 2 * time.Minute

// close stops the agent and the server and removes what the run left:
// Berth containers (and their log files), task networks, the bridges, the
// temporary directory. The image stays cached in the namespace.
func (e *taskEnv) close(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
	defer cancel()
	warn := func(what string, err error) {
		if err != nil {
			e.log.Warn("bench clean-up: "+what, "err", err)
		}
	}
	if e.stopAgent != nil {
		e.stopAgent()
		select {
		case err := <-e.agentDone:
			if err != nil && !errors.Is(err, context.Canceled) {
				warn("agent", err)
			}
		case <-ctx.Done():
			warn("agent", errors.New("did not stop"))
		}
	}
	if e.srv != nil {
		warn("server", e.srv.Close())
	}
	if e.stopWatch != nil {
		e.stopWatch()
	}
	if e.rec != nil {
		e.rec.stop()
	}
	if e.cd != nil {
		warn("containers", e.removeBerthContainers(ctx))
		warn("containerd", e.cd.Close())
	}
	if e.dir != "" {
		warn("task networks", e.removeTaskNetworks(ctx))
	}
	if e.dir != "" {
		// The agent leaves its networks' masquerade rules (tasks outlive
		// it); the benchmark's go with its bridges.
		ncfg := e.agent.Network
		ncfg.StateDir = filepath.Join(e.dir, "masquerade-cleanup")
		if nm, err := network.New(ncfg, e.log); err == nil {
			warn("masquerade rules", nm.Close())
		}
	}
	for _, b := range []string{benchBridge, benchVPCBridge} {
		warn("bridge", deleteLink(b))
	}
	if e.dir != "" {
		warn("data dir", os.RemoveAll(e.dir))
	}
	if e.lock != nil {
		e.lock.Close() // releases the lock; the file stays, harmless
	}
}

// removeBerthContainers removes the agent's containers still in the
// namespace (after a failed or interrupted run) and the log file of every
// Berth container of the run.
func (e *taskEnv) removeBerthContainers(ctx context.Context) error {
	rt, err := runtime.New(ctx, runtime.Config{Address: e.cfg.ContainerdAddress, Namespace: e.cfg.Namespace}, e.log)
	if err != nil {
		return err
	}
	defer rt.Close()
	infos, err := rt.List(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, i := range infos {
		if !isBerthContainer(i.Labels) {
			continue // a ctr baseline container: its session removes it
		}
		e.noteRuntimeID(i.ID)
		if err := rt.Remove(ctx, i.ID); err != nil {
			errs = append(errs, err)
		}
	}
	e.mu.Lock()
	ids := append([]string(nil), e.runtimeIDs...)
	e.mu.Unlock()
	for _, id := range ids {
		if err := os.Remove(filepath.Join(runtime.DefaultLogDir, id+".log")); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// isBerthContainer tells the agent's containers (labelled with their ECS
// cluster) from ctr's.
func isBerthContainer(labels map[string]string) bool {
	_, ok := labels[engine.LabelCluster]
	return ok
}

// removeTaskNetworks tears down the task networks the agent left (after
// a failed or interrupted run) and unpins their namespaces.
func (e *taskEnv) removeTaskNetworks(ctx context.Context) error {
	stateDir := filepath.Join(e.agent.DataDir, "network")
	entries, err := os.ReadDir(filepath.Join(stateDir, "netns"))
	if errors.Is(err, os.ErrNotExist) || len(entries) == 0 {
		return nil
	}
	if err != nil {
		return err
	}
	cfg := e.agent.Network
	cfg.StateDir = stateDir
	nm, err := network.New(cfg, e.log)
	if err != nil {
		return err
	}
	var errs []error
	for _, ent := range entries {
		if err := nm.Teardown(ctx, ent.Name(), network.ModeBridge, nil); err != nil {
			errs = append(errs, err)
			p := filepath.Join(stateDir, "netns", ent.Name())
			syscall.Unmount(p, syscall.MNT_DETACH)
			os.Remove(p)
		}
	}
	return errors.Join(errs...)
}
