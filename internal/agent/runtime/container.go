package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Exit is how a container's process ended.
type Exit struct {
	// Code is the exit status; 128+n when killed by signal n (137 for
	// SIGKILL); -1 when unknown (the process record vanished).
	Code      int
	At        time.Time
	OOMKilled bool // the kernel OOM-killed a process of the container
}

// Info describes a container for adoption.
type Info struct {
	ID      string
	Labels  map[string]string // as given to Create
	Image   string
	Running bool   // the process is running (or paused)
	Pid     uint32 // host pid of the process, 0 without process
	Exit    *Exit  // set once the process has exited; nil while running or without process
}

// Create creates the container and its rootfs snapshot; it does not start
// it. The image must have been made present with EnsureImage.
func (r *Runtime) Create(ctx context.Context, cs ContainerSpec) error {
	ctx = r.ns(ctx)
	ref, img, err := r.imageFor(ctx, cs.Image)
	if err != nil {
		return err
	}
	sc := specContext{rlimits: r.rlimits, cgroupRoot: r.cfg.CgroupRoot, stateDir: r.cfg.StateDir, initPath: r.cfg.InitPath,
		capabilities: r.caps}
	if cs.HostNetwork {
		sc.hostHostname, _ = os.Hostname()
	}
	s, err := generateSpec(ctx, sc, cs, img)
	if err != nil {
		return fmt.Errorf("container %s: %w", cs.ID, err)
	}
	for _, m := range cs.Mounts {
		if _, err := os.Stat(m.Source); errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(m.Source, 0o755); err != nil {
				return fmt.Errorf("create mount source: %w", err)
			}
		}
	}
	logPath := cs.LogPath
	if logPath == "" {
		logPath = filepath.Join(r.cfg.LogDir, cs.ID+".log")
	}
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return fmt.Errorf("create log directory: %w", err)
	}
	labels := make(map[string]string, len(cs.Labels)+2)
	for k, v := range cs.Labels {
		labels[k] = v
	}
	labels[labelLogPath] = logPath
	if cs.TaskID != "" {
		labels[labelTaskID] = cs.TaskID
	}
	specAny, err := typeurl.MarshalAny(s)
	if err != nil {
		return fmt.Errorf("encode spec: %w", err)
	}
	// The record comes first: it references the snapshot key, which keeps
	// the snapshot from garbage collection as soon as Prepare makes it.
	_, err = r.containers.Create(ctx, containers.Container{
		ID:          cs.ID,
		Labels:      labels,
		Image:       ref,
		Runtime:     containers.RuntimeInfo{Name: runcRuntime},
		Spec:        specAny,
		Snapshotter: r.cfg.Snapshotter,
		SnapshotKey: cs.ID,
	})
	if err != nil {
		return fmt.Errorf("create container %s: %w", cs.ID, err)
	}
	// Files and snapshot only once the ID is known to be ours.
	var rootfs []mount.Mount
	if ownNetFiles(cs) {
		err = writeNetFiles(filepath.Join(r.cfg.StateDir, cs.ID), cs)
	}
	if err == nil {
		rootfs, err = r.snapshotter.Prepare(ctx, cs.ID, img.chainID)
	}
	if errdefs.IsNotFound(err) {
		// The image's snapshots went away behind the cache (image deleted
		// and collected): forget it, unpack again, retry once.
		r.forgetImage(img.digest)
		if _, img, err = r.imageFor(ctx, cs.Image); err == nil {
			rootfs, err = r.snapshotter.Prepare(ctx, cs.ID, img.chainID)
		}
	}
	if err != nil {
		cctx := context.WithoutCancel(ctx)
		if derr := r.containers.Delete(cctx, cs.ID); derr != nil {
			r.log.WarnContext(ctx, "delete container after failed snapshot", "id", cs.ID, "err", derr)
		}
		r.removeNetFiles(cs.ID)
		return fmt.Errorf("create %s: %w", cs.ID, err)
	}
	r.mu.Lock()
	r.ctrs[cs.ID] = &ctrState{cgroup: s.Linux.CgroupsPath, logPath: logPath, process: s.Process, rootfs: rootfs}
	r.mu.Unlock()
	return nil
}

