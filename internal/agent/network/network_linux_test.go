//go:build linux

package network

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// requireNetworkHost skips unless the test can create namespaces, bridges and
// iptables rules with the system's CNI plugins.
func requireNetworkHost(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root")
	}
	for _, p := range requiredPlugins {
		if _, err := findPlugin([]string{DefaultPluginDir}, p); err != nil {
			tb.Skipf("CNI plugins missing: %v", err)
		}
	}
	for _, bin := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(bin); err != nil {
			tb.Skipf("%s missing", bin)
		}
	}
}

func randHex(tb testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// freeSubnetIndex picks x so that 10.214.x.0/24 is not routed on the host.
func freeSubnetIndex(tb testing.TB) int {
	tb.Helper()
	for range 100 {
		n, err := rand.Int(rand.Reader, big.NewInt(250))
		if err != nil {
			tb.Fatal(err)
		}
		x := int(n.Int64()) + 1
		out, err := exec.Command("ip", "-4", "route", "show", "root", fmt.Sprintf("10.214.%d.0/24", x)).Output()
		if err != nil {
			tb.Fatalf("ip route: %v", err)
		}
		if strings.TrimSpace(string(out)) == "" {
			return x
		}
	}
	tb.Fatal("no free 10.214.x.0/24 subnet")
	return 0
}

// testConfig returns a Config with unique bridges, subnets in 10.214.x.0/24
// (bridge: the lower /25 or the given size, awsvpc: the upper /25) and its
// own state dir. The bridges and the networks' masquerade rules are deleted
// on cleanup.
func testConfig(tb testing.TB, bridgeBits int) Config {
	tb.Helper()
	requireNetworkHost(tb)
	x := freeSubnetIndex(tb)
	suffix := randHex(tb, 4)
	cfg := Config{
		StateDir:      tb.TempDir(),
		BridgeName:    "bt-" + suffix,
		BridgeSubnet:  fmt.Sprintf("10.214.%d.0/%d", x, bridgeBits),
		VPCBridgeName: "bv-" + suffix,
		VPCSubnet:     fmt.Sprintf("10.214.%d.128/25", x),
	}
	tb.Cleanup(func() {
		for _, br := range []string{cfg.BridgeName, cfg.VPCBridgeName} {
			if _, err := net.InterfaceByName(br); err == nil {
				if out, err := exec.Command("ip", "link", "del", br).CombinedOutput(); err != nil {
					tb.Errorf("delete bridge %s: %v: %s", br, err, out)
				}
			}
		}
		removeTestMasquerade(tb, cfg)
	})
	return cfg
}

// removeTestMasquerade deletes the masquerade rules of cfg's networks, as
// Close would, whichever Manager installed them.
func removeTestMasquerade(tb testing.TB, cfg Config) {
	tb.Helper()
	bridge, vpc, err := cfg.withDefaults().validate()
	if err != nil {
		tb.Errorf("config: %v", err)
		return
	}
	ipt, err := findIPTables()
	if err != nil {
		tb.Error(err)
		return
	}
	for _, r := range masqRules(cfg, bridge, vpc) {
		if err := ipt.remove(context.Background(), r); err != nil {
			tb.Errorf("remove masquerade rule: %v", err)
		}
	}
}

// masqRulesFor returns the nat POSTROUTING rules that masquerade traffic
// from subnet (the networks' rules, not the per-task chains' jumps).
func masqRulesFor(tb testing.TB, subnet string) []string {
	tb.Helper()
	out, err := exec.Command("iptables", "-w", "-t", "nat", "-S", "POSTROUTING").Output()
	if err != nil {
		tb.Fatalf("iptables -t nat -S POSTROUTING: %v", err)
	}
	var rules []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "-s "+subnet+" ") && strings.HasSuffix(line, "-j MASQUERADE") {
			rules = append(rules, line)
		}
	}
	return rules
}

func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newTestManager(tb testing.TB, cfg Config) *Manager {
	tb.Helper()
	m, err := New(cfg, testLogger(tb))
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return m
}

// setupT sets up a task network and tears it down on cleanup should the test
// not have done so.
func setupT(tb testing.TB, m *Manager, id, mode string, ports []PortMapping) Attachment {
	tb.Helper()
	att, err := m.Setup(context.Background(), id, mode, ports)
	if err != nil {
		tb.Fatalf("Setup(%s, %s): %v", id, mode, err)
	}
	tb.Cleanup(func() {
		if err := m.Teardown(context.Background(), id, mode, ports); err != nil {
			tb.Errorf("cleanup Teardown(%s): %v", id, err)
		}
	})
	return att
}

