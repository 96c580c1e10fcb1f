package engine

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth/berth/internal/agent/network"
	"github.com/berth/berth/internal/agent/runtime"
	"github.com/berth/berth/internal/agent/taskstate"
	"github.com/berth/berth/internal/agentproto"
	"github.com/berth/berth/internal/ecs"
)

func TestContainerID(t *testing.T) {
	long := strings.Repeat("n", 255)
	tests := []struct {
		taskID, name string
		want         string // "" = check shape only
	}{
		{"0123456789abcdef0123456789abcdef", "web", "0123456789abcdef0123456789abcdef-web"},
		{"0123456789abcdef0123456789abcdef", long, ""},
		{"0123456789abcdef0123456789abcdef", "has space", ""},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		got := containerID(tt.taskID, tt.name)
		if tt.want != "" && got != tt.want {
			t.Errorf("containerID(%q) = %q, want %q", tt.name, got, tt.want)
		}
		if !runtimeIDPattern.MatchString(got) || !strings.HasPrefix(got, tt.taskID+"-") {
			t.Errorf("containerID(%q) = %q: not a valid runtime ID of the task", tt.name, got)
		}
		if got != containerID(tt.taskID, tt.name) {
			t.Error("containerID is not deterministic")
		}
		if seen[got] {
			t.Errorf("duplicate ID %q", got)
		}
		seen[got] = true
	}
	if containerID("t", long) == containerID("t", long[:254]+"m") {
		t.Error("different long names share an ID")
	}
}

func TestTaskIDOf(t *testing.T) {
	if got := taskIDOf("arn:aws:ecs:us-east-1:1:task/prod/abc123"); got != "abc123" {
		t.Errorf("taskIDOf = %q", got)
	}
	for _, arn := range []string{"arn:aws:ecs:us-east-1:1:task/prod/" + strings.Repeat("x", 80), "arn:weird/../x y"} {
		got := taskIDOf(arn)
		if !runtimeIDPattern.MatchString(got) || len(got) > maxTaskIDLen || got != taskIDOf(arn) {
			t.Errorf("taskIDOf(%q) = %q", arn, got)
		}
	}
}

func TestHealthCheckOf(t *testing.T) {
	tests := []struct {
		name    string
		in      *agentproto.DockerHealthcheck
		argv    []string
		wantErr bool
	}{
		{"none given", nil, nil, false},
		{"NONE", &agentproto.DockerHealthcheck{Test: []string{"NONE"}}, nil, false},
		{"CMD", &agentproto.DockerHealthcheck{Test: []string{"CMD", "/bin/check", "-q"}}, []string{"/bin/check", "-q"}, false},
		{"CMD-SHELL", &agentproto.DockerHealthcheck{Test: []string{"CMD-SHELL", "curl -f localhost || exit 1"}}, []string{"/bin/sh", "-c", "curl -f localhost || exit 1"}, false},
		{"empty CMD", &agentproto.DockerHealthcheck{Test: []string{"CMD"}}, nil, true},
		{"bad kind", &agentproto.DockerHealthcheck{Test: []string{"RUN", "x"}}, nil, true},
		{"negative", &agentproto.DockerHealthcheck{Test: []string{"CMD", "x"}, Retries: -1}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hc, err := healthCheckOf(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if tt.argv == nil {
				if hc != nil && !tt.wantErr {
					t.Errorf("health check %+v, want none", hc)
				}
				return
			}
			if !slices.Equal(hc.Command, tt.argv) || hc.Interval != 30*time.Second || hc.Timeout != 5*time.Second || hc.Retries != 3 {
				t.Errorf("health check = %+v", hc)
			}
		})
	}
}

