package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth/berth/internal/agent/network"
	"github.com/berth/berth/internal/agent/runtime"
	"github.com/berth/berth/internal/agent/statedb"
	"github.com/berth/berth/internal/agentproto"
	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/testimage"
)

// Integration: the engine over the real runtime (containerd) and network
// (CNI bridge), with the busybox test image. Skipped unless root with
// containerd and the CNI plugins.
const (
	integNamespace  = "berth-engine-test"
	integCgroupRoot = "/berth-engine-test"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestIntegrationBridgeTask runs a two-container bridge task (an init
// container filling a scratch volume that the essential web server serves
// on a mapped host port, started once init SUCCEEDED, with a health
// check), restarts the engine and runtime under it, stops the task and
// waits for its cleanup.
func TestIntegrationBridgeTask(t *testing.T) {
	ref := testimage.Busybox(t, integNamespace)
	dataDir := t.TempDir()
	rcfg := runtime.Config{Namespace: integNamespace, LogDir: filepath.Join(dataDir, "logs"), StateDir: filepath.Join(dataDir, "rt"), CgroupRoot: integCgroupRoot}
	newRuntime := func() *runtime.Runtime {
		rt, err := runtime.New(context.Background(), rcfg, testLogger())
		if err != nil {
			t.Fatalf("runtime: %v", err)
		}
		t.Cleanup(func() { rt.Close() })
		return rt
	}
	ncfg := network.Config{StateDir: filepath.Join(dataDir, "net"), BridgeName: "bengt0", BridgeSubnet: "10.231.0.0/24",
		VPCBridgeName: "bengtv0", VPCSubnet: "10.231.128.0/24"}
	nm, err := network.New(ncfg, testLogger())
	if err != nil {
		t.Skipf("network manager unavailable: %v", err)
	}
	t.Cleanup(func() {
		// The network package keeps its bridges and masquerade rules
		// (tasks outlive an agent); drop the test's.
		nm.Close()
		if ip, err := exec.LookPath("ip"); err == nil {
			exec.Command(ip, "link", "del", ncfg.BridgeName).Run()
		}
	})
	store := statedb.NewMemory()
	rep := &fakeReporter{}
	cfg := Config{Cluster: "itest", Region: "eu-west-1", DataDir: dataDir, MetadataPort: 51679,
		StopTimeout: 5 * time.Second, CleanupWait: time.Second, Log: testLogger()}

	run := func(rt *runtime.Runtime) (*Engine, func()) {
		eng, err := New(cfg, Deps{Runtime: rt, Network: nm, Store: store, Reporter: rep})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- eng.Run(ctx) }()
		<-eng.Ready()
		return eng, func() { cancel(); <-done }
	}

	var idb [16]byte
	rand.Read(idb[:])
	taskID := hex.EncodeToString(idb[:])
	hostPort := freePort(t)
	yes := true
	initC := agentproto.Container{Name: "init", Image: ref, CPU: 10, Memory: 32,
		Command:     []string{"sh", "-c", "echo hello-from-init > /shared/index.html && env > /shared/env"},
		MountPoints: []agentproto.MountPoint{{SourceVolume: "shared", ContainerPath: "/shared"}}}
	web := agentproto.Container{Name: "web", Image: ref, Essential: true, CPU: 10, Memory: 32,
		Command:         []string{"httpd", "-f", "-p", "8080", "-h", "/shared"},
		MountPoints:     []agentproto.MountPoint{{SourceVolume: "shared", ContainerPath: "/shared", ReadOnly: true}},
		PortMappings:    []agentproto.PortMapping{{ContainerPort: 8080, HostPort: hostPort, Protocol: "tcp"}},
		DependsOn:       []agentproto.ContainerDependency{{ContainerName: "init", Condition: "SUCCESS"}},
		LinuxParameters: &agentproto.LinuxParameters{InitProcessEnabled: &yes},
		DockerConfig: agentproto.DockerConfig{Config: `{"Healthcheck":{"Test":["CMD-SHELL","wget -q -O /dev/null http://127.0.0.1:8080/index.html"],` +
			`"Interval":500000000,"Timeout":2000000000,"Retries":3}}`},
	}
	p := agentproto.Task{ARN: "arn:aws:ecs:eu-west-1:123456789012:task/itest/" + taskID, Family: "itest", Version: "1",
		DesiredStatus: "RUNNING", NetworkMode: "bridge", Containers: []agentproto.Container{initC, web},
		Volumes: []agentproto.Volume{{Name: "shared", Type: "docker"}}}

	rt := newRuntime()
	eng, stop := run(rt)
	defer func() {
		// Leave nothing behind if the test failed half way.
		ctx := context.Background()
		for _, name := range []string{"init", "web"} {
			rt.Remove(ctx, containerID(taskID, name))
		}
		nm.Teardown(ctx, taskID, "bridge", nil)
		rt.RemoveTaskCgroup(ctx, taskID)
	}()
	applied := time.Now()
	if err := eng.Apply(context.Background(), []agentproto.Task{p}); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, rep: rep, eng: eng}
	running := h.waitReported(p.ARN, ecs.TaskRunning)
	t.Logf("Apply → RUNNING reported: %v (init ran to completion first)", time.Since(applied))
	for _, c := range running.Containers {
		if c.ContainerName == "init" && (c.Status != "STOPPED" || c.ExitCode == nil || *c.ExitCode != 0) {
			t.Errorf("init in the RUNNING report = %+v", c)
		}
	}

	// The web server serves what init wrote, on the mapped host port.
	var body string
	waitFor(t, "HTTP answer on the host port", func() bool {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(hostPort) + "/index.html")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == 200
	})
	if strings.TrimSpace(body) != "hello-from-init" {
		t.Errorf("body = %q", body)
	}
	env, err := os.ReadFile(filepath.Join(dataDir, "volumes", taskID, "shared", "env"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(env), "ECS_CONTAINER_METADATA_URI_V4=http://10.231.0.1:51679/v4/") || !strings.Contains(string(env), "AWS_REGION=eu-west-1") {
		t.Errorf("init env lacks the metadata URI or region:\n%s", env)
	}
	waitFor(t, "web HEALTHY", func() bool {
		for _, hc := range rep.healthChanges() {
			if hc.Containers[0].Status == "HEALTHY" {
				return true
			}
		}
		return false
	})

	// Agent restart: a new runtime connection and engine adopt the task.
	stop()
	rt = newRuntime()
	eng, stop = run(rt)
	defer stop()
	h.eng = eng
	infos, err := rt.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, info := range infos {
		if info.Labels[LabelTaskARN] == p.ARN {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d containers of the task after the restart, want 2", n)
	}
	if s, ok := eng.Task(p.ARN); !ok || s.KnownStatus != ecs.TaskRunning {
		t.Fatalf("adopted task = %+v", s)
	}

	start := time.Now()
	if err := eng.StopTasks(context.Background(), []string{p.ARN}); err != nil {
		t.Fatal(err)
	}
	stopped := h.waitReported(p.ARN, ecs.TaskStopped)
	for _, c := range stopped.Containers {
		if c.ContainerName == "web" && (c.ExitCode == nil || *c.ExitCode != 143) {
			t.Errorf("web stopped with %+v, want exit 143 from SIGTERM through init", c)
		}
	}
	t.Logf("stop took %v", time.Since(start))
	waitFor(t, "cleanup", func() bool { return len(eng.Tasks()) == 0 })
	infos, _ = rt.List(context.Background())
	for _, info := range infos {
		if info.Labels[LabelTaskARN] == p.ARN {
			t.Errorf("container %s left after cleanup", info.ID)
		}
	}
	if _, err := os.Stat(filepath.Join(dataDir, "volumes", taskID)); !os.IsNotExist(err) {
		t.Errorf("scratch volumes left: %v", err)
	}
}
