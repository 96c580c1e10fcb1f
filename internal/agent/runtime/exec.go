package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"syscall"
	"time"

	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/typeurl/v2"
)

// execKillGrace bounds the wait for an exec killed on timeout.
const execKillGrace = 5 * time.Second

// Exec runs argv in the running container, as the container's user, env
// and working directory, with no stdio, and returns its exit code. A
// command still running after timeout (0: none) is killed and Exec returns
// ErrExecTimeout. A container without running process gives ErrNotRunning.
func (r *Runtime) Exec(ctx context.Context, id string, argv []string, timeout time.Duration) (int, error) {
	if len(argv) == 0 {
		return -1, errors.New("exec: empty command")
	}
	ctx = r.ns(ctx)
	st, err := r.loadState(ctx, id)
	if err != nil {
		return -1, err
	}
	if st.process == nil {
		return -1, fmt.Errorf("container %s has no process spec", id)
	}
	proc := *st.process
	proc.Args = argv
	proc.Terminal = false
	proc.ConsoleSize = nil
	specAny, err := typeurl.MarshalAnyToProto(&proc)
	if err != nil {
		return -1, fmt.Errorf("encode exec spec: %w", err)
	}
	execID := newExecID()
	_, err = r.tasks.Exec(ctx, &tasks.ExecProcessRequest{ContainerID: id, ExecID: execID, Spec: specAny})
	if err != nil {
		err = errgrpc.ToNative(err)
		// The shim reports a stopped container as "unknown": classify by state.
		if p, gerr := r.getTask(ctx, id); errdefs.IsNotFound(err) || errors.Is(gerr, ErrNoProcess) ||
			(gerr == nil && p.Status != tasktypes.Status_RUNNING) {
			return -1, fmt.Errorf("exec in %s: %w: %v", id, ErrNotRunning, err)
		}
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	cleanup := context.WithoutCancel(ctx)
	defer func() {
		if _, err := r.tasks.DeleteProcess(cleanup, &tasks.DeleteProcessRequest{ContainerID: id, ExecID: execID}); err != nil {
			if err = errgrpc.ToNative(err); !errdefs.IsNotFound(err) {
				r.log.WarnContext(ctx, "delete exec process", "id", id, "exec", execID, "err", err)
			}
		}
	}()
	if _, err := r.tasks.Start(ctx, &tasks.StartRequest{ContainerID: id, ExecID: execID}); err != nil {
		return -1, fmt.Errorf("start exec in %s: %w", id, errgrpc.ToNative(err))
	}
	// The timeout is a local timer, not a context deadline: a deadline
	// travels to containerd, which may answer "deadline exceeded" first.
	wctx, cancelWait := context.WithCancel(ctx)
	defer cancelWait()
	type result struct {
		resp *tasks.WaitResponse
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := r.tasks.Wait(wctx, &tasks.WaitRequest{ContainerID: id, ExecID: execID})
		done <- result{resp, err}
	}()
	var expired <-chan time.Time
	if timeout > 0 {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		expired = timer.C
	}
	select {
	case res := <-done:
		if res.err != nil {
			return -1, fmt.Errorf("wait for exec in %s: %w", id, errgrpc.ToNative(res.err))
		}
		return int(res.resp.ExitStatus), nil
	case <-expired:
	case <-ctx.Done():
	}
	cancelWait()
	// Timed out or canceled: kill the command and reap it before deleting.
	kctx, cancel := context.WithTimeout(cleanup, execKillGrace)
	defer cancel()
	if err := r.kill(kctx, id, execID, syscall.SIGKILL, false); err != nil {
		r.log.WarnContext(ctx, "kill exec", "id", id, "exec", execID, "err", err)
	}
	_, _ = r.tasks.Wait(kctx, &tasks.WaitRequest{ContainerID: id, ExecID: execID})
	if ctx.Err() != nil {
		return -1, ctx.Err()
	}
	return -1, fmt.Errorf("exec %q in %s after %v: %w", argv[0], id, timeout, ErrExecTimeout)
}

func newExecID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "berth-exec-" + hex.EncodeToString(b[:])
}
