//go:build linux

package network

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// serveRemoteIP starts a TCP server on addr, inside the namespace at path
// or in the host's for path "", that answers every connection with the
// client's address as it sees it. It returns the address it listens on.
func serveRemoteIP(tb testing.TB, path, addr string) string {
	tb.Helper()
	var l net.Listener
	listen := func() (err error) {
		l, err = net.Listen("tcp4", addr)
		return err
	}
	if path == "" {
		if err := listen(); err != nil {
			tb.Fatal(err)
		}
	} else {
		inNetNS(tb, path, listen)
	}
	tb.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			fmt.Fprintln(c, host)
			c.Close()
		}
	}()
	return l.Addr().String()
}

// lineFrom connects to addr from inside the namespace at path and returns
// the first line it is sent.
func lineFrom(tb testing.TB, path, addr string) string {
	tb.Helper()
	var c net.Conn
	inNetNS(tb, path, func() (err error) {
		c, err = net.DialTimeout("tcp4", addr, 5*time.Second)
		return err
	})
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		tb.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		tb.Fatalf("read from %s: %v", addr, err)
	}
	return strings.TrimSpace(line)
}

func TestMasqueradeRuleOncePerNetwork(t *testing.T) {
	cfg := testConfig(t, 25)
	nets := []struct{ subnet, bridge string }{{cfg.BridgeSubnet, cfg.BridgeName}, {cfg.VPCSubnet, cfg.VPCBridgeName}}
	m1 := newTestManager(t, cfg)
	m2 := newTestManager(t, cfg) // as after a restart: no second copy
	for _, n := range nets {
		rules := masqRulesFor(t, n.subnet)
		if len(rules) != 1 {
			t.Fatalf("masquerade rules for %s = %q, want one", n.subnet, rules)
		}
		for _, part := range []string{"! -o " + n.bridge, "! -d 224.0.0.0/4"} {
			if !strings.Contains(rules[0], part) {
				t.Errorf("rule %q lacks %q", rules[0], part)
			}
		}
	}
	if err := m1.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, n := range nets {
		if rules := masqRulesFor(t, n.subnet); len(rules) != 0 {
			t.Fatalf("rules for %s after Close: %q", n.subnet, rules)
		}
	}
	if err := m2.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	newTestManager(t, cfg)
	for _, n := range nets {
		if rules := masqRulesFor(t, n.subnet); len(rules) != 1 {
			t.Fatalf("rules for %s after a new Manager = %q, want one", n.subnet, rules)
		}
	}
}

// TestTaskTrafficNAT checks, with traffic only between the host and the
// test's own namespaces, that tasks set up without per-task masquerade
// rules keep the old semantics: host and task talk without NAT, and
// traffic that leaves a task's network by another interface (here: into
// the other bridge network) is masqueraded by the network's rule, as the
// plugin's ipMasq did for traffic to the outside.
func TestTaskTrafficNAT(t *testing.T) {
	cfg := testConfig(t, 25)
	m := newTestManager(t, cfg)
	idA, idB := "t-"+randHex(t, 6), "t-"+randHex(t, 6)
	a := setupT(t, m, idA, ModeBridge, nil)
	b := setupT(t, m, idB, ModeAWSVPC, nil)
	for _, id := range []string{idA, idB} {
		if rules := natRulesFor(t, id); len(rules) > 0 {
			t.Fatalf("task %s has nat rules of its own: %q", id, rules)
		}
	}
	if kind := recordOf(t, cfg, idA); kind != kindBridge {
		t.Fatalf("recorded list %q, want %q (no portmap without ports)", kind, kindBridge)
	}
	serveRemoteIP(t, a.NetNSPath, ":7000")
	serveRemoteIP(t, b.NetNSPath, ":7000")
	tests := []struct {
		name     string
		from, to string // namespace path ("" = host), address
		want     string // source address the server sees
	}{
		{"host to bridge task", "", net.JoinHostPort(a.IPv4, "7000"), a.Gateway},
		{"bridge task to host", a.NetNSPath, serveRemoteIP(t, "", net.JoinHostPort(a.Gateway, "0")), a.IPv4},
		{"awsvpc task to host", b.NetNSPath, serveRemoteIP(t, "", net.JoinHostPort(b.Gateway, "0")), b.IPv4},
		{"bridge task out of its network", a.NetNSPath, net.JoinHostPort(b.IPv4, "7000"), b.Gateway},
		{"awsvpc task out of its network", b.NetNSPath, net.JoinHostPort(a.IPv4, "7000"), a.Gateway},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			if tt.from == "" {
				got = greetingAt(t, tt.to)
			} else {
				got = lineFrom(t, tt.from, tt.to)
			}
			if got != tt.want {
				t.Fatalf("server at %s saw %s, want %s", tt.to, got, tt.want)
			}
		})
	}
	// Without the rules the same traffic keeps the task's address: the
	// masquerading above is theirs.
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := lineFrom(t, a.NetNSPath, net.JoinHostPort(b.IPv4, "7000")); got != a.IPv4 {
		t.Fatalf("without the rules the awsvpc task saw %s, want %s", got, a.IPv4)
	}
}

