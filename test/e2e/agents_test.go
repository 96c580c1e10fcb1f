package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"golang.org/x/sys/unix"

	"github.com/berth/berth/internal/testimage"
)

// The multi-agent cluster: one `berth dev --no-agent` and three `berth
// agent` processes on this machine. `berth agent` has no flags for its
// bridge names, so agents sharing the host's network namespace would all
// attach to berth0 (the bridge of `berth dev`, which other tests use) and
// install their masquerade rules in the host's nat table. Each agent runs
// instead in a network namespace of its own (ip netns NAME, entered with
// nsenter --net: the mount namespace stays the host's, so the task
// namespaces the agent pins are visible to containerd). Its bridges and
// iptables rules live and die with that namespace. The server listens on
// 127.0.0.1 of the host namespace; a proxy in this test process listens on
// 127.0.0.1 inside each agent's namespace (the socket is created there) and
// forwards to it, so every agent's --server is http://127.0.0.1:PORT.

// multiPrefix names the agents' network and containerd namespaces
// (berth-multi-a, ...): apart from `berth dev`'s "berth" and other suites'.
const multiPrefix = "berth-multi-"

// multiLostAfter is the server's --instance-lost-after.
const multiLostAfter = 15 * time.Second

// multiAgentSpec is one agent of the cluster.
type multiAgentSpec struct {
	name                    string // a, b, c: suffix of its namespaces
	instanceID, zone        string
	attributes              []string // --attribute NAME=VALUE
	bridgeSubnet, vpcSubnet string   // inside 10.218.0.0/16
}

// multiAgentSpecs are the three agents: one per availability zone, the
// second with the custom attribute tier=special.
var multiAgentSpecs = []multiAgentSpec{
	{name: "a", instanceID: "i-00000000000e2e0a", zone: "zone-a", bridgeSubnet: "10.218.1.0/24", vpcSubnet: "10.218.129.0/25"},
	{name: "b", instanceID: "i-00000000000e2e0b", zone: "zone-b", attributes: []string{"tier=special"}, bridgeSubnet: "10.218.2.0/24", vpcSubnet: "10.218.130.0/25"},
	{name: "c", instanceID: "i-00000000000e2e0c", zone: "zone-c", bridgeSubnet: "10.218.3.0/24", vpcSubnet: "10.218.131.0/25"},
}

// multiRange is the address range the agents' subnets come from: nothing
// of it may ever appear in the host's network namespace.
var multiRange = netip.MustParsePrefix("10.218.0.0/16")

// agentProc is one running `berth agent`.
type agentProc struct {
	spec    multiAgentSpec
	netns   string // ip netns name; /run/netns/<netns>
	ns      string // containerd namespace
	dataDir string
	arn     string // container instance ARN, once registered
	cmd     *exec.Cmd
	stderr  *syncBuffer
	exited  chan struct{}
	state   *os.ProcessState
}

func (a *agentProc) netnsPath() string { return filepath.Join("/run/netns", a.netns) }

// running reports whether the process has not exited.
func (a *agentProc) running() bool {
	select {
	case <-a.exited:
		return false
	default:
		return true
	}
}

// kill9 kills the agent with SIGKILL: its websockets close, its containers
// keep running.
func (a *agentProc) kill9() error {
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("send SIGKILL to agent %s: %w", a.spec.name, err)
	}
	<-a.exited
	return nil
}