// inNetNS runs fn on a thread that has joined the namespace at path. The
// thread stays locked and is discarded afterwards.
func inNetNS(tb testing.TB, path string, fn func() error) {
	tb.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open(path)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", path, err)
			return
		}
		errc <- fn()
	}()
	if err := <-errc; err != nil {
		tb.Fatal(err)
	}
}

// serveInNetNS starts a TCP server inside the namespace on port that greets
// every connection with greeting.
func serveInNetNS(tb testing.TB, path string, port int, greeting string) {
	tb.Helper()
	var l net.Listener
	inNetNS(tb, path, func() (err error) {
		l, err = net.Listen("tcp4", fmt.Sprintf(":%d", port))
		return err
	})
	tb.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fmt.Fprintln(c, greeting)
			c.Close()
		}
	}()
}

// greetingAt dials addr and returns the first line it sends.
func greetingAt(tb testing.TB, addr string) string {
	tb.Helper()
	c, err := net.DialTimeout("tcp4", addr, 5*time.Second)
	if err != nil {
		tb.Fatalf("dial %s: %v", addr, err)
	}
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

// freeHostPort returns a TCP port nothing listens on right now.
func freeHostPort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// natRulesFor returns the iptables nat rules that mention id.
func natRulesFor(tb testing.TB, id string) []string {
	tb.Helper()
	out, err := exec.Command("iptables", "-w", "-t", "nat", "-S").Output()
	if err != nil {
		tb.Fatalf("iptables -t nat -S: %v", err)
	}
	var rules []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, id) {
			rules = append(rules, line)
		}
	}
	return rules
}

func leaseExists(tb testing.TB, cfg Config, network, ip string) bool {
	_, err := os.Stat(filepath.Join(cfg.StateDir, "ipam", network, ip))
	return err == nil
}

