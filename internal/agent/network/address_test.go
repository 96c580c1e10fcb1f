package network

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"testing"
)

func TestLastAddr(t *testing.T) {
	tests := []struct{ prefix, want string }{
		{"10.213.128.0/17", "10.213.255.255"},
		{"10.214.9.128/25", "10.214.9.255"},
		{"10.214.9.16/28", "10.214.9.31"},
		{"192.168.0.0/29", "192.168.0.7"},
	}
	for _, tt := range tests {
		if got := lastAddr(netip.MustParsePrefix(tt.prefix)); got.String() != tt.want {
			t.Errorf("lastAddr(%s) = %s, want %s", tt.prefix, got, tt.want)
		}
	}
}

func TestCollectOptions(t *testing.T) {
	vpc, err := parseSubnet("10.214.9.128/25")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		mode     string
		opts     []SetupOption
		wantAddr string
		wantMAC  string
		wantErr  string
	}{
		{name: "no options", mode: ModeBridge},
		{name: "nil option", mode: ModeBridge, opts: []SetupOption{nil}},
		{name: "address", mode: ModeAWSVPC, opts: []SetupOption{WithAddress("10.214.9.135")}, wantAddr: "10.214.9.135"},
		{name: "first host after gateway", mode: ModeAWSVPC, opts: []SetupOption{WithAddress("10.214.9.130")}, wantAddr: "10.214.9.130"},
		{name: "last host", mode: ModeAWSVPC, opts: []SetupOption{WithAddress("10.214.9.254")}, wantAddr: "10.214.9.254"},
		{name: "address and MAC", mode: ModeAWSVPC,
			opts:     []SetupOption{WithAddress("10.214.9.135"), WithMAC("0A:58:0A:D6:09:87")},
			wantAddr: "10.214.9.135", wantMAC: "0a:58:0a:d6:09:87"},
		{name: "MAC only", mode: ModeAWSVPC, opts: []SetupOption{WithMAC("0a:58:0a:d6:09:87")}, wantMAC: "0a:58:0a:d6:09:87"},
		{name: "outside subnet", mode: ModeAWSVPC, opts: []SetupOption{WithAddress("10.214.9.5")}, wantErr: "outside the awsvpc subnet 10.214.9.128/25"},
		{name: "other network", mode: ModeAWSVPC, opts: []SetupOption{WithAddress("192.168.1.7")}, wantErr: "outside the awsvpc subnet"},
		{name: "network address", mode: ModeAWSVPC, opts: []SetupOption{WithAddress("10.214.9.128")}, wantErr: "network address"},
		{name: "gateway", mode: ModeAWSVPC, opts: []SetupOption{WithAddress("10.214.9.129")}, wantErr: "gateway"},
		{name: "broadcast", mode: ModeAWSVPC, opts: []SetupOption{WithAddress("10.214.9.255")}, wantErr: "broadcast"},
		{name: "not an address", mode: ModeAWSVPC, opts: []SetupOption{WithAddress("10.214.9")}, wantErr: "not an IPv4 address"},
		{name: "cidr", mode: ModeAWSVPC, opts: []SetupOption{WithAddress("10.214.9.135/25")}, wantErr: "not an IPv4 address"},
		{name: "ipv6", mode: ModeAWSVPC, opts: []SetupOption{WithAddress("fd00::7")}, wantErr: "not an IPv4 address"},
		{name: "bad MAC", mode: ModeAWSVPC, opts: []SetupOption{WithMAC("0a:58:0a")}, wantErr: "not an EUI-48"},
		{name: "EUI-64 MAC", mode: ModeAWSVPC, opts: []SetupOption{WithMAC("0a:58:0a:d6:09:87:00:01")}, wantErr: "not an EUI-48"},
		{name: "multicast MAC", mode: ModeAWSVPC, opts: []SetupOption{WithMAC("01:00:5e:00:00:01")}, wantErr: "not a unicast"},
		{name: "zero MAC", mode: ModeAWSVPC, opts: []SetupOption{WithMAC("00:00:00:00:00:00")}, wantErr: "not a unicast"},
		{name: "first error wins", mode: ModeAWSVPC, opts: []SetupOption{WithAddress("x"), WithMAC("y")}, wantErr: `address "x"`},
		{name: "bridge rejects address", mode: ModeBridge, opts: []SetupOption{WithAddress("10.214.9.135")}, wantErr: `"bridge" does not support`},
		{name: "bridge rejects MAC", mode: ModeBridge, opts: []SetupOption{WithMAC("0a:58:0a:d6:09:87")}, wantErr: "awsvpc only"},
		{name: "host rejects address", mode: ModeHost, opts: []SetupOption{WithAddress("10.214.9.135")}, wantErr: "awsvpc only"},
		{name: "none rejects address", mode: ModeNone, opts: []SetupOption{WithAddress("10.214.9.135")}, wantErr: "awsvpc only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := collectOptions(tt.mode, vpc, tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			gotAddr := ""
			if o.address.IsValid() {
				gotAddr = o.address.String()
			}
			gotMAC := ""
			if o.mac != nil {
				gotMAC = o.mac.String()
			}
			if gotAddr != tt.wantAddr || gotMAC != tt.wantMAC {
				t.Fatalf("options = address %q MAC %q, want %q %q", gotAddr, gotMAC, tt.wantAddr, tt.wantMAC)
			}
			if got, want := len(o.cniOpts()), btoi(tt.wantAddr != "")+btoi(tt.wantMAC != ""); got != want {
				t.Fatalf("%d CNI options, want %d", got, want)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestOptionsCheck(t *testing.T) {
	vpc, _ := parseSubnet("10.214.9.128/25")
	o, err := collectOptions(ModeAWSVPC, vpc, []SetupOption{WithAddress("10.214.9.135"), WithMAC("0a:58:0a:d6:09:87")})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		att     Attachment
		wantErr string
	}{
		{"honoured", Attachment{IPv4: "10.214.9.135", MAC: "0A:58:0A:D6:09:87"}, ""},
		{"other address", Attachment{IPv4: "10.214.9.130", MAC: "0a:58:0a:d6:09:87"}, "not the requested 10.214.9.135"},
		{"random MAC", Attachment{IPv4: "10.214.9.135", MAC: "be:ef:00:00:00:01"}, "not the requested 0a:58:0a:d6:09:87"},
		{"no MAC", Attachment{IPv4: "10.214.9.135"}, "MAC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := o.check(tt.att)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want containing %q", err, tt.wantErr)
			}
		})
	}
	var none setupOptions
	if err := none.check(Attachment{IPv4: "10.214.9.130", MAC: "x"}); err != nil {
		t.Fatalf("check without options: %v", err)
	}
}

