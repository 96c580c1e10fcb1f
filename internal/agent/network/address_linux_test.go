//go:build linux

package network

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// vpcAddr returns the n-th address of cfg's awsvpc subnet and the MAC the
// control plane derives from it ("0a:58:" + the address bytes).
func vpcAddr(tb testing.TB, cfg Config, n int) (addr, mac string) {
	tb.Helper()
	a := netip.MustParsePrefix(cfg.VPCSubnet).Addr()
	for range n {
		a = a.Next()
	}
	b := a.As4()
	return a.String(), fmt.Sprintf("0a:58:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3])
}

// ifaceInNetNS returns eth0's MAC and IPv4 addresses (CIDR) inside the
// namespace at path.
func ifaceInNetNS(tb testing.TB, path string) (mac string, addrs []string) {
	tb.Helper()
	inNetNS(tb, path, func() error {
		ifc, err := net.InterfaceByName(containerIface)
		if err != nil {
			return err
		}
		mac = ifc.HardwareAddr.String()
		as, err := ifc.Addrs()
		if err != nil {
			return err
		}
		for _, a := range as {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
				addrs = append(addrs, ipn.String())
			}
		}
		return nil
	})
	return mac, addrs
}

// bridgePorts returns the interfaces enslaved to bridge br.
func bridgePorts(tb testing.TB, br string) []string {
	tb.Helper()
	entries, err := os.ReadDir(filepath.Join("/sys/class/net", br, "brif"))
	if err != nil {
		tb.Fatalf("ports of %s: %v", br, err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// leaseOwner returns the content of host-local's lease file for ip (it
// names the container id holding it), or "" when there is none.
func leaseOwner(tb testing.TB, cfg Config, ip string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(cfg.StateDir, "ipam", vpcNetworkName, ip))
	if os.IsNotExist(err) {
		return ""
	}
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestAWSVPCGivenAddressAndMAC(t *testing.T) {
	cfg := testConfig(t, 25)
	m := newTestManager(t, cfg)
	ctx := context.Background()
	addr, mac := vpcAddr(t, cfg, 7)
	id := "t-" + randHex(t, 6)
	att, err := m.Setup(ctx, id, ModeAWSVPC, []PortMapping{{ContainerPort: 9000}}, WithAddress(addr), WithMAC(mac))
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	vpc := netip.MustParsePrefix(cfg.VPCSubnet)
	want := Attachment{Mode: ModeAWSVPC, NetNSPath: m.netnsPath(id), IPv4: addr, Gateway: vpc.Addr().Next().String(),
		SubnetCIDR: cfg.VPCSubnet, MAC: mac, Interface: "eth0"}
	if att != want {
		t.Fatalf("attachment = %+v, want %+v", att, want)
	}
	// Inside the namespace: exactly that address and MAC on eth0.
	gotMAC, gotAddrs := ifaceInNetNS(t, att.NetNSPath)
	if gotMAC != mac || len(gotAddrs) != 1 || gotAddrs[0] != fmt.Sprintf("%s/%d", addr, vpc.Bits()) {
		t.Fatalf("eth0 in netns: MAC %s addrs %v, want %s and %s/%d", gotMAC, gotAddrs, mac, addr, vpc.Bits())
	}
	if owner := leaseOwner(t, cfg, addr); !strings.Contains(owner, id) {
		t.Fatalf("lease of %s = %q, want held by %s", addr, owner, id)
	}
	serveInNetNS(t, att.NetNSPath, 9000, "given "+id)
	if got := greetingAt(t, net.JoinHostPort(addr, "9000")); got != "given "+id {
		t.Fatalf("via %s got %q", addr, got)
	}

	if err := m.Teardown(ctx, id, ModeAWSVPC, nil); err != nil {
		t.Fatalf("Teardown: %v", err)
	}
	assertTornDown(t, m, cfg, id, vpcNetworkName, att)

	// The address is free again at once, for another task.
	id2 := "t-" + randHex(t, 6)
	att2 := setupAWSVPCT(t, m, id2, WithAddress(addr), WithMAC(mac))
	if att2.IPv4 != addr || att2.MAC != mac {
		t.Fatalf("reuse after teardown: attachment = %+v", att2)
	}
	if owner := leaseOwner(t, cfg, addr); !strings.Contains(owner, id2) {
		t.Fatalf("lease of %s = %q after reuse, want held by %s", addr, owner, id2)
	}

	// Without options awsvpc still allocates, and skips the held address.
	id3 := "t-" + randHex(t, 6)
	att3 := setupAWSVPCT(t, m, id3)
	if att3.IPv4 == addr || !vpc.Contains(netip.MustParseAddr(att3.IPv4)) {
		t.Fatalf("dynamic awsvpc address %s (held: %s, subnet %s)", att3.IPv4, addr, vpc)
	}
}

// setupAWSVPCT sets up an awsvpc network with opts and tears it down on
// cleanup should the test not have done so.
func setupAWSVPCT(tb testing.TB, m *Manager, id string, opts ...SetupOption) Attachment {
	tb.Helper()
	att, err := m.Setup(context.Background(), id, ModeAWSVPC, nil, opts...)
	if err != nil {
		tb.Fatalf("Setup(%s, awsvpc): %v", id, err)
	}
	tb.Cleanup(func() {
		if err := m.Teardown(context.Background(), id, ModeAWSVPC, nil); err != nil {
			tb.Errorf("cleanup Teardown(%s): %v", id, err)
		}
	})
	return att
}

func TestAWSVPCGivenAddressInUseFailsCleanly(t *testing.T) {
	cfg := testConfig(t, 25)
	m := newTestManager(t, cfg)
	ctx := context.Background()
	addr, mac := vpcAddr(t, cfg, 9)
	id1 := "t-" + randHex(t, 6)
	att1 := setupAWSVPCT(t, m, id1, WithAddress(addr), WithMAC(mac))
	serveInNetNS(t, att1.NetNSPath, 9000, "first")
	portsBefore := bridgePorts(t, cfg.VPCBridgeName)

	id2 := "t-" + randHex(t, 6)
	_, err := m.Setup(ctx, id2, ModeAWSVPC, nil, WithAddress(addr))
	if err == nil {
		t.Fatal("Setup with an address in use succeeded")
	}
	if !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), id2) {
		t.Errorf("error %q names neither the address nor the task", err)
	}
	t.Logf("conflict error: %v", err)

	// Nothing of id2 is left: no namespace, no lease, no rules, no veth.
	if _, err := os.Lstat(m.netnsPath(id2)); !os.IsNotExist(err) {
		t.Errorf("netns of the failed Setup left behind (err %v)", err)
	}
	if rules := natRulesFor(t, id2); len(rules) > 0 {
		t.Errorf("nat rules left for the failed Setup: %q", rules)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(bridgePorts(t, cfg.VPCBridgeName)) != len(portsBefore) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := bridgePorts(t, cfg.VPCBridgeName); len(got) != len(portsBefore) {
		t.Errorf("bridge ports %v after the failed Setup, want %v", got, portsBefore)
	}
	// The first task keeps its address and stays reachable.
	if owner := leaseOwner(t, cfg, addr); !strings.Contains(owner, id1) {
		t.Fatalf("lease of %s = %q, want still held by %s", addr, owner, id1)
	}
	if got := greetingAt(t, net.JoinHostPort(addr, "9000")); got != "first" {
		t.Fatalf("first task via %s got %q", addr, got)
	}
	// The failed id is usable with a free address.
	free, _ := vpcAddr(t, cfg, 10)
	if att2 := setupAWSVPCT(t, m, id2, WithAddress(free)); att2.IPv4 != free {
		t.Fatalf("retry with a free address: attachment = %+v", att2)
	}
}

func TestAWSVPCConcurrentSameAddress(t *testing.T) {
	cfg := testConfig(t, 25)
	m := newTestManager(t, cfg)
	addr, _ := vpcAddr(t, cfg, 20)
	const n = 4
	type result struct {
		id  string
		err error
	}
	results := make(chan result, n)
	for i := range n {
		id := fmt.Sprintf("t-%s-%d", randHex(t, 3), i)
		go func() {
			_, err := m.Setup(context.Background(), id, ModeAWSVPC, nil, WithAddress(addr))
			results <- result{id, err}
		}()
	}
	var winners []string
	for range n {
		r := <-results
		if r.err != nil {
			if _, err := os.Lstat(m.netnsPath(r.id)); !os.IsNotExist(err) {
				t.Errorf("netns of failed %s left behind", r.id)
			}
			continue
		}
		winners = append(winners, r.id)
		t.Cleanup(func() {
			if err := m.Teardown(context.Background(), r.id, ModeAWSVPC, nil); err != nil {
				t.Errorf("Teardown(%s): %v", r.id, err)
			}
		})
	}
	if len(winners) != 1 {
		t.Fatalf("%d Setups got %s: %v, want exactly one", len(winners), addr, winners)
	}
	if owner := leaseOwner(t, cfg, addr); !strings.Contains(owner, winners[0]) {
		t.Fatalf("lease of %s = %q, want held by %s", addr, owner, winners[0])
	}
}

func TestAWSVPCGivenAddressRejectedBeforeCNI(t *testing.T) {
	cfg := testConfig(t, 25)
	m := newTestManager(t, cfg)
	bridgeAddr := netip.MustParsePrefix(cfg.BridgeSubnet).Addr().Next().Next().String()
	vpcGW, _ := vpcAddr(t, cfg, 1)
	tests := []struct {
		name, mode, addr, wantErr string
	}{
		{"awsvpc, address of the bridge subnet", ModeAWSVPC, bridgeAddr, "outside the awsvpc subnet " + cfg.VPCSubnet},
		{"awsvpc, foreign address", ModeAWSVPC, "192.0.2.7", "outside the awsvpc subnet"},
		{"awsvpc, gateway", ModeAWSVPC, vpcGW, "gateway"},
		{"bridge mode", ModeBridge, bridgeAddr, "does not support a given address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := "t-" + randHex(t, 6)
			_, err := m.Setup(context.Background(), id, tt.mode, nil, WithAddress(tt.addr))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Setup error = %v, want containing %q", err, tt.wantErr)
			}
			if _, err := os.Lstat(m.netnsPath(id)); !os.IsNotExist(err) {
				t.Errorf("netns left behind (err %v)", err)
			}
			for _, network := range []string{bridgeNetworkName, vpcNetworkName} {
				if leaseExists(t, cfg, network, tt.addr) {
					t.Errorf("lease of %s in %s", tt.addr, network)
				}
			}
		})
	}
}

func TestNewManagerTearsDownGivenAddress(t *testing.T) {
	cfg := testConfig(t, 25)
	m1 := newTestManager(t, cfg)
	ctx := context.Background()
	addr, mac := vpcAddr(t, cfg, 33)
	id := "t-" + randHex(t, 6)
	att, err := m1.Setup(ctx, id, ModeAWSVPC, nil, WithAddress(addr), WithMAC(mac))
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	// As after kill -9 and restart: a new Manager tears it down knowing
	// only the id and mode.
	m2 := newTestManager(t, cfg)
	if err := m2.Teardown(ctx, id, ModeAWSVPC, nil); err != nil {
		t.Fatalf("Teardown by new manager: %v", err)
	}
	assertTornDown(t, m2, cfg, id, vpcNetworkName, att)
	// ... and the address can be handed out again.
	att2 := setupAWSVPCT(t, m2, "t-"+randHex(t, 6), WithAddress(addr), WithMAC(mac))
	if att2.IPv4 != addr || att2.MAC != mac {
		t.Fatalf("attachment after restart = %+v", att2)
	}
}
