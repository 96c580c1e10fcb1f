package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	cni "github.com/containerd/go-cni"
)

// CtrBaseline measures `ctr run -d` of the same image with the same
// networking as a Berth task: the floor a task start is compared with.
//
// Without CNI, `ctr run -d` gives the container a new network namespace
// with only lo (Berth's network mode none). With CNI (`ctr run -d --cni`,
// Berth's bridge mode), ctr 1.6 loads the lexically first network list of
// /etc/cni/net.d and runs the plugins of /opt/cni/bin; Open writes there a
// network list shaped like the agent's bridge network (bridge with
// gateway, masquerade and hairpin, host-local IPAM, portmap with no port
// mapped) on a bridge and subnet of its own (CtrBridge, CtrSubnet), and,
// when /opt/cni/bin is absent, links it to Debian's /usr/lib/cni. Close
// removes what Open created, and the bridge. ctr detaches without tearing
// the network down, so Remove does the CNI DEL itself, before the kill.
type CtrBaseline struct {
	Address   string // containerd socket
	Namespace string // containerd namespace the image lives in
	Image     string
	Command   []string // what the container runs (it must keep running)
	CNI       bool
	// MemoryLimit (bytes) and CPUShares, when positive, go to ctr as
	// --memory-limit and --cpu-shares: the limits the Berth task's
	// container gets.
	MemoryLimit int64
	CPUShares   int
	// StateDir holds the CNI network's IPAM leases; required with CNI.
	StateDir string
}

// The baseline's CNI network.
const (
	CtrNetworkName = "berth-bench-ctr"
	CtrBridge      = "bb-ctr0"
	CtrSubnet      = "10.217.2.0/24"
)

const (
	ctrConfDir    = "/etc/cni/net.d"
	ctrConfFile   = "00-berth-bench-ctr.conflist"
	ctrPluginDir  = "/opt/cni/bin"
	debianPlugins = "/usr/lib/cni"
)

// ctrPlugins are the plugin binaries the network list uses.
var ctrPlugins = []string{"bridge", "host-local", "portmap"}

// ctrConflist renders the baseline's network list, keeping leases under
// ipamDir.
func ctrConflist(ipamDir string) ([]byte, error) {
	gw := strings.TrimSuffix(CtrSubnet, ".0/24") + ".1"
	return json.Marshal(map[string]any{
		"cniVersion": "1.0.0",
		"name":       CtrNetworkName,
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": CtrBridge, "isGateway": true, "ipMasq": true, "hairpinMode": true,
				"ipam": map[string]any{
					"type": "host-local", "dataDir": ipamDir,
					"ranges": [][]map[string]string{{{"subnet": CtrSubnet, "gateway": gw}}},
					"routes": []map[string]string{{"dst": "0.0.0.0/0"}},
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}, "snat": true},
		},
	})
}

// CtrSession is an opened baseline: its CNI configuration is installed
// and containers can be started and removed.
type CtrSession struct {
	b    CtrBaseline
	cd   *containerd.Client
	net  cni.CNI // nil without CNI
	undo []func() error
}

// Open checks that ctr exists, connects to containerd (for the clean-up)
// and, with CNI, installs the network list and the plugin directory.
func (b CtrBaseline) Open(ctx context.Context) (*CtrSession, error) {
	if _, err := exec.LookPath("ctr"); err != nil {
		return nil, fmt.Errorf("ctr baseline: %w", err)
	}
	cd, err := containerd.New(b.Address, containerd.WithDefaultNamespace(b.Namespace))
	if err != nil {
		return nil, fmt.Errorf("ctr baseline: connect to containerd: %w", err)
	}
	s := &CtrSession{b: b, cd: cd}
	if b.CNI {
		if err := s.setupCNI(); err != nil {
			s.Close()
			return nil, fmt.Errorf("ctr baseline: cni: %w", err)
		}
	}
	return s, nil
}

// setupCNI installs the network list (and the plugin link) and loads the
// same list for Remove's CNI DEL.
func (s *CtrSession) setupCNI() error {
	if s.b.StateDir == "" || !filepath.IsAbs(s.b.StateDir) {
		return fmt.Errorf("an absolute state dir is required, not %q", s.b.StateDir)
	}
	ipamDir := filepath.Join(s.b.StateDir, "ctr-ipam")
	if err := os.MkdirAll(ipamDir, 0o700); err != nil {
		return err
	}
	conf, err := ctrConflist(ipamDir)
	if err != nil {
		return err
	}
	if err := s.mkdirAll(ctrConfDir); err != nil {
		return err
	}
	// ctr loads only the first file: another network list sorting before
	// ours would be used instead.
	entries, err := os.ReadDir(ctrConfDir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if (ext == ".conf" || ext == ".conflist" || ext == ".json") && e.Name() < ctrConfFile {
			return fmt.Errorf("%s holds %s, which ctr would load instead of the baseline's %s", ctrConfDir, e.Name(), ctrConfFile)
		}
	}
	path := filepath.Join(ctrConfDir, ctrConfFile)
	if err := os.WriteFile(path, conf, 0o644); err != nil {
		return err
	}
	s.undo = append(s.undo, func() error { return os.Remove(path) })
	if _, err := os.Lstat(ctrPluginDir); errors.Is(err, os.ErrNotExist) {
		if err := s.mkdirAll(filepath.Dir(ctrPluginDir)); err != nil {
			return err
		}
		if err := os.Symlink(debianPlugins, ctrPluginDir); err != nil {
			return err
		}
		s.undo = append(s.undo, func() error { return os.Remove(ctrPluginDir) })
	} else if err != nil {
		return err
	}
	for _, p := range ctrPlugins {
		if _, err := os.Stat(filepath.Join(ctrPluginDir, p)); err != nil {
			return fmt.Errorf("CNI plugin %s: %w", p, err)
		}
	}
	// The bridge goes when the session ends, whoever created it (an
	// earlier run that crashed).
	s.undo = append(s.undo, func() error { return deleteLink(CtrBridge) })
	n, err := cni.New(cni.WithPluginDir([]string{ctrPluginDir}), cni.WithInterfacePrefix("eth"))
	if err != nil {
		return err
	}
	if err := n.Load(cni.WithConfListBytes(conf)); err != nil {
		return err
	}
	s.net = n
	return nil
}

