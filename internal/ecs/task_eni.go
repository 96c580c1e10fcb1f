package ecs

import (
	"fmt"
	"net/netip"
	"strings"
)

// awsvpc tasks get their address from the control plane, as ECS's tasks
// get their ENI: RunTask allocates the lowest free address of the
// instance's awsvpc subnet (the agent advertises it in the attribute
// AttributeAwsvpcCIDR) and records it in the task's attachment.

// Instance attributes the control plane reads when placing tasks.
const (
	AttributeAwsvpcCIDR       = "berth.awsvpc-cidr"
	AttributeAvailabilityZone = "ecs.availability-zone"
)

// The network-interface attachment of an awsvpc task.
const (
	AttachmentTypeENI          = "ElasticNetworkInterface"
	AttachmentStatusPrecreated = "PRECREATED"
	AttachmentStatusAttached   = "ATTACHED"

	ENIDetailSubnetID           = "subnetId"
	ENIDetailNetworkInterfaceID = "networkInterfaceId"
	ENIDetailMACAddress         = "macAddress"
	ENIDetailPrivateDNSName     = "privateDnsName"
	ENIDetailPrivateIPv4Address = "privateIPv4Address"
)

// ParseAwsvpcCIDR parses the subnet an instance advertises for awsvpc
// tasks. Only IPv4 subnets with room for at least one task (/30 or wider)
// are usable.
func ParseAwsvpcCIDR(s string) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil || !p.Addr().Is4() || p.Bits() > 30 {
		return netip.Prefix{}, false
	}
	return p.Masked(), true
}

// AwsvpcGateway is the gateway address of an awsvpc subnet: its first host
// address (the instance's bridge).
func AwsvpcGateway(cidr netip.Prefix) netip.Addr { return cidr.Masked().Addr().Next() }

// AllocateAwsvpcAddress returns the lowest address of cidr that is not in
// used, skipping the network address, the gateway and the broadcast
// address. ok is false when the subnet is full.
func AllocateAwsvpcAddress(cidr netip.Prefix, used map[netip.Addr]bool) (netip.Addr, bool) {
	cidr = cidr.Masked()
	if !cidr.Addr().Is4() || cidr.Bits() > 30 {
		return netip.Addr{}, false
	}
	a := AwsvpcGateway(cidr).Next()
	for ; cidr.Contains(a); a = a.Next() {
		if !cidr.Contains(a.Next()) { // a is the broadcast address
			break
		}
		if !used[a] {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// TaskMAC is the MAC address of an awsvpc task's interface: 0a:58 followed
// by the four bytes of its address (as the CNI bridge plugin derives it).
func TaskMAC(addr netip.Addr) string {
	b := addr.As4()
	return fmt.Sprintf("0a:58:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3])
}

// ENIAttachment is what NewENIAttachment needs.
type ENIAttachment struct {
	ID                 string // attachment id (a UUID)
	NetworkInterfaceID string // eni-<17 hex>
	InstanceID         string // the container instance's id (names the subnet)
	Region             string
	Address            netip.Addr
}

// NewENIAttachment builds the PRECREATED network-interface attachment of
// an awsvpc task.
func NewENIAttachment(e ENIAttachment) Attachment {
	subnet := e.InstanceID
	if len(subnet) > 8 {
		subnet = subnet[:8]
	}
	ip := e.Address.String()
	return Attachment{
		ID:     e.ID,
		Type:   AttachmentTypeENI,
		Status: AttachmentStatusPrecreated,
		Details: []KeyValue{
			{Name: ENIDetailSubnetID, Value: "subnet-berth-" + subnet},
			{Name: ENIDetailNetworkInterfaceID, Value: e.NetworkInterfaceID},
			{Name: ENIDetailMACAddress, Value: TaskMAC(e.Address)},
			{Name: ENIDetailPrivateDNSName, Value: "ip-" + strings.ReplaceAll(ip, ".", "-") + "." + e.Region + ".compute.internal"},
			{Name: ENIDetailPrivateIPv4Address, Value: ip},
		},
	}
}

// AttachmentDetail returns the value of a named detail of a ("" if absent).
func AttachmentDetail(a Attachment, name string) string {
	for _, d := range a.Details {
		if d.Name == name {
			return d.Value
		}
	}
	return ""
}

// TaskAwsvpcAddress returns the address of an awsvpc task's interface.
func TaskAwsvpcAddress(t *Task) (netip.Addr, bool) {
	for _, a := range t.Attachments {
		if a.Type != AttachmentTypeENI {
			continue
		}
		addr, err := netip.ParseAddr(AttachmentDetail(a, ENIDetailPrivateIPv4Address))
		if err == nil {
			return addr, true
		}
	}
	return netip.Addr{}, false
}
