package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/berth/berth/internal/testimage"
)

// containerLogDir is where the agent's runtime writes container output
// (runtime.DefaultLogDir); read only to explain failures.
const containerLogDir = "/var/log/berth/containers"

// token returns a random string that names what one test made.
func token() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// shell is a busybox container definition running script with /bin/sh -c.
func shell(name, script string) types.ContainerDefinition {
	return types.ContainerDefinition{
		Name: aws.String(name), Image: aws.String(testimage.DefaultRef), Memory: aws.Int32(32),
		Essential:  aws.Bool(true),
		EntryPoint: []string{"/bin/sh", "-c"}, Command: []string{script},
	}
}

// webScript serves body at / on port with busybox httpd in the foreground.
func webScript(port int, body string) string {
	return fmt.Sprintf("mkdir -p /tmp/www && echo %s > /tmp/www/index.html && exec httpd -f -p %d -h /tmp/www", body, port)
}

// register registers a task definition and returns its ARN.
func (e *env) register(t *testing.T, in *sdkecs.RegisterTaskDefinitionInput) string {
	t.Helper()
	out, err := e.admin.RegisterTaskDefinition(context.Background(), in)
	if err != nil {
		t.Fatalf("register task definition %s: %v", aws.ToString(in.Family), err)
	}
	return aws.ToString(out.TaskDefinition.TaskDefinitionArn)
}

// runTask runs one task of taskDef and returns its ARN; the task is
// stopped when the test ends.
func (e *env) runTask(t *testing.T, taskDef string, opts ...func(*sdkecs.RunTaskInput)) string {
	t.Helper()
	in := &sdkecs.RunTaskInput{Cluster: aws.String(clusterName), TaskDefinition: aws.String(taskDef)}
	for _, o := range opts {
		o(in)
	}
	out, err := e.admin.RunTask(context.Background(), in)
	if err != nil {
		t.Fatalf("run task %s: %v", taskDef, err)
	}
	if len(out.Tasks) != 1 {
		t.Fatalf("run task %s: %d tasks, failures %s", taskDef, len(out.Tasks), failures(out.Failures))
	}
	arn := aws.ToString(out.Tasks[0].TaskArn)
	t.Cleanup(func() {
		e.admin.StopTask(context.Background(), &sdkecs.StopTaskInput{Cluster: aws.String(clusterName), Task: aws.String(arn)})
	})
	return arn
}

func failures(fs []types.Failure) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "[%s: %s %s]", aws.ToString(f.Arn), aws.ToString(f.Reason), aws.ToString(f.Detail))
	}
	return b.String()
}

// stopTask asks for the task to stop.
func (e *env) stopTask(t *testing.T, arn string) {
	t.Helper()
	if _, err := e.admin.StopTask(context.Background(), &sdkecs.StopTaskInput{Cluster: aws.String(clusterName), Task: aws.String(arn)}); err != nil {
		t.Fatalf("stop task %s: %v", arn, err)
	}
}

// describe returns the task as DescribeTasks shows it.
func (e *env) describe(t *testing.T, arn string) types.Task {
	t.Helper()
	d, err := e.admin.DescribeTasks(context.Background(), &sdkecs.DescribeTasksInput{Cluster: aws.String(clusterName), Tasks: []string{arn}})
	if err != nil || len(d.Tasks) != 1 {
		t.Fatalf("describe task %s: %v (failures %s)", arn, err, failures(d.Failures))
	}
	return d.Tasks[0]
}

// waitTask polls the task until cond holds; it fails the test when the
// deadline passes, the agent ends, or the task stops before cond holds
// (unless cond accepts the stopped task).
func (e *env) waitTask(t *testing.T, arn, what string, cond func(types.Task) bool) types.Task {
	t.Helper()
	deadline := time.Now().Add(taskTimeout)
	for {
		task := e.describe(t, arn)
		if cond(task) {
			return task
		}
		if aws.ToString(task.LastStatus) == "STOPPED" {
			t.Fatalf("task stopped before %s:\n%s", what, e.summary(task))
		}
		if err := e.agentErr(); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s:\n%s", what, e.summary(task))
		}
		time.Sleep(pollEvery)
	}
}

// waitRunning waits for lastStatus RUNNING.
func (e *env) waitRunning(t *testing.T, arn string) types.Task {
	t.Helper()
	return e.waitTask(t, arn, "RUNNING", func(task types.Task) bool { return aws.ToString(task.LastStatus) == "RUNNING" })
}

// waitStopped waits for lastStatus STOPPED.
func (e *env) waitStopped(t *testing.T, arn string) types.Task {
	t.Helper()
	return e.waitTask(t, arn, "STOPPED", func(task types.Task) bool { return aws.ToString(task.LastStatus) == "STOPPED" })
}