// mkdirAll creates dir and the missing parents, and notes their removal
// (if still empty) for Close.
func (s *CtrSession) mkdirAll(dir string) error {
	var created []string
	for d := dir; d != "/" && d != "."; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		}
		created = append(created, d)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// Close runs the undos last first: the deepest directory goes first.
	for _, d := range slices.Backward(created) {
		s.undo = append(s.undo, func() error { return os.Remove(d) })
	}
	return nil
}

// Close undoes Open, last step first.
func (s *CtrSession) Close() error {
	var errs []error
	for _, u := range slices.Backward(s.undo) {
		if err := u(); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	s.undo = nil
	if s.cd != nil {
		errs = append(errs, s.cd.Close())
		s.cd = nil
	}
	return errors.Join(errs...)
}

// args is the ctr command line that starts container id.
func (b CtrBaseline) args(id string) []string {
	args := []string{"--address", b.Address, "--namespace", b.Namespace, "run", "-d"}
	if b.CNI {
		args = append(args, "--cni")
	}
	if b.MemoryLimit > 0 {
		args = append(args, "--memory-limit", strconv.FormatInt(b.MemoryLimit, 10))
	}
	if b.CPUShares > 0 {
		args = append(args, "--cpu-shares", strconv.Itoa(b.CPUShares))
	}
	args = append(args, b.Image, id)
	return append(args, b.Command...)
}

// Start runs `ctr run -d` for a new container id and returns the wall
// time of the command.
func (s *CtrSession) Start(ctx context.Context, id string) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, "ctr", s.b.args(id)...)
	start := time.Now()
	msg, err := cmd.CombinedOutput()
	d := time.Since(start)
	if err != nil {
		return d, fmt.Errorf("ctr run %s: %w: %s", id, err, strings.TrimSpace(string(msg)))
	}
	return d, nil
}

// Remove tears down the network of container id (CNI DEL in its still
// living namespace), kills its process and deletes it with its snapshot.
// A container that does not exist is no error.
func (s *CtrSession) Remove(ctx context.Context, id string) error {
	ctx = namespaces.WithNamespace(ctx, s.b.Namespace)
	c, err := s.cd.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ctr baseline: load %s: %w", id, err)
	}
	var errs []error
	task, err := c.Task(ctx, nil)
	switch {
	case err == nil:
		if s.net != nil {
			// ctr names the network attachment <namespace>-<id>.
			netns := fmt.Sprintf("/proc/%d/ns/net", task.Pid())
			if err := s.net.Remove(ctx, s.b.Namespace+"-"+id, netns); err != nil {
				errs = append(errs, fmt.Errorf("cni del %s: %w", id, err))
			}
		}
		if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete task %s: %w", id, err))
		}
	case !errdefs.IsNotFound(err):
		errs = append(errs, fmt.Errorf("task of %s: %w", id, err))
	}
	if err := c.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("delete container %s: %w", id, err))
	}
	return errors.Join(errs...)
}

// Run starts n containers one after another with `ctr run -d`, returns
// the wall time of each command, and removes them all afterwards.
func (b CtrBaseline) Run(ctx context.Context, n int) ([]time.Duration, error) {
	s, err := b.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	var ids []string
	defer func() {
		for _, id := range ids {
			s.Remove(context.WithoutCancel(ctx), id)
		}
	}()
	out := make([]time.Duration, 0, n)
	for i := range n {
		id := fmt.Sprintf("berth-bench-ctr-%d-%d", os.Getpid(), i)
		ids = append(ids, id)
		d, err := s.Start(ctx, id)
		if err != nil {
			return out, err
		}
		out = append(out, d)
	}
	return out, nil
}

// deleteLink deletes the network interface name if it exists.
func deleteLink(name string) error {
	if _, err := net.InterfaceByName(name); err != nil {
		return nil // absent
	}
	if msg, err := exec.Command("ip", "link", "del", name).CombinedOutput(); err != nil {
		return fmt.Errorf("delete link %s: %w: %s", name, err, strings.TrimSpace(string(msg)))
	}
	return nil
}
