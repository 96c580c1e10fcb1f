package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth/berth/internal/agent"
	"github.com/berth/berth/internal/credential"
	"github.com/berth/berth/internal/ecs"
)

// The scale benchmark (RunScale) measures the control plane with many
// instances: a `berth server` child process (so that its peak memory is
// its own) and, in this process, simulated instances — the real agent's
// registration, ACS client and state reporter over an engine that reports
// every task RUNNING at once (agent.RunSimulated). It times a service of
// many tasks from CreateService until every task's RUNNING was accepted,
// then many RunTask calls from the first call until the last task's
// RUNNING, and the pure placement function over a snapshot of the same
// size (scale_place.go).

// ScaleConfig sizes a scale run.
type ScaleConfig struct {
	// Berth is the berth binary to run the server with.
	Berth string
	// DataDir holds the run's temporary directory ("" : the system's).
	DataDir string
	// Instances simulated; ServiceTasks the service's desired count;
	// RunTasks the RunTask calls (count 1 each), RunTaskClients of them at
	// once.
	Instances, ServiceTasks, RunTasks, RunTaskClients int
	// Timeout bounds each phase.
	Timeout time.Duration
	// ServerCPUProfile, when set, is where the server writes a CPU profile
	// of the run up to the RunTask phase; ServerCPUProfile.1 holds the
	// RunTask phase and ServerCPUProfile.2 the rest.
	ServerCPUProfile string
	Logger           *slog.Logger
}

// NewScaleConfig returns the sizes.
func NewScaleConfig() ScaleConfig {
	return ScaleConfig{Instances: 1000, ServiceTasks: 10000, RunTasks: 1000, RunTaskClients: 16, Timeout: 10 * time.Minute}
}