// recordOf returns the network list kind recorded for id, "" for none.
func recordOf(tb testing.TB, cfg Config, id string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(cfg.StateDir, "netconf", id))
	if os.IsNotExist(err) {
		return ""
	}
	if err != nil {
		tb.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// perTaskMasquerade returns the nat rules of id that masquerade: those of
// the bridge plugin's ipMasq, which Setup no longer asks for.
func perTaskMasquerade(tb testing.TB, id string) []string {
	tb.Helper()
	var rules []string
	for _, r := range natRulesFor(tb, id) {
		if strings.Contains(r, "MASQUERADE") || (strings.HasPrefix(r, "-A POSTROUTING") && strings.Contains(r, "-j CNI-")) {
			rules = append(rules, r)
		}
	}
	return rules
}

func assertTornDown(t *testing.T, m *Manager, cfg Config, id, network string, att Attachment) {
	t.Helper()
	if _, err := os.Lstat(att.NetNSPath); !os.IsNotExist(err) {
		t.Errorf("netns file %s still there (err %v)", att.NetNSPath, err)
	}
	if kind := recordOf(t, cfg, id); kind != "" {
		t.Errorf("network list record %q of %s still there", kind, id)
	}
	if leaseExists(t, cfg, network, att.IPv4) {
		t.Errorf("IPAM lease of %s not released", att.IPv4)
	}
	if rules := natRulesFor(t, id); len(rules) > 0 {
		t.Errorf("nat rules left for %s: %q", id, rules)
	}
}

func TestBridgeSetupMapsHostPorts(t *testing.T) {
	cfg := testConfig(t, 25)
	m := newTestManager(t, cfg)
	id := "t-" + randHex(t, 6)
	hostPort := freeHostPort(t)
	ports := []PortMapping{{HostPort: hostPort, ContainerPort: 8080}}
	att := setupT(t, m, id, ModeBridge, ports)

	subnet := netip.MustParsePrefix(cfg.BridgeSubnet)
	ip, err := netip.ParseAddr(att.IPv4)
	if err != nil || !subnet.Contains(ip) || ip == subnet.Addr().Next() {
		t.Fatalf("IPv4 %q not a task address in %s", att.IPv4, subnet)
	}
	if att.Mode != ModeBridge || att.Gateway != m.GatewayIP(ModeBridge) || att.SubnetCIDR != cfg.BridgeSubnet || att.Interface != "eth0" {
		t.Fatalf("attachment = %+v", att)
	}
	if _, err := net.ParseMAC(att.MAC); err != nil {
		t.Fatalf("MAC %q: %v", att.MAC, err)
	}
	if ok, err := isNetNS(att.NetNSPath); !ok || err != nil {
		t.Fatalf("%s is not a pinned netns (%v)", att.NetNSPath, err)
	}
	if !leaseExists(t, cfg, bridgeNetworkName, att.IPv4) {
		t.Fatalf("no IPAM lease for %s under the state dir", att.IPv4)
	}
	// The bridge carries the gateway address.
	br, err := net.InterfaceByName(cfg.BridgeName)
	if err != nil {
		t.Fatalf("bridge: %v", err)
	}
	addrs, _ := br.Addrs()
	if !strings.Contains(fmt.Sprint(addrs), att.Gateway+"/") {
		t.Fatalf("bridge addresses %v lack gateway %s", addrs, att.Gateway)
	}

	serveInNetNS(t, att.NetNSPath, 8080, "hello "+id)
	if got := greetingAt(t, fmt.Sprintf("127.0.0.1:%d", hostPort)); got != "hello "+id {
		t.Fatalf("via 127.0.0.1:%d got %q", hostPort, got)
	}
	if got := greetingAt(t, net.JoinHostPort(att.IPv4, "8080")); got != "hello "+id {
		t.Fatalf("via task IP got %q", got)
	}
	if rules := natRulesFor(t, id); len(rules) == 0 {
		t.Fatal("no portmap rules for the task")
	}
	if rules := perTaskMasquerade(t, id); len(rules) > 0 {
		t.Fatalf("per-task masquerade rules: %q", rules)
	}
	if kind := recordOf(t, cfg, id); kind != kindBridgePortmap {
		t.Fatalf("recorded list %q, want %q", kind, kindBridgePortmap)
	}

	if err := m.Teardown(context.Background(), id, ModeBridge, ports); err != nil {
		t.Fatalf("Teardown: %v", err)
	}
	assertTornDown(t, m, cfg, id, bridgeNetworkName, att)
	if err := m.Teardown(context.Background(), id, ModeBridge, ports); err != nil {
		t.Fatalf("second Teardown: %v", err)
	}
}

func TestAWSVPCSetup(t *testing.T) {
	cfg := testConfig(t, 25)
	m := newTestManager(t, cfg)
	id := "t-" + randHex(t, 6)
	ports := []PortMapping{{ContainerPort: 9000}}
	att := setupT(t, m, id, ModeAWSVPC, ports)

	vpc := netip.MustParsePrefix(cfg.VPCSubnet)
	ip, err := netip.ParseAddr(att.IPv4)
	if err != nil || !vpc.Contains(ip) || netip.MustParsePrefix(cfg.BridgeSubnet).Contains(ip) {
		t.Fatalf("IPv4 %q not in awsvpc subnet %s", att.IPv4, vpc)
	}
	if att.Gateway != vpc.Addr().Next().String() || att.SubnetCIDR != cfg.VPCSubnet || att.Interface != "eth0" || att.MAC == "" {
		t.Fatalf("attachment = %+v", att)
	}
	if _, err := net.InterfaceByName(cfg.VPCBridgeName); err != nil {
		t.Fatalf("awsvpc bridge: %v", err)
	}
	if rules := natRulesFor(t, id); len(rules) > 0 {
		t.Fatalf("awsvpc task has nat rules of its own: %q", rules)
	}
	if kind := recordOf(t, cfg, id); kind != kindAWSVPC {
		t.Fatalf("recorded list %q, want %q", kind, kindAWSVPC)
	}
	serveInNetNS(t, att.NetNSPath, 9000, "vpc")
	if got := greetingAt(t, net.JoinHostPort(att.IPv4, "9000")); got != "vpc" {
		t.Fatalf("via task IP got %q", got)
	}

	if err := m.Teardown(context.Background(), id, ModeAWSVPC, ports); err != nil {
		t.Fatalf("Teardown: %v", err)
	}
	assertTornDown(t, m, cfg, id, vpcNetworkName, att)
	if err := m.Teardown(context.Background(), id, ModeAWSVPC, ports); err != nil {
		t.Fatalf("second Teardown: %v", err)
	}
}

func TestNoneHasOnlyLoopback(t *testing.T) {
	cfg := testConfig(t, 25)
	m := newTestManager(t, cfg)
	id := "t-" + randHex(t, 6)
	att := setupT(t, m, id, ModeNone, nil)
	if att.Mode != ModeNone || att.IPv4 != "" {
		t.Fatalf("attachment = %+v", att)
	}
	var ifaces []net.Interface
	inNetNS(t, att.NetNSPath, func() (err error) {
		ifaces, err = net.Interfaces()
		return err
	})
	if len(ifaces) != 1 || ifaces[0].Name != "lo" || ifaces[0].Flags&net.FlagUp == 0 {
		t.Fatalf("interfaces in none netns = %+v, want lo up only", ifaces)
	}
	// lo works: a server inside is reachable from inside.
	inNetNS(t, att.NetNSPath, func() error {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer l.Close()
		c, err := net.Dial("tcp4", l.Addr().String())
		if err != nil {
			return err
		}
		return c.Close()
	})
	if err := m.Teardown(context.Background(), id, ModeNone, nil); err != nil {
		t.Fatalf("Teardown: %v", err)
	}
	if _, err := os.Lstat(att.NetNSPath); !os.IsNotExist(err) {
		t.Fatalf("netns file still there: %v", err)
	}
	if err := m.Teardown(context.Background(), id, ModeNone, nil); err != nil {
		t.Fatalf("second Teardown: %v", err)
	}
}

func TestTeardownOfUnknownIDIsNoop(t *testing.T) {
	cfg := testConfig(t, 25)
	m := newTestManager(t, cfg)
	for _, mode := range []string{ModeBridge, ModeAWSVPC, ModeNone} {
		if err := m.Teardown(context.Background(), "never-set-up", mode, nil); err != nil {
			t.Errorf("Teardown(%s) of unknown id: %v", mode, err)
		}
	}
}

func TestSetupTwiceFails(t *testing.T) {
	cfg := testConfig(t, 25)
	m := newTestManager(t, cfg)
	id := "t-" + randHex(t, 6)
	att := setupT(t, m, id, ModeBridge, nil)
	if _, err := m.Setup(context.Background(), id, ModeBridge, nil); err == nil {
		t.Fatal("second Setup of the same id succeeded")
	}
	// The first network is untouched.
	if !leaseExists(t, cfg, bridgeNetworkName, att.IPv4) {
		t.Fatal("first lease lost")
	}
	if ok, _ := isNetNS(att.NetNSPath); !ok {
		t.Fatal("first netns lost")
	}
}

func TestSetupTeardownDoesNotExhaustSubnet(t *testing.T) {
	cfg := testConfig(t, 28) // 13 task addresses
	m := newTestManager(t, cfg)
	ctx := context.Background()
	seen := map[string]bool{}
	for i := range 50 {
		id := fmt.Sprintf("t-%s-%d", randHex(t, 3), i)
		ports := []PortMapping{{HostPort: 20000 + i, ContainerPort: 80}}
		att, err := m.Setup(ctx, id, ModeBridge, ports)
		if err != nil {
			t.Fatalf("Setup #%d: %v", i, err)
		}
		seen[att.IPv4] = true
		if err := m.Teardown(ctx, id, ModeBridge, ports); err != nil {
			t.Fatalf("Teardown #%d: %v", i, err)
		}
	}
	if len(seen) > 13 {
		t.Fatalf("%d distinct addresses from a /28", len(seen))
	}
	entries, err := os.ReadDir(filepath.Join(cfg.StateDir, "ipam", bridgeNetworkName))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if net.ParseIP(e.Name()) != nil {
			t.Errorf("lease %s left after teardown", e.Name())
		}
	}
}