// Start starts a created container and returns its host pid. A container
// whose process exited is started again (its exit status is then gone);
// one that is running gives an error.
func (r *Runtime) Start(ctx context.Context, id string) (uint32, error) {
	ctx = r.ns(ctx)
	st, err := r.loadState(ctx, id)
	if err != nil {
		return 0, err
	}
	rootfs := st.rootfs
	if rootfs == nil {
		if rootfs, err = r.snapshotter.Mounts(ctx, id); err != nil {
			return 0, fmt.Errorf("rootfs of %s: %w", id, err)
		}
	}
	stdout, stderr, err := openLog(st.logPath)
	if err != nil {
		return 0, err
	}
	req := &tasks.CreateTaskRequest{ContainerID: id, Rootfs: mount.ToProto(rootfs), Stdout: stdout, Stderr: stderr}
	_, err = r.tasks.Create(ctx, req)
	if err = errgrpc.ToNative(err); errdefs.IsAlreadyExists(err) {
		// A restart: drop the exited process record, then create anew.
		if p, gerr := r.getTask(ctx, id); gerr == nil && p.Status == tasktypes.Status_STOPPED {
			if _, derr := r.tasks.Delete(ctx, &tasks.DeleteTaskRequest{ContainerID: id}); derr == nil {
				_, err = r.tasks.Create(ctx, req)
				err = errgrpc.ToNative(err)
			}
		}
	}
	if err != nil {
		return 0, fmt.Errorf("create task %s: %w", id, err)
	}
	resp, err := r.tasks.Start(ctx, &tasks.StartRequest{ContainerID: id})
	if err != nil {
		err = errgrpc.ToNative(err)
		if _, derr := r.tasks.Delete(context.WithoutCancel(ctx), &tasks.DeleteTaskRequest{ContainerID: id}); derr != nil {
			r.log.WarnContext(ctx, "delete task after failed start", "id", id, "err", errgrpc.ToNative(derr))
		}
		return 0, fmt.Errorf("start %s: %w", id, err)
	}
	return resp.Pid, nil
}

// openLog creates the log file and returns the two names the shim gets for
// stdout and stderr. The shim appends each stream to the file it is given
// (plain paths that are not FIFOs are opened O_APPEND). The names differ
// ("dir/./file" for stderr) although the file is the same: given one name
// for both, containerd's shim shares one descriptor between the two copy
// loops and closes it when stdout ends, losing the rest of stderr; its
// file:// URI does just that.
func openLog(p string) (stdout, stderr string, err error) {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return "", "", fmt.Errorf("create log file: %w", err)
	}
	f.Close()
	return p, filepath.Dir(p) + "/./" + filepath.Base(p), nil
}

// Wait returns a channel that yields the container's exit once, then
// closes. It works for containers started by an earlier agent process and
// yields at once for a process that already exited (until Remove). The
// channel closes without a value when ctx ends or the Runtime closes.
// Errors: ErrNotFound, ErrNoProcess.
func (r *Runtime) Wait(ctx context.Context, id string) (<-chan Exit, error) {
	ctx = r.ns(ctx)
	p, err := r.getTask(ctx, id)
	if err != nil {
		return nil, err
	}
	st, err := r.loadState(ctx, id)
	if err != nil {
		return nil, err
	}
	ch := make(chan Exit, 1)
	if p.Status == tasktypes.Status_STOPPED {
		ch <- r.exit(st, p.ExitStatus, p.ExitedAt)
		close(ch)
		return ch, nil
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, errors.New("runtime closed")
	}
	r.waiters.Add(1)
	r.mu.Unlock()
	wctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(r.closing, cancel)
	go func() {
		defer r.waiters.Done()
		defer close(ch)
		defer stop()
		defer cancel()
		backoff := 50 * time.Millisecond
		for {
			resp, err := r.tasks.Wait(wctx, &tasks.WaitRequest{ContainerID: id})
			if err == nil {
				ch <- r.exit(st, resp.ExitStatus, resp.ExitedAt)
				return
			}
			if wctx.Err() != nil {
				return
			}
			if err = errgrpc.ToNative(err); errdefs.IsNotFound(err) {
				ch <- Exit{Code: -1, At: time.Now()}
				return
			}
			// containerd restarting: the shim and the process live on; retry.
			r.log.WarnContext(wctx, "wait for container failed, retrying", "id", id, "err", err)
			select {
			case <-wctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 2*time.Second)
		}
	}()
	return ch, nil
}

