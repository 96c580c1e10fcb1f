package integration

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth/berth/internal/testimage"
)

// privateUser and privatePassword guard the harness's private registry;
// the agent holds them in its --registry-auth-file.
const (
	privateUser     = "integ"
	privatePassword = "s3cret"
)

// TestRegistryPull pulls task images from in-process registries on
// 127.0.0.1: anonymously, with the agent's per-registry credentials
// (--registry-auth-file, like the ECS agent's ECS_ENGINE_AUTH_DATA), and
// from a registry whose credentials the agent lacks (a clear failure).
func TestRegistryPull(t *testing.T) {
	t.Parallel()
	e := integ(t)

	t.Run("anonymous", func(t *testing.T) {
		t.Parallel()
		host := testimage.ServeRegistry(t, "", "")
		mark := token()
		digest, err := testimage.Push(context.Background(), host, "integ/anonymous", "v1", testimage.WithFile("/marker", []byte(mark), 0o644))
		if err != nil {
			t.Fatal(err)
		}
		c := shell("app", `[ "$(cat /marker)" = `+mark+` ]`)
		c.Image = aws.String(host + "/integ/anonymous:v1")
		td := e.register(t, &sdkecs.RegisterTaskDefinitionInput{Family: aws.String("pull-anonymous"), ContainerDefinitions: []types.ContainerDefinition{c}})
		arn := e.runTask(t, td)
		task := e.waitStopped(t, arn)
		e.wantExit(t, task, "app", 0)
		if got := aws.ToString(container(t, task, "app").ImageDigest); got != digest {
			t.Errorf("imageDigest = %q, want the pushed %s", got, digest)
		}
		if task.PullStartedAt == nil || task.PullStoppedAt == nil {
			t.Errorf("pullStartedAt %v pullStoppedAt %v, want both set for a pulled image", task.PullStartedAt, task.PullStoppedAt)
		}
	})

	t.Run("private with the agent's credentials", func(t *testing.T) {
		t.Parallel()
		mark := token()
		if _, err := testimage.Push(context.Background(), e.privateRegistry, "integ/private", "v1",
			testimage.WithAuth(privateUser, privatePassword), testimage.WithFile("/marker", []byte(mark), 0o644)); err != nil {
			t.Fatal(err)
		}
		c := shell("app", `[ "$(cat /marker)" = `+mark+` ]`)
		c.Image = aws.String(e.privateRegistry + "/integ/private:v1")
		td := e.register(t, &sdkecs.RegisterTaskDefinitionInput{Family: aws.String("pull-private-ok"), ContainerDefinitions: []types.ContainerDefinition{c}})
		task := e.waitStopped(t, e.runTask(t, td))
		e.wantExit(t, task, "app", 0)
	})

	t.Run("private without credentials", func(t *testing.T) {
		t.Parallel()
		host := testimage.ServeRegistry(t, "other", "s3cret")
		if _, err := testimage.Push(context.Background(), host, "integ/private", "v1", testimage.WithAuth("other", "s3cret")); err != nil {
			t.Fatal(err)
		}
		c := shell("app", "exit 0")
		c.Image = aws.String(host + "/integ/private:v1")
		td := e.register(t, &sdkecs.RegisterTaskDefinitionInput{Family: aws.String("pull-private"), ContainerDefinitions: []types.ContainerDefinition{c}})
		arn := e.runTask(t, td)
		task := e.waitStopped(t, arn)
		if task.StopCode != types.TaskStopCodeTaskFailedToStart {
			t.Errorf("stopCode = %q, want TaskFailedToStart", task.StopCode)
		}
		reason := aws.ToString(container(t, task, "app").Reason)
		if !strings.HasPrefix(reason, "CannotPullContainerError:") || !strings.Contains(reason, "pull access denied") {
			t.Errorf("container reason = %q, want CannotPullContainerError: pull access denied ...", reason)
		}
	})
}
