package integration

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// TestDependsOn checks the four dependsOn conditions. The containers write
// markers to a task-scoped volume; the essential container "check",
// started only once its dependencies allow, verifies what must already be
// there and exits 0, or the code of the first thing missing.
func TestDependsOn(t *testing.T) {
	t.Parallel()
	e := integ(t)

	t.Run("conditions", func(t *testing.T) {
		t.Parallel()
		shared := []types.MountPoint{{SourceVolume: aws.String("shared"), ContainerPath: aws.String("/shared")}}
		def := func(name, script string, essential bool) types.ContainerDefinition {
			c := shell(name, script)
			c.Essential = aws.Bool(essential)
			c.MountPoints = shared
			return c
		}
		// START: "started" only needs to be running; it writes its marker
		// right away.
		started := def("started", "echo started >> /shared/log; exec sleep 300", false)
		// COMPLETE: exits non-zero after a pause; "check" must not see
		// "complete-start" without "complete-end".
		complete := def("complete", "echo complete-start >> /shared/log; sleep 1; echo complete-end >> /shared/log; exit 1", false)
		// SUCCESS: exits 0 after a pause.
		success := def("success", "echo success-start >> /shared/log; sleep 1; echo success-end >> /shared/log; exit 0", false)
		// HEALTHY: its health check writes a marker when it runs; a passing
		// probe must have happened before "check" starts.
		healthy := def("healthy", "exec sleep 300", false)
		healthy.HealthCheck = &types.HealthCheck{
			Command:  []string{"CMD-SHELL", "echo probed >> /shared/log"},
			Interval: aws.Int32(5), Timeout: aws.Int32(5), Retries: aws.Int32(1),
		}
		// A START dependency only promises a started container, so "check"
		// gives the marker of "started" a moment to appear.
		check := def("check", strings.Join([]string{
			`for i in $(seq 100); do grep -qx started /shared/log && break; sleep 0.1; done`,
			`grep -qx started /shared/log || exit 10`,
			`grep -qx complete-end /shared/log || exit 11`,
			`grep -qx success-end /shared/log || exit 12`,
			`grep -qx probed /shared/log || exit 13`,
			`exit 0`,
		}, "\n"), true)
		check.DependsOn = []types.ContainerDependency{
			{ContainerName: aws.String("started"), Condition: types.ContainerConditionStart},
			{ContainerName: aws.String("complete"), Condition: types.ContainerConditionComplete},
			{ContainerName: aws.String("success"), Condition: types.ContainerConditionSuccess},
			{ContainerName: aws.String("healthy"), Condition: types.ContainerConditionHealthy},
		}
		td := e.register(t, &sdkecs.RegisterTaskDefinitionInput{
			Family:               aws.String("depends"),
			ContainerDefinitions: []types.ContainerDefinition{check, started, complete, success, healthy},
			Volumes:              []types.Volume{{Name: aws.String("shared")}},
		})
		arn := e.runTask(t, td)
		task := e.waitStopped(t, arn)
		e.wantExit(t, task, "check", 0)
		e.wantExit(t, task, "complete", 1)
		e.wantExit(t, task, "success", 0)
		if task.StopCode != types.TaskStopCodeEssentialContainerExited {
			t.Errorf("stopCode = %q, want EssentialContainerExited", task.StopCode)
		}
	})

	t.Run("failed SUCCESS dependency", func(t *testing.T) {
		t.Parallel()
		bad := shell("bad", "exit 2")
		bad.Essential = aws.Bool(false)
		dependent := shell("dependent", "exit 0")
		dependent.DependsOn = []types.ContainerDependency{{ContainerName: aws.String("bad"), Condition: types.ContainerConditionSuccess}}
		td := e.register(t, &sdkecs.RegisterTaskDefinitionInput{
			Family:               aws.String("depends-fail"),
			ContainerDefinitions: []types.ContainerDefinition{dependent, bad},
		})
		arn := e.runTask(t, td)
		task := e.waitStopped(t, arn)
		e.wantExit(t, task, "bad", 2)
		d := container(t, task, "dependent")
		if d.ExitCode != nil || aws.ToString(d.LastStatus) != "STOPPED" {
			t.Errorf("dependent = %s exit %v, want STOPPED without ever running (no exit code)\n%s",
				aws.ToString(d.LastStatus), aws.ToInt32(d.ExitCode), e.summary(task))
		}
		if !strings.Contains(aws.ToString(d.Reason), "bad") {
			t.Errorf("dependent's reason %q does not name the dependency that failed", aws.ToString(d.Reason))
		}
	})
}
