package integration

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// TestAgentRestart stops the agent while a task runs and starts a new one
// on the same data dir: the task keeps running meanwhile (the control
// plane shows the agent disconnected but does not declare the task
// stopped), and the new agent adopts it instead of starting it again.
//
// It is not parallel: the suite's other tests run before or after it,
// never while the agent is down.
func TestAgentRestart(t *testing.T) {
	e := integ(t)
	ctx := context.Background()
	body := token()
	arn := e.runTask(t, e.webTaskDef(t, "restart", body, 0))
	task := e.waitRunning(t, arn)
	runtimeID := aws.ToString(container(t, task, "web").RuntimeId)
	url := fmt.Sprintf("http://127.0.0.1:%d/", hostPortOf(t, task))
	if got := httpGet(t, url); got != body {
		t.Fatalf("GET %s = %q, want %q", url, got, body)
	}

	if err := e.stopAgent(); err != nil {
		t.Fatalf("agent.Run after cancel = %v, want nil", err)
	}
	restarted := false
	defer func() {
		if !restarted {
			e.startAgent() // the other tests need an agent
		}
	}()
	waitInstance(t, e, "agentConnected=false", false)
	task = e.describe(t, arn)
	if aws.ToString(task.LastStatus) != "RUNNING" || aws.ToString(task.DesiredStatus) != "RUNNING" {
		t.Errorf("with the agent down the task is %s (desired %s), want RUNNING: its fate is unknown, not stopped\n%s",
			aws.ToString(task.LastStatus), aws.ToString(task.DesiredStatus), e.summary(task))
	}
	if got := httpGet(t, url); got != body {
		t.Errorf("with the agent down GET %s = %q, want %q", url, got, body)
	}

	e.startAgent()
	restarted = true
	waitInstance(t, e, "agentConnected=true", true)
	ci, err := e.instance(ctx, e.instanceARN)
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(ci.ContainerInstanceArn) != e.instanceARN || aws.ToString(ci.Status) != "ACTIVE" {
		t.Errorf("after the restart the instance is %s %s, want %s ACTIVE", aws.ToString(ci.ContainerInstanceArn), aws.ToString(ci.Status), e.instanceARN)
	}

	task = e.waitRunning(t, arn)
	if got := aws.ToString(container(t, task, "web").RuntimeId); got != runtimeID {
		t.Errorf("runtimeId after the restart = %s, want the adopted %s", got, runtimeID)
	}
	labels := containerdLabels(t, arn)
	if _, ok := labels[runtimeID]; !ok || len(labels) != 1 {
		t.Errorf("containerd containers of the task = %v, want exactly %s", slices.Collect(maps.Keys(labels)), runtimeID)
	}
	if got := httpGet(t, url); got != body {
		t.Errorf("after the restart GET %s = %q, want %q", url, got, body)
	}

	// The new agent controls the adopted task.
	e.stopTask(t, arn)
	task = e.waitStopped(t, arn)
	if c := container(t, task, "web"); c.ExitCode == nil {
		t.Errorf("the adopted container stopped without an exit code\n%s", e.summary(task))
	}
}

// waitInstance waits until the suite's instance shows agentConnected ==
// connected.
func waitInstance(t *testing.T, e *env, what string, connected bool) {
	t.Helper()
	deadline := time.Now().Add(taskTimeout)
	for {
		ci, err := e.instance(context.Background(), e.instanceARN)
		if err == nil && ci.AgentConnected == connected {
			return
		}
		if err := e.agentErr(); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (last: %+v, %v)", what, ci.AgentConnected, err)
		}
		time.Sleep(pollEvery)
	}
}
