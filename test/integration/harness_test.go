package integration

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/berth/berth/internal/agent"
	"github.com/berth/berth/internal/agent/network"
	"github.com/berth/berth/internal/agent/runtime"
	"github.com/berth/berth/internal/credential"
	"github.com/berth/berth/internal/server"
	"github.com/berth/berth/internal/testimage"
)

// Names that keep the suite apart from `berth dev` (namespace "berth",
// bridge berth0 on 10.213.0.0/17) and from other packages' tests.
const (
	namespace    = "berth-integ"
	clusterName  = "integ"
	bridgeName   = "bi-br0"
	bridgeSubnet = "10.216.0.0/24"
	vpcBridge    = "bi-vpc0"
	vpcSubnet    = "10.216.128.0/24"
	instanceID   = "i-00000000000b1e01"
	cniPluginDir = "/usr/lib/cni"

	// firstDynamicPort is where this agent's dynamic host ports begin:
	// every Berth control plane hands them out from 49153 up, so other
	// agents on this machine (tests, `berth dev`) map the low ones. The
	// agent registers 49153 to firstDynamicPort-1 as reserved ports.
	firstDynamicPort = 50153
)

// Timeouts of the suite. They bound waits for events; nothing asserts how
// long anything took.
const (
	startTimeout = 60 * time.Second // harness start: server, image, agent registration
	taskTimeout  = 90 * time.Second // one task state to be reached
	stopTimeout  = 60 * time.Second // the agent to return after cancel
	pollEvery    = 100 * time.Millisecond
)

// env is the suite's server and agent, shared by every test.
type env struct {
	root    string // temporary directory: server and agent data, logs
	logFile *os.File
	log     *slog.Logger

	srv   *server.Server
	admin *sdkecs.Client
	// privateRegistry wants privateUser/privatePassword, which the agent
	// holds in its --registry-auth-file.
	privateRegistry string
	stopRegistry    func()
	agentCfg        agent.Config
	instanceARN     string

	mu  sync.Mutex
	run *agentRun // the agent running now; nil while stopped
}

// suite holds the env, started by the first test that needs it.
var suite struct {
	once sync.Once
	env  *env
	skip string
	err  error
}

