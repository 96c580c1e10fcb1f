package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/testimage"
)

// The task start benchmark (RunTaskStart) measures how long Berth takes
// from a RunTask call until the task's RUNNING is committed to the store,
// for a cached busybox image, one task at a time, in each network mode,
// beside `ctr run -d` of the same image with the same networking measured
// in the same run, and checks the result against the targets.

// Network modes the task start benchmark knows.
const (
	TaskModeBridge = "bridge"
	TaskModeNone   = "none"
)

// Targets of the task start benchmark.
const (
	// TargetMaxRatio bounds median(Berth) / median(ctr run -d).
	TargetMaxRatio = 1.5
	// TargetMaxP99 bounds Berth's 99th percentile (exclusive).
	TargetMaxP99 = time.Second
)

// TaskStartNamespace is the containerd namespace of the benchmark's agent
// and baseline containers (and of its cached image).
const TaskStartNamespace = "berth-bench"

// The task every start runs: one container, busybox `sleep 3600`, 10 cpu
// units, a 32 MiB hard limit, no port mapping (ctr cannot map ports, so
// neither side does).
var (
	taskStartCommand = []string{"sleep", "3600"}
)

const (
	taskStartCPU    = 10
	taskStartMemory = 32 // MiB
)

// maxFailuresInARow ends a --keep-going run that cannot start tasks at all.
const maxFailuresInARow = 5

// TaskStartConfig configures RunTaskStart. Build it with
// NewTaskStartConfig and change fields.
type TaskStartConfig struct {
	// Tasks is the number of measured starts per mode and side; WarmUp
	// the untimed starts before them.
	Tasks, WarmUp int
	// Modes are the network modes to measure, in order.
	Modes []string
	// KeepGoing records a failed start and goes on (the first failure
	// ends the run otherwise); five failures in a row end it anyway.
	KeepGoing bool
	// Phases records, for each measured Berth start, when it passed each
	// step (the server's and agent's debug logs, containerd's events) and
	// reports the median time per step.
	Phases bool
	// ContainerdAddress is containerd's socket; Namespace the containerd
	// namespace of the agent, the baseline and the image.
	ContainerdAddress, Namespace string
	// DataDir is where the run's temporary directory (server and agent
	// state, IPAM leases) is made; empty: the system's temporary directory.
	DataDir string
	// TaskTimeout bounds one start and one stop.
	TaskTimeout time.Duration
	// Logger receives the in-process server's and agent's logs
	// (default: warnings and errors on stderr).
	Logger *slog.Logger
	// Progress, when set, gets a line as the run moves on.
	Progress io.Writer
}

// NewTaskStartConfig returns the defaults: 50 tasks after 3 warm-ups, in
// bridge then none mode.
func NewTaskStartConfig() TaskStartConfig {
	return TaskStartConfig{
		Tasks: 50, WarmUp: 3, Modes: []string{TaskModeBridge, TaskModeNone},
		ContainerdAddress: testimage.Socket, Namespace: TaskStartNamespace,
		TaskTimeout: time.Minute,
	}
}

// ParseTaskModes parses a comma-separated list of network modes.
func ParseTaskModes(s string) ([]string, error) {
	var out []string
	for _, m := range strings.Split(s, ",") {
		m = strings.TrimSpace(m)
		if m != TaskModeBridge && m != TaskModeNone {
			return nil, fmt.Errorf("unknown network mode %q (bridge or none)", m)
		}
		if slices.Contains(out, m) {
			return nil, fmt.Errorf("network mode %q given twice", m)
		}
		out = append(out, m)
	}
	return out, nil
}

