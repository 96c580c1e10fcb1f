package network

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
)

// Network modes, named as in ECS task definitions.
const (
	ModeBridge = "bridge"
	ModeAWSVPC = "awsvpc"
	ModeHost   = "host"
	ModeNone   = "none"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultPluginDir     = "/usr/lib/cni"
	DefaultStateDir      = "/var/lib/berth/agent/network"
	DefaultBridgeName    = "berth0"
	DefaultBridgeSubnet  = "10.213.0.0/17"
	DefaultVPCBridgeName = "berth-vpc0"
	DefaultVPCSubnet     = "10.213.128.0/17"
)

// cniVersion is the CNI spec version of the generated network lists
// (supported by Debian's containernetworking-plugins 1.1.x and libcni 1.3).
const cniVersion = "1.0.0"

// CNI network names; host-local keeps its leases under <StateDir>/ipam/<name>.
const (
	bridgeNetworkName = "berth-bridge"
	vpcNetworkName    = "berth-awsvpc"
)

// containerIface is the name of the task's interface inside its namespace.
const containerIface = "eth0"

// requiredPlugins are the plugin binaries the generated configs use.
var requiredPlugins = []string{"bridge", "host-local", "portmap"}

// Config configures a Manager. Zero fields take the Default* values.
type Config struct {
	// PluginDirs are searched for CNI plugin binaries.
	PluginDirs []string
	// StateDir holds the persistent network namespace files (netns/<id>)
	// and host-local's IPAM leases (ipam/). It must be the same across
	// agent restarts so that Teardown can clean up after a crash.
	StateDir string
	// BridgeName and BridgeSubnet configure the bridge network mode.
	BridgeName, BridgeSubnet string
	// VPCBridgeName and VPCSubnet configure the awsvpc network mode.
	VPCBridgeName, VPCSubnet string
	// MTU of the bridges and task interfaces; 0 keeps the plugin default.
	MTU int
}

// withDefaults returns cfg with zero fields filled in.
func (cfg Config) withDefaults() Config {
	if len(cfg.PluginDirs) == 0 {
		cfg.PluginDirs = []string{DefaultPluginDir}
	}
	if cfg.StateDir == "" {
		cfg.StateDir = DefaultStateDir
	}
	if cfg.BridgeName == "" {
		cfg.BridgeName = DefaultBridgeName
	}
	if cfg.BridgeSubnet == "" {
		cfg.BridgeSubnet = DefaultBridgeSubnet
	}
	if cfg.VPCBridgeName == "" {
		cfg.VPCBridgeName = DefaultVPCBridgeName
	}
	if cfg.VPCSubnet == "" {
		cfg.VPCSubnet = DefaultVPCSubnet
	}
	return cfg
}

// subnetInfo is a validated IPv4 subnet and its gateway (first host address).
type subnetInfo struct {
	prefix  netip.Prefix
	gateway netip.Addr
}

// parseSubnet validates an IPv4 CIDR with room for a gateway and at least
// one task address.
func parseSubnet(s string) (subnetInfo, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return subnetInfo{}, fmt.Errorf("subnet %q: %w", s, err)
	}
	if !p.Addr().Is4() {
		return subnetInfo{}, fmt.Errorf("subnet %q: only IPv4 is supported", s)
	}
	if p.Masked() != p {
		return subnetInfo{}, fmt.Errorf("subnet %q has host bits set (want %s)", s, p.Masked())
	}
	if p.Bits() > 29 {
		return subnetInfo{}, fmt.Errorf("subnet %q is too small (at most /29)", s)
	}
	return subnetInfo{prefix: p, gateway: p.Addr().Next()}, nil
}

// validBridgeName reports whether name is usable as a Linux interface name.
func validBridgeName(name string) error {
	if name == "" || len(name) > 15 || name == "." || name == ".." ||
		strings.ContainsAny(name, "/: \t\n") {
		return fmt.Errorf("invalid bridge name %q (1-15 characters, no '/', ':' or spaces)", name)
	}
	return nil
}