// TestTeardownFollowsRecord tears down from a new Manager (as after an
// agent restart) with ports or a mode that differ from Setup's: the
// recorded list is used, and nothing is left. Without the record (lost)
// Teardown still leaves nothing.
func TestTeardownFollowsRecord(t *testing.T) {
	cfg := testConfig(t, 25)
	m1 := newTestManager(t, cfg)
	ctx := context.Background()
	ports := func() []PortMapping { return []PortMapping{{HostPort: freeHostPort(t), ContainerPort: 80}} }
	tests := []struct {
		name       string
		mode       string
		ports      []PortMapping
		kind       string
		tdMode     string
		tdPorts    []PortMapping
		network    string
		dropRecord bool // as if the record were lost
	}{
		{"bridge without ports, torn down with ports", ModeBridge, nil, kindBridge, ModeBridge, ports(), bridgeNetworkName, false},
		{"bridge with ports, torn down without", ModeBridge, ports(), kindBridgePortmap, ModeBridge, nil, bridgeNetworkName, false},
		{"awsvpc torn down as bridge", ModeAWSVPC, nil, kindAWSVPC, ModeBridge, nil, vpcNetworkName, false},
		{"bridge torn down as none", ModeBridge, ports(), kindBridgePortmap, ModeNone, nil, bridgeNetworkName, false},
		{"bridge without ports, record lost", ModeBridge, nil, kindBridge, ModeBridge, nil, bridgeNetworkName, true},
		{"bridge with ports, record lost", ModeBridge, ports(), kindBridgePortmap, ModeBridge, nil, bridgeNetworkName, true},
		{"awsvpc, record lost", ModeAWSVPC, nil, kindAWSVPC, ModeAWSVPC, nil, vpcNetworkName, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := "t-" + randHex(t, 6)
			att, err := m1.Setup(ctx, id, tt.mode, tt.ports)
			if err != nil {
				t.Fatalf("Setup: %v", err)
			}
			if kind := recordOf(t, cfg, id); kind != tt.kind {
				t.Fatalf("recorded list %q, want %q", kind, tt.kind)
			}
			if tt.dropRecord {
				if err := os.Remove(m1.recordPath(id)); err != nil {
					t.Fatal(err)
				}
			}
			m2 := newTestManager(t, cfg)
			if err := m2.Teardown(ctx, id, tt.tdMode, tt.tdPorts); err != nil {
				t.Fatalf("Teardown: %v", err)
			}
			assertTornDown(t, m2, cfg, id, tt.network, att)
		})
	}
}

// TestTeardownOfLegacySetup tears down networks set up as agents did before
// records (per-task ipMasq; portmap for every bridge task) from a new
// Manager that is given no ports: the per-task masquerade rules go too.
func TestTeardownOfLegacySetup(t *testing.T) {
	cfg := testConfig(t, 25)
	m1 := newTestManager(t, cfg)
	ctx := context.Background()
	tests := []struct {
		mode, network string
		ports         []PortMapping
	}{
		{ModeBridge, bridgeNetworkName, []PortMapping{{HostPort: freeHostPort(t), ContainerPort: 80, Protocol: "tcp"}}},
		{ModeBridge, bridgeNetworkName, nil},
		{ModeAWSVPC, vpcNetworkName, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s-%d-ports", tt.mode, len(tt.ports)), func(t *testing.T) {
			id := "t-" + randHex(t, 6)
			path := m1.netnsPath(id)
			if err := createNetNS(path); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m1.Teardown(ctx, id, tt.mode, nil) })
			n := m1.network(tt.mode)
			res, err := n.legacy.cni.Setup(ctx, id, path, n.legacy.portOpts(tt.ports)...)
			if err != nil {
				t.Fatalf("legacy setup: %v", err)
			}
			att := Attachment{NetNSPath: path}
			if err := fillAttachment(&att, res, n.subnet); err != nil {
				t.Fatal(err)
			}
			if rules := perTaskMasquerade(t, id); len(rules) == 0 {
				t.Fatal("the legacy list made no per-task masquerade rules")
			}
			m2 := newTestManager(t, cfg)
			if err := m2.Teardown(ctx, id, tt.mode, nil); err != nil {
				t.Fatalf("Teardown: %v", err)
			}
			assertTornDown(t, m2, cfg, id, tt.network, att)
		})
	}
}
