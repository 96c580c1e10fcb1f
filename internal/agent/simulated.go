package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/berth/berth/internal/agent/engine"
	"github.com/berth/berth/internal/agentproto"
	"github.com/berth/berth/internal/ecs"
)

// A simulated agent is the real agent's control-plane side — registration,
// the ACS client, the state reporter — over an engine that runs nothing
// and reports every task RUNNING (and, once told to stop, STOPPED) at once.
// The scale benchmark runs a thousand of them in one process: the server
// cannot tell them from agents on real machines.

// SimulatedConfig describes one simulated instance.
type SimulatedConfig struct {
	ServerURL, Region, Cluster   string
	AccessKeyID, SecretAccessKey string
	// InstanceID is the EC2-style id to register ("i-" + 16 hex digits).
	InstanceID string
	// CPUs and MemoryMiB are the registered resources (CPU = 1024 × CPUs).
	CPUs      int
	MemoryMiB int64
	// AvailabilityZone and Attributes become the instance's attributes.
	AvailabilityZone string
	Attributes       map[string]string
	// HTTPClient carries the ECS API calls (it may be shared by many
	// simulated agents); nil: a client of its own.
	HTTPClient *http.Client
	// Timing is the agent's timers (DefaultTiming when zero).
	Timing Timing
	// OnConnect, when set, is called after each ACS connection is up.
	OnConnect func()
	// OnReported, when set, is called after the control plane accepted a
	// task's state change (status RUNNING or STOPPED).
	OnReported func(taskARN string, status ecs.TaskStatus)
}

// RunSimulated registers the instance and holds its ACS connection until
// ctx ends (nil) or the instance is deregistered (ErrInstanceInactive).
func RunSimulated(ctx context.Context, cfg SimulatedConfig, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	if cfg.ServerURL == "" || cfg.Cluster == "" || cfg.InstanceID == "" || cfg.CPUs <= 0 || cfg.MemoryMiB <= 0 {
		return errors.New("simulated agent: server URL, cluster, instance id, CPUs and memory are required")
	}
	if cfg.Timing == (Timing{}) {
		cfg.Timing = DefaultTiming()
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: apiTimeout}
	}
	creds := aws.Credentials{AccessKeyID: cfg.AccessKeyID, SecretAccessKey: cfg.SecretAccessKey}
	api := sdkecs.New(sdkecs.Options{
		Region: cfg.Region, BaseEndpoint: aws.String(cfg.ServerURL), HTTPClient: hc, RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, ""),
	})
	machine := hostInfo{CPUs: cfg.CPUs, MemoryMiB: cfg.MemoryMiB, Arch: cpuArchitecture("amd64"), InstanceID: cfg.InstanceID, RuntimeName: "simulated"}
	reg := &registration{
		cluster: cfg.Cluster, region: cfg.Region, machine: machine, ports: []int{22},
		attributes: buildAttributes(cfg.Attributes, cfg.AvailabilityZone, "", machine.Arch),
		version:    "simulated", zone: cfg.AvailabilityZone,
	}
	instanceARN, err := register(ctx, api, reg, cfg.Timing, log)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	eng := &instantEngine{
		ctx:   ctx,
		rep:   &engineReporter{cluster: cfg.Cluster, rep: &stateReporter{api: api, timing: cfg.Timing, log: log}, health: newHealthBook()},
		tasks: map[string]*instantTask{}, onReported: cfg.OnReported,
	}
	acs := &acsClient{
		dialer:    newWSDialer(creds, cfg.Region, nil),
		endpoints: &endpointCache{api: api, cluster: cfg.Cluster, instanceARN: instanceARN, ttl: cfg.Timing.EndpointCacheTTL, timing: cfg.Timing, log: log},
		engine:    eng, cluster: cfg.Cluster, instanceARN: instanceARN, version: "simulated", runtime: machine.RuntimeName,
		timing: cfg.Timing, log: log, onConnect: cfg.OnConnect,
	}
	err = acs.run(ctx)
	eng.wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// instantEngine is the simulated agent's engine: every task it is given
// is RUNNING at once, and STOPPED as soon as it is told to stop. One
// goroutine per task reports its changes in order, as the real engine's
// task goroutines do.
type instantEngine struct {
	ctx        context.Context // the agent's: task goroutines end with it
	rep        *engineReporter
	onReported func(string, ecs.TaskStatus)
	wg         sync.WaitGroup

	mu    sync.Mutex
	tasks map[string]*instantTask
}

// instantTask is one task's state and its goroutine's wake-up.
type instantTask struct {
	arn, clusterARN string
	containers      []string
	desiredStopped  bool
	stopped         bool
	wake            chan struct{} // buffered 1
}

// Apply takes new tasks and desired-status changes.
func (e *instantEngine) Apply(ctx context.Context, tasks []agentproto.Task) error {
	var stop []string
	for _, t := range tasks {
		if t.DesiredStatus == ecs.TaskStopped.String() {
			stop = append(stop, t.ARN)
			continue
		}
		e.mu.Lock()
		if _, ok := e.tasks[t.ARN]; !ok {
			it := &instantTask{arn: t.ARN, clusterARN: t.TaskClusterARN, wake: make(chan struct{}, 1)}
			for _, c := range t.Containers {
				it.containers = append(it.containers, c.Name)
			}
			e.tasks[t.ARN] = it
			e.wg.Add(1)
			go e.run(it)
		}
		e.mu.Unlock()
	}
	return e.StopTasks(ctx, stop)
}

// StopTasks marks the named tasks to stop.
func (e *instantEngine) StopTasks(_ context.Context, arns []string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, arn := range arns {
		if it, ok := e.tasks[arn]; ok && !it.desiredStopped {
			it.desiredStopped = true
			select {
			case it.wake <- struct{}{}:
			default:
			}
		}
	}
	return nil
}

// TaskStates lists the tasks held.
func (e *instantEngine) TaskStates() []taskState {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]taskState, 0, len(e.tasks))
	for _, it := range e.tasks {
		out = append(out, taskState{ARN: it.arn, ClusterARN: it.clusterARN, DesiredStopped: it.desiredStopped, Stopped: it.stopped})
	}
	return out
}

// run reports t RUNNING, waits for its stop and reports it STOPPED. Its
// context is the agent's, not the ACS connection's that delivered the
// task (reports are retried until accepted), as the real engine's is.
func (e *instantEngine) run(t *instantTask) {
	defer e.wg.Done()
	ctx := e.ctx
	if e.report(ctx, t, ecs.TaskRunning) != nil {
		return
	}
	select {
	case <-t.wake:
	case <-ctx.Done():
		return
	}
	if e.report(ctx, t, ecs.TaskStopped) != nil {
		return
	}
	e.mu.Lock()
	t.stopped = true
	e.mu.Unlock()
}

func (e *instantEngine) report(ctx context.Context, t *instantTask, st ecs.TaskStatus) error {
	c := engine.TaskChange{TaskARN: t.arn, Status: st}
	exit := 0
	for _, name := range t.containers {
		cc := engine.ContainerChange{TaskARN: t.arn, ContainerName: name, RuntimeID: "simulated-" + name, Status: st.String()}
		if st == ecs.TaskStopped {
			cc.ExitCode = &exit
		}
		c.Containers = append(c.Containers, cc)
	}
	if err := e.rep.ReportTask(ctx, c); err != nil {
		return fmt.Errorf("simulated task %s: %w", t.arn, err)
	}
	if e.onReported != nil {
		e.onReported(t.arn, st)
	}
	return nil
}