func TestMain(m *testing.M) {
	flag.Parse()
	raiseParallel(8)
	code := m.Run()
	if e := suite.env; e != nil {
		if err := e.close(); err != nil {
			fmt.Fprintf(os.Stderr, "integration: cleanup: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
		if code != 0 {
			fmt.Fprintf(os.Stderr, "integration: server and agent logs kept in %s\n", e.logFile.Name())
		} else {
			os.RemoveAll(e.root)
		}
	}
	os.Exit(code)
}

// raiseParallel lets up to n parallel tests run at once unless -parallel
// was given: the tests mostly wait for containers, not for CPU.
func raiseParallel(n int) {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", fmt.Sprint(n))
	}
}

// integ returns the shared env, starting it on first use. It skips the
// test when the machine cannot run containers.
func integ(t *testing.T) *env {
	t.Helper()
	suite.once.Do(func() {
		if suite.skip = skipReason(); suite.skip != "" {
			return
		}
		suite.env, suite.err = start()
	})
	if suite.skip != "" {
		t.Skip(suite.skip)
	}
	if suite.err != nil {
		t.Fatalf("integration harness: %v", suite.err)
	}
	return suite.env
}

// skipReason says why containers cannot run here, or "".
func skipReason() string {
	if os.Geteuid() != 0 {
		return "integration tests need root"
	}
	if _, err := os.Stat(testimage.Socket); err != nil {
		return "containerd socket " + testimage.Socket + " absent"
	}
	for _, p := range []string{"bridge", "host-local", "portmap"} {
		if _, err := os.Stat(filepath.Join(cniPluginDir, p)); err != nil {
			return "CNI plugin " + p + " absent from " + cniPluginDir
		}
	}
	if _, err := os.Stat(testimage.BusyboxPath); err != nil {
		return testimage.BusyboxPath + " absent (install busybox-static)"
	}
	return ""
}

// start runs the server and the agent. On failure it returns the env
// built so far (for close) and the error.
func start() (*env, error) {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	root, err := os.MkdirTemp("", "berth-integ-")
	if err != nil {
		return nil, err
	}
	e := &env{root: root}
	if e.logFile, err = os.Create(filepath.Join(root, "berth.log")); err != nil {
		return e, err
	}
	var w io.Writer = e.logFile
	if os.Getenv("BERTH_INTEG_LOG") != "" {
		w = io.MultiWriter(e.logFile, os.Stderr)
	}
	e.log = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))

	// Leftovers of an earlier run that did not clean up.
	removeContainers(ctx, e.log)
	deleteBridges(e.log)

	cfg := server.NewConfig()
	cfg.DataDir = filepath.Join(root, "server")
	cfg.Listen = "127.0.0.1:0"
	cfg.Logger = e.log.With("side", "server")
	cfg.ShutdownTimeout = 100 * time.Millisecond
	cfg.HeartbeatInterval = time.Second
	cfg.ManifestInterval = 2 * time.Second
	if e.srv, err = server.New(cfg); err != nil {
		return e, fmt.Errorf("new server: %w", err)
	}
	if err := e.srv.Start(ctx); err != nil {
		return e, fmt.Errorf("start server: %w", err)
	}
	adminCred, err := credential.ReadSharedFile(filepath.Join(cfg.DataDir, "credentials"), "default")
	if err != nil {
		return e, fmt.Errorf("admin credential: %w", err)
	}
	e.admin = sdkecs.New(sdkecs.Options{
		Region:           cfg.Region,
		BaseEndpoint:     aws.String(e.srv.Endpoint()),
		Credentials:      credentials.NewStaticCredentialsProvider(adminCred.AccessKeyID, adminCred.SecretAccessKey, ""),
		RetryMaxAttempts: 1, // RunTask is not idempotent: no blind retries
	})
	if _, err := e.admin.CreateCluster(ctx, &sdkecs.CreateClusterInput{ClusterName: aws.String(clusterName)}); err != nil {
		return e, fmt.Errorf("create cluster: %w", err)
	}

	c, err := client.New(testimage.Socket)
	if err != nil {
		return e, fmt.Errorf("connect containerd: %w", err)
	}
	err = testimage.Import(ctx, c, namespace, testimage.DefaultRef)
	c.Close()
	if err != nil {
		return e, fmt.Errorf("import busybox image: %w", err)
	}

	metadataPort, err := freeTCPPort()
	if err != nil {
		return e, err
	}
	ac := agent.NewConfig()
	ac.ServerURL, ac.Region, ac.Cluster = e.srv.Endpoint(), cfg.Region, clusterName
	ac.DataDir = filepath.Join(root, "agent")
	ac.InstanceID = instanceID
	ac.ContainerdNamespace = namespace
	ac.MetadataPort = metadataPort
	ac.IntrospectionPort = 0
	for p := 49153; p < firstDynamicPort; p++ {
		ac.ReservedPorts = append(ac.ReservedPorts, p)
	}
	ac.ContainerStopTimeout = 2 * time.Second
	ac.TaskCleanupWait = 10 * time.Second
	ac.Network = network.Config{
		PluginDirs: []string{cniPluginDir},
		BridgeName: bridgeName, BridgeSubnet: bridgeSubnet,
		VPCBridgeName: vpcBridge, VPCSubnet: vpcSubnet,
	}
	ac.Timing = fastTiming()
	if err := os.MkdirAll(ac.DataDir, 0o700); err != nil {
		return e, err
	}
	if e.privateRegistry, e.stopRegistry, err = testimage.StartRegistry(privateUser, privatePassword); err != nil {
		return e, err
	}
	ac.RegistryAuthFile = filepath.Join(ac.DataDir, "registry-auth.json")
	authJSON := fmt.Sprintf(`{%q: {"username": %q, "password": %q}}`, e.privateRegistry, privateUser, privatePassword)
	if err := os.WriteFile(ac.RegistryAuthFile, []byte(authJSON), 0o600); err != nil {
		return e, err
	}
	if _, err := e.srv.EnsureCredential(ctx, "integ-agent", filepath.Join(ac.DataDir, "credentials")); err != nil {
		return e, fmt.Errorf("agent credential: %w", err)
	}
	e.agentCfg = ac
	e.startAgent()

	for {
		if err := e.agentErr(); err != nil {
			return e, err
		}
		if arn, ok := e.connectedInstance(ctx); ok {
			e.instanceARN = arn
			return e, nil
		}
		select {
		case <-ctx.Done():
			return e, errors.New("the agent did not register and connect in time")
		case <-time.After(pollEvery):
		}
	}
}

