package network

import (
	"context"
	"encoding/json"
	"net"
	"reflect"
	"strings"
	"testing"

	cni "github.com/containerd/go-cni"
)

func TestConfigDefaults(t *testing.T) {
	got := Config{}.withDefaults()
	want := Config{
		PluginDirs:    []string{"/usr/lib/cni"},
		StateDir:      "/var/lib/berth/agent/network",
		BridgeName:    "berth0",
		BridgeSubnet:  "10.213.0.0/17",
		VPCBridgeName: "berth-vpc0",
		VPCSubnet:     "10.213.128.0/17",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("defaults = %+v, want %+v", got, want)
	}
	if _, _, err := got.validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	kept := Config{StateDir: "/s", BridgeName: "b", MTU: 9000}.withDefaults()
	if kept.StateDir != "/s" || kept.BridgeName != "b" || kept.MTU != 9000 {
		t.Fatalf("withDefaults overwrote set fields: %+v", kept)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr string
	}{
		{"defaults", func(*Config) {}, ""},
		{"custom ok", func(c *Config) { c.BridgeSubnet, c.VPCSubnet, c.MTU = "10.214.7.0/28", "10.214.8.0/24", 1450 }, ""},
		{"relative state dir", func(c *Config) { c.StateDir = "state" }, "absolute"},
		{"relative plugin dir", func(c *Config) { c.PluginDirs = []string{"cni"} }, "absolute"},
		{"bridge name too long", func(c *Config) { c.BridgeName = "abcdefghijklmnop" }, "invalid bridge name"},
		{"bridge name slash", func(c *Config) { c.VPCBridgeName = "a/b" }, "invalid bridge name"},
		{"same bridges", func(c *Config) { c.VPCBridgeName = c.BridgeName }, "must differ"},
		{"bad cidr", func(c *Config) { c.BridgeSubnet = "10.0.0.0" }, "bridge subnet"},
		{"ipv6", func(c *Config) { c.VPCSubnet = "fd00::/64" }, "only IPv4"},
		{"host bits", func(c *Config) { c.BridgeSubnet = "10.214.0.1/24" }, "host bits"},
		{"too small", func(c *Config) { c.BridgeSubnet = "10.214.0.0/30" }, "too small"},
		{"overlap", func(c *Config) { c.BridgeSubnet, c.VPCSubnet = "10.0.0.0/8", "10.1.0.0/16" }, "overlaps"},
		{"mtu low", func(c *Config) { c.MTU = 100 }, "MTU"},
		{"mtu high", func(c *Config) { c.MTU = 70000 }, "MTU"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{}.withDefaults()
			tt.mod(&c)
			_, _, err := c.validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("validate error = %v, want containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseSubnetGateway(t *testing.T) {
	tests := []struct{ subnet, gateway string }{
		{"10.213.0.0/17", "10.213.0.1"},
		{"10.213.128.0/17", "10.213.128.1"},
		{"10.214.9.16/28", "10.214.9.17"},
	}
	for _, tt := range tests {
		s, err := parseSubnet(tt.subnet)
		if err != nil {
			t.Fatalf("parseSubnet(%s): %v", tt.subnet, err)
		}
		if s.gateway.String() != tt.gateway {
			t.Errorf("gateway of %s = %s, want %s", tt.subnet, s.gateway, tt.gateway)
		}
	}
}

// decodedConf is the part of a network list the tests look at.
type decodedConf struct {
	CNIVersion string `json:"cniVersion"`
	Name       string `json:"name"`
	Plugins    []struct {
		Type         string          `json:"type"`
		Bridge       string          `json:"bridge"`
		IsGateway    bool            `json:"isGateway"`
		IPMasq       bool            `json:"ipMasq"`
		MTU          int             `json:"mtu"`
		SNAT         *bool           `json:"snat"`
		Capabilities map[string]bool `json:"capabilities"`
		IPAM         struct {
			Type    string `json:"type"`
			DataDir string `json:"dataDir"`
			Ranges  [][]struct {
				Subnet, Gateway string
			} `json:"ranges"`
			Routes []struct{ Dst string } `json:"routes"`
		} `json:"ipam"`
	} `json:"plugins"`
}

func TestNetworkConfList(t *testing.T) {
	sub, err := parseSubnet("10.214.3.0/24")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		mode  string
		shape listShape
		mtu   int
		types []string
		caps  map[string]bool // of the bridge plugin
	}{
		{"bridge", ModeBridge, listShape{}, 0, []string{"bridge"}, nil},
		{"bridge with portmap", ModeBridge, listShape{portmap: true}, 0, []string{"bridge", "portmap"}, nil},
		{"legacy bridge", ModeBridge, listShape{portmap: true, ipMasq: true}, 1500, []string{"bridge", "portmap"}, nil},
		{"awsvpc", ModeAWSVPC, listShape{}, 1400, []string{"bridge"}, map[string]bool{"ips": true, "mac": true}},
		{"legacy awsvpc", ModeAWSVPC, listShape{ipMasq: true}, 0, []string{"bridge"}, map[string]bool{"ips": true, "mac": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := networkConfList("net-x", "bt-x", sub, tt.mtu, "/state/ipam", tt.mode, tt.shape)
			if err != nil {
				t.Fatal(err)
			}
			var c decodedConf
			if err := json.Unmarshal(b, &c); err != nil {
				t.Fatalf("decode %s: %v", b, err)
			}
			if c.CNIVersion != cniVersion || c.Name != "net-x" || len(c.Plugins) != len(tt.types) {
				t.Fatalf("conf list = %s", b)
			}
			for i, typ := range tt.types {
				if c.Plugins[i].Type != typ {
					t.Fatalf("plugin %d = %q, want %q", i, c.Plugins[i].Type, typ)
				}
			}
			br := c.Plugins[0]
			if br.Bridge != "bt-x" || !br.IsGateway || br.IPMasq != tt.shape.ipMasq || br.MTU != tt.mtu {
				t.Errorf("bridge plugin = %+v", br)
			}
			if br.IPAM.Type != "host-local" || br.IPAM.DataDir != "/state/ipam" {
				t.Errorf("ipam = %+v", br.IPAM)
			}
			if len(br.IPAM.Ranges) != 1 || len(br.IPAM.Ranges[0]) != 1 ||
				br.IPAM.Ranges[0][0].Subnet != "10.214.3.0/24" || br.IPAM.Ranges[0][0].Gateway != "10.214.3.1" {
				t.Errorf("ipam ranges = %+v", br.IPAM.Ranges)
			}
			if len(br.IPAM.Routes) != 1 || br.IPAM.Routes[0].Dst != "0.0.0.0/0" {
				t.Errorf("ipam routes = %+v", br.IPAM.Routes)
			}
			if !reflect.DeepEqual(br.Capabilities, tt.caps) {
				t.Errorf("bridge plugin capabilities = %v, want %v", br.Capabilities, tt.caps)
			}
			if tt.shape.portmap {
				pm := c.Plugins[1]
				if !pm.Capabilities["portMappings"] || pm.SNAT == nil || !*pm.SNAT {
					t.Errorf("portmap plugin = %+v", pm)
				}
			}
			// go-cni must accept the list and name the task interface eth0.
			c2, err := cni.New()
			if err != nil {
				t.Fatal(err)
			}
			if err := c2.Load(cni.WithConfListBytes(b)); err != nil {
				t.Fatalf("go-cni rejects %s: %v", b, err)
			}
			if got := c2.GetConfig().Networks[0].IFName; got != "eth0" {
				t.Errorf("interface name = %q, want eth0", got)
			}
		})
	}
}

func TestNormalizePorts(t *testing.T) {
	tests := []struct {
		name    string
		in      []PortMapping
		want    []PortMapping
		wantErr string
	}{
		{"nil", nil, []PortMapping{}, ""},
		{"default tcp", []PortMapping{{HostPort: 8080, ContainerPort: 80}},
			[]PortMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}}, ""},
		{"udp upper", []PortMapping{{HostPort: 53, ContainerPort: 53, Protocol: "UDP", HostIP: "127.0.0.1"}},
			[]PortMapping{{HostPort: 53, ContainerPort: 53, Protocol: "udp", HostIP: "127.0.0.1"}}, ""},
		{"sctp", []PortMapping{{HostPort: 1, ContainerPort: 1, Protocol: "sctp"}}, nil, "protocol"},
		{"zero host port", []PortMapping{{ContainerPort: 80}}, nil, "1-65535"},
		{"big container port", []PortMapping{{HostPort: 80, ContainerPort: 70000}}, nil, "1-65535"},
		{"bad host ip", []PortMapping{{HostPort: 80, ContainerPort: 80, HostIP: "nope"}}, nil, "host IP"},
		{"ipv6 host ip", []PortMapping{{HostPort: 80, ContainerPort: 80, HostIP: "::1"}}, nil, "host IP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := normalizePorts(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCheckUnmappedPorts(t *testing.T) {
	tests := []struct {
		ports []PortMapping
		ok    bool
	}{
		{nil, true},
		{[]PortMapping{{ContainerPort: 80}}, true},
		{[]PortMapping{{HostPort: 80, ContainerPort: 80}}, true},
		{[]PortMapping{{HostPort: 8080, ContainerPort: 80}}, false},
		{[]PortMapping{{HostPort: 0, ContainerPort: 0}}, false},
	}
	for _, tt := range tests {
		if err := checkUnmappedPorts(ModeAWSVPC, tt.ports); (err == nil) != tt.ok {
			t.Errorf("checkUnmappedPorts(%+v) = %v, want ok=%v", tt.ports, err, tt.ok)
		}
	}
}

func TestValidID(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{"0b9c2d3e-task", true},
		{"a.b_c-d", true},
		{"", false},
		{".", false},
		{"..", false},
		{"-x", false},
		{"a/b", false},
		{"a b", false},
		{strings.Repeat("a", 201), false},
	}
	for _, tt := range tests {
		if err := validID(tt.id); (err == nil) != tt.ok {
			t.Errorf("validID(%q) = %v, want ok=%v", tt.id, err, tt.ok)
		}
	}
}

func TestFillAttachment(t *testing.T) {
	sub, _ := parseSubnet("10.214.3.0/24")
	tests := []struct {
		name    string
		res     *cni.Result
		want    Attachment
		wantErr bool
	}{
		{
			name: "bridge result",
			res: &cni.Result{Interfaces: map[string]*cni.Config{
				"bt-x": {Mac: "aa:aa:aa:aa:aa:aa"},
				"eth0": {Mac: "02:42:0a:d6:03:05", IPConfigs: []*cni.IPConfig{
					{IP: net.ParseIP("fd00::5")},
					{IP: net.ParseIP("10.214.3.5"), Gateway: net.ParseIP("10.214.3.1")},
				}},
			}},
			want: Attachment{Mode: ModeBridge, IPv4: "10.214.3.5", Gateway: "10.214.3.1",
				SubnetCIDR: "10.214.3.0/24", MAC: "02:42:0a:d6:03:05", Interface: "eth0"},
		},
		{
			name: "no gateway in result",
			res: &cni.Result{Interfaces: map[string]*cni.Config{
				"eth0": {Mac: "m", IPConfigs: []*cni.IPConfig{{IP: net.ParseIP("10.214.3.9")}}},
			}},
			want: Attachment{Mode: ModeBridge, IPv4: "10.214.3.9", Gateway: "10.214.3.1",
				SubnetCIDR: "10.214.3.0/24", MAC: "m", Interface: "eth0"},
		},
		{name: "no eth0", res: &cni.Result{Interfaces: map[string]*cni.Config{"eth1": {}}}, wantErr: true},
		{name: "no ipv4", res: &cni.Result{Interfaces: map[string]*cni.Config{"eth0": {}}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			att := Attachment{Mode: ModeBridge}
			err := fillAttachment(&att, tt.res, sub)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !tt.wantErr && att != tt.want {
				t.Fatalf("attachment = %+v, want %+v", att, tt.want)
			}
		})
	}
}

func TestHostModeAndArgumentErrors(t *testing.T) {
	bridge, vpc, err := Config{}.withDefaults().validate()
	if err != nil {
		t.Fatal(err)
	}
	// No CNI is needed for host mode or for rejected arguments.
	m := &Manager{netnsDir: t.TempDir(), bridge: cniNetwork{subnet: bridge}, vpc: cniNetwork{subnet: vpc}}
	ctx := context.Background()

	att, err := m.Setup(ctx, "task1", ModeHost, []PortMapping{{HostPort: 80, ContainerPort: 80}, {ContainerPort: 81}})
	if err != nil || att != (Attachment{Mode: ModeHost}) {
		t.Fatalf("host Setup = %+v, %v", att, err)
	}
	if err := m.Teardown(ctx, "task1", ModeHost, nil); err != nil {
		t.Fatalf("host Teardown: %v", err)
	}

	tests := []struct {
		name, id, mode string
		ports          []PortMapping
	}{
		{"unknown mode", "task1", "nat", nil},
		{"empty mode", "task1", "", nil},
		{"bad id", "../x", ModeBridge, nil},
		{"bad port", "task1", ModeBridge, []PortMapping{{HostPort: 0, ContainerPort: 80}}},
		{"awsvpc remap", "task1", ModeAWSVPC, []PortMapping{{HostPort: 8080, ContainerPort: 80}}},
		{"host remap", "task1", ModeHost, []PortMapping{{HostPort: 8080, ContainerPort: 80}}},
		{"none with ports", "task1", ModeNone, []PortMapping{{HostPort: 80, ContainerPort: 80}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := m.Setup(ctx, tt.id, tt.mode, tt.ports); err == nil {
				t.Fatal("Setup succeeded")
			}
		})
	}
	if err := m.Teardown(ctx, "task1", "nat", nil); err == nil {
		t.Fatal("Teardown of unknown mode succeeded")
	}

	gw := []struct{ mode, want string }{
		{ModeBridge, "10.213.0.1"}, {ModeAWSVPC, "10.213.128.1"}, {ModeHost, "127.0.0.1"}, {ModeNone, ""}, {"x", ""},
	}
	for _, g := range gw {
		if got := m.GatewayIP(g.mode); got != g.want {
			t.Errorf("GatewayIP(%q) = %q, want %q", g.mode, got, g.want)
		}
	}
}
