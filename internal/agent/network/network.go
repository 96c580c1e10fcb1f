// Package network gives the Berth agent's tasks their network, in the ECS
// network modes:
//
//   - bridge: a network namespace per task, attached by a veth to a Linux
//     bridge (CNI bridge + host-local IPAM), with host ports mapped by the
//     CNI portmap plugin, including on 127.0.0.1. portmap runs only for
//     tasks that map ports.
//   - awsvpc: a namespace per task with its own address on a separate bridge
//     and no port mappings; callers use the task's address directly.
//   - none: a namespace per task with only lo up.
//   - host: nothing to do; the task shares the host namespace.
//
// Tasks of both bridge networks reach beyond the host through NAT: New
// installs one masquerade rule per network (not one per task, as the bridge
// plugin's ipMasq would) and Close removes them.
//
// Namespaces are pinned as bind mounts under <StateDir>/netns/<id>, IPAM
// leases live under <StateDir>/ipam and the kind of CNI network list each
// task was set up with is recorded under <StateDir>/netconf/<id>, so an
// agent restarted after a crash can still tear down what an earlier process
// set up.
package network

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	cni "github.com/containerd/go-cni"
)

// cleanupTimeout bounds the plugins' ADD and the undo of a failed Setup,
// which run even when the caller's context is already cancelled.
const cleanupTimeout = 30 * time.Second

// Attachment describes a task's network, as the control plane shows it
// (much like an ECS ElasticNetworkInterface attachment for awsvpc).
type Attachment struct {
	Mode       string // bridge, awsvpc, none or host
	NetNSPath  string // namespace for the runtime to join; "" for host
	IPv4       string // task address, e.g. 10.213.0.5 (bridge, awsvpc)
	Gateway    string // the bridge's address, e.g. 10.213.0.1
	SubnetCIDR string // e.g. 10.213.0.0/17
	MAC        string // MAC of Interface
	Interface  string // interface inside the namespace: eth0
}

// Manager sets up and tears down task networks. It is safe for concurrent
// use, but Setup and Teardown for the same id must not overlap.
type Manager struct {
	log      *slog.Logger
	netnsDir string
	confDir  string // records of the list kind per task
	bridge   cniNetwork
	vpc      cniNetwork
	ipt      iptables
	masq     []masqRule
}

// New checks cfg and the plugin binaries, creates the state directories,
// loads the CNI network lists once and installs the masquerade rule of
// each network (nat POSTROUTING: from the subnet, out of any interface but
// its bridge, multicast excepted) unless it is already there. Bridges are
// created by the first Setup of their mode. Managers of the same Config
// share the rules.
func New(cfg Config, log *slog.Logger) (*Manager, error) {
	if log == nil {
		log = slog.Default()
	}
	cfg = cfg.withDefaults()
	bridgeSubnet, vpcSubnet, err := cfg.validate()
	if err != nil {
		return nil, fmt.Errorf("network config: %w", err)
	}
	for _, p := range requiredPlugins {
		if _, err := findPlugin(cfg.PluginDirs, p); err != nil {
			return nil, err
		}
	}
	ipt, err := findIPTables()
	if err != nil {
		return nil, err
	}
	m := &Manager{log: log, netnsDir: filepath.Join(cfg.StateDir, "netns"), confDir: filepath.Join(cfg.StateDir, "netconf"), ipt: ipt}
	ipamDir := filepath.Join(cfg.StateDir, "ipam")
	for _, d := range []string{m.netnsDir, m.confDir, ipamDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("create network state dir: %w", err)
		}
	}
	if m.bridge, err = loadNetwork(cfg, bridgeNetworkName, cfg.BridgeName, bridgeSubnet, ipamDir, ModeBridge); err != nil {
		return nil, err
	}
	if m.vpc, err = loadNetwork(cfg, vpcNetworkName, cfg.VPCBridgeName, vpcSubnet, ipamDir, ModeAWSVPC); err != nil {
		return nil, err
	}
	m.masq = masqRules(cfg, bridgeSubnet, vpcSubnet)
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if err := installMasquerade(ctx, m.ipt, m.masq); err != nil {
		return nil, err
	}
	return m, nil
}

// Close removes the masquerade rules New installed; task networks and
// bridges stay. Tasks still attached then lose outbound NAT, as do those of
// other Managers of the same Config, so an agent whose tasks keep running
// across its restart must not call it: it is for tests and for taking a
// host out of service. Close is idempotent.
func (m *Manager) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	var errs []error
	for _, r := range m.masq {
		if err := m.ipt.remove(ctx, r); err != nil {
			errs = append(errs, fmt.Errorf("remove masquerade rule for %s: %w", r.subnet, err))
		}
	}
	return errors.Join(errs...)
}

