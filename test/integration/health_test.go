package integration

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// TestHealthCheck: the agent runs container health checks and the control
// plane shows container and task health.
func TestHealthCheck(t *testing.T) {
	t.Parallel()
	e := integ(t)
	tests := []struct {
		name, family string
		command      []string
		want         types.HealthStatus
	}{
		{"failing check", "health-failing", []string{"CMD-SHELL", "exit 1"}, types.HealthStatusUnhealthy},
		{"passing check", "health-passing", []string{"CMD", "true"}, types.HealthStatusHealthy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := shell("app", "exec sleep 300")
			c.HealthCheck = &types.HealthCheck{Command: tt.command, Interval: aws.Int32(5), Timeout: aws.Int32(2), Retries: aws.Int32(1)}
			td := e.register(t, &sdkecs.RegisterTaskDefinitionInput{Family: aws.String(tt.family), ContainerDefinitions: []types.ContainerDefinition{c}})
			arn := e.runTask(t, td)
			task := e.waitTask(t, arn, "health "+string(tt.want), func(task types.Task) bool {
				return task.HealthStatus == tt.want && len(task.Containers) == 1 && task.Containers[0].HealthStatus == tt.want
			})
			if got := aws.ToString(task.LastStatus); got != "RUNNING" {
				t.Errorf("task is %s, want RUNNING (health does not stop a task)", got)
			}
		})
	}
}
