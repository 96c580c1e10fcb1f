package runtime

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const (
	testPasswd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\napp:x:1000:1000::/home/app:/bin/sh\n"
	testGroup  = "root:x:0:\nnobody:x:65534:\napp:x:1000:\nextra:x:2000:app\n"
)

func testImage(cfg ocispec.ImageConfig) *imageInfo {
	return &imageInfo{ref: "example/img:1", config: cfg, passwd: []byte(testPasswd), group: []byte(testGroup)}
}

var testContext = specContext{
	rlimits:      []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 4096}},
	cgroupRoot:   "/berth",
	stateDir:     "/run/berth/runtime",
	initPath:     "/usr/bin/tini-static",
	hostHostname: "host-1",
}

func TestResolveArgs(t *testing.T) {
	tests := []struct {
		name                         string
		entry, cmd, imgEntry, imgCmd []string
		want                         []string
		wantErr                      bool
	}{
		{name: "image cmd only", imgCmd: []string{"sh"}, want: []string{"sh"}},
		{name: "image entrypoint and cmd", imgEntry: []string{"ep"}, imgCmd: []string{"c"}, want: []string{"ep", "c"}},
		{name: "command replaces image cmd", cmd: []string{"x"}, imgEntry: []string{"ep"}, imgCmd: []string{"c"}, want: []string{"ep", "x"}},
		{name: "entrypoint drops image cmd", entry: []string{"e"}, imgEntry: []string{"ep"}, imgCmd: []string{"c"}, want: []string{"e"}},
		{name: "entrypoint and command", entry: []string{"e"}, cmd: []string{"x", "y"}, imgCmd: []string{"c"}, want: []string{"e", "x", "y"}},
		{name: "nothing", wantErr: true},
		{name: "empty program", cmd: []string{""}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resolveArgs(tc.entry, tc.cmd, tc.imgEntry, tc.imgCmd)
			if (err != nil) != tc.wantErr || !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, %v; want %q (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"PATH=/bin", "A=1"}, []string{"B=2", "PATH=/usr/bin"}, []string{"A=3", "C=", "FLAG"})
	want := []string{"PATH=/usr/bin", "A=3", "B=2", "C=", "FLAG"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestResolveUser(t *testing.T) {
	tests := []struct {
		spec          string
		uid, gid      int
		sgids         []int
		home          string
		noDB, wantErr bool
	}{
		{spec: "", uid: 0, gid: 0, home: "/root"},
		{spec: "nobody", uid: 65534, gid: 65534, home: "/nonexistent"},
		{spec: "app", uid: 1000, gid: 1000, sgids: []int{2000}, home: "/home/app"},
		{spec: "app:root", uid: 1000, gid: 0, home: "/home/app"},
		{spec: "1000", uid: 1000, gid: 1000, sgids: []int{2000}, home: "/home/app"},
		{spec: "4242", uid: 4242, gid: 0, home: "/"},
		{spec: "4242:77", uid: 4242, gid: 77, home: "/"},
		{spec: "65534:extra", uid: 65534, gid: 2000, home: "/nonexistent"},
		{spec: "ghost", wantErr: true},
		{spec: "app:ghosts", wantErr: true},
		{spec: "ghost", noDB: true, wantErr: true},
		{spec: "12:34", noDB: true, uid: 12, gid: 34, home: "/"},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			passwd, group := []byte(testPasswd), []byte(testGroup)
			if tc.noDB {
				passwd, group = nil, nil
			}
			u, err := resolveUser(tc.spec, passwd, group)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("resolved to %+v, want error", u)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u.Uid != tc.uid || u.Gid != tc.gid || !slices.Equal(u.Sgids, tc.sgids) || u.Home != tc.home {
				t.Fatalf("got %+v, want uid %d gid %d sgids %v home %s", u, tc.uid, tc.gid, tc.sgids, tc.home)
			}
		})
	}
}

func TestMergeRlimits(t *testing.T) {
	def := []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 4096}}
	got, err := mergeRlimits(def, []Ulimit{{Name: "nofile", Soft: 10, Hard: 20}, {Name: "CORE", Soft: 0, Hard: 0}, {Name: "nproc", Soft: 5, Hard: 6}})
	if err != nil {
		t.Fatal(err)
	}
	want := []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 10, Hard: 20}, {Type: "RLIMIT_CORE"}, {Type: "RLIMIT_NPROC", Soft: 5, Hard: 6}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if def[0].Soft != 1024 {
		t.Fatal("defaults modified")
	}
	for _, bad := range []Ulimit{{Name: "bogus", Soft: 1, Hard: 1}, {Name: "nofile", Soft: 2, Hard: 1}} {
		if _, err := mergeRlimits(def, []Ulimit{bad}); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestGenerateSpec(t *testing.T) {
	img := testImage(ocispec.ImageConfig{
		Env:        []string{"PATH=/img/bin", "IMG=1"},
		Entrypoint: []string{"/entry"},
		Cmd:        []string{"arg"},
		WorkingDir: "/work",
		User:       "app",
	})
	ctx := context.Background()

	t.Run("defaults", func(t *testing.T) {
		s, err := generateSpec(ctx, testContext, ContainerSpec{ID: "c1-long-identifier", TaskID: "task1", Env: []string{"IMG=2", "X=y"}}, img)
		if err != nil {
			t.Fatal(err)
		}
		p := s.Process
		if !slices.Equal(p.Args, []string{"/entry", "arg"}) || p.Cwd != "/work" {
			t.Errorf("args %q cwd %q", p.Args, p.Cwd)
		}
		if want := []string{"PATH=/img/bin", "HOSTNAME=c1-long-iden", "IMG=2", "X=y"}; !slices.Equal(p.Env, want) {
			t.Errorf("env %q, want %q", p.Env, want)
		}
		if p.User.UID != 1000 || p.User.GID != 1000 || !slices.Equal(p.User.AdditionalGids, []uint32{2000}) {
			t.Errorf("user %+v", p.User)
		}
		if p.NoNewPrivileges {
			t.Error("NoNewPrivileges set; Docker leaves it off")
		}
		if s.Hostname != "c1-long-iden" || s.Linux.CgroupsPath != "/berth/task1/c1-long-identifier" {
			t.Errorf("hostname %q cgroups %q", s.Hostname, s.Linux.CgroupsPath)
		}
		if r := s.Linux.Resources; r.CPU == nil || *r.CPU.Shares != 2 || r.Memory != nil {
			t.Errorf("resources %+v", r)
		}
		if !slices.Equal(p.Rlimits, testContext.rlimits) {
			t.Errorf("rlimits %+v", p.Rlimits)
		}
		if ns := namespaceOf(s, specs.NetworkNamespace); ns == nil || ns.Path != "" {
			t.Errorf("network namespace %+v, want a new one", ns)
		}
		hosts := mountAt(s, "/etc/hosts")
		if hosts == nil || hosts.Source != "/run/berth/runtime/c1-long-identifier/hosts" || !slices.Contains(hosts.Options, "rw") {
			t.Errorf("hosts mount %+v", hosts)
		}
		if mountAt(s, "/etc/resolv.conf") == nil {
			t.Error("no resolv.conf mount")
		}
		if s.Root.Readonly {
			t.Error("rootfs read-only by default")
		}
	})

	tests := []struct {
		name  string
		cs    ContainerSpec
		check func(t *testing.T, s *specs.Spec)
	}{
		{"limits", ContainerSpec{CPUShares: 512, MemoryLimit: 64 << 20, MemoryReservation: 32 << 20}, func(t *testing.T, s *specs.Spec) {
			r := s.Linux.Resources
			if *r.CPU.Shares != 512 || *r.Memory.Limit != 64<<20 || *r.Memory.Reservation != 32<<20 {
				t.Errorf("resources cpu %d mem %+v", *r.CPU.Shares, r.Memory)
			}
		}},
		{"cpu 1 becomes 2", ContainerSpec{CPUShares: 1}, func(t *testing.T, s *specs.Spec) {
			if *s.Linux.Resources.CPU.Shares != 2 {
				t.Errorf("shares %d", *s.Linux.Resources.CPU.Shares)
			}
		}},
		{"no task cgroup", ContainerSpec{TaskID: "-"}, func(t *testing.T, s *specs.Spec) {
			if s.Linux.CgroupsPath != "/berth/c1" {
				t.Errorf("cgroups path %q", s.Linux.CgroupsPath)
			}
		}},
		{"host network", ContainerSpec{HostNetwork: true}, func(t *testing.T, s *specs.Spec) {
			if namespaceOf(s, specs.NetworkNamespace) != nil {
				t.Error("own network namespace in host mode")
			}
			if m := mountAt(s, "/etc/hosts"); m == nil || m.Source != "/etc/hosts" {
				t.Errorf("hosts mount %+v", m)
			}
			if s.Hostname != "host-1" {
				t.Errorf("hostname %q, want the host's", s.Hostname)
			}
		}},
		{"join namespace", ContainerSpec{NetNSPath: "/var/run/netns/task"}, func(t *testing.T, s *specs.Spec) {
			if ns := namespaceOf(s, specs.NetworkNamespace); ns == nil || ns.Path != "/var/run/netns/task" {
				t.Errorf("network namespace %+v", ns)
			}
		}},
		{"readonly rootfs", ContainerSpec{ReadonlyRootfs: true}, func(t *testing.T, s *specs.Spec) {
			if !s.Root.Readonly || !slices.Contains(mountAt(s, "/etc/hosts").Options, "ro") {
				t.Error("rootfs or hosts not read-only")
			}
		}},
		{"mounts after generated files", ContainerSpec{Mounts: []Mount{{Source: "/srv/data", Destination: "/data", ReadOnly: true}, {Source: "/srv/h", Destination: "/etc/hosts"}}}, func(t *testing.T, s *specs.Spec) {
			m := mountAt(s, "/data")
			if m == nil || m.Type != "bind" || m.Source != "/srv/data" || !slices.Contains(m.Options, "ro") {
				t.Errorf("data mount %+v", m)
			}
			if m := mountAt(s, "/etc/hosts"); m.Source != "/srv/h" {
				t.Errorf("user mount over /etc/hosts lost: %+v", m)
			}
		}},
		{"init", ContainerSpec{Init: true, Command: []string{"run"}}, func(t *testing.T, s *specs.Spec) {
			if want := []string{containerInitPath, "--", "/entry", "run"}; !slices.Equal(s.Process.Args, want) {
				t.Errorf("args %q, want %q", s.Process.Args, want)
			}
			if m := mountAt(s, containerInitPath); m == nil || m.Source != testContext.initPath || !slices.Contains(m.Options, "ro") {
				t.Errorf("init mount %+v", m)
			}
		}},
		{"privileged", ContainerSpec{Privileged: true}, func(t *testing.T, s *specs.Spec) {
			if len(s.Linux.MaskedPaths) != 0 || len(s.Linux.ReadonlyPaths) != 0 {
				t.Error("masked or read-only paths kept")
			}
			if d := s.Linux.Resources.Devices; len(d) == 0 || !d[len(d)-1].Allow {
				t.Errorf("devices %+v, want all allowed", d)
			}
		}},
		{"capabilities from containerd's default", ContainerSpec{CapAdd: []string{"NET_ADMIN", "sys_ptrace"}, CapDrop: []string{"MKNOD", "CAP_NET_RAW"}}, func(t *testing.T, s *specs.Spec) {
			c := s.Process.Capabilities
			for _, set := range [][]string{c.Bounding, c.Effective, c.Permitted} {
				if !slices.Contains(set, "CAP_NET_ADMIN") || !slices.Contains(set, "CAP_SYS_PTRACE") || !slices.Contains(set, "CAP_CHOWN") ||
					slices.Contains(set, "CAP_MKNOD") || slices.Contains(set, "CAP_NET_RAW") || len(set) != 14 {
					t.Errorf("capability set %q", set)
				}
			}
		}},
		{"default capabilities untouched", ContainerSpec{}, func(t *testing.T, s *specs.Spec) {
			if c := s.Process.Capabilities; len(c.Bounding) != 14 || !slices.Contains(c.Bounding, "CAP_MKNOD") || slices.Contains(c.Bounding, "CAP_NET_ADMIN") {
				t.Errorf("bounding %q", c.Bounding)
			}
		}},
		{"privileged ignores cap drop", ContainerSpec{Privileged: true, CapDrop: []string{"ALL"}}, func(t *testing.T, s *specs.Spec) {
			if len(s.Process.Capabilities.Bounding) < 14 {
				t.Errorf("bounding %q, want every capability", s.Process.Capabilities.Bounding)
			}
		}},
		{"shm size", ContainerSpec{ShmSize: 256 << 20}, func(t *testing.T, s *specs.Spec) {
			m := mountAt(s, "/dev/shm")
			if m == nil || m.Type != "tmpfs" || !slices.Contains(m.Options, "size=262144k") || slices.Contains(m.Options, "size=65536k") {
				t.Errorf("shm mount %+v", m)
			}
		}},
		{"tmpfs and binds ordered by depth", ContainerSpec{
			Mounts: []Mount{{Source: "/srv/x", Destination: "/data/x"}},
			Tmpfs:  []TmpfsMount{{Destination: "/data", Size: 8 << 20, Options: []string{"exec"}}, {Destination: "/data/x/tmp", Size: 1 << 20}},
		}, func(t *testing.T, s *specs.Spec) {
			var order []string
			for _, m := range s.Mounts {
				if strings.HasPrefix(m.Destination, "/data") {
					order = append(order, m.Type+":"+m.Destination)
				}
			}
			if want := []string{"tmpfs:/data", "bind:/data/x", "tmpfs:/data/x/tmp"}; !slices.Equal(order, want) {
				t.Errorf("mount order %q, want %q", order, want)
			}
			if m := mountAt(s, "/data"); !slices.Equal(m.Options, []string{"nosuid", "nodev", "rprivate", "exec", "size=8388608"}) {
				t.Errorf("tmpfs options %q", m.Options)
			}
		}},
		{"host network with extra hosts uses generated files", ContainerSpec{HostNetwork: true, ExtraHosts: []HostEntry{{Hostname: "db", IPAddress: "127.0.0.2"}}}, func(t *testing.T, s *specs.Spec) {
			if namespaceOf(s, specs.NetworkNamespace) != nil {
				t.Error("own network namespace in host mode")
			}
			for _, f := range []string{"hosts", "resolv.conf"} {
				if m := mountAt(s, "/etc/"+f); m == nil || m.Source != "/run/berth/runtime/c1/"+f || !slices.Contains(m.Options, "ro") {
					t.Errorf("%s mount %+v", f, m)
				}
			}
		}},
		{"host network with DNS only", ContainerSpec{HostNetwork: true, DNSSearchDomains: []string{"svc.local"}}, func(t *testing.T, s *specs.Spec) {
			if m := mountAt(s, "/etc/resolv.conf"); m == nil || m.Source != "/run/berth/runtime/c1/resolv.conf" {
				t.Errorf("resolv.conf mount %+v", m)
			}
		}},
		{"user, workdir and hostname override", ContainerSpec{User: "0:0", WorkingDir: "/w", Hostname: "h"}, func(t *testing.T, s *specs.Spec) {
			if s.Process.User.UID != 0 || s.Process.User.GID != 0 || s.Process.Cwd != "/w" || s.Hostname != "h" {
				t.Errorf("user %+v cwd %q hostname %q", s.Process.User, s.Process.Cwd, s.Hostname)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := tc.cs
			cs.ID = "c1"
			if cs.TaskID == "-" {
				cs.TaskID = ""
			} else {
				cs.TaskID = "task1"
			}
			s, err := generateSpec(ctx, testContext, cs, img)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, s)
		})
	}

	errorCases := []struct {
		name    string
		sc      specContext
		cs      ContainerSpec
		wantErr error
	}{
		{"bad id", testContext, ContainerSpec{ID: "a/b"}, nil},
		{"bad task id", testContext, ContainerSpec{ID: "a", TaskID: "../x"}, nil},
		{"negative memory", testContext, ContainerSpec{ID: "a", MemoryLimit: -1}, nil},
		{"host and netns", testContext, ContainerSpec{ID: "a", HostNetwork: true, NetNSPath: "/x"}, nil},
		{"relative workdir", testContext, ContainerSpec{ID: "a", WorkingDir: "rel"}, nil},
		{"relative mount", testContext, ContainerSpec{ID: "a", Mounts: []Mount{{Source: "rel", Destination: "/x"}}}, nil},
		{"unknown user", testContext, ContainerSpec{ID: "a", User: "ghost"}, nil},
		{"init without binary", specContext{}, ContainerSpec{ID: "a", Init: true}, ErrNoInit},
		{"unknown capability", testContext, ContainerSpec{ID: "a", CapAdd: []string{"FLY"}}, nil},
		{"unknown capability, privileged", testContext, ContainerSpec{ID: "a", Privileged: true, CapDrop: []string{"FLY"}}, nil},
		{"capability the agent lacks", specContext{capabilities: []string{"CAP_CHOWN"}}, ContainerSpec{ID: "a", CapAdd: []string{"SYS_ADMIN"}}, nil},
		{"negative shm", testContext, ContainerSpec{ID: "a", ShmSize: -1}, nil},
		{"bad tmpfs", testContext, ContainerSpec{ID: "a", Tmpfs: []TmpfsMount{{Destination: "rel"}}}, nil},
		{"bad dns server", testContext, ContainerSpec{ID: "a", DNSServers: []string{"dns.example"}}, nil},
		{"bad search domain", testContext, ContainerSpec{ID: "a", DNSSearchDomains: []string{"a b"}}, nil},
		{"bad extra host", testContext, ContainerSpec{ID: "a", ExtraHosts: []HostEntry{{Hostname: "x", IPAddress: "nope"}}}, nil},
	}
	for _, tc := range errorCases {
		t.Run("error/"+tc.name, func(t *testing.T) {
			_, err := generateSpec(ctx, tc.sc, tc.cs, img)
			if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func namespaceOf(s *specs.Spec, typ specs.LinuxNamespaceType) *specs.LinuxNamespace {
	for i := range s.Linux.Namespaces {
		if s.Linux.Namespaces[i].Type == typ {
			return &s.Linux.Namespaces[i]
		}
	}
	return nil
}

// mountAt returns the last mount at dst (the one that wins).
func mountAt(s *specs.Spec, dst string) *specs.Mount {
	var m *specs.Mount
	for i := range s.Mounts {
		if s.Mounts[i].Destination == dst {
			m = &s.Mounts[i]
		}
	}
	return m
}

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"abc": true, "a-b.c_d": true, "A1": true, strings.Repeat("a", 76): true,
		"": false, "-a": false, "a-": false, "a--b": false, "a/b": false, "..": false, strings.Repeat("a", 77): false,
	} {
		if got := validID(id); got != want {
			t.Errorf("validID(%q) = %v", id, got)
		}
	}
}