// Validate checks the configuration.
func (c *TaskStartConfig) Validate() error {
	if c.Tasks < 1 || c.Tasks > 10_000 {
		return fmt.Errorf("bench: tasks must be 1..10000, not %d", c.Tasks)
	}
	if c.WarmUp < 0 || c.WarmUp > 100 {
		return fmt.Errorf("bench: warm-up must be 0..100, not %d", c.WarmUp)
	}
	if len(c.Modes) == 0 {
		return errors.New("bench: no network mode to measure")
	}
	if _, err := ParseTaskModes(strings.Join(c.Modes, ",")); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if c.ContainerdAddress == "" || c.Namespace == "" {
		return errors.New("bench: containerd address and namespace are required")
	}
	if c.TaskTimeout <= 0 {
		return errors.New("bench: the task timeout must be positive")
	}
	return nil
}

// StartSeries is one side's starts in one mode.
type StartSeries struct {
	// Samples are the measured start latencies, in run order.
	Samples []time.Duration
	// Failed counts the starts that failed; FirstError describes the first.
	Failed     int
	FirstError string
	Latencies
}

func (s *StartSeries) add(d time.Duration) { s.Samples = append(s.Samples, d) }

func (s *StartSeries) fail(err error) {
	s.Failed++
	if s.FirstError == "" {
		s.FirstError = err.Error()
	}
}

func (s *StartSeries) summarize() {
	s.Latencies = Summarize(slices.Clone(s.Samples))
}

// TaskModeReport is the outcome of one network mode.
type TaskModeReport struct {
	Mode string
	// Berth is RunTask until RUNNING is committed; Ctr is `ctr run -d`.
	Berth, Ctr StartSeries
	// Ratio is median(Berth) / median(Ctr), 0 when either is unknown.
	Ratio float64
	// RatioOK: Ratio ≤ TargetMaxRatio; P99OK: Berth's P99 < TargetMaxP99.
	RatioOK, P99OK bool
	// Phases are the steps of the measured Berth starts (Config.Phases).
	Phases *PhaseReport
}

// Pass reports whether the mode met both targets.
func (m TaskModeReport) Pass() bool { return m.RatioOK && m.P99OK }

func (m *TaskModeReport) judge() {
	m.Berth.summarize()
	m.Ctr.summarize()
	m.Ratio = 0
	if len(m.Berth.Samples) > 0 && len(m.Ctr.Samples) > 0 && m.Ctr.P50 > 0 {
		m.Ratio = float64(m.Berth.P50) / float64(m.Ctr.P50)
	}
	m.RatioOK = m.Ratio > 0 && m.Ratio <= TargetMaxRatio && m.Berth.Failed == 0
	m.P99OK = len(m.Berth.Samples) > 0 && m.Berth.P99 < TargetMaxP99 && m.Berth.Failed == 0
}

// TaskStartReport is the outcome of RunTaskStart.
type TaskStartReport struct {
	Tasks, WarmUp int
	Image         string
	Command       []string
	Modes         []TaskModeReport
	// Incomplete: the run ended early (an error or an interruption); the
	// modes hold what was measured until then.
	Incomplete bool
}

// Pass reports whether the run completed and every mode met the targets.
func (r TaskStartReport) Pass() bool {
	if r.Incomplete {
		return false
	}
	for _, m := range r.Modes {
		if !m.Pass() {
			return false
		}
	}
	return len(r.Modes) > 0
}

