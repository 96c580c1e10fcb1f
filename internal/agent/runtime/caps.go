package runtime

import (
	"fmt"
	"slices"
	"strings"

	"github.com/containerd/containerd/v2/pkg/cap"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// capAll is the name that stands for every capability in CapAdd/CapDrop.
const capAll = "ALL"

// agentCapabilities are the capabilities a container can be given: the
// agent's effective set (what runc can pass on), or every capability the
// kernel knows when that cannot be read.
func agentCapabilities() []string {
	if c, err := cap.Current(); err == nil && len(c) > 0 {
		return c
	}
	return slices.Clone(cap.Known())
}

// normalizeCap turns a Docker capability name ("net_admin", "NET_ADMIN",
// "CAP_NET_ADMIN", "ALL") into the OCI form ("CAP_NET_ADMIN", "ALL").
func normalizeCap(name string) (string, error) {
	n := strings.ToUpper(strings.TrimSpace(name))
	if n == capAll {
		return n, nil
	}
	if !strings.HasPrefix(n, "CAP_") {
		n = "CAP_" + n
	}
	if !slices.Contains(cap.Known(), n) {
		return "", fmt.Errorf("unknown capability %q", name)
	}
	return n, nil
}

func normalizeCaps(names []string) ([]string, error) {
	out := make([]string, 0, len(names))
	for _, name := range names {
		n, err := normalizeCap(name)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// tweakCapabilities applies Docker's --cap-add/--cap-drop rules to base
// (containerd's default set): "ALL" in add gives every available
// capability except the dropped ones; "ALL" in drop starts from nothing
// and adds add; otherwise base minus drop, then add (so a capability in
// both lists is kept). available is what the agent can grant (nil: no
// check); adding one outside it is an error, as runc could not grant it.
func tweakCapabilities(base, available, add, drop []string) ([]string, error) {
	if len(add) == 0 && len(drop) == 0 {
		return slices.Clone(base), nil
	}
	adds, err := normalizeCaps(add)
	if err != nil {
		return nil, fmt.Errorf("cap add: %w", err)
	}
	drops, err := normalizeCaps(drop)
	if err != nil {
		return nil, fmt.Errorf("cap drop: %w", err)
	}
	var out []string
	switch {
	case slices.Contains(adds, capAll):
		all := available
		if all == nil {
			all = cap.Known()
		}
		for _, c := range all {
			if !slices.Contains(drops, c) {
				out = append(out, c)
			}
		}
		return out, nil
	case slices.Contains(drops, capAll):
		out = []string{}
	default:
		for _, c := range base {
			if !slices.Contains(drops, c) {
				out = append(out, c)
			}
		}
	}
	for _, c := range adds {
		if available != nil && !slices.Contains(available, c) {
			return nil, fmt.Errorf("cap add: capability %s is not available to the agent, so it cannot grant it", c)
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out, nil
}

// applyCapabilities sets the bounding, effective and permitted sets of p
// from its current bounding set (containerd's default) tweaked by add and
// drop.
func applyCapabilities(p *specs.Process, available, add, drop []string) error {
	if len(add) == 0 && len(drop) == 0 {
		return nil
	}
	if p.Capabilities == nil {
		p.Capabilities = &specs.LinuxCapabilities{}
	}
	caps, err := tweakCapabilities(p.Capabilities.Bounding, available, add, drop)
	if err != nil {
		return err
	}
	p.Capabilities.Bounding = caps
	p.Capabilities.Effective = slices.Clone(caps)
	p.Capabilities.Permitted = slices.Clone(caps)
	p.Capabilities.Inheritable = nil
	p.Capabilities.Ambient = nil
	return nil
}
