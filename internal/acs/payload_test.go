package acs

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/berth/berth/internal/agentproto"
	"github.com/berth/berth/internal/ecs"
)

const (
	testTaskARN = "arn:aws:ecs:us-west-2:123456789012:task/demo/0123456789abcdef"
	testAcct    = "123456789012"
)

// baseTask is a one-container bridge task with nothing optional set.
func baseTask() ecs.Task {
	return ecs.Task{
		ID: "0123456789abcdef", ARN: testTaskARN, Cluster: "demo", ContainerInstanceID: "ci1",
		Definition: ecs.TaskDefinition{
			Family: "web", Revision: 3,
			ContainerDefinitions: []ecs.ContainerDefinition{{Name: "app", Image: "nginx:1", CPU: 128}},
		},
		LaunchType:    "EC2",
		Containers:    []ecs.TaskContainer{{Name: "app", ARN: "arn:aws:ecs:us-west-2:123456789012:container/demo/0123456789abcdef/c1"}},
		LastStatus:    ecs.TaskPending,
		DesiredStatus: ecs.TaskRunning,
	}
}

func TestPayloadTaskBase(t *testing.T) {
	got := PayloadTask(baseTask(), testAcct)
	want := agentproto.Task{
		ARN:                     testTaskARN,
		TaskClusterARN:          "arn:aws:ecs:us-west-2:123456789012:cluster/demo",
		Family:                  "web",
		Version:                 "3",
		DesiredStatus:           "RUNNING",
		TaskDefinitionAccountID: testAcct,
		NetworkMode:             "bridge",
		LaunchType:              "EC2",
		Containers: []agentproto.Container{{
			Name: "app", ContainerARN: "arn:aws:ecs:us-west-2:123456789012:container/demo/0123456789abcdef/c1",
			Image: "nginx:1", CPU: 128, Essential: true,
			PortMappings: []agentproto.PortMapping{}, MountPoints: []agentproto.MountPoint{},
			VolumesFrom: []agentproto.VolumeFrom{}, Links: []string{},
		}},
		Volumes:                  []agentproto.Volume{},
		Associations:             []json.RawMessage{},
		Attachments:              []json.RawMessage{},
		ElasticNetworkInterfaces: []agentproto.ElasticNetworkInterface{},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	// Empty lists are [] on the wire, and empty Docker configs are left out.
	b, _ := json.Marshal(got)
	for _, frag := range []string{`"volumes":[]`, `"associations":[]`, `"attachments":[]`, `"elasticNetworkInterfaces":[]`,
		`"portMappings":[]`, `"mountPoints":[]`, `"volumesFrom":[]`, `"links":[]`, `"dockerConfig":{}`} {
		if !strings.Contains(string(b), frag) {
			t.Errorf("JSON lacks %s: %s", frag, b)
		}
	}
	if strings.Contains(string(b), "null") {
		t.Errorf("JSON has a null: %s", b)
	}
}

func TestPayloadTaskFields(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(t *ecs.Task)
		check func(t *testing.T, got agentproto.Task)
	}{
		{"stopped desired status", func(t *ecs.Task) { t.DesiredStatus = ecs.TaskStopped }, func(t *testing.T, got agentproto.Task) {
			if got.DesiredStatus != "STOPPED" {
				t.Errorf("desiredStatus %q", got.DesiredStatus)
			}
		}},
		{"task size from the definition", func(t *ecs.Task) { t.Definition.CPU, t.Definition.Memory = "512", "1 GB" }, func(t *testing.T, got agentproto.Task) {
			if got.CPU != 0.5 || got.Memory != 1024 {
				t.Errorf("cpu %v memory %v", got.CPU, got.Memory)
			}
		}},
		{"task size as shown wins", func(t *ecs.Task) { t.Definition.CPU, t.CPU, t.Memory = "512", "2 vCPU", "3072" }, func(t *testing.T, got agentproto.Task) {
			if got.CPU != 2 || got.Memory != 3072 {
				t.Errorf("cpu %v memory %v", got.CPU, got.Memory)
			}
		}},
		{"service, group, pid and ipc", func(t *ecs.Task) {
			t.ServiceName, t.Group = "svc", "service:svc"
			t.Definition.PidMode, t.Definition.IpcMode = ecs.PidModeTask, ecs.IpcModeHost
		}, func(t *testing.T, got agentproto.Task) {
			if got.ServiceName != "svc" || got.Group != "service:svc" || got.PidMode != "task" || got.IpcMode != "host" {
				t.Errorf("%+v", got)
			}
		}},
		{"environment list to map", func(t *ecs.Task) {
			t.Definition.ContainerDefinitions[0].Environment = []ecs.KeyValuePair{{Name: "A", Value: "1"}, {Name: "B", Value: ""}, {Name: "A", Value: "2"}}
		}, func(t *testing.T, got agentproto.Task) {
			if want := map[string]string{"A": "2", "B": ""}; !reflect.DeepEqual(got.Containers[0].Environment, want) {
				t.Errorf("environment %v", got.Containers[0].Environment)
			}
		}},
		{"container basics", func(t *ecs.Task) {
			c := &t.Definition.ContainerDefinitions[0]
			c.Memory, c.Essential = new(256), new(false)
			c.Command, c.EntryPoint = []string{"serve", "--port=80"}, []string{"/bin/app"}
			c.Links = []string{"db:db"}
			c.DependsOn = []ecs.ContainerDependency{{ContainerName: "db", Condition: ecs.ConditionHealthy}}
			c.StartTimeout, c.StopTimeout = new(60), new(10)
			c.Privileged = new(true)
			c.MountPoints = []ecs.MountPoint{{SourceVolume: "data", ContainerPath: "/data", ReadOnly: new(true)}, {SourceVolume: "tmp", ContainerPath: "/tmp"}}
			c.VolumesFrom = []ecs.VolumeFrom{{SourceContainer: "db"}}
		}, func(t *testing.T, got agentproto.Task) {
			c := got.Containers[0]
			if c.Memory != 256 || c.Essential || !reflect.DeepEqual(c.Command, []string{"serve", "--port=80"}) || !reflect.DeepEqual(c.EntryPoint, []string{"/bin/app"}) {
				t.Errorf("%+v", c)
			}
			if !reflect.DeepEqual(c.Links, []string{"db:db"}) || !reflect.DeepEqual(c.DependsOn, []agentproto.ContainerDependency{{ContainerName: "db", Condition: "HEALTHY"}}) {
				t.Errorf("links %v dependsOn %v", c.Links, c.DependsOn)
			}
			if c.StartTimeout != 60 || c.StopTimeout != 10 || c.Privileged == nil || !*c.Privileged {
				t.Errorf("timeouts %d %d privileged %v", c.StartTimeout, c.StopTimeout, c.Privileged)
			}
			wantMP := []agentproto.MountPoint{{SourceVolume: "data", ContainerPath: "/data", ReadOnly: true}, {SourceVolume: "tmp", ContainerPath: "/tmp"}}
			if !reflect.DeepEqual(c.MountPoints, wantMP) || !reflect.DeepEqual(c.VolumesFrom, []agentproto.VolumeFrom{{SourceContainer: "db"}}) {
				t.Errorf("mounts %+v volumesFrom %+v", c.MountPoints, c.VolumesFrom)
			}
		}},
		{"health check defaults", func(t *ecs.Task) {
			t.Definition.ContainerDefinitions[0].HealthCheck = &ecs.HealthCheck{Command: []string{"CMD-SHELL", "curl -f localhost"}}
		}, func(t *testing.T, got agentproto.Task) {
			c := got.Containers[0]
			cfg := decodeConfig(t, c.DockerConfig.Config)
			want := &agentproto.DockerHealthcheck{Test: []string{"CMD-SHELL", "curl -f localhost"}, Interval: 30e9, Timeout: 5e9, StartPeriod: 0, Retries: 3}
			if !reflect.DeepEqual(cfg.Healthcheck, want) || c.HealthCheckType != "docker" {
				t.Errorf("healthcheck %+v type %q", cfg.Healthcheck, c.HealthCheckType)
			}
		}},
		{"health check given", func(t *ecs.Task) {
			t.Definition.ContainerDefinitions[0].HealthCheck = &ecs.HealthCheck{Command: []string{"CMD", "true"}, Interval: new(10), Timeout: new(2), StartPeriod: new(15), Retries: new(5)}
		}, func(t *testing.T, got agentproto.Task) {
			cfg := decodeConfig(t, got.Containers[0].DockerConfig.Config)
			want := &agentproto.DockerHealthcheck{Test: []string{"CMD", "true"}, Interval: 10e9, Timeout: 2e9, StartPeriod: 15e9, Retries: 5}
			if !reflect.DeepEqual(cfg.Healthcheck, want) {
				t.Errorf("healthcheck %+v", cfg.Healthcheck)
			}
		}},
		{"health check without command is none", func(t *ecs.Task) {
			t.Definition.ContainerDefinitions[0].HealthCheck = &ecs.HealthCheck{Interval: new(10)}
		}, func(t *testing.T, got agentproto.Task) {
			if c := got.Containers[0]; c.DockerConfig.Config != "" || c.HealthCheckType != "" {
				t.Errorf("%+v", c)
			}
		}},
		{"docker config", func(t *ecs.Task) {
			c := &t.Definition.ContainerDefinitions[0]
			c.Hostname, c.User, c.WorkingDirectory = "web1", "1000:1000", "/srv"
			c.DockerLabels = map[string]string{"team": "a"}
		}, func(t *testing.T, got agentproto.Task) {
			cfg := decodeConfig(t, got.Containers[0].DockerConfig.Config)
			want := agentproto.DockerContainerConfig{Hostname: "web1", User: "1000:1000", WorkingDir: "/srv", Labels: map[string]string{"team": "a"}}
			if !reflect.DeepEqual(cfg, want) {
				t.Errorf("config %+v", cfg)
			}
			if got.Containers[0].HealthCheckType != "" {
				t.Errorf("healthCheckType without a check")
			}
		}},
		{"docker host config", func(t *ecs.Task) {
			c := &t.Definition.ContainerDefinitions[0]
			c.MemoryReservation = new(128)
			c.Ulimits = []ecs.Ulimit{{Name: "nofile", SoftLimit: 1024, HardLimit: 4096}}
			c.ReadonlyRootFilesystem = new(true)
			c.LinuxParameters = &ecs.LinuxParameters{InitProcessEnabled: new(true), SharedMemorySize: new(64),
				Capabilities: &ecs.KernelCapabilities{Add: []string{"NET_ADMIN"}, Drop: []string{"MKNOD"}}}
		}, func(t *testing.T, got agentproto.Task) {
			c := got.Containers[0]
			var hc agentproto.DockerHostConfig
			if err := json.Unmarshal([]byte(c.DockerConfig.HostConfig), &hc); err != nil {
				t.Fatalf("hostConfig %q: %v", c.DockerConfig.HostConfig, err)
			}
			want := agentproto.DockerHostConfig{MemoryReservation: 128 << 20, Ulimits: []agentproto.DockerUlimit{{Name: "nofile", Soft: 1024, Hard: 4096}},
				ReadonlyRootfs: true, Init: new(true), CapAdd: []string{"NET_ADMIN"}, CapDrop: []string{"MKNOD"}}
			if !reflect.DeepEqual(hc, want) {
				t.Errorf("hostConfig %+v", hc)
			}
			lp := c.LinuxParameters
			if lp == nil || lp.InitProcessEnabled == nil || !*lp.InitProcessEnabled || lp.SharedMemorySize == nil || *lp.SharedMemorySize != 64 {
				t.Errorf("linuxParameters %+v", lp)
			}
		}},
		{"extra hosts and DNS as Docker host config", func(t *ecs.Task) {
			c := &t.Definition.ContainerDefinitions[0]
			c.ExtraHosts = []ecs.HostEntry{{Hostname: "db.internal", IPAddress: "10.0.0.5"}, {Hostname: "v6", IPAddress: "fd00::1"}}
			c.DNSServers = []string{"10.0.0.2", "10.0.0.3"}
			c.DNSSearchDomains = []string{"svc.local", "corp"}
		}, func(t *testing.T, got agentproto.Task) {
			raw := got.Containers[0].DockerConfig.HostConfig
			for _, frag := range []string{`"ExtraHosts":["db.internal:10.0.0.5","v6:fd00::1"]`, `"Dns":["10.0.0.2","10.0.0.3"]`, `"DnsSearch":["svc.local","corp"]`} {
				if !strings.Contains(raw, frag) {
					t.Errorf("hostConfig %s lacks %s", raw, frag)
				}
			}
		}},
		{"tmpfs and shared memory as linux parameters", func(t *ecs.Task) {
			t.Definition.ContainerDefinitions[0].LinuxParameters = &ecs.LinuxParameters{SharedMemorySize: new(128), Tmpfs: []ecs.Tmpfs{
				{ContainerPath: "/run", Size: 64, MountOptions: []string{"exec", "mode=0755"}}, {ContainerPath: "/cache", Size: 16}}}
		}, func(t *testing.T, got agentproto.Task) {
			c := got.Containers[0]
			want := &agentproto.LinuxParameters{SharedMemorySize: new(128), Tmpfs: []agentproto.Tmpfs{
				{ContainerPath: "/run", Size: 64, MountOptions: []string{"exec", "mode=0755"}}, {ContainerPath: "/cache", Size: 16}}}
			if !reflect.DeepEqual(c.LinuxParameters, want) {
				t.Errorf("linuxParameters %+v", c.LinuxParameters)
			}
			if c.DockerConfig.HostConfig != "" {
				t.Errorf("hostConfig %q, want none", c.DockerConfig.HostConfig)
			}
		}},
		{"tmpfs alone makes linux parameters", func(t *ecs.Task) {
			t.Definition.ContainerDefinitions[0].LinuxParameters = &ecs.LinuxParameters{Tmpfs: []ecs.Tmpfs{{ContainerPath: "/tmp", Size: 8}}}
		}, func(t *testing.T, got agentproto.Task) {
			b, _ := json.Marshal(got.Containers[0])
			if !strings.Contains(string(b), `"linuxParameters":{"tmpfs":[{"containerPath":"/tmp","size":8}]}`) {
				t.Errorf("container JSON %s", b)
			}
		}},
		{"capabilities only", func(t *ecs.Task) {
			t.Definition.ContainerDefinitions[0].LinuxParameters = &ecs.LinuxParameters{Capabilities: &ecs.KernelCapabilities{Add: []string{"SYS_PTRACE"}, Drop: []string{"ALL"}}}
		}, func(t *testing.T, got agentproto.Task) {
			c := got.Containers[0]
			if c.LinuxParameters != nil {
				t.Errorf("linuxParameters %+v, want none (capabilities travel in hostConfig)", c.LinuxParameters)
			}
			if want := `{"CapAdd":["SYS_PTRACE"],"CapDrop":["ALL"]}`; c.DockerConfig.HostConfig != want {
				t.Errorf("hostConfig %s, want %s", c.DockerConfig.HostConfig, want)
			}
		}},
		{"links and hostname", func(t *ecs.Task) {
			t.Definition.ContainerDefinitions = append(t.Definition.ContainerDefinitions, ecs.ContainerDefinition{Name: "db", Image: "postgres"})
			c := &t.Definition.ContainerDefinitions[0]
			c.Links = []string{"db:database", "db"}
			c.Hostname = "web-1"
		}, func(t *testing.T, got agentproto.Task) {
			c := got.Containers[0]
			if !reflect.DeepEqual(c.Links, []string{"db:database", "db"}) || !reflect.DeepEqual(got.Containers[1].Links, []string{}) {
				t.Errorf("links %q / %q", c.Links, got.Containers[1].Links)
			}
			if cfg := decodeConfig(t, c.DockerConfig.Config); cfg.Hostname != "web-1" {
				t.Errorf("hostname %q", cfg.Hostname)
			}
		}},
		{"bridge ports use the assignments", func(t *ecs.Task) {
			t.Definition.ContainerDefinitions[0].PortMappings = []ecs.PortMapping{
				{ContainerPort: new(80)},                              // dynamic, assigned 49153
				{ContainerPort: new(443), HostPort: new(8443)},        // static, assigned
				{ContainerPort: new(53), Protocol: ecs.ProtocolUDP},   // udp, assigned 49154
				{ContainerPort: new(9000), HostPort: new(9000)},       // static, not recorded
				{ContainerPortRange: "7000-7001"},                     // range, assigned
				{ContainerPort: new(8080), Protocol: ecs.ProtocolTCP}, // no assignment: 0
			}
			t.Ports = []ecs.PortAssignment{
				{Container: "app", ContainerPort: 80, HostPort: 49153, Protocol: "tcp"},
				{Container: "app", ContainerPort: 443, HostPort: 8443, Protocol: "tcp"},
				{Container: "app", ContainerPort: 53, HostPort: 49154, Protocol: "udp"},
				{Container: "app", ContainerPort: 7000, HostPort: 49155, Protocol: "tcp"},
				{Container: "app", ContainerPort: 7001, HostPort: 49156, Protocol: "tcp"},
				{Container: "other", ContainerPort: 8080, HostPort: 1, Protocol: "tcp"},
			}
		}, func(t *testing.T, got agentproto.Task) {
			want := []agentproto.PortMapping{
				{ContainerPort: 80, HostPort: 49153, Protocol: "tcp"},
				{ContainerPort: 443, HostPort: 8443, Protocol: "tcp"},
				{ContainerPort: 53, HostPort: 49154, Protocol: "udp"},
				{ContainerPort: 9000, HostPort: 9000, Protocol: "tcp"},
				{ContainerPort: 7000, HostPort: 49155, Protocol: "tcp"},
				{ContainerPort: 7001, HostPort: 49156, Protocol: "tcp"},
				{ContainerPort: 8080, HostPort: 0, Protocol: "tcp"},
			}
			if !reflect.DeepEqual(got.Containers[0].PortMappings, want) {
				t.Errorf("ports %+v", got.Containers[0].PortMappings)
			}
		}},
		{"host ports are the container ports", func(t *ecs.Task) {
			t.Definition.NetworkMode = ecs.NetworkModeHost
			t.Definition.ContainerDefinitions[0].PortMappings = []ecs.PortMapping{{ContainerPort: new(8080), HostPort: new(8080)}, {ContainerPort: new(53), Protocol: ecs.ProtocolUDP}}
		}, func(t *testing.T, got agentproto.Task) {
			want := []agentproto.PortMapping{{ContainerPort: 8080, HostPort: 8080, Protocol: "tcp"}, {ContainerPort: 53, HostPort: 53, Protocol: "udp"}}
			if got.NetworkMode != "host" || !reflect.DeepEqual(got.Containers[0].PortMappings, want) {
				t.Errorf("mode %q ports %+v", got.NetworkMode, got.Containers[0].PortMappings)
			}
		}},
		{"volumes", func(t *ecs.Task) {
			t.Definition.Volumes = []ecs.Volume{
				{Name: "logs", Host: &ecs.HostVolumeProperties{SourcePath: "/var/log/app"}},
				{Name: "scratch", Host: &ecs.HostVolumeProperties{}},
				{Name: "bare"},
				{Name: "dv", DockerVolumeConfiguration: &ecs.DockerVolumeConfiguration{Scope: "task", Driver: "local"}},
				{Name: "fs", EFSVolumeConfiguration: &ecs.EFSVolumeConfiguration{FileSystemID: "fs-1"}},
			}
		}, func(t *testing.T, got agentproto.Task) {
			want := []agentproto.Volume{
				{Name: "logs", Type: "host", Host: &agentproto.HostVolumeProps{SourcePath: "/var/log/app"}},
				{Name: "scratch", Type: "docker"},
				{Name: "bare", Type: "docker"},
				{Name: "dv", Type: "docker"},
				{Name: "fs", Type: "efs"},
			}
			if !reflect.DeepEqual(got.Volumes, want) {
				t.Errorf("volumes %+v", got.Volumes)
			}
		}},
		{"awsvpc ENI", func(t *ecs.Task) {
			t.Definition.NetworkMode = ecs.NetworkModeAwsvpc
			t.Definition.ContainerDefinitions[0].PortMappings = []ecs.PortMapping{{ContainerPort: new(80)}}
			t.Attachments = []ecs.Attachment{ecs.NewENIAttachment(ecs.ENIAttachment{ID: "att-1", NetworkInterfaceID: "eni-0123456789abcdef0",
				InstanceID: "ci1", Region: "us-west-2", Address: mustAddr("10.213.128.2")})}
		}, func(t *testing.T, got agentproto.Task) {
			want := []agentproto.ElasticNetworkInterface{{
				AttachmentARN: "arn:aws:ecs:us-west-2:123456789012:attachment/att-1", MacAddress: "0a:58:0a:d5:80:02",
				IPv4Addresses: []agentproto.IPv4AddressAssignment{{PrivateAddress: "10.213.128.2", Primary: true}},
			}}
			if !reflect.DeepEqual(got.ElasticNetworkInterfaces, want) {
				t.Errorf("enis %+v", got.ElasticNetworkInterfaces)
			}
			if want := []agentproto.PortMapping{{ContainerPort: 80, HostPort: 80, Protocol: "tcp"}}; !reflect.DeepEqual(got.Containers[0].PortMappings, want) {
				t.Errorf("ports %+v", got.Containers[0].PortMappings)
			}
			withGateway(&got, "10.213.128.0/17")
			if g := got.ElasticNetworkInterfaces[0].SubnetGatewayIPv4Address; g != "10.213.128.1/17" {
				t.Errorf("gateway %q", g)
			}
		}},
		{"awsvpc gateway detail wins", func(t *ecs.Task) {
			a := ecs.NewENIAttachment(ecs.ENIAttachment{ID: "att-1", InstanceID: "ci1", Region: "r", Address: mustAddr("10.0.0.5")})
			a.Details = append(a.Details, ecs.KeyValue{Name: detailSubnetGateway, Value: "10.0.0.1/24"})
			t.Attachments = []ecs.Attachment{a, {ID: "other", Type: "ElasticLoadBalancer"}}
		}, func(t *testing.T, got agentproto.Task) {
			withGateway(&got, "10.213.128.0/17")
			if len(got.ElasticNetworkInterfaces) != 1 || got.ElasticNetworkInterfaces[0].SubnetGatewayIPv4Address != "10.0.0.1/24" {
				t.Errorf("enis %+v", got.ElasticNetworkInterfaces)
			}
		}},
		{"container ARN by name", func(t *ecs.Task) {
			t.Definition.ContainerDefinitions = append(t.Definition.ContainerDefinitions, ecs.ContainerDefinition{Name: "side", Image: "busybox"})
			t.Containers = []ecs.TaskContainer{{Name: "side", ARN: "arn-side"}, {Name: "app", ARN: "arn-app"}}
		}, func(t *testing.T, got agentproto.Task) {
			if got.Containers[0].ContainerARN != "arn-app" || got.Containers[1].ContainerARN != "arn-side" {
				t.Errorf("%q %q", got.Containers[0].ContainerARN, got.Containers[1].ContainerARN)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task := baseTask()
			tt.edit(&task)
			got := PayloadTask(task, testAcct)
			tt.check(t, got)
			if _, err := json.Marshal(got); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestPayloadTaskDoesNotAlias(t *testing.T) {
	task := baseTask()
	task.Definition.ContainerDefinitions[0].Command = []string{"a"}
	task.Definition.ContainerDefinitions[0].Privileged = new(true)
	task.Definition.ContainerDefinitions[0].LinuxParameters = &ecs.LinuxParameters{Tmpfs: []ecs.Tmpfs{{ContainerPath: "/t", Size: 1, MountOptions: []string{"ro"}}}}
	got := PayloadTask(task, testAcct)
	got.Containers[0].Command[0] = "changed"
	*got.Containers[0].Privileged = false
	got.Containers[0].LinuxParameters.Tmpfs[0].MountOptions[0] = "rw"
	if task.Definition.ContainerDefinitions[0].Command[0] != "a" || !*task.Definition.ContainerDefinitions[0].Privileged ||
		task.Definition.ContainerDefinitions[0].LinuxParameters.Tmpfs[0].MountOptions[0] != "ro" {
		t.Fatal("payload shares memory with the task record")
	}
}

func TestClusterARNOfTask(t *testing.T) {
	for in, want := range map[string]string{
		testTaskARN:                            "arn:aws:ecs:us-west-2:123456789012:cluster/demo",
		"arn:aws-cn:ecs:cn-north-1:1:task/c/x": "arn:aws-cn:ecs:cn-north-1:1:cluster/c",
		"arn:aws:ecs:us-west-2:1:task/x":       "", // old format: no cluster
		"not an arn":                           "",
	} {
		if got := clusterARNOfTask(in); got != want {
			t.Errorf("clusterARNOfTask(%q) = %q, want %q", in, got, want)
		}
	}
}

func decodeConfig(t *testing.T, s string) agentproto.DockerContainerConfig {
	t.Helper()
	var cfg agentproto.DockerContainerConfig
	if err := json.Unmarshal([]byte(s), &cfg); err != nil {
		t.Fatalf("config %q: %v", s, err)
	}
	return cfg
}

// Containers of a task to run get the pull credentials of their images;
// those that carry their own, and tasks to stop, are left alone.
func TestWithPullCredentials(t *testing.T) {
	pull := func(image string) *agentproto.RegistryAuthentication {
		if strings.HasPrefix(image, "127.0.0.1:8830/") {
			return &agentproto.RegistryAuthentication{Type: "berth", Username: "AWS", Password: "token-for-" + image}
		}
		return nil
	}
	own := &agentproto.RegistryAuthentication{Type: "berth", Username: "ci", Password: "x"}
	h := New(Config{PullCredentials: pull})
	run := agentproto.Task{DesiredStatus: "RUNNING", Containers: []agentproto.Container{
		{Image: "127.0.0.1:8830/web:1"}, {Image: "busybox"}, {Image: "127.0.0.1:8830/db:2", RegistryAuthentication: own}}}
	h.withPullCredentials(&run)
	if got := run.Containers[0].RegistryAuthentication; got == nil || got.Password != "token-for-127.0.0.1:8830/web:1" {
		t.Errorf("image in Berth's registry got %+v", got)
	}
	if got := run.Containers[1].RegistryAuthentication; got != nil {
		t.Errorf("image elsewhere got %+v", got)
	}
	if got := run.Containers[2].RegistryAuthentication; got != own {
		t.Errorf("container with its own credentials got %+v", got)
	}
	stop := agentproto.Task{DesiredStatus: "STOPPED", Containers: []agentproto.Container{{Image: "127.0.0.1:8830/web:1"}}}
	h.withPullCredentials(&stop)
	if stop.Containers[0].RegistryAuthentication != nil {
		t.Error("a task to stop got pull credentials")
	}
}