// Validate checks the sizes.
func (c *ScaleConfig) Validate() error {
	switch {
	case c.Berth == "":
		return errors.New("bench: the berth binary is required")
	case c.Instances < 1 || c.Instances > 5000:
		return fmt.Errorf("bench: --instances %d must be 1..5000", c.Instances)
	case c.ServiceTasks < 0 || c.ServiceTasks > 20*c.Instances:
		return fmt.Errorf("bench: --service-tasks %d must be 0..%d (20 per instance)", c.ServiceTasks, 20*c.Instances)
	case c.RunTasks < 0 || c.RunTasks > 5*c.Instances:
		return fmt.Errorf("bench: --run-tasks %d must be 0..%d (5 per instance)", c.RunTasks, 5*c.Instances)
	case c.RunTaskClients < 1 || c.RunTaskClients > 256:
		return fmt.Errorf("bench: --run-task-clients %d must be 1..256", c.RunTaskClients)
	case c.Timeout <= 0:
		return errors.New("bench: --timeout must be positive")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return nil
}

// The simulated instances' size and the task the run places: 4 vCPU and
// 8 GiB each; the task takes 64 CPU units and 128 MiB, so that the
// service (10 per instance at the default sizes) and the RunTask tasks
// fit with room to spare, and placement works out where.
const (
	scaleCPUs       = 4
	scaleMemoryMiB  = 8192
	scaleTaskCPU    = 64
	scaleTaskMemory = 128
	scaleCluster    = "scale"
	scaleFamily     = "scale"
	scaleService    = "scale"
	scaleRegion     = "us-east-1" // the server's default
)

// scaleZones are the simulated availability zones.
var scaleZones = []string{"zone-a", "zone-b", "zone-c"}

// ScaleReport is what a run measured.
type ScaleReport struct {
	Instances         int
	RegisterDuration  time.Duration // from the first registration to every ACS connection up
	Service           PhaseThroughput
	RunTask           PhaseThroughput
	RunTaskLatency    Latencies // RunTask call to its task's RUNNING accepted
	RunTaskCall       Latencies // the RunTask call alone
	RunTaskCPU        PhaseCPU  // CPU time the RunTask phase took
	Placement         []PlacementThroughput
	ServerPeakRSS     int64 // bytes (VmHWM)
	ServerRSS         int64 // bytes at the end (VmRSS)
	ServerCPU         time.Duration
	StoreBytes        int64
	RunningAtEnd      int // the service's runningCount at the end
	ServiceSteadyAt   time.Duration
	ServiceCompleted  bool // its deployment COMPLETED
	RunTaskFailures   int
	PlacementMismatch string // "" when every task went where capacity allowed
}

// PhaseThroughput is one phase: tasks from its first API call until the
// control plane accepted the last task's RUNNING.
type PhaseThroughput struct {
	Tasks    int
	Duration time.Duration
}

// PhaseCPU is the CPU time (user + system) one phase took in the server
// process and in this one (the simulated instances and the clients). Both
// share the machine's cores, so together they bound the phase's rate.
type PhaseCPU struct {
	Server, LoadGenerator time.Duration
}

// cpuNow reads both processes' CPU time so far.
func (e *scaleEnv) cpuNow() PhaseCPU {
	var c PhaseCPU
	c.Server, _ = processCPUOf(e.server.Process.Pid)
	c.LoadGenerator, _ = processCPU()
	return c
}

// since is the CPU time used between start and c.
func (c PhaseCPU) since(start PhaseCPU) PhaseCPU {
	return PhaseCPU{Server: c.Server - start.Server, LoadGenerator: c.LoadGenerator - start.LoadGenerator}
}

// nextServerProfile has the server start its next CPU profile file, when it
// writes one: so the RunTask phase has a file of its own, ServerCPUProfile.1.
func (e *scaleEnv) nextServerProfile() {
	if e.cfg.ServerCPUProfile != "" {
		_ = signalProfile(e.server.Process)
	}
}

// PerSecond is the phase's tasks per second.
func (p PhaseThroughput) PerSecond() float64 { return Throughput(p.Tasks, p.Duration) }

// scaleEnv is one run's server process, clients and simulated instances.
type scaleEnv struct {
	cfg     ScaleConfig
	dir     string
	server  *exec.Cmd
	exited  chan struct{}
	stderr  *lockedWriter
	url     string
	api     *sdkecs.Client
	agents  sync.WaitGroup
	stop    context.CancelFunc
	running atomic.Int64
	mu      sync.Mutex
	ackedAt map[string]time.Time // task ARN → its RUNNING accepted
	phaseN  int64                // RUNNING acks that end the current phase
	phaseAt time.Time
	phaseCh chan struct{}
}

// RunScale runs the scale benchmark.
func RunScale(ctx context.Context, cfg ScaleConfig) (rep ScaleReport, err error) {
	if err := cfg.Validate(); err != nil {
		return rep, err
	}
	// The pure placement function first, on a quiet machine.
	rep.Placement = measurePlacement(cfg.Instances, cfg.ServiceTasks, cfg.RunTasks)
	e := &scaleEnv{cfg: cfg, ackedAt: map[string]time.Time{}}
	defer e.close()
	if err := e.startServer(ctx); err != nil {
		return rep, err
	}
	rep.Instances = cfg.Instances
	if rep.RegisterDuration, err = e.startInstances(ctx); err != nil {
		return rep, err
	}
	if _, err := e.api.RegisterTaskDefinition(ctx, scaleTaskDefinition()); err != nil {
		return rep, fmt.Errorf("bench: register the task definition: %w", err)
	}
	if cfg.ServiceTasks > 0 {
		if err := e.servicePhase(ctx, &rep); err != nil {
			return rep, err
		}
	}
	if cfg.RunTasks > 0 {
		if err := e.runTaskPhase(ctx, &rep); err != nil {
			return rep, err
		}
	}
	if err := e.check(ctx, &rep); err != nil {
		return rep, err
	}
	rep.ServerPeakRSS, rep.ServerRSS = procMemory(e.server.Process.Pid)
	rep.ServerCPU, _ = processCPUOf(e.server.Process.Pid)
	if fi, err := os.Stat(filepath.Join(e.dir, "server", "state.db")); err == nil {
		rep.StoreBytes = fi.Size()
	}
	return rep, nil
}

// startServer runs `berth server` on a free loopback port and makes the
// administrator's client.
func (e *scaleEnv) startServer(ctx context.Context) error {
	var err error
	if e.dir, err = os.MkdirTemp(e.cfg.DataDir, "berth-bench-scale-"); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	port, err := freeLoopbackPort()
	if err != nil {
		return err
	}
	e.url = "http://127.0.0.1:" + strconv.Itoa(port)
	dataDir := filepath.Join(e.dir, "server")
	e.stderr = &lockedWriter{w: &bytes.Buffer{}}
	args := []string{"server", "--data-dir", dataDir, "--listen", "127.0.0.1:" + strconv.Itoa(port), "--log-level", "warn"}
	if e.cfg.ServerCPUProfile != "" {
		args = append(args, "--cpu-profile", e.cfg.ServerCPUProfile)
	}
	e.server = exec.Command(e.cfg.Berth, args...)
	e.server.Stdout, e.server.Stderr = io.Discard, e.stderr
	if err := e.server.Start(); err != nil {
		return fmt.Errorf("bench: start berth server: %w", err)
	}
	e.exited = make(chan struct{})
	go func() { _ = e.server.Wait(); close(e.exited) }()
	hc := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(30 * time.Second); ; {
		if resp, err := hc.Get(e.url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-e.exited:
			return fmt.Errorf("bench: berth server exited: %s", e.stderrText())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("bench: berth server did not answer within 30s")
		}
	}
	admin, err := credential.ReadSharedFile(filepath.Join(dataDir, "credentials"), "default")
	if err != nil {
		return fmt.Errorf("bench: administrator credential: %w", err)
	}
	client, _ := newHTTPClient(64, time.Minute)
	e.api = newSDKECS(Config{Region: scaleRegion, Endpoint: e.url, AccessKeyID: admin.AccessKeyID, Secret: admin.SecretAccessKey}, client)
	if _, err := e.api.CreateCluster(ctx, &sdkecs.CreateClusterInput{ClusterName: aws.String(scaleCluster)}); err != nil {
		return fmt.Errorf("bench: create cluster: %w", err)
	}
	return nil
}

// startInstances starts the simulated instances and waits until each has
// its ACS connection up.
func (e *scaleEnv) startInstances(ctx context.Context) (time.Duration, error) {
	credFile := filepath.Join(e.dir, "agent-credentials")
	out, err := exec.CommandContext(ctx, e.cfg.Berth, "credentials", "create", "--endpoint", e.url,
		"--data-dir", filepath.Join(e.dir, "server"), "--name", "scale-agents", "--write", credFile).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("bench: create the agents' credential: %w: %s", err, out)
	}
	c, err := credential.ReadSharedFile(credFile, "default")
	if err != nil {
		return 0, fmt.Errorf("bench: agents' credential: %w", err)
	}
	hc, _ := newHTTPClient(256, time.Minute)
	actx, stop := context.WithCancel(context.WithoutCancel(ctx))
	e.stop = stop
	connected := make(chan struct{}, e.cfg.Instances)
	failed := make(chan error, 1)
	start := time.Now()
	sem := make(chan struct{}, 64) // registrations at once
	for i := range e.cfg.Instances {
		var once sync.Once
		cfg := agent.SimulatedConfig{
			ServerURL: e.url, Region: scaleRegion, Cluster: scaleCluster,
			AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey,
			InstanceID: fmt.Sprintf("i-%016x", i+1), CPUs: scaleCPUs, MemoryMiB: scaleMemoryMiB,
			AvailabilityZone: scaleZones[i%len(scaleZones)], HTTPClient: hc,
			OnConnect:  func() { once.Do(func() { <-sem; connected <- struct{}{} }) },
			OnReported: e.reported,
		}
		e.agents.Add(1)
		go func() {
			defer e.agents.Done()
			sem <- struct{}{}
			if err := agent.RunSimulated(actx, cfg, e.cfg.Logger); err != nil {
				select {
				case failed <- fmt.Errorf("bench: simulated instance %s: %w", cfg.InstanceID, err):
				default:
				}
			}
		}()
	}
	timeout := time.After(e.cfg.Timeout)
	for range e.cfg.Instances {
		select {
		case <-connected:
		case err := <-failed:
			return 0, err
		case <-e.exited:
			return 0, fmt.Errorf("bench: berth server exited: %s", e.stderrText())
		case <-timeout:
			return 0, errors.New("bench: the simulated instances did not all connect in time")
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return time.Since(start), nil
}

// reported counts a task's RUNNING accepted by the control plane.
func (e *scaleEnv) reported(arn string, st ecs.TaskStatus) {
	if st != ecs.TaskRunning {
		return
	}
	now := time.Now()
	n := e.running.Add(1)
	e.mu.Lock()
	e.ackedAt[arn] = now
	if e.phaseCh != nil && n == e.phaseN {
		e.phaseAt = now
		close(e.phaseCh)
		e.phaseCh = nil
	}
	e.mu.Unlock()
}

// expect arms the end of a phase: n more RUNNING acknowledgements.
func (e *scaleEnv) expect(n int) chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	ch := make(chan struct{})
	e.phaseN = e.running.Load() + int64(n)
	e.phaseCh = ch
	return ch
}

// wait waits for a phase's end.
func (e *scaleEnv) wait(ctx context.Context, ch chan struct{}, what string) (time.Time, error) {
	select {
	case <-ch:
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.phaseAt, nil
	case <-e.exited:
		return time.Time{}, fmt.Errorf("bench: berth server exited during %s: %s", what, e.stderrText())
	case <-time.After(e.cfg.Timeout):
		return time.Time{}, fmt.Errorf("bench: %s: only %d tasks RUNNING after %s", what, e.running.Load(), e.cfg.Timeout)
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	}
}

func scaleTaskDefinition() *sdkecs.RegisterTaskDefinitionInput {
	return &sdkecs.RegisterTaskDefinitionInput{
		Family: aws.String(scaleFamily),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("app"), Image: aws.String("berth.local/busybox:latest"), Essential: aws.Bool(true),
			Cpu: scaleTaskCPU, Memory: aws.Int32(scaleTaskMemory), Command: []string{"sleep", "3600"},
		}},
	}
}

