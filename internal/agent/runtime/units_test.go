package runtime

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"

	v1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	remoteerrors "github.com/containerd/containerd/v2/core/remotes/errors"
	"github.com/containerd/errdefs"
)

func TestHostsContent(t *testing.T) {
	got, err := hostsContent([]HostEntry{{Hostname: "db", IPAddress: "10.0.0.5"}, {Hostname: "v6", IPAddress: "fd00::1"}})
	if err != nil {
		t.Fatal(err)
	}
	want := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.0.0.5\tdb\nfd00::1\tv6\n"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	for _, bad := range []HostEntry{{Hostname: "x", IPAddress: "nope"}, {Hostname: "a b", IPAddress: "1.2.3.4"}, {Hostname: "", IPAddress: "1.2.3.4"}} {
		if _, err := hostsContent([]HostEntry{bad}); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestResolvContent(t *testing.T) {
	host := "# comment\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver ::1\nsearch corp.example\noptions edns0\n"
	tests := []struct {
		name            string
		servers, search []string
		want            string
	}{
		{"host without loopback", nil, nil, "# comment\nnameserver 10.0.0.2\nsearch corp.example\noptions edns0\n"},
		{"host with own search", nil, []string{"a.local"}, "# comment\nnameserver 10.0.0.2\noptions edns0\nsearch a.local\n"},
		{"explicit", []string{"10.9.9.9", "10.8.8.8"}, []string{"a.local", "b.local"}, "nameserver 10.9.9.9\nnameserver 10.8.8.8\nsearch a.local b.local\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := resolvContent(tc.servers, tc.search, host); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestWriteNetFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c1")
	if err := writeNetFiles(dir, ContainerSpec{DNSServers: []string{"10.1.1.1"}}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, resolvFile))
	if err != nil || string(got) != "nameserver 10.1.1.1\n" {
		t.Fatalf("resolv.conf %q %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(dir, hostsFile)); err != nil {
		t.Fatal(err)
	}
}

func TestHostsWith(t *testing.T) {
	got, err := hostsWith("127.0.0.1 localhost\n10.0.0.1 gw", []HostEntry{{Hostname: "db", IPAddress: "10.0.0.5"}})
	if want := "127.0.0.1 localhost\n10.0.0.1 gw\n10.0.0.5\tdb\n"; err != nil || got != want {
		t.Fatalf("got %q, %v; want %q", got, err, want)
	}
	if got, _ := hostsWith("", []HostEntry{{Hostname: "db", IPAddress: "10.0.0.5"}}); got != "10.0.0.5\tdb\n" {
		t.Fatalf("empty base: %q", got)
	}
}

func TestResolvFromKeepsLoopbackInHostMode(t *testing.T) {
	host := "nameserver 127.0.0.53\ndomain corp\nsearch corp.example\n"
	if got, want := resolvFrom(nil, []string{"a.local"}, host, false), "nameserver 127.0.0.53\nsearch a.local\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got, want := resolvFrom(nil, nil, host, false), host; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestValidateDNS(t *testing.T) {
	tests := []struct {
		servers, search []string
		ok              bool
	}{
		{nil, nil, true},
		{[]string{"10.0.0.2", "fd00::53"}, []string{"svc.local", "corp"}, true},
		{[]string{"dns.example"}, nil, false},
		{[]string{"10.0.0.2\noptions x"}, nil, false},
		{nil, []string{""}, false},
		{nil, []string{"a b"}, false},
		{nil, []string{"a\nnameserver 1.2.3.4"}, false},
	}
	for _, tc := range tests {
		if err := validateDNS(tc.servers, tc.search); (err == nil) != tc.ok {
			t.Errorf("validateDNS(%q, %q) = %v, want ok %v", tc.servers, tc.search, err, tc.ok)
		}
	}
}

func TestWriteNetFilesHostMode(t *testing.T) {
	tmp := t.TempDir()
	hosts, resolv := filepath.Join(tmp, "hosts"), filepath.Join(tmp, "resolv.conf")
	if err := os.WriteFile(hosts, []byte("127.0.0.1\tlocalhost myhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(resolv, []byte("nameserver 127.0.0.53\nsearch lan\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	oldHosts, oldResolv := hostHostsFile, hostResolvConf
	hostHostsFile, hostResolvConf = hosts, resolv
	t.Cleanup(func() { hostHostsFile, hostResolvConf = oldHosts, oldResolv })

	dir := filepath.Join(tmp, "c1")
	cs := ContainerSpec{HostNetwork: true, ExtraHosts: []HostEntry{{Hostname: "db", IPAddress: "127.0.0.2"}}, DNSSearchDomains: []string{"svc.local"}}
	if !ownNetFiles(cs) || ownNetFiles(ContainerSpec{HostNetwork: true}) || !ownNetFiles(ContainerSpec{}) {
		t.Fatal("ownNetFiles wrong")
	}
	if err := writeNetFiles(dir, cs); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		hostsFile:  "127.0.0.1\tlocalhost myhost\n127.0.0.2\tdb\n",
		resolvFile: "nameserver 127.0.0.53\nsearch svc.local\n",
	} {
		got, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", file, got, err, want)
		}
	}
}

func TestParseMountinfo(t *testing.T) {
	const info = `22 1 0:21 / / rw,relatime - ext4 /dev/vda rw
30 22 0:26 / /sys/fs/cgroup ro - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw
32 30 0:28 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw shared:9 - cgroup cgroup rw,cpu,cpuacct
34 30 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
`
	m, err := parseMountinfo(strings.NewReader(info))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
		"memory": "/sys/fs/cgroup/memory", "xattr": "/sys/fs/cgroup/systemd", "name=systemd": "/sys/fs/cgroup/systemd"}
	for k, v := range want {
		if m.v1[k] != v {
			t.Errorf("v1[%s] = %q, want %q", k, m.v1[k], v)
		}
	}
	if m.v2 != "/sys/fs/cgroup/unified" {
		t.Errorf("v2 %q", m.v2)
	}
	if got := m.v1Dirs(); len(got) != 3 {
		t.Errorf("v1 dirs %q", got)
	}
	if got := m.dirs(); len(got) != 4 || !slices.Contains(got, "/sys/fs/cgroup/unified") {
		t.Errorf("dirs %q", got)
	}
}

func TestRemoveCgroupTree(t *testing.T) {
	root := t.TempDir()
	task := filepath.Join(root, "task")
	for _, d := range []string{"c1", "c2/nested"} {
		if err := os.MkdirAll(filepath.Join(task, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := removeCgroupTree(task); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(task); !os.IsNotExist(err) {
		t.Fatalf("task dir remains: %v", err)
	}
	if err := removeCgroupTree(task); err != nil {
		t.Fatalf("absent tree: %v", err)
	}
}

func TestOOMKillsParsing(t *testing.T) {
	mnt := t.TempDir()
	dir := filepath.Join(mnt, "berth", "c1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r := &Runtime{cgroups: cgroupMounts{v1: map[string]string{"memory": mnt}}}
	os.WriteFile(filepath.Join(dir, "memory.oom_control"), []byte("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"), 0o644)
	if n, err := r.oomKills("/berth/c1"); err != nil || n != 2 {
		t.Fatalf("v1: %d %v", n, err)
	}
	r = &Runtime{cgroups: cgroupMounts{v2: mnt}}
	os.WriteFile(filepath.Join(dir, "memory.events"), []byte("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"), 0o644)
	if n, err := r.oomKills("/berth/c1"); err != nil || n != 1 {
		t.Fatalf("v2: %d %v", n, err)
	}
	if _, err := r.oomKills("/berth/gone"); err == nil {
		t.Fatal("missing cgroup gave no error")
	}
}

func TestConvertV1Stats(t *testing.T) {
	m := &v1.Metrics{
		CPU: &v1.CPUStat{
			Usage:      &v1.CPUUsage{Total: 300, Kernel: 100, User: 200, PerCPU: []uint64{120, 180}},
			Throttling: &v1.Throttle{Periods: 5, ThrottledPeriods: 2, ThrottledTime: 50},
		},
		Memory: &v1.MemoryStat{Cache: 7, RSS: 9, TotalRSS: 11, Usage: &v1.MemoryEntry{Usage: 1000, Max: 2000, Limit: 1 << 62, Failcnt: 1}},
		Pids:   &v1.PidsStat{Current: 3, Limit: 100},
		Blkio:  &v1.BlkIOStat{IoServiceBytesRecursive: []*v1.BlkIOEntry{{Major: 8, Minor: 0, Op: "Read", Value: 4096}}},
	}
	s := convertV1(m, 8<<30)
	if s.CPU.TotalUsage != 300 || s.CPU.UsageInKernelmode != 100 || s.CPU.UsageInUsermode != 200 ||
		len(s.CPU.PercpuUsage) != 2 || s.CPU.ThrottledPeriods != 2 || s.CPU.ThrottledTime != 50 {
		t.Errorf("cpu %+v", s.CPU)
	}
	if s.Memory.Usage != 1000 || s.Memory.MaxUsage != 2000 || s.Memory.Limit != 8<<30 || s.Memory.Failcnt != 1 ||
		s.Memory.Stats["cache"] != 7 || s.Memory.Stats["rss"] != 9 || s.Memory.Stats["total_rss"] != 11 {
		t.Errorf("memory %+v", s.Memory)
	}
	if s.Pids != (PidsStats{Current: 3, Limit: 100}) {
		t.Errorf("pids %+v", s.Pids)
	}
	if len(s.BlkIO.IoServiceBytesRecursive) != 1 || s.BlkIO.IoServiceBytesRecursive[0] != (BlkIOEntry{8, 0, "Read", 4096}) {
		t.Errorf("blkio %+v", s.BlkIO)
	}
	m.Memory.Usage.Limit = 64 << 20
	if s := convertV1(m, 8<<30); s.Memory.Limit != 64<<20 {
		t.Errorf("limit below host memory changed: %d", s.Memory.Limit)
	}
	if s := convertV1(&v1.Metrics{}, 0); s.CPU.TotalUsage != 0 || s.Memory.Stats != nil {
		t.Errorf("empty metrics %+v", s)
	}
}

func TestParseProcStatCPU(t *testing.T) {
	data := "cpu  10 1 5 100 2 0 3 7 0 0\ncpu0 5 0 2 50 1 0 1 3 0 0\nintr 1\n"
	if got, want := parseProcStatCPU(data), uint64(121)*10_000_000; got != want {
		t.Fatalf("got %d, want %d", got, want)
	}
	if got := parseProcStatCPU("garbage"); got != 0 {
		t.Fatalf("garbage gave %d", got)
	}
}

func TestNormalizeRef(t *testing.T) {
	tests := map[string]string{
		"nginx":                 "docker.io/library/nginx:latest",
		"nginx:1.25":            "docker.io/library/nginx:1.25",
		"team/app":              "docker.io/team/app:latest",
		"127.0.0.1:5000/app:v1": "127.0.0.1:5000/app:v1",
		"public.ecr.aws/x/y:z":  "public.ecr.aws/x/y:z",
		"localhost/app":         "localhost/app:latest",
	}
	for in, want := range tests {
		if got, err := normalizeRef(in); err != nil || got != want {
			t.Errorf("normalizeRef(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "Upper", "a::b"} {
		if _, err := normalizeRef(bad); err == nil {
			t.Errorf("normalizeRef(%q) accepted", bad)
		}
	}
}

func TestClassifyPullError(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want PullErrorKind
		msg  string
	}{
		{"not found", fmt.Errorf("resolve: %w", errdefs.ErrNotFound), PullNotFound, "not found"},
		{"invalid authorization", fmt.Errorf("pull access denied: %w", docker.ErrInvalidAuthorization), PullUnauthorized, "access denied"},
		{"401", remoteerrors.ErrUnexpectedStatus{StatusCode: 401, Status: "401 Unauthorized"}, PullUnauthorized, "access denied"},
		{"403", fmt.Errorf("x: %w", remoteerrors.ErrUnexpectedStatus{StatusCode: 403}), PullUnauthorized, "access denied"},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, PullUnreachable, "unreachable"},
		// containerd's chain around the dial error is left out of the
		// message (reasons are cut at 255 characters): the cause stays.
		{"wrapped refusal", fmt.Errorf("failed to resolve reference \"reg.example/app:v1\": failed to do request: Head \"http://reg.example/v2/app/manifests/v1\": %w",
			&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), PullUnreachable, "unreachable: dial tcp: connection refused"},
		{"dns", fmt.Errorf("x: %w", &net.DNSError{Err: "no such host", Name: "reg.example"}), PullUnreachable, "no such host"},
		{"deadline", context.DeadlineExceeded, PullFailed, "deadline exceeded"},
		{"500", remoteerrors.ErrUnexpectedStatus{StatusCode: 500, Status: "500 Internal Server Error"}, PullFailed, "failed to pull"},
		{"other", errors.New("disk full"), PullFailed, "disk full"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pe := classifyPullError("reg.example/app:v1", tc.err)
			if pe.Kind != tc.want {
				t.Fatalf("kind %s, want %s", pe.Kind, tc.want)
			}
			if !strings.Contains(pe.Error(), tc.msg) || !strings.Contains(pe.Error(), "reg.example/app:v1") {
				t.Errorf("message %q lacks %q or the reference", pe.Error(), tc.msg)
			}
			if !reflect.DeepEqual(pe.Unwrap(), tc.err) {
				t.Error("cause not wrapped")
			}
		})
	}
}