// validate checks a Config that already has its defaults applied and
// returns the parsed subnets.
func (cfg Config) validate() (bridge, vpc subnetInfo, err error) {
	if !filepath.IsAbs(cfg.StateDir) {
		return bridge, vpc, fmt.Errorf("state dir %q must be an absolute path", cfg.StateDir)
	}
	for _, d := range cfg.PluginDirs {
		if !filepath.IsAbs(d) {
			return bridge, vpc, fmt.Errorf("plugin dir %q must be an absolute path", d)
		}
	}
	if err := validBridgeName(cfg.BridgeName); err != nil {
		return bridge, vpc, err
	}
	if err := validBridgeName(cfg.VPCBridgeName); err != nil {
		return bridge, vpc, err
	}
	if cfg.BridgeName == cfg.VPCBridgeName {
		return bridge, vpc, fmt.Errorf("bridge and awsvpc bridge must differ (both %q)", cfg.BridgeName)
	}
	if bridge, err = parseSubnet(cfg.BridgeSubnet); err != nil {
		return bridge, vpc, fmt.Errorf("bridge %w", err)
	}
	if vpc, err = parseSubnet(cfg.VPCSubnet); err != nil {
		return bridge, vpc, fmt.Errorf("awsvpc %w", err)
	}
	if bridge.prefix.Overlaps(vpc.prefix) {
		return bridge, vpc, fmt.Errorf("bridge subnet %s overlaps awsvpc subnet %s", bridge.prefix, vpc.prefix)
	}
	if cfg.MTU != 0 && (cfg.MTU < 576 || cfg.MTU > 65535) {
		return bridge, vpc, fmt.Errorf("MTU %d out of range (0 or 576-65535)", cfg.MTU)
	}
	return bridge, vpc, nil
}

// Network list JSON, as read by libcni and the plugins.
type (
	confList struct {
		CNIVersion string `json:"cniVersion"`
		Name       string `json:"name"`
		Plugins    []any  `json:"plugins"`
	}
	bridgePluginConf struct {
		Type         string          `json:"type"`
		Bridge       string          `json:"bridge"`
		IsGateway    bool            `json:"isGateway"`
		IPMasq       bool            `json:"ipMasq"`
		HairpinMode  bool            `json:"hairpinMode"`
		MTU          int             `json:"mtu,omitempty"`
		Capabilities map[string]bool `json:"capabilities,omitempty"`
		IPAM         ipamConf        `json:"ipam"`
	}
	ipamConf struct {
		Type    string        `json:"type"`
		DataDir string        `json:"dataDir"`
		Ranges  [][]rangeConf `json:"ranges"`
		Routes  []routeConf   `json:"routes"`
	}
	rangeConf struct {
		Subnet  string `json:"subnet"`
		Gateway string `json:"gateway"`
	}
	routeConf struct {
		Dst string `json:"dst"`
	}
	portmapPluginConf struct {
		Type         string          `json:"type"`
		Capabilities map[string]bool `json:"capabilities"`
		SNAT         bool            `json:"snat"`
	}
)

// listShape selects the plugins of one network list. The lists of a
// network share its name, and so host-local's leases and the names of the
// plugins' iptables chains; they differ only in the plugins run.
type listShape struct {
	// portmap chains the portmap plugin after bridge (bridge mode, for
	// tasks that map ports).
	portmap bool
	// ipMasq has the bridge plugin add masquerade rules per task. Only the
	// legacy lists set it: Setup relies on the network's one masquerade
	// rule (see masqRule) instead.
	ipMasq bool
}