// findPlugin returns the path of an executable plugin in dirs.
func findPlugin(dirs []string, name string) (string, error) {
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("CNI plugin %q not found in %v (install containernetworking-plugins): %w", name, dirs, exec.ErrNotFound)
}

// network returns the CNI network of a CNI-backed mode.
func (m *Manager) network(mode string) *cniNetwork {
	if mode == ModeAWSVPC {
		return &m.vpc
	}
	return &m.bridge
}

// netnsPath is where the namespace of id is pinned.
func (m *Manager) netnsPath(id string) string {
	return filepath.Join(m.netnsDir, id)
}

// GatewayIP is the host address that tasks of mode reach the host on: the
// bridge address for bridge and awsvpc, 127.0.0.1 for host, "" otherwise.
// The bridge address exists once the first task of that mode is set up.
func (m *Manager) GatewayIP(mode string) string {
	switch mode {
	case ModeBridge, ModeAWSVPC:
		return m.network(mode).subnet.gateway.String()
	case ModeHost:
		return "127.0.0.1"
	}
	return ""
}

// Setup creates the network of task id in mode. Port mappings apply to bridge
// mode only; in awsvpc and host mode they merely declare exposed ports (as in
// ECS, a host port, if given, must equal the container port) and nothing is
// mapped; mode none takes none. Host mode returns an Attachment without a
// namespace. Setup fails if id already has a namespace; on failure nothing
// is left behind.
//
// In awsvpc mode WithAddress and WithMAC give the task the address and MAC
// the control plane chose; without them host-local picks a free address.
// A given address that another task network holds fails Setup. Other modes
// reject both options.
func (m *Manager) Setup(ctx context.Context, id, mode string, ports []PortMapping, opts ...SetupOption) (Attachment, error) {
	if err := validID(id); err != nil {
		return Attachment{}, err
	}
	want, err := collectOptions(mode, m.vpc.subnet, opts)
	if err != nil {
		return Attachment{}, fmt.Errorf("network of %s: %w", id, err)
	}
	switch mode {
	case ModeHost, ModeAWSVPC:
		if err := checkUnmappedPorts(mode, ports); err != nil {
			return Attachment{}, err
		}
		if mode == ModeHost {
			return Attachment{Mode: ModeHost}, nil
		}
		ports = nil
	case ModeNone:
		if len(ports) > 0 {
			return Attachment{}, fmt.Errorf("network mode none takes no port mappings")
		}
	case ModeBridge:
		if ports, err = normalizePorts(ports); err != nil {
			return Attachment{}, err
		}
	default:
		return Attachment{}, fmt.Errorf("unsupported network mode %q", mode)
	}

	start := time.Now()
	path := m.netnsPath(id)
	if err := createNetNS(path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return Attachment{}, fmt.Errorf("network of %s is already set up (tear it down first): %w", id, err)
		}
		return Attachment{}, fmt.Errorf("network namespace for %s: %w", id, err)
	}
	att := Attachment{Mode: mode, NetNSPath: path}
	if mode == ModeNone {
		return att, nil
	}

	n := m.network(mode)
	list := m.setupList(mode, ports)
	if err := m.writeRecord(id, list.kind); err != nil {
		if rerr := removeNetNS(path); rerr != nil {
			m.log.Warn("undo failed network setup", "id", id, "mode", mode, "err", rerr)
		}
		return Attachment{}, err
	}
	cniOpts := append(list.portOpts(ports), want.cniOpts()...)
	// The plugins run to completion even when ctx ends: one killed halfway
	// leaves the host half configured (the bridge plugin killed between
	// attaching the first veth and setting the bridge's own MAC leaves a
	// bridge whose MAC is zero once the veth goes, and the next ADD fails).
	// A Setup whose ctx ended is undone below once the plugins return.
	addCtx, cancelAdd := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	res, err := list.cni.Setup(addCtx, id, path, cniOpts...)
	cancelAdd()
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err == nil {
		err = fillAttachment(&att, res, n.subnet)
	}
	if err == nil {
		err = want.check(att)
	}
	if err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		// The record goes last: Teardown needs it while anything is left.
		if derr := list.cni.Remove(cctx, id, path, cniOpts...); derr != nil {
			m.log.Warn("undo failed network setup", "id", id, "mode", mode, "err", derr)
		} else if rerr := removeNetNS(path); rerr != nil {
			m.log.Warn("undo failed network setup", "id", id, "mode", mode, "err", rerr)
		} else if rerr := m.removeRecord(id); rerr != nil {
			m.log.Warn("undo failed network setup", "id", id, "mode", mode, "err", rerr)
		}
		return Attachment{}, fmt.Errorf("CNI setup of %s (%s): %w", id, mode, err)
	}
	m.log.Debug("task network set up", "id", id, "mode", mode, "list", list.kind, "ip", att.IPv4,
		"ports", len(ports), "took", time.Since(start))
	return att, nil
}

