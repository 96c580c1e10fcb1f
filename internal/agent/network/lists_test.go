package network

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestMasqRuleSpec(t *testing.T) {
	bridge, vpc, err := Config{}.withDefaults().validate()
	if err != nil {
		t.Fatal(err)
	}
	rules := masqRules(Config{}.withDefaults(), bridge, vpc)
	want := [][]string{
		{"POSTROUTING", "-s", "10.213.0.0/17", "!", "-o", "berth0", "!", "-d", "224.0.0.0/4",
			"-m", "comment", "--comment", "berth berth-bridge masquerade", "-j", "MASQUERADE"},
		{"POSTROUTING", "-s", "10.213.128.0/17", "!", "-o", "berth-vpc0", "!", "-d", "224.0.0.0/4",
			"-m", "comment", "--comment", "berth berth-awsvpc masquerade", "-j", "MASQUERADE"},
	}
	if len(rules) != len(want) {
		t.Fatalf("%d rules, want %d", len(rules), len(want))
	}
	for i, r := range rules {
		if got := r.spec(); !slices.Equal(got, want[i]) {
			t.Errorf("rule %d = %q, want %q", i, got, want[i])
		}
	}
}

func TestPortOpts(t *testing.T) {
	ports := []PortMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}}
	tests := []struct {
		name    string
		portmap bool
		ports   []PortMapping
		want    int
	}{
		{"no portmap", false, ports, 0},
		{"no portmap, no ports", false, nil, 0},
		{"portmap", true, ports, 1},
		{"portmap, placeholder", true, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := netList{portmap: tt.portmap}
			if got := len(l.portOpts(tt.ports)); got != tt.want {
				t.Fatalf("%d options, want %d", got, tt.want)
			}
		})
	}
}

// TestTeardownList needs no CNI: it checks which list Teardown picks from
// the record, whatever mode the caller names.
func TestTeardownList(t *testing.T) {
	m := &Manager{
		log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		confDir: t.TempDir(),
		bridge: cniNetwork{
			plain:   netList{kind: kindBridge, mode: ModeBridge},
			portmap: netList{kind: kindBridgePortmap, mode: ModeBridge, portmap: true},
			legacy:  netList{mode: ModeBridge, portmap: true},
		},
		vpc: cniNetwork{
			plain:  netList{kind: kindAWSVPC, mode: ModeAWSVPC},
			legacy: netList{mode: ModeAWSVPC},
		},
	}
	tests := []struct {
		name   string
		record string // "" = no record file
		mode   string
		want   *netList
	}{
		{"bridge record", kindBridge, ModeBridge, &m.bridge.plain},
		{"portmap record", kindBridgePortmap, ModeBridge, &m.bridge.portmap},
		{"awsvpc record", kindAWSVPC, ModeAWSVPC, &m.vpc.plain},
		{"record wins over mode", kindAWSVPC, ModeBridge, &m.vpc.plain},
		{"record wins over none", kindBridgePortmap, ModeNone, &m.bridge.portmap},
		{"no record, bridge", "", ModeBridge, &m.bridge.legacy},
		{"no record, awsvpc", "", ModeAWSVPC, &m.vpc.legacy},
		{"no record, none", "", ModeNone, nil},
		{"unknown record", "bridge+ipmasq", ModeBridge, &m.bridge.legacy},
		{"empty record", "\n", ModeAWSVPC, &m.vpc.legacy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := "task1"
			os.Remove(filepath.Join(m.confDir, id))
			if tt.record != "" {
				if err := os.WriteFile(filepath.Join(m.confDir, id), []byte(tt.record), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if got := m.teardownList(id, tt.mode); got != tt.want {
				t.Fatalf("list = %+v, want %+v", got, tt.want)
			}
		})
	}
	// The kind Setup writes is the one Teardown reads back.
	for _, l := range []*netList{&m.bridge.plain, &m.bridge.portmap, &m.vpc.plain} {
		if err := m.writeRecord("task2", l.kind); err != nil {
			t.Fatal(err)
		}
		if got := m.teardownList("task2", ModeNone); got != l {
			t.Errorf("after writeRecord(%q): list %+v", l.kind, got)
		}
	}
	if err := m.removeRecord("task2"); err != nil {
		t.Fatal(err)
	}
	if err := m.removeRecord("task2"); err != nil {
		t.Fatalf("second removeRecord: %v", err)
	}
}

func TestSetupListChoice(t *testing.T) {
	m := &Manager{}
	ports := []PortMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}}
	if got := m.setupList(ModeBridge, ports); got != &m.bridge.portmap {
		t.Error("bridge with ports does not use the portmap list")
	}
	if got := m.setupList(ModeBridge, nil); got != &m.bridge.plain {
		t.Error("bridge without ports does not use the plain list")
	}
	if got := m.setupList(ModeAWSVPC, nil); got != &m.vpc.plain {
		t.Error("awsvpc does not use its plain list")
	}
}