// stop ends the agent: SIGTERM, then SIGKILL after 15 s.
func (a *agentProc) stop() {
	if !a.running() {
		return
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.exited:
	case <-time.After(15 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.exited
	}
}

// multiEnv is the running cluster.
type multiEnv struct {
	srv     *berthProc
	cli     awsCLI
	sdk     *sdkecs.Client // polling and bulk clean-up only; the tests act with the CLI
	agents  []*agentProc
	proxies []*netnsProxy
}

// agentByARN returns the agent of a container instance ARN, or nil.
func (e *multiEnv) agentByARN(arn string) *agentProc {
	for _, a := range e.agents {
		if a.arn == arn {
			return a
		}
	}
	return nil
}

// requireMultiAgent skips unless this machine can run the cluster.
func requireMultiAgent(t *testing.T) {
	t.Helper()
	requireAWS(t)
	testimage.RequireContainerd(t)
	for _, tool := range []string{"nsenter", "ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: the multi-agent test needs it", tool)
		}
	}
	for _, p := range []string{"bridge", "host-local", "portmap"} {
		if _, err := os.Stat(filepath.Join("/usr/lib/cni", p)); err != nil {
			t.Skipf("CNI plugin %s absent from /usr/lib/cni", p)
		}
	}
	if _, err := os.Stat(testimage.BusyboxPath); err != nil {
		t.Skipf("%s absent (install busybox-static)", testimage.BusyboxPath)
	}
}

// startMultiEnv starts the server and the three agents and returns once
// every agent's instance is ACTIVE and connected. Everything is removed
// when t ends, whatever happened.
func startMultiEnv(t *testing.T) *multiEnv {
	t.Helper()
	requireMultiAgent(t)
	removeMultiLeftovers(t)
	root := t.TempDir() // before the clean-up below: removed after it
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	e := &multiEnv{}
	t.Cleanup(func() { e.close(t) })
	e.srv, err = startBerthArgs(filepath.Join(root, "server"), addr, "--no-agent", "--instance-lost-after", multiLostAfter.String())
	if err != nil {
		t.Fatal(err)
	}
	e.cli = e.srv.cli()
	keyID, secret := readCredentials(t, filepath.Join(e.srv.dataDir, "credentials"))
	// The SDK's default retries stay on: it only describes, lists and
	// stops, and without them about 1 % of calls whose response is
	// chunked fail with "use of closed network connection" (a client-side
	// race, aws-sdk-go-v2#2737, which the SDK retries since).
	e.sdk = sdkecs.New(sdkecs.Options{
		Region:       region,
		BaseEndpoint: aws.String(e.srv.endpoint()),
		Credentials:  credentials.NewStaticCredentialsProvider(keyID, secret, ""),
	})

	c, err := client.New(testimage.Socket)
	if err != nil {
		t.Fatalf("connect containerd: %v", err)
	}
	for _, s := range multiAgentSpecs {
		if err := testimage.Import(context.Background(), c, multiPrefix+s.name, testimage.DefaultRef); err != nil {
			c.Close()
			t.Fatalf("import the busybox test image into %s: %v", multiPrefix+s.name, err)
		}
	}
	c.Close()

	for _, s := range multiAgentSpecs {
		e.agents = append(e.agents, e.startAgent(t, root, s))
	}
	e.waitAgentsConnected(t)
	return e
}

// startAgent gives the agent a network namespace, a proxy to the server
// inside it and a credential of its own, and starts it.
func (e *multiEnv) startAgent(t *testing.T, root string, s multiAgentSpec) *agentProc {
	t.Helper()
	a := &agentProc{spec: s, netns: multiPrefix + s.name, ns: multiPrefix + s.name,
		dataDir: filepath.Join(root, "agent-"+s.name), stderr: &syncBuffer{}, exited: make(chan struct{})}
	if err := os.MkdirAll(a.dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "ip", "netns", "add", a.netns)
	mustRun(t, "ip", "-n", a.netns, "link", "set", "lo", "up")
	p, err := startNetNSProxy(a.netnsPath(), e.srv.listen, e.srv.listen)
	if err != nil {
		t.Fatal(err)
	}
	e.proxies = append(e.proxies, p)

	creds := filepath.Join(a.dataDir, "credentials")
	runBerth(t, "credentials", "create", "--endpoint", e.srv.endpoint(), "--data-dir", e.srv.dataDir,
		"--name", "multi-agent-"+s.name, "--write", creds)
	metadataAddr, err := freeAddr() // any port would do in its namespace; a free one keeps it apart anyway
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(metadataAddr)
	args := []string{"--net=" + a.netnsPath(), "--", berthBin, "agent",
		"--server", e.srv.endpoint(), "--cluster", "default", "--credentials-file", creds,
		"--data-dir", a.dataDir, "--instance-id", s.instanceID, "--availability-zone", s.zone,
		"--containerd-namespace", a.ns, "--bridge-subnet", s.bridgeSubnet, "--awsvpc-subnet", s.vpcSubnet,
		"--metadata-port", port, "--introspection-port", "0", "--container-stop-timeout", "2s"}
	for _, at := range s.attributes {
		args = append(args, "--attribute", at)
	}
	// nsenter enters the network namespace only and execs berth: the
	// process started is the agent itself (kill -9 reaches it).
	a.cmd = exec.Command("nsenter", args...)
	a.cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + a.dataDir, "LANG=C.UTF-8"}
	a.cmd.Stdout, a.cmd.Stderr = a.stderr, a.stderr
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("start agent %s: %v", s.name, err)
	}
	go func() {
		_ = a.cmd.Wait() // the exit status is read from ProcessState
		a.state = a.cmd.ProcessState
		close(a.exited)
	}()
	return a
}