// networkConfList renders a CNI network list for one bridge network of
// mode. portmap, when chained, has snat so that host ports also answer on
// 127.0.0.1. In awsvpc mode the bridge plugin takes the "ips" capability
// (passed on to host-local, which then leases exactly that address) and the
// "mac" capability (the task interface's MAC), so Setup can apply the
// control plane's choice.
func networkConfList(name, bridgeName string, subnet subnetInfo, mtu int, ipamDir, mode string, shape listShape) ([]byte, error) {
	var caps map[string]bool
	if mode == ModeAWSVPC {
		caps = map[string]bool{"ips": true, "mac": true}
	}
	plugins := []any{bridgePluginConf{
		Type:         "bridge",
		Bridge:       bridgeName,
		IsGateway:    true,
		IPMasq:       shape.ipMasq,
		HairpinMode:  true,
		MTU:          mtu,
		Capabilities: caps,
		IPAM: ipamConf{
			Type:    "host-local",
			DataDir: ipamDir,
			Ranges:  [][]rangeConf{{{Subnet: subnet.prefix.String(), Gateway: subnet.gateway.String()}}},
			Routes:  []routeConf{{Dst: "0.0.0.0/0"}},
		},
	}}
	if shape.portmap {
		plugins = append(plugins, portmapPluginConf{
			Type:         "portmap",
			Capabilities: map[string]bool{"portMappings": true},
			SNAT:         true,
		})
	}
	b, err := json.Marshal(confList{CNIVersion: cniVersion, Name: name, Plugins: plugins})
	if err != nil {
		return nil, fmt.Errorf("encode CNI network list %s: %w", name, err)
	}
	return b, nil
}

// PortMapping maps a host port to a container port (bridge mode only).
type PortMapping struct {
	HostPort, ContainerPort int
	Protocol                string // "tcp" (default when empty) or "udp"
	HostIP                  string // "" = all host addresses, including 127.0.0.1
}

// normalizePorts validates ports and returns them with defaults applied.
func normalizePorts(ports []PortMapping) ([]PortMapping, error) {
	out := make([]PortMapping, 0, len(ports))
	for _, p := range ports {
		p.Protocol = strings.ToLower(p.Protocol)
		if p.Protocol == "" {
			p.Protocol = "tcp"
		}
		if p.Protocol != "tcp" && p.Protocol != "udp" {
			return nil, fmt.Errorf("port mapping %d->%d: protocol %q is not tcp or udp", p.HostPort, p.ContainerPort, p.Protocol)
		}
		if p.HostPort < 1 || p.HostPort > 65535 || p.ContainerPort < 1 || p.ContainerPort > 65535 {
			return nil, fmt.Errorf("port mapping %d->%d: ports must be 1-65535", p.HostPort, p.ContainerPort)
		}
		if p.HostIP != "" {
			ip := net.ParseIP(p.HostIP)
			if ip == nil || ip.To4() == nil {
				return nil, fmt.Errorf("port mapping %d->%d: host IP %q is not an IPv4 address", p.HostPort, p.ContainerPort, p.HostIP)
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// checkUnmappedPorts applies the ECS rule for awsvpc and host mode: a port
// mapping only declares an exposed container port, so a host port, if
// given, must equal it.
func checkUnmappedPorts(mode string, ports []PortMapping) error {
	for _, p := range ports {
		if p.ContainerPort < 1 || p.ContainerPort > 65535 {
			return fmt.Errorf("%s port mapping: container port %d out of range 1-65535", mode, p.ContainerPort)
		}
		if p.HostPort != 0 && p.HostPort != p.ContainerPort {
			return fmt.Errorf("%s port mapping %d->%d: host port must be 0 or equal the container port", mode, p.HostPort, p.ContainerPort)
		}
	}
	return nil
}

// idPattern is the CNI container ID grammar; the id also names the netns file.
var idPattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`)

// validID checks a task network id.
func validID(id string) error {
	if len(id) > 200 || !idPattern.MatchString(id) {
		return fmt.Errorf("invalid network id %q (letters, digits, '_', '.', '-'; at most 200)", id)
	}
	return nil
}
