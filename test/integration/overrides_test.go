package integration

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// TestOverrides: RunTask's containerOverrides replace the command and add
// to (or replace in) the environment. The definition's own command would
// exit 99; the override's exits 0 only when it sees the right variables.
func TestOverrides(t *testing.T) {
	t.Parallel()
	e := integ(t)
	c := shell("app", "exit 99")
	c.Environment = []types.KeyValuePair{
		{Name: aws.String("KEPT"), Value: aws.String("from-definition")},
		{Name: aws.String("REPLACED"), Value: aws.String("from-definition")},
	}
	td := e.register(t, &sdkecs.RegisterTaskDefinitionInput{Family: aws.String("overrides"), ContainerDefinitions: []types.ContainerDefinition{c}})
	arn := e.runTask(t, td, func(in *sdkecs.RunTaskInput) {
		in.Overrides = &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{
			Name: aws.String("app"),
			Command: []string{`[ "$KEPT" = from-definition ] || exit 10
[ "$REPLACED" = from-override ] || exit 11
[ "$ADDED" = "with space" ] || exit 12
exit 0`},
			Environment: []types.KeyValuePair{
				{Name: aws.String("REPLACED"), Value: aws.String("from-override")},
				{Name: aws.String("ADDED"), Value: aws.String("with space")},
			},
		}}}
	})
	task := e.waitStopped(t, arn)
	e.wantExit(t, task, "app", 0)
}