// RunTaskStart runs the task start benchmark (it needs root, containerd,
// ctr and the CNI plugins): it starts a Berth server and an agent in this
// process, then per mode starts Tasks tasks one at a time, each followed
// by a `ctr run -d` of the same image, and cleans everything up. The
// report holds what was measured even when the run fails.
func RunTaskStart(ctx context.Context, cfg TaskStartConfig) (TaskStartReport, error) {
	rep := TaskStartReport{Tasks: cfg.Tasks, WarmUp: cfg.WarmUp, Image: testimage.DefaultRef, Command: taskStartCommand}
	if err := cfg.Validate(); err != nil {
		return rep, err
	}
	if os.Geteuid() != 0 {
		return rep, errors.New("bench: the task start benchmark runs containers: it needs root")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	env, err := startTaskEnv(ctx, cfg)
	if err != nil {
		return rep, err
	}
	defer env.close(ctx)
	for _, mode := range cfg.Modes {
		mr, err := env.runMode(ctx, mode)
		mr.judge()
		rep.Modes = append(rep.Modes, mr)
		if err != nil {
			rep.Incomplete = true
			return rep, fmt.Errorf("bench: %s mode: %w", mode, err)
		}
	}
	return rep, nil
}

// progress prints a progress line.
func (e *taskEnv) progress(format string, args ...any) {
	if e.cfg.Progress != nil {
		fmt.Fprintf(e.cfg.Progress, format+"\n", args...)
	}
}

// familyOf is the task definition family of mode.
func familyOf(mode string) string { return "berth-bench-" + mode }

// registerTaskDef registers the benchmark task of mode.
func (e *taskEnv) registerTaskDef(ctx context.Context, mode string) error {
	_, err := e.api.RegisterTaskDefinition(ctx, &sdkecs.RegisterTaskDefinitionInput{
		Family:      aws.String(familyOf(mode)),
		NetworkMode: types.NetworkMode(mode),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("app"), Image: aws.String(testimage.DefaultRef), Essential: aws.Bool(true),
			Cpu: taskStartCPU, Memory: aws.Int32(taskStartMemory), Command: taskStartCommand,
		}},
	})
	if err != nil {
		return fmt.Errorf("register task definition: %w", err)
	}
	return nil
}

// runMode measures one network mode: warm-ups, then Tasks rounds of one
// Berth task start and one `ctr run -d`.
func (e *taskEnv) runMode(ctx context.Context, mode string) (TaskModeReport, error) {
	mr := TaskModeReport{Mode: mode}
	if err := e.registerTaskDef(ctx, mode); err != nil {
		return mr, err
	}
	base := CtrBaseline{
		Address: e.cfg.ContainerdAddress, Namespace: e.cfg.Namespace, Image: testimage.DefaultRef,
		Command: taskStartCommand, CNI: mode == TaskModeBridge,
		MemoryLimit: taskStartMemory << 20, CPUShares: taskStartCPU, StateDir: e.dir,
	}
	ctr, err := base.Open(ctx)
	if err != nil {
		return mr, err
	}
	defer func() {
		if err := ctr.Close(); err != nil {
			e.log.Warn("ctr baseline clean-up", "err", err)
		}
	}()
	var phases []taskPhases
	inARow := 0
	e.progress("%s: %d warm-up and %d measured starts, Berth then ctr run -d each round", mode, e.cfg.WarmUp, e.cfg.Tasks)
	for i := -e.cfg.WarmUp; i < e.cfg.Tasks; i++ {
		measured := i >= 0
		if err := ctx.Err(); err != nil {
			return mr, err
		}
		d, ph, berr := e.startTask(ctx, mode, measured && e.rec != nil)
		cd, cerr := e.ctrOnce(ctx, ctr, mode, i)
		if err := ctx.Err(); err != nil {
			return mr, err // interrupted: the round does not count
		}
		for _, r := range []struct {
			s   *StartSeries
			d   time.Duration
			err error
		}{{&mr.Berth, d, berr}, {&mr.Ctr, cd, cerr}} {
			switch {
			case r.err == nil && measured:
				r.s.add(r.d)
			case r.err != nil && measured:
				r.s.fail(r.err)
			}
		}
		if ph != nil {
			phases = append(phases, *ph)
		}
		if err := errors.Join(berr, cerr); err != nil {
			inARow++
			if !e.cfg.KeepGoing || inARow >= maxFailuresInARow {
				return mr, err
			}
			e.log.Warn("start failed; going on", "mode", mode, "round", i, "err", err)
		} else {
			inARow = 0
		}
		if measured && (i+1)%10 == 0 {
			e.progress("%s: %d/%d", mode, i+1, e.cfg.Tasks)
		}
	}
	if e.rec != nil {
		mr.Phases = summarizePhases(phases)
		if d, err := storeCommitTime(e.dir, 20); err == nil {
			mr.Phases.StoreCommit = d
		} else {
			e.log.Warn("bench: measure store commits", "err", err)
		}
	}
	return mr, nil
}

