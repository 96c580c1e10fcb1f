package runtime

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cap"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
)

// procCaps parses the Cap* lines of /proc/<pid>/status output into
// capability names by set ("CapEff" -> [...]).
func procCaps(t *testing.T, out string) map[string][]string {
	t.Helper()
	sets := map[string][]string{}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(k, "Cap") {
			continue
		}
		bits, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		names, unknown := cap.FromBitmap(bits)
		if len(unknown) > 0 {
			t.Fatalf("%s: unknown capability bits %v", line, unknown)
		}
		slices.Sort(names)
		sets[k] = names
	}
	return sets
}

// dfKiB is the size column of busybox `df -k` for the file system mounted
// at dir.
func dfKiB(t *testing.T, out, dir string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 && f[len(f)-1] == dir {
			return f[1]
		}
	}
	t.Fatalf("no df line for %s in %q", dir, out)
	return ""
}

// mountLine is the `mount` line of the file system at dir.
func mountLine(t *testing.T, out, dir string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, " on "+dir+" type ") {
			return line
		}
	}
	t.Fatalf("no mount line for %s in %q", dir, out)
	return ""
}

// TestContainerOptions runs busybox with extra hosts, DNS settings,
// capability changes, a /dev/shm size and tmpfs mounts, and checks each
// from inside the container.
func TestContainerOptions(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	def, err := oci.GenerateSpec(namespaces.WithNamespace(ctx, "x"), nil, &containers.Container{ID: "x"})
	if err != nil {
		t.Fatal(err)
	}
	defaultCaps := def.Process.Capabilities.Bounding

	t.Run("all options", func(t *testing.T) {
		const script = `echo "host=$(hostname)"; cat /etc/hosts /etc/resolv.conf; grep Cap /proc/self/status; df -k /dev/shm /cache /scratch;
mount | grep tmpfs;
for d in /cache /scratch; do printf '#!/bin/sh\necho ran\n' > $d/s; chmod +x $d/s; $d/s >/dev/null 2>&1 && echo "exec $d ok" || echo "exec $d denied"; done;
echo END`
		cs := h.spec(t, "sh", "-c", script)
		cs.Hostname = "web-1"
		cs.ExtraHosts = []HostEntry{{Hostname: "db.internal", IPAddress: "127.0.0.2"}, {Hostname: "database", IPAddress: "127.0.0.1"}}
		cs.DNSServers = []string{"10.0.0.2", "10.0.0.3"}
		cs.DNSSearchDomains = []string{"svc.local", "corp"}
		cs.CapAdd = []string{"NET_ADMIN", "SYS_PTRACE"}
		cs.CapDrop = []string{"MKNOD"}
		cs.ShmSize = 128 << 20
		cs.Tmpfs = []TmpfsMount{{Destination: "/cache", Size: 16 << 20}, {Destination: "/scratch", Size: 8 << 20, Options: []string{"exec", "mode=0700"}}}
		if e := h.run(t, cs); e.Code != 0 {
			t.Fatalf("exit %d: %s", e.Code, h.waitLog(t, cs, ""))
		}
		out := h.waitLog(t, cs, "END")
		for _, want := range []string{"host=web-1\n", "127.0.0.1\tlocalhost\n", "127.0.0.2\tdb.internal\n", "127.0.0.1\tdatabase\n",
			"nameserver 10.0.0.2\nnameserver 10.0.0.3\nsearch svc.local corp\n", "exec /cache denied", "exec /scratch ok"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		want := slices.DeleteFunc(slices.Clone(defaultCaps), func(c string) bool { return c == "CAP_MKNOD" })
		want = append(want, "CAP_NET_ADMIN", "CAP_SYS_PTRACE")
		slices.Sort(want)
		caps := procCaps(t, out)
		for _, set := range []string{"CapBnd", "CapEff", "CapPrm"} {
			if !slices.Equal(caps[set], want) {
				t.Errorf("%s = %q\nwant %q", set, caps[set], want)
			}
		}
		for dir, kib := range map[string]string{"/dev/shm": "131072", "/cache": "16384", "/scratch": "8192"} {
			if got := dfKiB(t, out, dir); got != kib {
				t.Errorf("%s size %s KiB, want %s", dir, got, kib)
			}
		}
		if l := mountLine(t, out, "/cache"); !strings.Contains(l, "noexec") || !strings.Contains(l, "nosuid") || !strings.Contains(l, "nodev") {
			t.Errorf("/cache mount %q, want noexec,nosuid,nodev", l)
		}
		if l := mountLine(t, out, "/scratch"); strings.Contains(l, "noexec") || !strings.Contains(l, "mode=700") {
			t.Errorf("/scratch mount %q, want exec and mode=700", l)
		}
	})

	t.Run("drop ALL, add one", func(t *testing.T) {
		cs := h.spec(t, "sh", "-c", "grep Cap /proc/self/status; echo END")
		cs.CapDrop = []string{"ALL"}
		cs.CapAdd = []string{"net_bind_service"}
		h.run(t, cs)
		caps := procCaps(t, h.waitLog(t, cs, "END"))
		for _, set := range []string{"CapBnd", "CapEff", "CapPrm"} {
			if !slices.Equal(caps[set], []string{"CAP_NET_BIND_SERVICE"}) {
				t.Errorf("%s = %q", set, caps[set])
			}
		}
	})

	t.Run("host network with extra hosts", func(t *testing.T) {
		cs := h.spec(t, "sh", "-c", "cat /etc/hosts; echo END")
		cs.HostNetwork = true
		cs.ExtraHosts = []HostEntry{{Hostname: "db.internal", IPAddress: "127.0.0.2"}}
		h.run(t, cs)
		out := h.waitLog(t, cs, "END")
		hosts, err := os.ReadFile("/etc/hosts")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, strings.TrimRight(string(hosts), "\n")) || !strings.Contains(out, "127.0.0.2\tdb.internal\n") {
			t.Errorf("hosts %q, want the host's plus db.internal", out)
		}
	})

	t.Run("unknown capability fails Create", func(t *testing.T) {
		cs := h.spec(t, "true")
		cs.CapAdd = []string{"FLY"}
		err := h.r.Create(ctx, cs)
		if err == nil {
			h.clean.Remove(ctx, cs.ID)
			t.Fatal("Create with an unknown capability succeeded")
		}
		if !strings.Contains(err.Error(), `unknown capability "FLY"`) {
			t.Errorf("error %q does not name the capability", err)
		}
		infos, err := h.r.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if find(infos, cs.ID) != nil {
			t.Error("a container was left behind")
		}
	})
}