func TestPortMappingsAndBindings(t *testing.T) {
	c := agentproto.Container{Name: "web", PortMappings: []agentproto.PortMapping{
		{ContainerPort: 80, HostPort: 49153}, {ContainerPort: 53, HostPort: 5353, Protocol: "UDP"}, {ContainerPort: 9000},
	}}
	tests := []struct {
		mode     string
		ports    []network.PortMapping
		bindings []ecs.NetworkBinding
	}{
		{"bridge",
			[]network.PortMapping{{HostPort: 49153, ContainerPort: 80, Protocol: "tcp"}, {HostPort: 5353, ContainerPort: 53, Protocol: "udp"}},
			[]ecs.NetworkBinding{{BindIP: "0.0.0.0", ContainerPort: 80, HostPort: 49153, Protocol: "tcp"}, {BindIP: "0.0.0.0", ContainerPort: 53, HostPort: 5353, Protocol: "udp"}}},
		{"host",
			[]network.PortMapping{{HostPort: 80, ContainerPort: 80, Protocol: "tcp"}, {HostPort: 53, ContainerPort: 53, Protocol: "udp"}, {HostPort: 9000, ContainerPort: 9000, Protocol: "tcp"}},
			[]ecs.NetworkBinding{{BindIP: "0.0.0.0", ContainerPort: 80, HostPort: 80, Protocol: "tcp"}, {BindIP: "0.0.0.0", ContainerPort: 53, HostPort: 53, Protocol: "udp"}, {BindIP: "0.0.0.0", ContainerPort: 9000, HostPort: 9000, Protocol: "tcp"}}},
		{"awsvpc",
			[]network.PortMapping{{HostPort: 80, ContainerPort: 80, Protocol: "tcp"}, {HostPort: 53, ContainerPort: 53, Protocol: "udp"}, {HostPort: 9000, ContainerPort: 9000, Protocol: "tcp"}},
			nil},
		{"none", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			p := agentproto.Task{NetworkMode: tt.mode, Containers: []agentproto.Container{c}}
			if got := portMappings(&p); !slices.Equal(got, tt.ports) {
				t.Errorf("portMappings = %+v, want %+v", got, tt.ports)
			}
			if got := bindings(tt.mode, &c); !slices.Equal(got, tt.bindings) {
				t.Errorf("bindings = %+v, want %+v", got, tt.bindings)
			}
		})
	}
	if networkMode(&agentproto.Task{}) != "bridge" {
		t.Error("default network mode is not bridge")
	}
}