// ctrOnce times one `ctr run -d` and removes the container (untimed).
func (e *taskEnv) ctrOnce(ctx context.Context, s *CtrSession, mode string, round int) (time.Duration, error) {
	id := fmt.Sprintf("berth-bench-ctr-%s-%d-%d", mode, os.Getpid(), round+e.cfg.WarmUp)
	tctx, cancel := context.WithTimeout(ctx, e.cfg.TaskTimeout)
	defer cancel()
	d, err := s.Start(tctx, id)
	if rerr := s.Remove(context.WithoutCancel(tctx), id); rerr != nil {
		err = errors.Join(err, rerr)
	}
	return d, err
}

// startTask runs one task of mode: it times RunTask until RUNNING is
// committed, then (untimed) stops the task and waits until the agent has
// removed its containers, so that the next start finds an idle agent.
// With record, it also returns the start's phases.
func (e *taskEnv) startTask(ctx context.Context, mode string, record bool) (time.Duration, *taskPhases, error) {
	tctx, cancel := context.WithTimeout(ctx, e.cfg.TaskTimeout)
	defer cancel()
	t0 := time.Now()
	out, err := e.api.RunTask(tctx, &sdkecs.RunTaskInput{
		Cluster: aws.String(e.cluster), TaskDefinition: aws.String(familyOf(mode)), StartedBy: aws.String("berth-bench")})
	returned := time.Now()
	if err != nil {
		return 0, nil, fmt.Errorf("run task: %w", err)
	}
	if len(out.Tasks) != 1 {
		reason := "no task and no failure"
		if len(out.Failures) > 0 {
			reason = aws.ToString(out.Failures[0].Reason)
		}
		return 0, nil, fmt.Errorf("run task: %s", reason)
	}
	arn := aws.ToString(out.Tasks[0].TaskArn)
	st, werr := e.watch.wait(tctx, arn, ecs.TaskRunning)
	var d time.Duration
	if werr == nil {
		running, ok := st.at[ecs.TaskRunning]
		if ok {
			d = running.Sub(t0)
		} else {
			werr = fmt.Errorf("task %s stopped before it ran: %s", arn, st.reason)
		}
	}
	stoppedAt, serr := e.stopTask(ctx, arn)
	if werr = errors.Join(werr, serr); werr != nil {
		return 0, nil, werr
	}
	var ph *taskPhases
	if record {
		// Up to STOPPED: the RUNNING report's answer is in, the STOPPED
		// report's is not; the stop's own steps are not milestones.
		p := e.rec.phases(t0, stoppedAt)
		p.add(msRunTaskReturned, returned)
		if at, ok := st.at[ecs.TaskPending]; ok {
			p.add(msPendingCommitted, at)
		}
		p.add(msRunningCommitted, t0.Add(d))
		ph = &p
	}
	return d, ph, nil
}

// stopTask stops the task (untimed) and waits until it is STOPPED and the
// agent has removed its containers. It returns when STOPPED was committed.
func (e *taskEnv) stopTask(ctx context.Context, arn string) (time.Time, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.TaskTimeout)
	defer cancel()
	defer e.watch.forget(arn)
	if _, err := e.api.StopTask(ctx, &sdkecs.StopTaskInput{Cluster: aws.String(e.cluster), Task: aws.String(arn),
		Reason: aws.String("berth bench: measured")}); err != nil {
		return time.Time{}, fmt.Errorf("stop task: %w", err)
	}
	st, err := e.watch.wait(ctx, arn, ecs.TaskStopped)
	if err != nil {
		return time.Time{}, fmt.Errorf("wait for STOPPED: %w", err)
	}
	for _, id := range st.runtimeIDs {
		e.noteRuntimeID(id)
		if err := e.waitContainerGone(ctx, id); err != nil {
			return time.Time{}, err
		}
	}
	return st.at[ecs.TaskStopped], nil
}
