package network

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	cni "github.com/containerd/go-cni"
)

// Kinds of network list, as Setup records them per task in
// <StateDir>/netconf/<id>. Teardown runs DEL with the recorded list, so it
// neither depends on the ports its caller passes nor runs plugins that
// Setup did not.
const (
	kindBridge        = "bridge"         // bridge mode, no port mappings: bridge plugin only
	kindBridgePortmap = "bridge+portmap" // bridge mode with port mappings: bridge, then portmap
	kindAWSVPC        = "awsvpc"         // awsvpc mode: bridge plugin only
)

// cniNetwork is one bridge network: its subnet and its loaded lists.
type cniNetwork struct {
	subnet subnetInfo
	// plain is the bridge plugin alone; the network's masquerade rule
	// gives its tasks outbound NAT.
	plain netList
	// portmap is plain followed by portmap (bridge network only).
	portmap netList
	// legacy is the list agents used before records existed: per-task
	// ipMasq, and portmap in bridge mode. It does everything the other
	// lists do, so Teardown runs DEL with it for an id without a record
	// (a task set up by such an agent, or a Setup that crashed before
	// writing the record).
	legacy netList
}

// netList is one loaded CNI network list. It is the only network loaded
// into its go-cni instance, so the task interface is eth0.
type netList struct {
	kind    string // recorded kind; "" for legacy lists
	mode    string
	portmap bool
	cni     cni.CNI
}

// portOpts passes port mappings to portmap when the list has it. With no
// mappings (a DEL whose caller no longer knows them) a placeholder is
// passed: portmap deletes its rules by container id, and it only runs when
// given at least one mapping.
func (l *netList) portOpts(ports []PortMapping) []cni.NamespaceOpts {
	if !l.portmap {
		return nil
	}
	if len(ports) == 0 {
		ports = []PortMapping{{HostPort: 1, ContainerPort: 1, Protocol: "tcp"}}
	}
	pm := make([]cni.PortMapping, len(ports))
	for i, p := range ports {
		pm[i] = cni.PortMapping{
			HostPort:      int32(p.HostPort),
			ContainerPort: int32(p.ContainerPort),
			Protocol:      p.Protocol,
			HostIP:        p.HostIP,
		}
	}
	return []cni.NamespaceOpts{cni.WithCapabilityPortMap(pm)}
}

// loadNetwork renders and loads the lists of one bridge network.
func loadNetwork(cfg Config, name, bridgeName string, subnet subnetInfo, ipamDir, mode string) (cniNetwork, error) {
	n := cniNetwork{subnet: subnet}
	load := func(kind string, shape listShape) (netList, error) {
		conf, err := networkConfList(name, bridgeName, subnet, cfg.MTU, ipamDir, mode, shape)
		if err != nil {
			return netList{}, err
		}
		c, err := cni.New(cni.WithPluginDir(cfg.PluginDirs), cni.WithInterfacePrefix("eth"))
		if err != nil {
			return netList{}, fmt.Errorf("init CNI for %s: %w", name, err)
		}
		if err := c.Load(cni.WithConfListBytes(conf)); err != nil {
			return netList{}, fmt.Errorf("load CNI network %s: %w", name, err)
		}
		return netList{kind: kind, mode: mode, portmap: shape.portmap, cni: c}, nil
	}
	var err error
	if mode == ModeBridge {
		if n.plain, err = load(kindBridge, listShape{}); err != nil {
			return n, err
		}
		if n.portmap, err = load(kindBridgePortmap, listShape{portmap: true}); err != nil {
			return n, err
		}
		n.legacy, err = load("", listShape{portmap: true, ipMasq: true})
		return n, err
	}
	if n.plain, err = load(kindAWSVPC, listShape{}); err != nil {
		return n, err
	}
	n.legacy, err = load("", listShape{ipMasq: true})
	return n, err
}

// setupList is the list Setup uses for a task of mode (bridge or awsvpc)
// with ports: portmap runs only for a bridge task that maps ports.
func (m *Manager) setupList(mode string, ports []PortMapping) *netList {
	switch {
	case mode == ModeAWSVPC:
		return &m.vpc.plain
	case len(ports) > 0:
		return &m.bridge.portmap
	default:
		return &m.bridge.plain
	}
}

// fullList is the current list of mode (bridge or awsvpc) that runs the
// most plugins: in bridge mode the one with portmap.
func (m *Manager) fullList(mode string) *netList {
	if mode == ModeAWSVPC {
		return &m.vpc.plain
	}
	return &m.bridge.portmap
}

// teardownList is the list to DEL id with: the one its Setup recorded,
// whatever mode the caller names, else the legacy list of mode; nil for
// mode none without a record.
func (m *Manager) teardownList(id, mode string) *netList {
	kind, err := m.readRecord(id)
	if err != nil {
		m.log.Warn("network list record unreadable; tearing down with the legacy list", "id", id, "err", err)
	}
	for _, l := range []*netList{&m.bridge.plain, &m.bridge.portmap, &m.vpc.plain} {
		if kind != "" && l.kind == kind {
			return l
		}
	}
	if kind != "" {
		m.log.Warn("unknown network list record; tearing down with the legacy list", "id", id, "kind", kind)
	}
	switch mode {
	case ModeBridge:
		return &m.bridge.legacy
	case ModeAWSVPC:
		return &m.vpc.legacy
	}
	return nil
}

// recordPath is where the list kind of id is recorded.
func (m *Manager) recordPath(id string) string {
	return filepath.Join(m.confDir, id)
}

// writeRecord records the list kind Setup uses for id.
func (m *Manager) writeRecord(id, kind string) error {
	if err := os.WriteFile(m.recordPath(id), []byte(kind+"\n"), 0o600); err != nil {
		return fmt.Errorf("record network list of %s: %w", id, err)
	}
	return nil
}

// readRecord returns the recorded list kind of id, "" when there is none.
func (m *Manager) readRecord(id string) (string, error) {
	b, err := os.ReadFile(m.recordPath(id))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read network list record of %s: %w", id, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// removeRecord deletes the record of id; a missing record is fine.
func (m *Manager) removeRecord(id string) error {
	if err := os.Remove(m.recordPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove network list record of %s: %w", id, err)
	}
	return nil
}