// TestSetupRejectsBadAddressOptions needs no CNI: the options are refused
// before a namespace is created.
func TestSetupRejectsBadAddressOptions(t *testing.T) {
	bridge, vpc, err := Config{}.withDefaults().validate()
	if err != nil {
		t.Fatal(err)
	}
	m := &Manager{netnsDir: t.TempDir(), bridge: cniNetwork{subnet: bridge}, vpc: cniNetwork{subnet: vpc}}
	ctx := context.Background()
	tests := []struct {
		name, mode string
		opts       []SetupOption
		wantErr    string
	}{
		{"bridge with address", ModeBridge, []SetupOption{WithAddress("10.213.128.7")}, "does not support a given address"},
		{"bridge with MAC", ModeBridge, []SetupOption{WithMAC("0a:58:0a:d5:80:07")}, "does not support a given address"},
		{"host with address", ModeHost, []SetupOption{WithAddress("10.213.128.7")}, "does not support a given address"},
		{"awsvpc outside subnet", ModeAWSVPC, []SetupOption{WithAddress("10.213.0.7")}, "outside the awsvpc subnet 10.213.128.0/17"},
		{"awsvpc gateway", ModeAWSVPC, []SetupOption{WithAddress("10.213.128.1")}, "gateway"},
		{"awsvpc bad MAC", ModeAWSVPC, []SetupOption{WithMAC("zz")}, "EUI-48"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := m.Setup(ctx, "task1", tt.mode, nil, tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Setup error = %v, want containing %q", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), "task1") {
				t.Errorf("error %q does not name the task", err)
			}
			entries, err := os.ReadDir(m.netnsDir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 0 {
				t.Fatalf("netns dir not empty after a refused Setup: %v", entries)
			}
		})
	}
}