func TestNewManagerTearsDownEarlierSetup(t *testing.T) {
	cfg := testConfig(t, 25)
	m1 := newTestManager(t, cfg)
	ctx := context.Background()
	tests := []struct {
		mode    string
		network string
		ports   []PortMapping
	}{
		{ModeBridge, bridgeNetworkName, []PortMapping{{HostPort: freeHostPort(t), ContainerPort: 80}, {HostPort: freeHostPort(t), ContainerPort: 53, Protocol: "udp"}}},
		{ModeAWSVPC, vpcNetworkName, nil},
		{ModeNone, "", nil},
	}
	type setUp struct {
		id  string
		att Attachment
	}
	var done []setUp
	for _, tt := range tests {
		id := "t-" + randHex(t, 6)
		att, err := m1.Setup(ctx, id, tt.mode, tt.ports)
		if err != nil {
			t.Fatalf("Setup(%s): %v", tt.mode, err)
		}
		done = append(done, setUp{id, att})
	}
	if rules := natRulesFor(t, done[0].id); len(rules) == 0 {
		t.Fatal("no nat rules for the bridge task")
	}

	// As after kill -9 and restart: a new Manager, and the caller no longer
	// knows the port mappings.
	m2 := newTestManager(t, cfg)
	for i, tt := range tests {
		s := done[i]
		if err := m2.Teardown(ctx, s.id, tt.mode, nil); err != nil {
			t.Fatalf("Teardown(%s) by new manager: %v", tt.mode, err)
		}
		if tt.network != "" {
			assertTornDown(t, m2, cfg, s.id, tt.network, s.att)
		} else if _, err := os.Lstat(s.att.NetNSPath); !os.IsNotExist(err) {
			t.Errorf("none netns still there: %v", err)
		}
	}
}