// servicePhase creates the service and waits for every task's RUNNING.
func (e *scaleEnv) servicePhase(ctx context.Context, rep *ScaleReport) error {
	done := e.expect(e.cfg.ServiceTasks)
	start := time.Now()
	_, err := e.api.CreateService(ctx, &sdkecs.CreateServiceInput{
		Cluster: aws.String(scaleCluster), ServiceName: aws.String(scaleService), TaskDefinition: aws.String(scaleFamily),
		DesiredCount: aws.Int32(int32(e.cfg.ServiceTasks)),
	})
	if err != nil {
		return fmt.Errorf("bench: create service: %w", err)
	}
	end, err := e.wait(ctx, done, "the service phase")
	if err != nil {
		return err
	}
	rep.Service = PhaseThroughput{Tasks: e.cfg.ServiceTasks, Duration: end.Sub(start)}
	// The deployment reaches COMPLETED (and the service a steady state)
	// on a controller pass after the last RUNNING.
	for deadline := time.Now().Add(e.cfg.Timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		d, err := e.api.DescribeServices(ctx, &sdkecs.DescribeServicesInput{Cluster: aws.String(scaleCluster), Services: []string{scaleService}})
		if err != nil {
			return fmt.Errorf("bench: describe service: %w", err)
		}
		if len(d.Services) == 1 && len(d.Services[0].Deployments) == 1 && d.Services[0].Deployments[0].RolloutState == types.DeploymentRolloutStateCompleted {
			rep.ServiceSteadyAt = time.Since(start)
			rep.ServiceCompleted = true
			break
		}
	}
	return nil
}