func TestExtraHosts(t *testing.T) {
	task := func(mode string) *agentproto.Task {
		return &agentproto.Task{NetworkMode: mode, Containers: []agentproto.Container{{Name: "web"}, {Name: "db"}, {Name: "cache"}}}
	}
	tests := []struct {
		name    string
		mode    string
		links   []string
		docker  []string
		want    []runtime.HostEntry
		wantErr string
	}{
		{name: "nothing", mode: "bridge"},
		{name: "docker extra hosts", mode: "awsvpc", docker: []string{"db.internal:10.0.0.5", "v6:fd00::1"},
			want: []runtime.HostEntry{{Hostname: "db.internal", IPAddress: "10.0.0.5"}, {Hostname: "v6", IPAddress: "fd00::1"}}},
		{name: "link with alias: alias and name", mode: "bridge", links: []string{"db:database"},
			want: []runtime.HostEntry{{Hostname: "database", IPAddress: "127.0.0.1"}, {Hostname: "db", IPAddress: "127.0.0.1"}}},
		{name: "link without alias, duplicates once", mode: "", links: []string{"cache", "db:db", "db:database"}, docker: []string{"x:10.1.1.1"},
			want: []runtime.HostEntry{{Hostname: "x", IPAddress: "10.1.1.1"}, {Hostname: "cache", IPAddress: "127.0.0.1"},
				{Hostname: "db", IPAddress: "127.0.0.1"}, {Hostname: "database", IPAddress: "127.0.0.1"}}},
		{name: "links ignored outside bridge mode", mode: "host", links: []string{"db"}},
		{name: "link to an unknown container", mode: "bridge", links: []string{"ghost:g"}, wantErr: `no other container "ghost"`},
		{name: "link to itself", mode: "bridge", links: []string{"web"}, wantErr: `no other container "web"`},
		{name: "empty alias", mode: "bridge", links: []string{"db:"}, wantErr: "name:alias"},
		{name: "extra host without address", mode: "bridge", docker: []string{"lonely"}, wantErr: "hostname:ip"},
		{name: "extra host with empty name", mode: "bridge", docker: []string{":10.0.0.1"}, wantErr: "hostname:ip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := task(tt.mode)
			p.Containers[0].Links = tt.links
			got, err := extraHosts(p, &p.Containers[0], tt.docker)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestLinuxMemoryMounts(t *testing.T) {
	size := 64
	tests := []struct {
		name  string
		in    *agentproto.LinuxParameters
		shm   int64
		tmpfs []runtime.TmpfsMount
	}{
		{"none", nil, 0, nil},
		{"init only", &agentproto.LinuxParameters{}, 0, nil},
		{"shm", &agentproto.LinuxParameters{SharedMemorySize: &size}, 64 << 20, nil},
		{"tmpfs", &agentproto.LinuxParameters{Tmpfs: []agentproto.Tmpfs{{ContainerPath: "/run", Size: 8, MountOptions: []string{"exec", "mode=1777"}}, {ContainerPath: "/c"}}}, 0,
			[]runtime.TmpfsMount{{Destination: "/run", Size: 8 << 20, Options: []string{"exec", "mode=1777"}}, {Destination: "/c"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			shm, tmpfs := linuxMemoryMounts(tt.in)
			if shm != tt.shm || fmt.Sprint(tmpfs) != fmt.Sprint(tt.tmpfs) {
				t.Fatalf("got %d %+v, want %d %+v", shm, tmpfs, tt.shm, tt.tmpfs)
			}
		})
	}
}

func TestBadLinkFailsCreate(t *testing.T) {
	h := newHarness(t)
	c := ctr("app", true)
	c.Links = []string{"ghost"}
	p := payload("t1", c)
	h.apply(p)
	stopped := h.waitReported(p.ARN, ecs.TaskStopped)
	if !strings.HasPrefix(stopped.Reason, "CannotCreateContainerError: ") || !strings.Contains(stopped.Reason, `no other container "ghost"`) {
		t.Errorf("reason = %q", stopped.Reason)
	}
}

func TestVPCAddress(t *testing.T) {
	p := agentproto.Task{NetworkMode: "awsvpc", ElasticNetworkInterfaces: []agentproto.ElasticNetworkInterface{{
		MacAddress:    "0a:58:0a:d5:80:07",
		IPv4Addresses: []agentproto.IPv4AddressAssignment{{PrivateAddress: "10.213.128.9"}, {PrivateAddress: "10.213.128.7", Primary: true}},
	}}}
	if ip, mac := vpcAddress(&p); ip != "10.213.128.7" || mac != "0a:58:0a:d5:80:07" {
		t.Errorf("vpcAddress = %s %s", ip, mac)
	}
	p.NetworkMode = "bridge"
	if ip, _ := vpcAddress(&p); ip != "" {
		t.Error("address for a bridge task")
	}
}

// TestContainerSpec checks what Create is given: identity, labels,
// environment, limits, Docker config, mounts and network per mode.
func TestContainerSpec(t *testing.T) {
	h := newHarness(t)
	web := ctr("web", true)
	web.Command = []string{"httpd", "-f"}
	web.EntryPoint = []string{"/entry"}
	web.Environment = map[string]string{"B": "2", "A": "1", "AWS_REGION": "mine"}
	hostConfig := `{"MemoryReservation":33554432,"Ulimits":[{"Name":"nofile","Soft":100,"Hard":200}],"ReadonlyRootfs":true,"Init":true,` +
		`"CapAdd":["NET_ADMIN"],"CapDrop":["MKNOD"],"ExtraHosts":["db.internal:10.0.0.5"],"Dns":["10.0.0.2"],"DnsSearch":["svc.local"]}`
	web.DockerConfig = agentproto.DockerConfig{
		Config:     `{"Hostname":"h1","User":"nobody","WorkingDir":"/srv","Labels":{"team":"x","com.amazonaws.ecs.cluster":"spoof"}}`,
		HostConfig: hostConfig,
	}
	shm := 128
	web.LinuxParameters = &agentproto.LinuxParameters{SharedMemorySize: &shm, Tmpfs: []agentproto.Tmpfs{{ContainerPath: "/cache", Size: 16, MountOptions: []string{"exec"}}}}
	web.Links = []string{"side:helper"}
	priv := true
	web.Privileged = &priv
	web.MountPoints = []agentproto.MountPoint{{SourceVolume: "logs", ContainerPath: "/logs"}, {SourceVolume: "tmp", ContainerPath: "/tmp/x", ReadOnly: true}}
	side := ctr("side", false)
	side.VolumesFrom = []agentproto.VolumeFrom{{SourceContainer: "web", ReadOnly: true}}
	p := payload("t1", web, side)
	p.Volumes = []agentproto.Volume{
		{Name: "logs", Type: "host", Host: &agentproto.HostVolumeProps{SourcePath: "/var/log/app"}},
		{Name: "tmp", Type: "docker"},
	}
	h.apply(p)
	h.waitReported(p.ARN, ecs.TaskRunning)
	spec, _ := h.rt.spec(rid("t1", "web"))
	token := h.eng.snapshotToken(p.ARN, 0)
	wantEnv := []string{"A=1", "AWS_REGION=mine", "B=2",
		"ECS_CONTAINER_METADATA_URI_V4=http://10.213.0.1:51679/v4/" + token,
		"ECS_CONTAINER_METADATA_URI=http://10.213.0.1:51679/v4/" + token,
		"AWS_DEFAULT_REGION=eu-west-1"}
	if !slices.Equal(spec.Env, wantEnv) {
		t.Errorf("env = %v\nwant %v", spec.Env, wantEnv)
	}
	wantLabels := map[string]string{"team": "x", LabelCluster: "prod", LabelContainerName: "web", LabelTaskARN: p.ARN,
		LabelTaskDefFamily: "web", LabelTaskDefVersion: "3"}
	if len(spec.Labels) != len(wantLabels) {
		t.Errorf("labels = %v", spec.Labels)
	}
	for k, v := range wantLabels {
		if spec.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, spec.Labels[k], v)
		}
	}
	scratch := h.eng.scratchDir("t1", "tmp")
	checks := []struct {
		name      string
		got, want any
	}{
		{"ID", spec.ID, "t1-web"},
		{"TaskID", spec.TaskID, "t1"},
		{"Image", spec.Image, testImage},
		{"EntryPoint", strings.Join(spec.EntryPoint, " "), "/entry"},
		{"Command", strings.Join(spec.Command, " "), "httpd -f"},
		{"Hostname", spec.Hostname, "h1"},
		{"User", spec.User, "nobody"},
		{"WorkingDir", spec.WorkingDir, "/srv"},
		{"CPUShares", spec.CPUShares, uint64(10)},
		{"MemoryLimit", spec.MemoryLimit, int64(64 << 20)},
		{"MemoryReservation", spec.MemoryReservation, int64(32 << 20)},
		{"Ulimits", len(spec.Ulimits) == 1 && spec.Ulimits[0] == runtime.Ulimit{Name: "nofile", Soft: 100, Hard: 200}, true},
		{"ReadonlyRootfs", spec.ReadonlyRootfs, true},
		{"Privileged", spec.Privileged, true},
		{"Init", spec.Init, true},
		{"NetNSPath", spec.NetNSPath, "/run/berth/netns/t1"},
		{"HostNetwork", spec.HostNetwork, false},
		{"Mounts", slices.Equal(spec.Mounts, []runtime.Mount{{Source: "/var/log/app", Destination: "/logs"}, {Source: scratch, Destination: "/tmp/x", ReadOnly: true}}), true},
		{"ExtraHosts", fmt.Sprint(spec.ExtraHosts), "[{db.internal 10.0.0.5} {helper 127.0.0.1} {side 127.0.0.1}]"},
		{"DNSServers", strings.Join(spec.DNSServers, " "), "10.0.0.2"},
		{"DNSSearchDomains", strings.Join(spec.DNSSearchDomains, " "), "svc.local"},
		{"CapAdd", strings.Join(spec.CapAdd, " "), "NET_ADMIN"},
		{"CapDrop", strings.Join(spec.CapDrop, " "), "MKNOD"},
		{"ShmSize", spec.ShmSize, int64(128 << 20)},
		{"Tmpfs", fmt.Sprint(spec.Tmpfs), "[{/cache 16777216 [exec]}]"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	sideSpec, _ := h.rt.spec(rid("t1", "side"))
	if sideSpec.ExtraHosts != nil || sideSpec.CapAdd != nil || sideSpec.ShmSize != 0 || sideSpec.Tmpfs != nil || sideSpec.Hostname != "" {
		t.Errorf("side container got web's settings: %+v", sideSpec)
	}
	if want := []runtime.Mount{{Source: "/var/log/app", Destination: "/logs", ReadOnly: true}, {Source: scratch, Destination: "/tmp/x", ReadOnly: true}}; !slices.Equal(sideSpec.Mounts, want) {
		t.Errorf("volumesFrom mounts = %+v, want %+v", sideSpec.Mounts, want)
	}
}

// snapshotToken is the metadata token of a task's container i (tests).
func (e *Engine) snapshotToken(arn string, i int) string {
	s, _ := e.Task(arn)
	return s.Containers[i].MetadataToken
}

func TestNetworkModes(t *testing.T) {
	tests := []struct {
		mode        string
		hostNetwork bool
		netns       string
		uriHost     string // "" = no metadata URI
		setupOpts   int
	}{
		{"host", true, "", "127.0.0.1", 0},
		{"none", false, "/run/berth/netns/t1", "", 0},
		{"awsvpc", false, "/run/berth/netns/t1", "10.213.128.1", 2},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			h := newHarness(t)
			p := payload("t1", ctr("app", true))
			p.NetworkMode = tt.mode
			if tt.mode == "awsvpc" {
				p.ElasticNetworkInterfaces = []agentproto.ElasticNetworkInterface{{
					AttachmentARN: "arn:aws:ecs:eu-west-1:123456789012:attachment/a1", MacAddress: "0a:58:0a:d5:80:07",
					IPv4Addresses: []agentproto.IPv4AddressAssignment{{PrivateAddress: "10.213.128.7", Primary: true}},
				}}
			}
			h.apply(p)
			running := h.waitReported(p.ARN, ecs.TaskRunning)
			spec, _ := h.rt.spec(rid("t1", "app"))
			if spec.HostNetwork != tt.hostNetwork || spec.NetNSPath != tt.netns {
				t.Errorf("spec network: host %v netns %q", spec.HostNetwork, spec.NetNSPath)
			}
			uri := ""
			for _, kv := range spec.Env {
				if v, ok := strings.CutPrefix(kv, "ECS_CONTAINER_METADATA_URI_V4="); ok {
					uri = v
				}
			}
			if tt.uriHost == "" && uri != "" || tt.uriHost != "" && !strings.HasPrefix(uri, "http://"+tt.uriHost+":51679/v4/") {
				t.Errorf("metadata URI = %q, want host %q", uri, tt.uriHost)
			}
			setups, _ := h.net.calls()
			if len(setups) != 1 || setups[0].mode != tt.mode || setups[0].opts != tt.setupOpts {
				t.Errorf("setups = %+v", setups)
			}
			if tt.mode == "awsvpc" {
				if len(running.Attachments) != 1 || running.Attachments[0] != (AttachmentChange{AttachmentARN: "arn:aws:ecs:eu-west-1:123456789012:attachment/a1", Status: "ATTACHED"}) {
					t.Errorf("attachments = %+v", running.Attachments)
				}
				if s, _ := h.eng.Task(p.ARN); s.Network == nil || s.Network.IPv4 == "" || s.Network.Mode != "awsvpc" {
					t.Errorf("snapshot network = %+v", s.Network)
				}
			}
		})
	}
}

func TestBadVolumeFailsCreate(t *testing.T) {
	h := newHarness(t)
	c := ctr("app", true)
	c.MountPoints = []agentproto.MountPoint{{SourceVolume: "missing", ContainerPath: "/x"}}
	p := payload("t1", c)
	h.apply(p)
	stopped := h.waitReported(p.ARN, ecs.TaskStopped)
	if !strings.HasPrefix(stopped.Reason, "CannotCreateContainerError: ") || !strings.Contains(stopped.Reason, `no volume "missing"`) {
		t.Errorf("reason = %q", stopped.Reason)
	}
}

func TestNewRecordRejectsBadDockerConfig(t *testing.T) {
	c := ctr("app", true)
	c.DockerConfig.Config = "{not json"
	rec := newRecord(payload("t1", c), time.Now())
	if rec.State.Desired != ecs.TaskStopped || !strings.Contains(rec.State.StopReason, "dockerConfig.config") {
		t.Errorf("state = %+v", rec.State)
	}
	if rec.State.Containers[0].Known != taskstate.ContainerNone {
		t.Error("container status changed")
	}
}