// summary describes a task and its containers for failure messages,
// with the last lines of each container's output.
func (e *env) summary(task types.Task) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  task %s: last %s desired %s health %s stopCode %q reason %q\n", aws.ToString(task.TaskArn),
		aws.ToString(task.LastStatus), aws.ToString(task.DesiredStatus), task.HealthStatus, task.StopCode, aws.ToString(task.StoppedReason))
	for _, c := range task.Containers {
		exit := "-"
		if c.ExitCode != nil {
			exit = fmt.Sprint(*c.ExitCode)
		}
		fmt.Fprintf(&b, "  container %s: %s exit %s health %s reason %q runtimeId %s\n", aws.ToString(c.Name),
			aws.ToString(c.LastStatus), exit, c.HealthStatus, aws.ToString(c.Reason), aws.ToString(c.RuntimeId))
		if id := aws.ToString(c.RuntimeId); id != "" {
			if out := tail(filepath.Join(containerLogDir, id+".log"), 600); out != "" {
				fmt.Fprintf(&b, "    output: %s\n", strings.ReplaceAll(out, "\n", "\n    "))
			}
		}
	}
	return b.String()
}

// tail returns the last n bytes of a file, "" when unreadable.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		f.Seek(st.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return strings.TrimSpace(string(b))
}

// container returns the task's container name.
func container(t *testing.T, task types.Task, name string) types.Container {
	t.Helper()
	for _, c := range task.Containers {
		if aws.ToString(c.Name) == name {
			return c
		}
	}
	t.Fatalf("task %s has no container %q", aws.ToString(task.TaskArn), name)
	return types.Container{}
}

// containerStatus reports whether the task's container name has lastStatus status.
func containerStatus(task types.Task, name, status string) bool {
	for _, c := range task.Containers {
		if aws.ToString(c.Name) == name {
			return aws.ToString(c.LastStatus) == status
		}
	}
	return false
}

// wantExit fails unless the task's container name exited with code.
func (e *env) wantExit(t *testing.T, task types.Task, name string, code int32) {
	t.Helper()
	c := container(t, task, name)
	if c.ExitCode == nil || *c.ExitCode != code {
		got := "none"
		if c.ExitCode != nil {
			got = fmt.Sprint(*c.ExitCode)
		}
		t.Errorf("container %s exit code = %s, want %d\n%s", name, got, code, e.summary(task))
	}
}

// httpGet polls url until it answers 200 and returns the body.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := c.Get(url)
		if err == nil {
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK {
				return strings.TrimSpace(string(b))
			}
			err = fmt.Errorf("status %s, read %v", resp.Status, rerr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(pollEvery)
	}
}

// freeStaticPort returns a port in 20000-29999 (below the control plane's
// dynamic range 49153-65535) that nothing listens on now.
func freeStaticPort(t *testing.T) int {
	t.Helper()
	for range 100 {
		n, _ := rand.Int(rand.Reader, big.NewInt(10000))
		p := 20000 + int(n.Int64())
		ln, err := net.Listen("tcp", fmt.Sprintf(":%d", p))
		if err != nil {
			continue
		}
		ln.Close()
		return p
	}
	t.Fatal("no free port in 20000-29999")
	return 0
}

// hostDir is a host directory every container user may write.
func hostDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	if err := os.Chmod(d, 0o777); err != nil {
		t.Fatal(err)
	}
	return d
}

// containerdLabels returns the containerd labels of every container of the
// suite's namespace that carries the task-arn label arn, by container ID.
func containerdLabels(t *testing.T, arn string) map[string]map[string]string {
	t.Helper()
	c, err := client.New(testimage.Socket)
	if err != nil {
		t.Fatalf("connect containerd: %v", err)
	}
	defer c.Close()
	ctx := namespaces.WithNamespace(context.Background(), namespace)
	cs, err := c.Containers(ctx)
	if err != nil {
		t.Fatalf("list containers: %v", err)
	}
	out := map[string]map[string]string{}
	for _, ctr := range cs {
		labels, err := ctr.Labels(ctx)
		if err != nil {
			continue // removed meanwhile
		}
		if labels["com.amazonaws.ecs.task-arn"] == arn {
			out[ctr.ID()] = labels
		}
	}
	return out
}

// awsvpc is a RunTask option giving the awsvpc configuration ECS requires
// for awsvpc tasks. Berth records nothing of the subnet it names: the
// task's address comes from the instance's awsvpc subnet.
func awsvpc(in *sdkecs.RunTaskInput) {
	in.NetworkConfiguration = &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{
		Subnets: []string{"subnet-integ"},
	}}
}
