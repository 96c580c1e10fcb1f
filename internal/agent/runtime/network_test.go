package runtime

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestNetworkModes(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	const ifCount = `echo "ifaces=$(tail -n +3 /proc/net/dev | wc -l)"`

	t.Run("none: only loopback, up", func(t *testing.T) {
		cs := h.spec(t, "sh", "-c", ifCount+"; ip addr show lo | grep -q 127.0.0.1 && echo lo-up; echo END")
		h.run(t, cs)
		got := h.waitLog(t, cs, "END")
		if !strings.Contains(got, "ifaces=1\n") || !strings.Contains(got, "lo-up") {
			t.Fatalf("output %q, want only an up loopback", got)
		}
	})

	t.Run("host", func(t *testing.T) {
		// The same network namespace as the host's (an interface count
		// would race with other tests creating links).
		cs := h.spec(t, "sh", "-c", `echo "ns=$(readlink /proc/self/ns/net)"; echo "host=$(hostname)"; cat /etc/hosts; echo END`)
		cs.HostNetwork = true
		h.run(t, cs)
		got := h.waitLog(t, cs, "END")
		hostname, _ := os.Hostname()
		hosts, _ := os.ReadFile("/etc/hosts")
		hostNS, _ := os.Readlink("/proc/self/ns/net")
		for _, want := range []string{"ns=" + hostNS + "\n", "host=" + hostname + "\n", string(hosts)} {
			if !strings.Contains(got, want) {
				t.Errorf("output %q lacks %q", got, want)
			}
		}
	})

	t.Run("join namespace", func(t *testing.T) {
		owner := h.spec(t, "sleep", "1000")
		pid := h.start(t, owner)
		nsPath := fmt.Sprintf("/proc/%d/ns/net", pid)
		want, err := os.Readlink(nsPath)
		if err != nil {
			t.Fatal(err)
		}
		cs := h.spec(t, "sh", "-c", `echo "ns=$(readlink /proc/self/ns/net) END"`)
		cs.NetNSPath = nsPath
		h.run(t, cs)
		if got := h.waitLog(t, cs, "END"); !strings.Contains(got, "ns="+want+" ") {
			t.Fatalf("output %q, want namespace %s", got, want)
		}
		self, _ := os.Readlink("/proc/self/ns/net")
		if self == want {
			t.Fatal("the owner container shares the host namespace")
		}
	})

	t.Run("generated hosts and resolv.conf", func(t *testing.T) {
		cs := h.spec(t, "sh", "-c", "cat /etc/hosts /etc/resolv.conf; echo END")
		cs.ExtraHosts = []HostEntry{{Hostname: "db.internal", IPAddress: "127.0.0.2"}}
		cs.DNSServers = []string{"127.0.0.53"}
		cs.DNSSearchDomains = []string{"svc.local"}
		h.run(t, cs)
		got := h.waitLog(t, cs, "END")
		for _, want := range []string{"127.0.0.1\tlocalhost", "127.0.0.2\tdb.internal", "nameserver 127.0.0.53", "search svc.local"} {
			if !strings.Contains(got, want) {
				t.Errorf("files %q lack %q", got, want)
			}
		}
	})

	t.Run("exclusive modes", func(t *testing.T) {
		cs := h.spec(t, "true")
		cs.HostNetwork = true
		cs.NetNSPath = "/proc/1/ns/net"
		if err := h.r.Create(ctx, cs); err == nil {
			h.clean.Remove(ctx, cs.ID)
			t.Fatal("Create with host network and a namespace path succeeded")
		}
	})
}

func TestPrivileged(t *testing.T) {
	h := newHarness(t)
	const script = "mkdir -p /mnt/t && mount -t tmpfs none /mnt/t"
	for _, privileged := range []bool{false, true} {
		t.Run(fmt.Sprint("privileged=", privileged), func(t *testing.T) {
			cs := h.spec(t, "sh", "-c", script)
			cs.Privileged = privileged
			e := h.run(t, cs)
			if (e.Code == 0) != privileged {
				t.Fatalf("mount exit %d with privileged=%v", e.Code, privileged)
			}
		})
	}
}