// runTaskPhase sends the RunTask calls from RunTaskClients clients and
// waits for every task's RUNNING.
func (e *scaleEnv) runTaskPhase(ctx context.Context, rep *ScaleReport) error {
	done := e.expect(e.cfg.RunTasks)
	var next atomic.Int64
	var mu sync.Mutex
	calledAt := map[string]time.Time{}
	var calls []time.Duration
	var failures atomic.Int64
	var firstErr error
	var wg sync.WaitGroup
	e.nextServerProfile()
	cpuStart := e.cpuNow()
	start := time.Now()
	for range e.cfg.RunTaskClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(e.cfg.RunTasks) {
				at := time.Now()
				out, err := e.api.RunTask(ctx, &sdkecs.RunTaskInput{Cluster: aws.String(scaleCluster), TaskDefinition: aws.String(scaleFamily)})
				took := time.Since(at)
				mu.Lock()
				calls = append(calls, took)
				switch {
				case err != nil:
					if firstErr == nil {
						firstErr = err
					}
				case len(out.Tasks) != 1:
					failures.Add(1)
				default:
					calledAt[aws.ToString(out.Tasks[0].TaskArn)] = at
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return fmt.Errorf("bench: RunTask: %w", firstErr)
	}
	rep.RunTaskFailures = int(failures.Load())
	if rep.RunTaskFailures > 0 {
		return fmt.Errorf("bench: %d RunTask calls placed no task", rep.RunTaskFailures)
	}
	end, err := e.wait(ctx, done, "the RunTask phase")
	if err != nil {
		return err
	}
	rep.RunTask = PhaseThroughput{Tasks: e.cfg.RunTasks, Duration: end.Sub(start)}
	rep.RunTaskCPU = e.cpuNow().since(cpuStart)
	e.nextServerProfile()
	e.mu.Lock()
	lat := make([]time.Duration, 0, len(calledAt))
	for arn, at := range calledAt {
		if acked, ok := e.ackedAt[arn]; ok {
			lat = append(lat, acked.Sub(at))
		}
	}
	e.mu.Unlock()
	rep.RunTaskLatency = Summarize(lat)
	rep.RunTaskCall = Summarize(calls)
	return nil
}

// check reads back what the control plane holds: the service's running
// count, and every instance's load against its capacity.
func (e *scaleEnv) check(ctx context.Context, rep *ScaleReport) error {
	if e.cfg.ServiceTasks > 0 {
		d, err := e.api.DescribeServices(ctx, &sdkecs.DescribeServicesInput{Cluster: aws.String(scaleCluster), Services: []string{scaleService}})
		if err != nil || len(d.Services) != 1 {
			return fmt.Errorf("bench: describe service: %v", err)
		}
		rep.RunningAtEnd = int(d.Services[0].RunningCount)
	}
	var total int
	var next *string
	for first := true; first || next != nil; first = false {
		var page *sdkecs.ListContainerInstancesOutput
		var d *sdkecs.DescribeContainerInstancesOutput
		// The load generator's client does not retry; a reused keep-alive
		// connection the server just closed may fail a call once.
		err := retryCall(func() (err error) {
			page, err = e.api.ListContainerInstances(ctx, &sdkecs.ListContainerInstancesInput{Cluster: aws.String(scaleCluster), MaxResults: aws.Int32(100), NextToken: next})
			return err
		})
		if err != nil {
			return fmt.Errorf("bench: list instances: %w", err)
		}
		next = page.NextToken
		err = retryCall(func() (err error) {
			d, err = e.api.DescribeContainerInstances(ctx, &sdkecs.DescribeContainerInstancesInput{Cluster: aws.String(scaleCluster), ContainerInstances: page.ContainerInstanceArns})
			return err
		})
		if err != nil {
			return fmt.Errorf("bench: describe instances: %w", err)
		}
		for _, ci := range d.ContainerInstances {
			n := int(ci.RunningTasksCount)
			total += n
			for _, r := range ci.RemainingResources {
				if aws.ToString(r.Name) == "MEMORY" && int(r.IntegerValue) != scaleMemoryMiB-n*scaleTaskMemory && rep.PlacementMismatch == "" {
					rep.PlacementMismatch = fmt.Sprintf("%s: %d tasks but %d MiB remaining", aws.ToString(ci.Ec2InstanceId), n, r.IntegerValue)
				}
			}
		}
	}
	if want := e.cfg.ServiceTasks + e.cfg.RunTasks; total != want && rep.PlacementMismatch == "" {
		rep.PlacementMismatch = fmt.Sprintf("%d tasks running on the instances, want %d", total, want)
	}
	return nil
}

// retryCall runs a read-only call up to three times.
func retryCall(call func() error) error {
	var err error
	for range 3 {
		if err = call(); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// close stops the instances and the server and removes the run's data.
func (e *scaleEnv) close() {
	if e.stop != nil {
		e.stop()
		e.agents.Wait()
	}
	if e.server != nil && e.server.Process != nil {
		_ = e.server.Process.Signal(syscall.SIGTERM)
		select {
		case <-e.exited:
		case <-time.After(20 * time.Second):
			_ = e.server.Process.Kill()
			<-e.exited
		}
	}
	if e.dir != "" {
		_ = os.RemoveAll(e.dir)
	}
}

func (e *scaleEnv) stderrText() string {
	if e.stderr == nil {
		return ""
	}
	e.stderr.mu.Lock()
	s := e.stderr.w.String()
	e.stderr.mu.Unlock()
	if len(s) > 4000 {
		s = s[len(s)-4000:]
	}
	return s
}

// lockedWriter serializes writes (the child's stderr is copied by a
// goroutine of os/exec while the bench may read it).
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// procMemory returns a process's peak and current resident memory.
func procMemory(pid int) (peak, rss int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmHWM":
			peak = kb << 10
		case "VmRSS":
			rss = kb << 10
		}
	}
	return peak, rss
}