// fastTiming shrinks the agent's protocol timers so that reconnects and
// retried reports take milliseconds.
func fastTiming() agent.Timing {
	t := agent.DefaultTiming()
	t.ACSBackoffMin, t.ACSBackoffMax = 20*time.Millisecond, 200*time.Millisecond
	t.TCSBackoffMin, t.TCSBackoffMax = 20*time.Millisecond, 200*time.Millisecond
	t.ReportBackoffMin, t.ReportBackoffMax = 10*time.Millisecond, 200*time.Millisecond
	t.RegisterBackoffMin, t.RegisterBackoffMax = 10*time.Millisecond, 200*time.Millisecond
	t.MetricsInterval = 2 * time.Second
	t.IdleJitter, t.LifetimeJitter = 0, 0
	return t
}

// connectedInstance returns the cluster's only container instance once its
// agent is connected.
func (e *env) connectedInstance(ctx context.Context) (string, bool) {
	l, err := e.admin.ListContainerInstances(ctx, &sdkecs.ListContainerInstancesInput{Cluster: aws.String(clusterName)})
	if err != nil || len(l.ContainerInstanceArns) != 1 {
		return "", false
	}
	ci, err := e.instance(ctx, l.ContainerInstanceArns[0])
	if err != nil || !ci.AgentConnected {
		return "", false
	}
	return l.ContainerInstanceArns[0], true
}

// instance describes one container instance.
func (e *env) instance(ctx context.Context, arn string) (types.ContainerInstance, error) {
	d, err := e.admin.DescribeContainerInstances(ctx, &sdkecs.DescribeContainerInstancesInput{
		Cluster: aws.String(clusterName), ContainerInstances: []string{arn}})
	if err != nil {
		return types.ContainerInstance{}, err
	}
	if len(d.ContainerInstances) != 1 {
		return types.ContainerInstance{}, fmt.Errorf("describe %s: %d instances, failures %+v", arn, len(d.ContainerInstances), d.Failures)
	}
	return d.ContainerInstances[0], nil
}

// agentRun is one agent.Run in the background.
type agentRun struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// startAgent starts agent.Run on the suite's config and data dir.
func (e *env) startAgent() {
	ctx, cancel := context.WithCancel(context.Background())
	r := &agentRun{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = agent.Run(ctx, e.agentCfg, e.log.With("side", "agent"))
	}()
	e.mu.Lock()
	e.run = r
	e.mu.Unlock()
}

// stopAgent cancels the running agent and returns what Run returned.
func (e *env) stopAgent() error {
	e.mu.Lock()
	r := e.run
	e.run = nil
	e.mu.Unlock()
	if r == nil {
		return nil
	}
	r.cancel()
	select {
	case <-r.done:
		return r.err
	case <-time.After(stopTimeout):
		return errors.New("agent.Run did not return after its context ended")
	}
}

// agentErr is non-nil when the running agent has ended by itself.
func (e *env) agentErr() error {
	e.mu.Lock()
	r := e.run
	e.mu.Unlock()
	if r == nil {
		return nil
	}
	select {
	case <-r.done:
		return fmt.Errorf("the agent ended: %v", r.err)
	default:
		return nil
	}
}

// close stops every task, the agent and the server, and removes the
// containers, network namespaces and bridges the suite made.
func (e *env) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*stopTimeout)
	defer cancel()
	var errs []error
	e.mu.Lock()
	running := e.run != nil
	e.mu.Unlock()
	if running && e.agentErr() == nil {
		if err := e.stopAllTasks(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := e.stopAgent(); err != nil {
		errs = append(errs, fmt.Errorf("stop agent: %w", err))
	}
	if e.log != nil {
		removeContainers(ctx, e.log)
		removePulledImages(ctx, e.log)
	}
	if e.agentCfg.DataDir != "" {
		netnsDir := filepath.Join(e.agentCfg.DataDir, "network", "netns")
		entries, _ := os.ReadDir(netnsDir)
		for _, ent := range entries {
			p := filepath.Join(netnsDir, ent.Name())
			if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
				errs = append(errs, fmt.Errorf("unmount leftover netns %s: %w", p, err))
			}
			os.Remove(p)
		}
		if len(entries) > 0 {
			errs = append(errs, fmt.Errorf("%d network namespaces were left after every task stopped", len(entries)))
		}
	}
	if e.log != nil {
		// The agent leaves its networks' masquerade rules (tasks outlive
		// it); the suite's go with its bridges.
		ncfg := e.agentCfg.Network
		ncfg.StateDir = filepath.Join(e.agentCfg.DataDir, "network")
		if nm, err := network.New(ncfg, e.log); err == nil {
			if err := nm.Close(); err != nil {
				errs = append(errs, fmt.Errorf("remove masquerade rules: %w", err))
			}
		}
		deleteBridges(e.log)
	}
	if e.srv != nil {
		e.srv.Close()
	}
	if e.stopRegistry != nil {
		e.stopRegistry()
	}
	if e.logFile != nil {
		e.logFile.Close()
	}
	return errors.Join(errs...)
}

