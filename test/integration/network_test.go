package integration

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// eniOf returns the task's ElasticNetworkInterface attachment and its
// private IPv4 address ("" when absent).
func eniOf(task types.Task) (types.Attachment, string) {
	for _, a := range task.Attachments {
		if aws.ToString(a.Type) != "ElasticNetworkInterface" {
			continue
		}
		for _, d := range a.Details {
			if aws.ToString(d.Name) == "privateIPv4Address" {
				return a, aws.ToString(d.Value)
			}
		}
		return a, ""
	}
	return types.Attachment{}, ""
}

// TestNetworkModes runs a task in each of the host, none and awsvpc
// network modes (bridge: TestBridgeWeb).
func TestNetworkModes(t *testing.T) {
	t.Parallel()
	e := integ(t)

	t.Run("host", func(t *testing.T) {
		t.Parallel()
		port := freeStaticPort(t)
		body := token()
		web := shell("web", webScript(port, body))
		web.PortMappings = []types.PortMapping{{ContainerPort: aws.Int32(int32(port)), Protocol: types.TransportProtocolTcp}}
		td := e.register(t, &sdkecs.RegisterTaskDefinitionInput{
			Family: aws.String("net-host"), NetworkMode: types.NetworkModeHost,
			ContainerDefinitions: []types.ContainerDefinition{web},
		})
		arn := e.runTask(t, td)
		task := e.waitRunning(t, arn)
		if b := container(t, task, "web").NetworkBindings; len(b) != 1 || aws.ToInt32(b[0].HostPort) != int32(port) {
			t.Errorf("network bindings = %+v, want host port %d", b, port)
		}
		if got := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); got != body {
			t.Errorf("GET 127.0.0.1:%d = %q, want %q", port, got, body)
		}
	})

	t.Run("none", func(t *testing.T) {
		t.Parallel()
		// Only lo: exit 10 without lo, 11 with any other interface.
		c := shell("app", `grep -q '^ *lo:' /proc/net/dev || exit 10
[ "$(grep -c : /proc/net/dev)" = 1 ] || { cat /proc/net/dev; exit 11; }
exit 0`)
		td := e.register(t, &sdkecs.RegisterTaskDefinitionInput{
			Family: aws.String("net-none"), NetworkMode: types.NetworkModeNone,
			ContainerDefinitions: []types.ContainerDefinition{c},
		})
		arn := e.runTask(t, td)
		task := e.waitStopped(t, arn)
		e.wantExit(t, task, "app", 0)
	})

	t.Run("awsvpc", func(t *testing.T) {
		t.Parallel()
		body := token()
		web := shell("web", webScript(80, body))
		web.PortMappings = []types.PortMapping{{ContainerPort: aws.Int32(80), Protocol: types.TransportProtocolTcp}}
		td := e.register(t, &sdkecs.RegisterTaskDefinitionInput{
			Family: aws.String("net-awsvpc"), NetworkMode: types.NetworkModeAwsvpc,
			ContainerDefinitions: []types.ContainerDefinition{web},
		})
		arn := e.runTask(t, td, awsvpc)
		task := e.waitTask(t, arn, "RUNNING with the ENI ATTACHED", func(task types.Task) bool {
			a, _ := eniOf(task)
			return aws.ToString(task.LastStatus) == "RUNNING" && aws.ToString(a.Status) == "ATTACHED"
		})
		att, ip := eniOf(task)
		addr, err := netip.ParseAddr(ip)
		if err != nil || !netip.MustParsePrefix(vpcSubnet).Contains(addr) {
			t.Fatalf("ENI privateIPv4Address = %q, want an address of the agent's awsvpc subnet %s; attachment %+v", ip, vpcSubnet, att)
		}
		ifs := container(t, task, "web").NetworkInterfaces
		if len(ifs) != 1 || aws.ToString(ifs[0].PrivateIpv4Address) != ip || aws.ToString(ifs[0].AttachmentId) != aws.ToString(att.Id) {
			t.Errorf("container networkInterfaces = %+v, want [{attachmentId %s privateIpv4Address %s}]", ifs, aws.ToString(att.Id), ip)
		}
		if got := httpGet(t, fmt.Sprintf("http://%s:80/", ip)); got != body {
			t.Errorf("GET %s:80 = %q, want %q", ip, got, body)
		}
	})
}
