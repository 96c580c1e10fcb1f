package integration

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// webTaskDef registers a bridge task definition whose container "web"
// serves body on container port 8080, mapped to hostPort (0: dynamic).
func (e *env) webTaskDef(t *testing.T, family, body string, hostPort int32) string {
	t.Helper()
	web := shell("web", webScript(8080, body))
	web.PortMappings = []types.PortMapping{{ContainerPort: aws.Int32(8080), HostPort: aws.Int32(hostPort), Protocol: types.TransportProtocolTcp}}
	return e.register(t, &sdkecs.RegisterTaskDefinitionInput{
		Family: aws.String(family), NetworkMode: types.NetworkModeBridge,
		ContainerDefinitions: []types.ContainerDefinition{web},
	})
}

// hostPortOf returns the host port the task's container "web" is bound to
// for container port 8080.
func hostPortOf(t *testing.T, task types.Task) int32 {
	t.Helper()
	for _, b := range container(t, task, "web").NetworkBindings {
		if aws.ToInt32(b.ContainerPort) == 8080 {
			return aws.ToInt32(b.HostPort)
		}
	}
	t.Fatalf("container web has no network binding for 8080: %+v", container(t, task, "web").NetworkBindings)
	return 0
}

// TestBridgeWeb runs web servers in bridge mode: one on a dynamic host
// port, one on a static host port, which a second task then cannot get.
func TestBridgeWeb(t *testing.T) {
	t.Parallel()
	e := integ(t)

	t.Run("dynamic host port", func(t *testing.T) {
		t.Parallel()
		body := token()
		arn := e.runTask(t, e.webTaskDef(t, "web-dynamic", body, 0))
		task := e.waitRunning(t, arn)
		port := hostPortOf(t, task)
		// Dynamic ports come from 49153-65535, minus the reserved ones.
		if port < firstDynamicPort || port > 65535 {
			t.Errorf("dynamic host port = %d, want one of %d-65535", port, firstDynamicPort)
		}
		if got := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); got != body {
			t.Errorf("GET 127.0.0.1:%d = %q, want %q (another task's server?)", port, got, body)
		}
	})

	t.Run("static host port", func(t *testing.T) {
		t.Parallel()
		port := freeStaticPort(t)
		body := token()
		td := e.webTaskDef(t, "web-static", body, int32(port))
		arn := e.runTask(t, td)
		task := e.waitRunning(t, arn)
		if got := hostPortOf(t, task); got != int32(port) {
			t.Errorf("host port = %d, want the static %d", got, port)
		}
		if got := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); got != body {
			t.Errorf("GET 127.0.0.1:%d = %q, want %q", port, got, body)
		}

		// The port is taken on the only instance: placement fails, the
		// call does not.
		out, err := e.admin.RunTask(context.Background(), &sdkecs.RunTaskInput{Cluster: aws.String(clusterName), TaskDefinition: aws.String(td)})
		if err != nil {
			t.Fatalf("RunTask with a taken static port: %v, want failures[] and no error", err)
		}
		for _, task := range out.Tasks {
			e.stopTask(t, aws.ToString(task.TaskArn))
		}
		if len(out.Tasks) != 0 || len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "RESOURCE:PORTS" {
			t.Errorf("RunTask with a taken static port = %d tasks, failures %s; want no task and one failure RESOURCE:PORTS",
				len(out.Tasks), failures(out.Failures))
		}
	})
}
