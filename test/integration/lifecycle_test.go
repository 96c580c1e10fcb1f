package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth/berth/internal/testimage"
)

// TestEssentialContainers: a non-essential container that fails leaves
// the task running; the essential one exiting (even with 0) stops it.
func TestEssentialContainers(t *testing.T) {
	t.Parallel()
	e := integ(t)
	ctl := hostDir(t)

	side := shell("side", "exit 3")
	side.Essential = aws.Bool(false)
	// main exits 0 once the test creates /ctl/go on the host.
	main := shell("main", "while [ ! -e /ctl/go ]; do sleep 0.1; done; exit 0")
	main.MountPoints = []types.MountPoint{{SourceVolume: aws.String("ctl"), ContainerPath: aws.String("/ctl")}}
	td := e.register(t, &sdkecs.RegisterTaskDefinitionInput{
		Family:               aws.String("essential"),
		ContainerDefinitions: []types.ContainerDefinition{side, main},
		Volumes:              []types.Volume{{Name: aws.String("ctl"), Host: &types.HostVolumeProperties{SourcePath: aws.String(ctl)}}},
	})
	arn := e.runTask(t, td)

	task := e.waitTask(t, arn, "side STOPPED while the task runs", func(task types.Task) bool {
		return containerStatus(task, "side", "STOPPED") && aws.ToString(task.LastStatus) == "RUNNING"
	})
	e.wantExit(t, task, "side", 3)
	if got := aws.ToString(container(t, task, "main").LastStatus); got != "RUNNING" {
		t.Errorf("main = %s after side exited, want RUNNING", got)
	}

	if err := os.WriteFile(filepath.Join(ctl, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	task = e.waitStopped(t, arn)
	e.wantExit(t, task, "main", 0)
	e.wantExit(t, task, "side", 3)
	if task.StopCode != types.TaskStopCodeEssentialContainerExited || aws.ToString(task.StoppedReason) != "Essential container in task exited" {
		t.Errorf("stopCode %q stoppedReason %q; want EssentialContainerExited, \"Essential container in task exited\"",
			task.StopCode, aws.ToString(task.StoppedReason))
	}
}

// TestStopTask: StopTask sends SIGTERM, then SIGKILL after the container's
// stopTimeout.
func TestStopTask(t *testing.T) {
	t.Parallel()
	e := integ(t)
	tests := []struct {
		name, family string
		def          types.ContainerDefinition
		exit         int32
	}{{
		// SIGTERM is ignored: SIGKILL after 2 s, exit 128+9.
		name: "ignores SIGTERM", family: "stop-ignore-term",
		def: func() types.ContainerDefinition {
			c := shell("app", `trap "" TERM; while true; do sleep 1; done`)
			c.StopTimeout = aws.Int32(2)
			return c
		}(),
		exit: 137,
	}, {
		// With an init process as PID 1, SIGTERM reaches sleep, which dies
		// of it: exit 128+15. stopTimeout is long so that a SIGKILL shows.
		name: "init process", family: "stop-init",
		def: types.ContainerDefinition{
			Name: aws.String("app"), Image: aws.String(testimage.DefaultRef), Memory: aws.Int32(32), Essential: aws.Bool(true),
			Command: []string{"sleep", "300"}, StopTimeout: aws.Int32(60),
			LinuxParameters: &types.LinuxParameters{InitProcessEnabled: aws.Bool(true)},
		},
		exit: 143,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			td := e.register(t, &sdkecs.RegisterTaskDefinitionInput{
				Family: aws.String(tt.family), ContainerDefinitions: []types.ContainerDefinition{tt.def},
			})
			arn := e.runTask(t, td)
			e.waitRunning(t, arn)
			e.stopTask(t, arn)
			task := e.waitStopped(t, arn)
			e.wantExit(t, task, "app", tt.exit)
			if task.StopCode != types.TaskStopCodeUserInitiated {
				t.Errorf("stopCode = %q, want UserInitiated", task.StopCode)
			}
		})
	}
}

// TestOutOfMemory: a container that allocates more than its hard memory
// limit is killed by the kernel, and ECS says so.
func TestOutOfMemory(t *testing.T) {
	t.Parallel()
	e := integ(t)
	// dd reads 64 MiB from /dev/zero into one buffer: every page is
	// touched, the 16 MiB cgroup limit is hit.
	c := shell("hog", "dd if=/dev/zero of=/dev/null bs=64M count=1; exit 0")
	c.Memory = aws.Int32(16)
	td := e.register(t, &sdkecs.RegisterTaskDefinitionInput{Family: aws.String("oom"), ContainerDefinitions: []types.ContainerDefinition{c}})
	arn := e.runTask(t, td)
	task := e.waitStopped(t, arn)
	if reason := aws.ToString(container(t, task, "hog").Reason); !strings.Contains(reason, "OutOfMemoryError") {
		t.Errorf("container reason = %q, want OutOfMemoryError\n%s", reason, e.summary(task))
	}
}

// TestMissingImage: an image that cannot be pulled fails the task before
// it starts.
func TestMissingImage(t *testing.T) {
	t.Parallel()
	e := integ(t)
	tests := []struct {
		name, family string
		image        func(t *testing.T) string
	}{
		{"unreachable registry", "pull-unreachable", func(*testing.T) string { return "127.0.0.1:1/nope:latest" }},
		{"unknown repository", "pull-unknown", func(t *testing.T) string { return testimage.ServeRegistry(t, "", "") + "/nope:latest" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := shell("app", "exit 0")
			c.Image = aws.String(tt.image(t))
			td := e.register(t, &sdkecs.RegisterTaskDefinitionInput{Family: aws.String(tt.family), ContainerDefinitions: []types.ContainerDefinition{c}})
			arn := e.runTask(t, td)
			task := e.waitStopped(t, arn)
			if task.StopCode != types.TaskStopCodeTaskFailedToStart {
				t.Errorf("stopCode = %q, want TaskFailedToStart", task.StopCode)
			}
			if reason := aws.ToString(container(t, task, "app").Reason); !strings.HasPrefix(reason, "CannotPullContainerError:") {
				t.Errorf("container reason = %q, want CannotPullContainerError: ...", reason)
			}
			// ECS gives the essential container's failure as the task's reason.
			if reason := aws.ToString(task.StoppedReason); !strings.HasPrefix(reason, "CannotPullContainerError:") {
				t.Errorf("stoppedReason = %q, want CannotPullContainerError: ...", reason)
			}
			if task.StartedAt != nil {
				t.Errorf("startedAt = %v for a task that never ran", task.StartedAt)
			}
		})
	}
}