// Teardown releases the network of task id set up in mode: CNI DEL (the
// IPAM lease and, for a task that mapped ports, portmap's rules), then the
// namespace. It is idempotent: an id that is already gone returns nil. It
// works from a new Manager (e.g. after an agent restart) given the same
// Config.
//
// DEL runs the network list Setup recorded for id, so the plugins match
// Setup's whatever ports the caller passes: ports should be those given to
// Setup (the CNI contract for DEL), but the agent need not persist them for
// this package, as portmap deletes its rules by container id. Without a
// record (a task set up by an agent that kept none, or a Setup cut short
// before writing it) DEL runs the legacy list of mode, which also removes
// per-task masquerade rules and portmap's rules, and if that fails the
// current list of mode with portmap.
func (m *Manager) Teardown(ctx context.Context, id, mode string, ports []PortMapping) error {
	if err := validID(id); err != nil {
		return err
	}
	switch mode {
	case ModeHost:
		return nil
	case ModeBridge:
		var err error
		if ports, err = normalizePorts(ports); err != nil {
			return err
		}
	case ModeNone, ModeAWSVPC:
	default:
		return fmt.Errorf("unsupported network mode %q", mode)
	}
	start := time.Now()
	path := m.netnsPath(id)
	pinned, err := isNetNS(path)
	if err != nil {
		return err
	}
	list := m.teardownList(id, mode)
	if list != nil {
		if list.mode != mode {
			ports = nil // the caller's ports are for another mode
		}
		nsPath := ""
		if pinned {
			nsPath = path
		}
		err := list.cni.Remove(ctx, id, nsPath, list.portOpts(ports)...)
		if err != nil && list.kind == "" {
			// The legacy list fails on a task set up without per-task
			// masquerade rules (the bridge plugin cannot delete a jump to
			// a chain that does not exist), i.e. one whose record was
			// lost. By then it has released the lease and the veth and
			// run portmap; the current list of the mode does what is left.
			fb := m.fullList(list.mode)
			if ferr := fb.cni.Remove(ctx, id, nsPath, fb.portOpts(nil)...); ferr != nil {
				err = errors.Join(err, ferr)
			} else {
				m.log.Debug("legacy network teardown failed; the current list succeeded", "id", id, "err", err)
				err = nil
			}
		}
		if err != nil {
			return fmt.Errorf("CNI teardown of %s (%s): %w", id, list.mode, err)
		}
	}
	if err := removeNetNS(path); err != nil {
		return fmt.Errorf("network namespace of %s: %w", id, err)
	}
	if err := m.removeRecord(id); err != nil {
		return err
	}
	kind := "none"
	if list != nil {
		kind = list.kind
		if kind == "" {
			kind = "legacy " + list.mode
		}
	}
	m.log.Debug("task network torn down", "id", id, "mode", mode, "list", kind, "took", time.Since(start))
	return nil
}

// fillAttachment copies the task interface's address, gateway and MAC from a
// CNI result.
func fillAttachment(att *Attachment, res *cni.Result, subnet subnetInfo) error {
	iface, ok := res.Interfaces[containerIface]
	if !ok {
		return fmt.Errorf("CNI result has no interface %s", containerIface)
	}
	for _, ipc := range iface.IPConfigs {
		if ip4 := ipc.IP.To4(); ip4 != nil {
			att.IPv4 = ip4.String()
			if ipc.Gateway != nil {
				att.Gateway = ipc.Gateway.String()
			}
			break
		}
	}
	if att.IPv4 == "" {
		return fmt.Errorf("CNI result has no IPv4 address on %s", containerIface)
	}
	if att.Gateway == "" {
		att.Gateway = subnet.gateway.String()
	}
	att.SubnetCIDR = subnet.prefix.String()
	att.MAC = iface.Mac
	att.Interface = containerIface
	return nil
}