// Stop sends SIGTERM, then SIGKILL once timeout has passed, and returns
// when the process has exited. A container without running process is left
// as it is.
func (r *Runtime) Stop(ctx context.Context, id string, timeout time.Duration) error {
	ctx = r.ns(ctx)
	p, err := r.getTask(ctx, id)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrNoProcess) {
		return nil
	}
	if err != nil {
		return err
	}
	if p.Status == tasktypes.Status_STOPPED {
		return nil
	}
	exited := r.waitExit(ctx, id, "")
	if err := r.kill(ctx, id, "", syscall.SIGTERM, false); err != nil {
		return err
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case err := <-exited:
		return err
	case <-timer.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := r.kill(ctx, id, "", syscall.SIGKILL, true); err != nil {
		return err
	}
	select {
	case err := <-exited:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Remove deletes the container's process (killing it if needed), the
// container and its snapshot, and its generated files; the log file stays.
// Removing an absent container is not an error.
func (r *Runtime) Remove(ctx context.Context, id string) error {
	ctx = r.ns(ctx)
	p, err := r.getTask(ctx, id)
	switch {
	case err == nil:
		if p.Status != tasktypes.Status_STOPPED {
			exited := r.waitExit(ctx, id, "")
			if err := r.kill(ctx, id, "", syscall.SIGKILL, true); err != nil {
				return err
			}
			select {
			case err := <-exited:
				if err != nil {
					return err
				}
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if _, err := r.tasks.Delete(ctx, &tasks.DeleteTaskRequest{ContainerID: id}); err != nil {
			if err = errgrpc.ToNative(err); !errdefs.IsNotFound(err) {
				return fmt.Errorf("delete task %s: %w", id, err)
			}
		}
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrNoProcess):
	default:
		return err
	}
	if err := r.snapshotter.Remove(ctx, id); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove snapshot %s: %w", id, err)
	}
	if err := r.containers.Delete(ctx, id); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("delete container %s: %w", id, err)
	}
	r.removeNetFiles(id)
	r.mu.Lock()
	delete(r.ctrs, id)
	r.mu.Unlock()
	return nil
}

// List reports every container in the namespace with its process state.
func (r *Runtime) List(ctx context.Context) ([]Info, error) {
	ctx = r.ns(ctx)
	recs, err := r.containers.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	resp, err := r.tasks.List(ctx, &tasks.ListTasksRequest{})
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", errgrpc.ToNative(err))
	}
	procs := make(map[string]*tasktypes.Process, len(resp.Tasks))
	for _, p := range resp.Tasks {
		procs[p.ID] = p
	}
	out := make([]Info, 0, len(recs))
	for _, c := range recs {
		info := Info{ID: c.ID, Image: c.Image, Labels: map[string]string{}}
		for k, v := range c.Labels {
			if !strings.HasPrefix(k, labelPrefix) {
				info.Labels[k] = v
			}
		}
		if p := procs[c.ID]; p != nil {
			info.Pid = p.Pid
			switch p.Status {
			case tasktypes.Status_RUNNING, tasktypes.Status_PAUSED, tasktypes.Status_PAUSING:
				info.Running = true
			case tasktypes.Status_STOPPED:
				st := r.state(c.ID)
				if st == nil {
					st, _ = stateFromRecord(c)
				}
				e := r.exit(st, p.ExitStatus, p.ExitedAt)
				info.Exit = &e
			}
		}
		out = append(out, info)
	}
	return out, nil
}

// getTask returns the container's process record; ErrNotFound when the
// container does not exist, ErrNoProcess when it has no task.
func (r *Runtime) getTask(ctx context.Context, id string) (*tasktypes.Process, error) {
	resp, err := r.tasks.Get(ctx, &tasks.GetRequest{ContainerID: id})
	if err == nil {
		return resp.Process, nil
	}
	if err = errgrpc.ToNative(err); !errdefs.IsNotFound(err) {
		return nil, fmt.Errorf("get task %s: %w", id, err)
	}
	if _, cerr := r.containers.Get(ctx, id); errdefs.IsNotFound(cerr) {
		return nil, fmt.Errorf("%s: %w", id, ErrNotFound)
	}
	return nil, fmt.Errorf("%s: %w", id, ErrNoProcess)
}

// waitExit waits in the background for a process (execID "" = the
// container's) and reports nil once it exited, or the wait error.
func (r *Runtime) waitExit(ctx context.Context, id, execID string) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := r.tasks.Wait(ctx, &tasks.WaitRequest{ContainerID: id, ExecID: execID})
		if err != nil {
			if err = errgrpc.ToNative(err); errdefs.IsNotFound(err) {
				err = nil // gone is as good as exited
			}
		}
		done <- err
	}()
	return done
}

// kill signals a process; a process that already exited is not an error.
func (r *Runtime) kill(ctx context.Context, id, execID string, sig syscall.Signal, all bool) error {
	_, err := r.tasks.Kill(ctx, &tasks.KillRequest{ContainerID: id, ExecID: execID, Signal: uint32(sig), All: all})
	if err != nil {
		if err = errgrpc.ToNative(err); !errdefs.IsNotFound(err) {
			return fmt.Errorf("signal %v to %s: %w", sig, id, err)
		}
	}
	return nil
}

// exit builds an Exit, reading the OOM kill counter of the container's
// cgroup (kept until the task is deleted).
func (r *Runtime) exit(st *ctrState, code uint32, at *timestamppb.Timestamp) Exit {
	e := Exit{Code: int(code), At: at.AsTime()}
	if st != nil && st.cgroup != "" {
		n, err := r.oomKills(st.cgroup)
		if err != nil {
			r.log.Debug("read oom counter", "cgroup", st.cgroup, "err", err)
		}
		e.OOMKilled = n > 0
	}
	return e
}

// stateFromRecord rebuilds a container's state from its containerd record.
func stateFromRecord(c containers.Container) (*ctrState, error) {
	var s specs.Spec
	if c.Spec == nil {
		return nil, fmt.Errorf("container %s has no spec", c.ID)
	}
	if err := json.Unmarshal(c.Spec.GetValue(), &s); err != nil {
		return nil, fmt.Errorf("decode spec of %s: %w", c.ID, err)
	}
	st := &ctrState{logPath: c.Labels[labelLogPath], process: s.Process}
	if s.Linux != nil {
		st.cgroup = s.Linux.CgroupsPath
	}
	return st, nil
}

func (r *Runtime) removeNetFiles(id string) {
	if err := os.RemoveAll(filepath.Join(r.cfg.StateDir, id)); err != nil {
		r.log.Warn("remove container files", "id", id, "err", err)
	}
}
