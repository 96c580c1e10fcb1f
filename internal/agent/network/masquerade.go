package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
)

// multicastNet is never masqueraded, as with the bridge plugin's ipMasq, so
// that tasks can talk multicast on their network.
const multicastNet = "224.0.0.0/4"

// masqRule is the single nat POSTROUTING rule that gives the tasks of one
// network outbound NAT: traffic from the network's subnet that leaves by
// any interface other than its bridge, multicast excepted, is masqueraded.
// It stands in for the bridge plugin's ipMasq, which adds a chain and two
// rules per task (and so costs every Setup and Teardown several iptables
// runs) for the same effect: the plugin's per-task chain accepts traffic to
// the subnet, which is what leaves by the bridge, and masquerades the rest
// but multicast.
type masqRule struct {
	subnet  netip.Prefix
	bridge  string
	network string // CNI network name, for the rule's comment
}

// masqRules are the rules of the two networks of cfg (defaults applied)
// with the given parsed subnets.
func masqRules(cfg Config, bridge, vpc subnetInfo) []masqRule {
	return []masqRule{
		{subnet: bridge.prefix, bridge: cfg.BridgeName, network: bridgeNetworkName},
		{subnet: vpc.prefix, bridge: cfg.VPCBridgeName, network: vpcNetworkName},
	}
}

// spec is the rule as iptables arguments after the operation (-A, -C, -D).
func (r masqRule) spec() []string {
	return []string{"POSTROUTING", "-s", r.subnet.String(), "!", "-o", r.bridge, "!", "-d", multicastNet,
		"-m", "comment", "--comment", "berth " + r.network + " masquerade", "-j", "MASQUERADE"}
}

// iptables runs the iptables binary on the nat table, as the CNI plugins do
// (same binary, hence the same nft or legacy backend), waiting for the
// xtables lock.
type iptables struct {
	path string
}

// findIPTables locates the iptables binary in PATH.
func findIPTables() (iptables, error) {
	p, err := exec.LookPath("iptables")
	if err != nil {
		return iptables{}, fmt.Errorf("iptables not found (needed for the masquerade rules): %w", err)
	}
	return iptables{path: p}, nil
}

// errNoRule is what "iptables -C" exit status 1 means: no such rule.
var errNoRule = errors.New("no such rule")

// nat runs "iptables -w -t nat <op> <spec>".
func (ipt iptables) nat(ctx context.Context, op string, spec []string) error {
	args := append([]string{"-w", "-t", "nat", op}, spec...)
	out, err := exec.CommandContext(ctx, ipt.path, args...).CombinedOutput()
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if op == "-C" && errors.As(err, &ee) && ee.ExitCode() == 1 {
		return errNoRule
	}
	return fmt.Errorf("iptables %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
}

// has reports whether the rule exists.
func (ipt iptables) has(ctx context.Context, r masqRule) (bool, error) {
	err := ipt.nat(ctx, "-C", r.spec())
	if errors.Is(err, errNoRule) {
		return false, nil
	}
	return err == nil, err
}

// masqMu serializes check-then-append and check-then-delete within the
// process, so that Managers created at once do not append a rule twice.
var masqMu sync.Mutex

// ensure appends the rule unless it exists, and reports whether it did.
func (ipt iptables) ensure(ctx context.Context, r masqRule) (added bool, err error) {
	masqMu.Lock()
	defer masqMu.Unlock()
	ok, err := ipt.has(ctx, r)
	if err != nil || ok {
		return false, err
	}
	if err := ipt.nat(ctx, "-A", r.spec()); err != nil {
		return false, err
	}
	return true, nil
}

// maxRuleCopies bounds remove's loop; a copy appended by another process
// racing the check in ensure is the only way to get more than one.
const maxRuleCopies = 8

// remove deletes every copy of the rule; a missing rule is fine.
func (ipt iptables) remove(ctx context.Context, r masqRule) error {
	masqMu.Lock()
	defer masqMu.Unlock()
	for range maxRuleCopies {
		ok, err := ipt.has(ctx, r)
		if err != nil || !ok {
			return err
		}
		if err := ipt.nat(ctx, "-D", r.spec()); err != nil {
			return err
		}
	}
	return fmt.Errorf("masquerade rule for %s still present after %d deletions", r.subnet, maxRuleCopies)
}

// installMasquerade ensures every rule exists. On failure it removes the
// rules this call appended (not those that were there before) and returns
// the error.
func installMasquerade(ctx context.Context, ipt iptables, rules []masqRule) error {
	var added []masqRule
	for _, r := range rules {
		ok, err := ipt.ensure(ctx, r)
		if err != nil {
			for _, a := range added {
				_ = ipt.remove(ctx, a)
			}
			return fmt.Errorf("masquerade rule for %s: %w", r.subnet, err)
		}
		if ok {
			added = append(added, r)
		}
	}
	return nil
}