// waitAgentsConnected waits until the cluster has the three instances,
// ACTIVE with their agents connected, and records their ARNs.
func (e *multiEnv) waitAgentsConnected(t *testing.T) {
	t.Helper()
	want := map[string]*agentProc{}
	for _, a := range e.agents {
		want[a.spec.instanceID] = a
	}
	waitFor(t, 60*time.Second, "the three agents to register and connect", func() (bool, string) {
		for _, a := range e.agents {
			if !a.running() {
				t.Fatalf("agent %s exited: %s\n%s", a.spec.name, a.state, tail(a.stderr.String()))
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		l, err := e.sdk.ListContainerInstances(ctx, &sdkecs.ListContainerInstancesInput{Cluster: aws.String("default")})
		if err != nil {
			return false, err.Error()
		}
		if len(l.ContainerInstanceArns) != len(e.agents) {
			return false, fmt.Sprintf("%d instances", len(l.ContainerInstanceArns))
		}
		d, err := e.sdk.DescribeContainerInstances(ctx, &sdkecs.DescribeContainerInstancesInput{Cluster: aws.String("default"), ContainerInstances: l.ContainerInstanceArns})
		if err != nil {
			return false, err.Error()
		}
		ready := 0
		for _, ci := range d.ContainerInstances {
			a := want[aws.ToString(ci.Ec2InstanceId)]
			if a == nil {
				t.Fatalf("unexpected container instance %s (%s)", aws.ToString(ci.ContainerInstanceArn), aws.ToString(ci.Ec2InstanceId))
			}
			a.arn = aws.ToString(ci.ContainerInstanceArn)
			if ci.AgentConnected && aws.ToString(ci.Status) == "ACTIVE" {
				ready++
			}
		}
		return ready == len(e.agents), fmt.Sprintf("%d of %d connected", ready, len(e.agents))
	})
}

// close stops the agents and the server and removes every container, task
// network namespace, network namespace, bridge and iptables rule the
// cluster made; then it checks that nothing of it is left.
func (e *multiEnv) close(t *testing.T) {
	if t.Failed() {
		for _, a := range e.agents {
			t.Logf("--- agent %s (%s) log tail:\n%s", a.spec.name, a.spec.instanceID, tail(a.stderr.String()))
		}
		if e.srv != nil {
			t.Logf("--- server log tail:\n%s", tail(e.srv.stderr.String()))
		}
	}
	for _, a := range e.agents {
		a.stop()
	}
	if e.srv != nil {
		e.srv.stopIfRunning()
	}
	for _, p := range e.proxies {
		p.close()
	}
	removeMultiLeftovers(t)
	checkNoMultiState(t)
}

// removeMultiLeftovers removes what this test (or an earlier run that
// died) left: the containers of the agents' containerd namespaces, the
// task network namespaces the agents pinned under temporary directories
// of TestMultiAgent, and the agents' network namespaces (with their
// bridges, veths and iptables rules).
func removeMultiLeftovers(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if c, err := client.New(testimage.Socket); err != nil {
		t.Errorf("clean-up: connect containerd: %v", err)
	} else {
		for _, s := range multiAgentSpecs {
			if err := removeNamespaceContainers(ctx, c, multiPrefix+s.name); err != nil {
				t.Errorf("clean-up: %v", err)
			}
		}
		c.Close()
	}
	for _, p := range taskNetNSMounts(t) {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
			t.Errorf("clean-up: unmount task network namespace %s: %v", p, err)
		}
		_ = os.Remove(p)
	}
	for _, s := range multiAgentSpecs {
		name := multiPrefix + s.name
		fi, err := os.Stat(filepath.Join("/run/netns", name))
		if err != nil {
			continue
		}
		if out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput(); err != nil {
			t.Errorf("clean-up: ip netns delete %s: %v: %s", name, err, out)
			continue
		}
		// The namespace, with its bridges, veths and nat rules, is gone
		// once nothing holds it: no process may still be in it.
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			for _, pid := range processesInNetNS(st.Ino) {
				t.Errorf("clean-up: process %d is still in network namespace %s: %s", pid, name, cmdline(pid))
			}
		}
	}
}

