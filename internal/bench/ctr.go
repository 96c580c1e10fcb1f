package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// CtrBaseline measures `ctr run -d` of the same image with the same
// networking as a Berth task, the floor a task start is compared with.
// With CNI, ctr reads its network from /etc/cni/net.d and its plugins from
// /opt/cni/bin; the baseline writes a bridge+portmap conflist there (and,
// when /opt/cni/bin is absent, links it to Debian's /usr/lib/cni) for the
// duration of the run and removes both afterwards.
type CtrBaseline struct {
	Address   string // containerd socket
	Namespace string // containerd namespace the image lives in
	Image     string
	Command   []string // what the container runs (it must keep running)
	CNI       bool
}

const (
	ctrConfDir    = "/etc/cni/net.d"
	ctrConfFile   = "10-berth-bench.conflist"
	ctrPluginDir  = "/opt/cni/bin"
	debianPlugins = "/usr/lib/cni"
)

// ctrConflist is a bridge network on its own bridge and subnet, so it never
// touches the agent's.
const ctrConflist = `{
  "cniVersion": "1.0.0",
  "name": "berth-bench",
  "plugins": [
    {"type": "bridge", "bridge": "berthbench0", "isGateway": true, "ipMasq": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.215.0.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}`

// setupCNI installs the conflist (and the plugin link) and returns their removal.
func (b CtrBaseline) setupCNI() (func(), error) {
	if !b.CNI {
		return func() {}, nil
	}
	var undo []func()
	cleanup := func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	if err := os.MkdirAll(ctrConfDir, 0o755); err != nil {
		return nil, err
	}
	conf := filepath.Join(ctrConfDir, ctrConfFile)
	if err := os.WriteFile(conf, []byte(ctrConflist), 0o644); err != nil {
		return nil, err
	}
	undo = append(undo, func() { os.Remove(conf) })
	if _, err := os.Stat(ctrPluginDir); os.IsNotExist(err) {
		if err := os.MkdirAll(filepath.Dir(ctrPluginDir), 0o755); err != nil {
			cleanup()
			return nil, err
		}
		if err := os.Symlink(debianPlugins, ctrPluginDir); err != nil {
			cleanup()
			return nil, err
		}
		undo = append(undo, func() { os.Remove(ctrPluginDir) })
	}
	return cleanup, nil
}

func (b CtrBaseline) ctr(ctx context.Context, args ...string) *exec.Cmd {
	full := append([]string{"--address", b.Address, "--namespace", b.Namespace}, args...)
	return exec.CommandContext(ctx, "ctr", full...)
}

// Run starts n containers one after another with `ctr run -d` and returns
// the wall time of each command; it removes every container afterwards.
func (b CtrBaseline) Run(ctx context.Context, n int) ([]time.Duration, error) {
	cleanup, err := b.setupCNI()
	if err != nil {
		return nil, fmt.Errorf("ctr baseline: cni config: %w", err)
	}
	defer cleanup()
	var ids []string
	defer func() {
		for _, id := range ids {
			b.ctr(context.Background(), "task", "kill", "-s", "SIGKILL", id).Run()
			b.ctr(context.Background(), "task", "rm", "-f", id).Run()
			b.ctr(context.Background(), "container", "rm", id).Run()
		}
	}()
	out := make([]time.Duration, 0, n)
	for i := range n {
		id := fmt.Sprintf("berth-bench-ctr-%d-%d", os.Getpid(), i)
		args := []string{"run", "-d"}
		if b.CNI {
			args = append(args, "--cni")
		}
		args = append(args, b.Image, id)
		args = append(args, b.Command...)
		cmd := b.ctr(ctx, args...)
		start := time.Now()
		msg, err := cmd.CombinedOutput()
		d := time.Since(start)
		if err != nil {
			return out, fmt.Errorf("ctr run: %w: %s", err, msg)
		}
		ids = append(ids, id)
		out = append(out, d)
	}
	return out, nil
}
