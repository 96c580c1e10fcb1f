package engine

import (
	"context"
	"time"

	"github.com/berth/berth/internal/agent/network"
	"github.com/berth/berth/internal/agent/runtime"
)

// The engine's view of the container runtime, split by concern. The
// runtime package's *Runtime satisfies all of them.
type (
	// ImageEnsurer makes an image present, pulling it if needed.
	ImageEnsurer interface {
		EnsureImage(ctx context.Context, ref string, auth *runtime.RegistryAuth) (runtime.Image, error)
	}
	// ContainerStarter creates and starts containers.
	ContainerStarter interface {
		Create(ctx context.Context, spec runtime.ContainerSpec) error
		Start(ctx context.Context, id string) (pid uint32, err error)
	}
	// ContainerWaiter watches and stops running containers.
	ContainerWaiter interface {
		Wait(ctx context.Context, id string) (<-chan runtime.Exit, error)
		Stop(ctx context.Context, id string, timeout time.Duration) error
	}
	// ContainerExecer runs a command in a running container (health checks).
	ContainerExecer interface {
		Exec(ctx context.Context, id string, argv []string, timeout time.Duration) (exitCode int, err error)
	}
	// ContainerInventory lists and removes containers.
	ContainerInventory interface {
		List(ctx context.Context) ([]runtime.Info, error)
		Remove(ctx context.Context, id string) error
	}
	// TaskCgroups creates and removes the cgroup grouping a task's containers.
	TaskCgroups interface {
		CreateTaskCgroup(ctx context.Context, taskID string, res runtime.TaskResources) error
		RemoveTaskCgroup(ctx context.Context, taskID string) error
	}
	// StatsReader reads a container's resource use.
	StatsReader interface {
		Stats(ctx context.Context, id string) (runtime.Stats, error)
	}
)

// Runtime is everything the engine needs of the container runtime.
type Runtime interface {
	ImageEnsurer
	ContainerStarter
	ContainerWaiter
	ContainerExecer
	ContainerInventory
	TaskCgroups
	StatsReader
}

// Network sets up task networks; the network package's *Manager satisfies
// it. The engine passes network.WithAddress/WithMAC for awsvpc tasks whose
// payload carries an elastic network interface.
type Network interface {
	Setup(ctx context.Context, id, mode string, ports []network.PortMapping, opts ...network.SetupOption) (network.Attachment, error)
	Teardown(ctx context.Context, id, mode string, ports []network.PortMapping) error
	GatewayIP(mode string) string
}

// TaskStore persists task records; statedb's DB implementations satisfy it.
type TaskStore interface {
	SaveTask(ctx context.Context, arn string, record []byte) error
	DeleteTask(ctx context.Context, arn string) error
	LoadTasks(ctx context.Context) (map[string][]byte, error)
}

// Reporter tells the control plane about state changes (protocol.md §5,
// §6). ReportTask and ReportContainer must return nil only once the change
// is acknowledged by the control plane or refused for good (retrying
// cannot help); an error means "not delivered": the engine sends the
// change again later, and after an agent restart, since the last
// acknowledged status is kept in the task's record. Calls for one task are
// never concurrent, and come in order. ReportHealth is best effort (TCS)
// and should not block for long.
type Reporter interface {
	ReportTask(ctx context.Context, c TaskChange) error
	ReportContainer(ctx context.Context, c ContainerChange) error
	ReportHealth(ctx context.Context, h HealthChange) error
}

// Clock tells the time and makes timers; tests use a fake one.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now implements Clock.
func (SystemClock) Now() time.Time { return time.Now() }

// NewTimer implements Clock.
func (SystemClock) NewTimer(d time.Duration) Timer { return sysTimer{time.NewTimer(d)} }

type sysTimer struct{ t *time.Timer }

func (s sysTimer) C() <-chan time.Time { return s.t.C }
func (s sysTimer) Stop() bool          { return s.t.Stop() }