// processesInNetNS lists the processes whose network namespace has inode
// ino.
func processesInNetNS(ino uint64) []int {
	want := fmt.Sprintf("net:[%d]", ino)
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, ent := range entries {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		if l, err := os.Readlink(filepath.Join("/proc", ent.Name(), "ns", "net")); err == nil && l == want {
			pids = append(pids, pid)
		}
	}
	return pids
}

// cmdline returns a process's command line for messages.
func cmdline(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

// removeNamespaceContainers kills and deletes every container of a
// containerd namespace.
func removeNamespaceContainers(ctx context.Context, c *client.Client, ns string) error {
	ctx = namespaces.WithNamespace(ctx, ns)
	list, err := c.Containers(ctx)
	if err != nil {
		return fmt.Errorf("list containers of %s: %w", ns, err)
	}
	var errs []error
	for _, ctr := range list {
		if task, err := ctr.Task(ctx, nil); err == nil {
			if _, err := task.Delete(ctx, client.WithProcessKill); err != nil {
				errs = append(errs, fmt.Errorf("delete task of %s/%s: %w", ns, ctr.ID(), err))
			}
		}
		if err := ctr.Delete(ctx, client.WithSnapshotCleanup); err != nil {
			errs = append(errs, fmt.Errorf("delete container %s/%s: %w", ns, ctr.ID(), err))
		}
	}
	return errors.Join(errs...)
}

// taskNetNSMounts lists the mount points of task network namespaces that
// agents of this test pinned (DATA_DIR/network/netns/ID under a
// TestMultiAgent temporary directory).
func taskNetNSMounts(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Errorf("clean-up: %v", err)
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := fields[4]
		if strings.HasPrefix(mp, os.TempDir()+"/TestMultiAgent") && strings.Contains(mp, "/network/netns/") {
			out = append(out, mp)
		}
	}
	return out
}