func TestConcurrentSetupOnFreshBridge(t *testing.T) {
	cfg := testConfig(t, 25)
	m := newTestManager(t, cfg)
	const n = 6
	type result struct {
		id    string
		ports []PortMapping
		att   Attachment
		err   error
	}
	results := make(chan result, n)
	for i := range n {
		id := fmt.Sprintf("t-%s-%d", randHex(t, 3), i)
		ports := []PortMapping{{HostPort: freeHostPort(t), ContainerPort: 80}}
		go func() {
			att, err := m.Setup(context.Background(), id, ModeBridge, ports)
			results <- result{id, ports, att, err}
		}()
	}
	seen := map[string]bool{}
	var all []result
	for range n {
		r := <-results
		if r.err != nil {
			t.Errorf("Setup(%s): %v", r.id, r.err)
			continue
		}
		all = append(all, r)
		if seen[r.att.IPv4] {
			t.Errorf("address %s handed out twice", r.att.IPv4)
		}
		seen[r.att.IPv4] = true
	}
	for _, r := range all {
		serveInNetNS(t, r.att.NetNSPath, 80, r.id)
		if got := greetingAt(t, fmt.Sprintf("127.0.0.1:%d", r.ports[0].HostPort)); got != r.id {
			t.Errorf("host port %d reached %q, want %q", r.ports[0].HostPort, got, r.id)
		}
	}
	errs := make(chan error, len(all))
	for _, r := range all {
		go func() { errs <- m.Teardown(context.Background(), r.id, ModeBridge, r.ports) }()
	}
	for range all {
		if err := <-errs; err != nil {
			t.Errorf("Teardown: %v", err)
		}
	}
	for _, r := range all {
		assertTornDown(t, m, cfg, r.id, bridgeNetworkName, r.att)
	}
}

func TestFailedSetupLeavesNothing(t *testing.T) {
	cfg := testConfig(t, 25)
	m := newTestManager(t, cfg)
	id := "t-" + randHex(t, 6)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Setup(ctx, id, ModeBridge, []PortMapping{{HostPort: freeHostPort(t), ContainerPort: 80}}); err == nil {
		t.Fatal("Setup with a cancelled context succeeded")
	}
	if _, err := os.Lstat(m.netnsPath(id)); !os.IsNotExist(err) {
		t.Errorf("netns file left behind: %v", err)
	}
	if rules := natRulesFor(t, id); len(rules) > 0 {
		t.Errorf("nat rules left: %q", rules)
	}
	if kind := recordOf(t, cfg, id); kind != "" {
		t.Errorf("network list record %q left", kind)
	}
	entries, _ := os.ReadDir(filepath.Join(cfg.StateDir, "ipam", bridgeNetworkName))
	for _, e := range entries {
		if net.ParseIP(e.Name()) != nil {
			t.Errorf("lease %s left behind", e.Name())
		}
	}
	// The id is usable afterwards.
	att := setupT(t, m, id, ModeBridge, nil)
	if att.IPv4 == "" {
		t.Fatalf("attachment = %+v", att)
	}
}

// BenchmarkSetupTeardown measures one task network's Setup and Teardown per
// mode (bridge with and without a port mapping); setup-ms and teardown-ms
// split the time.
func BenchmarkSetupTeardown(b *testing.B) {
	cfg := testConfig(b, 25)
	m := newTestManager(b, cfg)
	ctx := context.Background()
	cases := []struct {
		name, mode string
		ports      []PortMapping
	}{
		{"bridge-ports", ModeBridge, []PortMapping{{HostPort: 23456, ContainerPort: 80}}},
		{"bridge-noports", ModeBridge, nil},
		{ModeAWSVPC, ModeAWSVPC, nil},
		{ModeNone, ModeNone, nil},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			var setup, teardown time.Duration
			i := 0
			for b.Loop() {
				id := fmt.Sprintf("b-%s-%d", bc.name, i)
				i++
				t0 := time.Now()
				if _, err := m.Setup(ctx, id, bc.mode, bc.ports); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if err := m.Teardown(ctx, id, bc.mode, bc.ports); err != nil {
					b.Fatal(err)
				}
				setup += t1.Sub(t0)
				teardown += time.Since(t1)
			}
			b.ReportMetric(float64(setup.Microseconds())/1000/float64(i), "setup-ms")
			b.ReportMetric(float64(teardown.Microseconds())/1000/float64(i), "teardown-ms")
		})
	}
}
