package ecs

import (
	"net/netip"
	"testing"
)

func TestAllocateAwsvpcAddress(t *testing.T) {
	a := netip.MustParseAddr
	tests := []struct {
		name string
		cidr string
		used []string
		want string // "" = full
	}{
		{"first host after gateway", "10.213.128.0/17", nil, "10.213.128.2"},
		{"skips used", "10.213.128.0/17", []string{"10.213.128.2", "10.213.128.3"}, "10.213.128.4"},
		{"fills a hole", "10.0.0.0/24", []string{"10.0.0.3"}, "10.0.0.2"},
		{"slash 30 has one", "10.0.0.4/30", nil, "10.0.0.6"},
		{"slash 30 full", "10.0.0.4/30", []string{"10.0.0.6"}, ""},
		{"never the broadcast", "10.0.0.0/29", []string{"10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"}, ""},
		{"unmasked input", "10.0.0.77/24", nil, "10.0.0.2"},
		{"slash 31 unusable", "10.0.0.0/31", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			used := map[netip.Addr]bool{}
			for _, u := range tt.used {
				used[a(u)] = true
			}
			got, ok := AllocateAwsvpcAddress(netip.MustParsePrefix(tt.cidr), used)
			if tt.want == "" {
				if ok {
					t.Fatalf("got %v, want a full subnet", got)
				}
				return
			}
			if !ok || got != a(tt.want) {
				t.Fatalf("got %v %v, want %s", got, ok, tt.want)
			}
		})
	}
}

func TestParseAwsvpcCIDR(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"10.213.128.0/17", "10.213.128.0/17"},
		{" 10.213.130.9/17 ", "10.213.128.0/17"},
		{"10.0.0.0/31", ""},
		{"fd00::/64", ""},
		{"nonsense", ""},
	}
	for _, tt := range tests {
		p, ok := ParseAwsvpcCIDR(tt.in)
		if tt.want == "" {
			if ok {
				t.Errorf("%q parsed as %v", tt.in, p)
			}
			continue
		}
		if !ok || p.String() != tt.want {
			t.Errorf("%q = %v %v, want %s", tt.in, p, ok, tt.want)
		}
	}
}

func TestENIAttachment(t *testing.T) {
	addr := netip.MustParseAddr("10.213.128.2")
	at := NewENIAttachment(ENIAttachment{ID: "att-1", NetworkInterfaceID: "eni-0123456789abcdef0", InstanceID: "4f1c2b3a9d8e", Region: "us-east-1", Address: addr})
	want := map[string]string{
		ENIDetailSubnetID:           "subnet-berth-4f1c2b3a",
		ENIDetailNetworkInterfaceID: "eni-0123456789abcdef0",
		ENIDetailMACAddress:         "0a:58:0a:d5:80:02",
		ENIDetailPrivateDNSName:     "ip-10-213-128-2.us-east-1.compute.internal",
		ENIDetailPrivateIPv4Address: "10.213.128.2",
	}
	if at.Type != AttachmentTypeENI || at.Status != AttachmentStatusPrecreated || at.ID != "att-1" {
		t.Errorf("attachment %+v", at)
	}
	for k, v := range want {
		if got := AttachmentDetail(at, k); got != v {
			t.Errorf("detail %s = %q, want %q", k, got, v)
		}
	}
	task := Task{Attachments: []Attachment{at}}
	if got, ok := TaskAwsvpcAddress(&task); !ok || got != addr {
		t.Errorf("TaskAwsvpcAddress = %v %v", got, ok)
	}
	if _, ok := TaskAwsvpcAddress(&Task{}); ok {
		t.Error("a task without attachment has an address")
	}
	if gw := AwsvpcGateway(netip.MustParsePrefix("10.213.128.0/17")); gw.String() != "10.213.128.1" {
		t.Errorf("gateway %v", gw)
	}
}