// stopAllTasks stops every task the agent still runs and waits until the
// agent released their networks.
func (e *env) stopAllTasks(ctx context.Context) error {
	l, err := e.admin.ListTasks(ctx, &sdkecs.ListTasksInput{Cluster: aws.String(clusterName), DesiredStatus: types.DesiredStatusRunning})
	if err != nil {
		return fmt.Errorf("list tasks: %w", err)
	}
	for _, arn := range l.TaskArns {
		if _, err := e.admin.StopTask(ctx, &sdkecs.StopTaskInput{Cluster: aws.String(clusterName), Task: aws.String(arn), Reason: aws.String("integration suite ends")}); err != nil {
			return fmt.Errorf("stop task %s: %w", arn, err)
		}
	}
	netnsDir := filepath.Join(e.agentCfg.DataDir, "network", "netns")
	for {
		l, err := e.admin.ListTasks(ctx, &sdkecs.ListTasksInput{Cluster: aws.String(clusterName), DesiredStatus: types.DesiredStatusStopped})
		pending := err != nil
		if err == nil && len(l.TaskArns) > 0 {
			d, err := e.admin.DescribeTasks(ctx, &sdkecs.DescribeTasksInput{Cluster: aws.String(clusterName), Tasks: l.TaskArns})
			pending = err != nil
			for _, t := range d.Tasks {
				pending = pending || aws.ToString(t.LastStatus) != "STOPPED"
			}
		}
		entries, _ := os.ReadDir(netnsDir)
		if !pending && len(entries) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("tasks still stopping or networks not released at the end (%d namespaces)", len(entries))
		case <-time.After(pollEvery):
		}
	}
}

// removeContainers stops and removes every container of the suite's
// namespace.
func removeContainers(ctx context.Context, log *slog.Logger) {
	rt, err := runtime.New(ctx, runtime.Config{Address: testimage.Socket, Namespace: namespace}, log.With("side", "cleanup"))
	if err != nil {
		log.Warn("cleanup: containerd", "err", err)
		return
	}
	defer rt.Close()
	infos, err := rt.List(ctx)
	if err != nil {
		log.Warn("cleanup: list containers", "err", err)
		return
	}
	for _, i := range infos {
		if i.Running {
			_ = rt.Stop(ctx, i.ID, time.Second)
		}
		if err := rt.Remove(ctx, i.ID); err != nil {
			log.Warn("cleanup: remove container", "id", i.ID, "err", err)
		}
	}
}

// removePulledImages deletes the images tasks pulled into the suite's
// namespace (all but the imported busybox, which later runs reuse); their
// content and snapshots go with containerd's garbage collection.
func removePulledImages(ctx context.Context, log *slog.Logger) {
	c, err := client.New(testimage.Socket)
	if err != nil {
		log.Warn("cleanup: containerd", "err", err)
		return
	}
	defer c.Close()
	ctx = namespaces.WithNamespace(ctx, namespace)
	imgs, err := c.ImageService().List(ctx)
	if err != nil {
		log.Warn("cleanup: list images", "err", err)
		return
	}
	for _, img := range imgs {
		if img.Name == testimage.DefaultRef {
			continue
		}
		if err := c.ImageService().Delete(ctx, img.Name, images.SynchronousDelete()); err != nil {
			log.Warn("cleanup: delete image", "image", img.Name, "err", err)
		}
	}
}

// deleteBridges removes the suite's bridges if they exist.
func deleteBridges(log *slog.Logger) {
	for _, name := range []string{bridgeName, vpcBridge} {
		if _, err := net.InterfaceByName(name); err != nil {
			continue
		}
		if out, err := exec.Command("ip", "link", "delete", name).CombinedOutput(); err != nil {
			log.Warn("cleanup: delete bridge", "bridge", name, "err", err, "output", strings.TrimSpace(string(out)))
		}
	}
}

// freeTCPPort returns a TCP port nothing listens on right now.
func freeTCPPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