// checkNoMultiState fails t if anything of the cluster is left: containers
// in its containerd namespaces, its network namespaces, or (which would
// mean an agent escaped its namespace) addresses or nat rules of
// 10.218.0.0/16 in the host's network namespace.
func checkNoMultiState(t *testing.T) {
	t.Helper()
	if c, err := client.New(testimage.Socket); err == nil {
		for _, s := range multiAgentSpecs {
			ctx := namespaces.WithNamespace(context.Background(), multiPrefix+s.name)
			if list, err := c.Containers(ctx); err != nil || len(list) > 0 {
				t.Errorf("containerd namespace %s: %d containers left (%v)", multiPrefix+s.name, len(list), err)
			}
		}
		c.Close()
	}
	for _, s := range multiAgentSpecs {
		if _, err := os.Stat(filepath.Join("/run/netns", multiPrefix+s.name)); err == nil {
			t.Errorf("network namespace %s left", multiPrefix+s.name)
		}
	}
	for _, p := range taskNetNSMounts(t) {
		t.Errorf("task network namespace %s is still mounted", p)
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Error(err)
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && multiRange.Contains(p.Addr()) {
			t.Errorf("the host's network namespace has address %s of the agents' range %s", a, multiRange)
		}
	}
	out, err := exec.Command("iptables", "-w", "-t", "nat", "-S").CombinedOutput()
	if err != nil {
		t.Errorf("iptables -t nat -S: %v: %s", err, out)
	}
	for line := range strings.Lines(string(out)) {
		if strings.Contains(line, "10.218.") {
			t.Errorf("the host's nat table has a rule of the agents' range: %s", strings.TrimSpace(line))
		}
	}
}

// netnsProxy accepts TCP connections on a listener inside another network
// namespace and forwards them to an address of this one.
type netnsProxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]bool
	closed bool
}

// startNetNSProxy listens on addr inside the network namespace pinned at
// path and forwards every connection to target.
func startNetNSProxy(path, addr, target string) (*netnsProxy, error) {
	ln, err := listenInNetNS(path, addr)
	if err != nil {
		return nil, err
	}
	p := &netnsProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// listenInNetNS creates a listening socket inside the network namespace
// pinned at path: a socket stays in the namespace it was created in.
func listenInNetNS(path, addr string) (net.Listener, error) {
	type result struct {
		ln  net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: err}
			return
		}
		defer orig.Close()
		target, err := os.Open(path)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: err}
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("enter network namespace %s: %w", path, err)}
			return
		}
		ln, lerr := net.Listen("tcp", addr)
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// The thread stays locked: the runtime discards it when this
			// goroutine ends instead of running others in the namespace.
			if ln != nil {
				ln.Close()
			}
			ch <- result{err: fmt.Errorf("return to the test's network namespace: %w", err)}
			return
		}
		runtime.UnlockOSThread()
		if lerr != nil {
			lerr = fmt.Errorf("listen on %s in %s: %w", addr, path, lerr)
		}
		ch <- result{ln: ln, err: lerr}
	}()
	r := <-ch
	return r.ln, r.err
}

func (p *netnsProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.pipe(c)
	}
}

// pipe copies both ways until either side ends, then closes both: a killed
// agent's connection ends, and so the server's side of it.
func (p *netnsProxy) pipe(in net.Conn) {
	defer p.wg.Done()
	out, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		in.Close()
		return
	}
	if !p.track(in, out) {
		in.Close()
		out.Close()
		return
	}
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(out, in); done <- struct{}{} }()
	go func() { _, _ = io.Copy(in, out); done <- struct{}{} }()
	<-done
	in.Close()
	out.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, in)
	delete(p.conns, out)
	p.mu.Unlock()
}

func (p *netnsProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	for _, c := range cs {
		p.conns[c] = true
	}
	return true
}

// close stops accepting, closes every forwarded connection and waits.
func (p *netnsProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// mustRun runs a command and fails t unless it succeeds.
func mustRun(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// waitFor polls cond until it holds; at the deadline it fails t with what
// cond last said.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last: %s", timeout, what, state)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// strSlice converts a decoded JSON array of strings.
func strSlice(v any) []string {
	xs, _ := v.([]any)
	var out []string
	for _, x := range xs {
		out = append(out, x.(string))
	}
	return out
}

// tail returns the last lines of a log (at most about 6 KB).
func tail(s string) string {
	const max = 6000
	if len(s) <= max {
		return s
	}
	s = s[len(s)-max:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return "...\n" + s
}

// countsString renders a count per agent name, sorted: "a=2 b=2".
func countsString(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%d ", k, m[k])
	}
	return strings.TrimSpace(b.String())
}
