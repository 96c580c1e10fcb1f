package network

import (
	"fmt"
	"net"
	"net/netip"

	cni "github.com/containerd/go-cni"
)

// SetupOption adjusts one Setup call.
type SetupOption func(*setupOptions)

// setupOptions collects the SetupOptions of one call. A malformed option
// records its error here; Setup reports it before doing anything.
type setupOptions struct {
	address netip.Addr
	mac     net.HardwareAddr
	err     error
}

// WithAddress asks for the awsvpc task address chosen by the control plane
// (the ENI's ipv4Addresses[0].privateAddress), e.g. "10.213.128.7", instead
// of one host-local picks. It must be a host address of the configured VPC
// subnet, neither the gateway nor the broadcast address, and not in use by
// another task network. Only awsvpc mode takes it.
func WithAddress(ipv4 string) SetupOption {
	return func(o *setupOptions) {
		a, err := netip.ParseAddr(ipv4)
		if err != nil || !a.Is4() {
			o.setErr(fmt.Errorf("address %q is not an IPv4 address", ipv4))
			return
		}
		o.address = a
	}
}

// WithMAC asks for the MAC address of the awsvpc task interface (the ENI's
// macAddress), e.g. "0a:58:0a:d5:80:07". It must be a unicast EUI-48
// address. Only awsvpc mode takes it.
func WithMAC(mac string) SetupOption {
	return func(o *setupOptions) {
		hw, err := net.ParseMAC(mac)
		if err != nil || len(hw) != 6 {
			o.setErr(fmt.Errorf("MAC %q is not an EUI-48 address", mac))
			return
		}
		if hw[0]&1 != 0 || hw.String() == "00:00:00:00:00:00" {
			o.setErr(fmt.Errorf("MAC %q is not a unicast address", mac))
			return
		}
		o.mac = hw
	}
}

func (o *setupOptions) setErr(err error) {
	if o.err == nil {
		o.err = err
	}
}

// set reports whether any option asks for something.
func (o *setupOptions) set() bool {
	return o.address.IsValid() || o.mac != nil
}

// collectOptions applies opts and validates them for mode against the
// awsvpc subnet.
func collectOptions(mode string, vpc subnetInfo, opts []SetupOption) (setupOptions, error) {
	var o setupOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.err != nil {
		return o, o.err
	}
	if !o.set() {
		return o, nil
	}
	if mode != ModeAWSVPC {
		return o, fmt.Errorf("network mode %q does not support a given address or MAC (awsvpc only)", mode)
	}
	if a := o.address; a.IsValid() {
		p := vpc.prefix
		switch {
		case !p.Contains(a):
			return o, fmt.Errorf("address %s is outside the awsvpc subnet %s", a, p)
		case a == p.Addr():
			return o, fmt.Errorf("address %s is the network address of the awsvpc subnet %s", a, p)
		case a == vpc.gateway:
			return o, fmt.Errorf("address %s is the gateway of the awsvpc subnet %s", a, p)
		case a == lastAddr(p):
			return o, fmt.Errorf("address %s is the broadcast address of the awsvpc subnet %s", a, p)
		}
	}
	return o, nil
}

// lastAddr is the highest address of an IPv4 prefix (its broadcast address).
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// cniOpts passes the requested address to host-local (the "ips" capability)
// and the MAC to the bridge plugin (the "mac" capability); the awsvpc
// network list declares both.
func (o *setupOptions) cniOpts() []cni.NamespaceOpts {
	var opts []cni.NamespaceOpts
	if o.address.IsValid() {
		opts = append(opts, cni.WithCapability("ips", []string{o.address.String()}))
	}
	if o.mac != nil {
		opts = append(opts, cni.WithCapability("mac", o.mac.String()))
	}
	return opts
}

// check verifies that the plugins honoured the request, so a plugin that
// silently ignores a capability fails Setup instead of giving the task an
// address the control plane does not know.
func (o *setupOptions) check(att Attachment) error {
	if o.address.IsValid() && att.IPv4 != o.address.String() {
		return fmt.Errorf("CNI gave address %s, not the requested %s", att.IPv4, o.address)
	}
	if o.mac != nil {
		got, err := net.ParseMAC(att.MAC)
		if err != nil || got.String() != o.mac.String() {
			return fmt.Errorf("CNI gave MAC %q, not the requested %s (bridge plugin without MAC support?)", att.MAC, o.mac)
		}
	}
	return nil
}
