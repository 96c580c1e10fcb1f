package runtime

import (
	"slices"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/pkg/cap"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestTweakCapabilities(t *testing.T) {
	base := []string{"CAP_CHOWN", "CAP_MKNOD", "CAP_NET_RAW", "CAP_KILL"}
	avail := []string{"CAP_CHOWN", "CAP_MKNOD", "CAP_NET_RAW", "CAP_KILL", "CAP_NET_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_ADMIN"}
	tests := []struct {
		name       string
		available  []string
		add, drop  []string
		want       []string
		wantErrMsg string
	}{
		{name: "nothing to change", want: base},
		{name: "add", add: []string{"NET_ADMIN", "SYS_PTRACE"}, want: []string{"CAP_CHOWN", "CAP_MKNOD", "CAP_NET_RAW", "CAP_KILL", "CAP_NET_ADMIN", "CAP_SYS_PTRACE"}},
		{name: "names in any case, prefixed or not, once", add: []string{"net_admin", "CAP_NET_ADMIN", " Net_Admin "}, want: []string{"CAP_CHOWN", "CAP_MKNOD", "CAP_NET_RAW", "CAP_KILL", "CAP_NET_ADMIN"}},
		{name: "drop", drop: []string{"MKNOD", "NET_RAW"}, want: []string{"CAP_CHOWN", "CAP_KILL"}},
		{name: "drop one not held", drop: []string{"SYS_ADMIN"}, want: base},
		{name: "in both lists is kept", add: []string{"KILL", "NET_ADMIN"}, drop: []string{"KILL"}, want: []string{"CAP_CHOWN", "CAP_MKNOD", "CAP_NET_RAW", "CAP_KILL", "CAP_NET_ADMIN"}},
		{name: "drop ALL then add", add: []string{"NET_BIND_SERVICE"}, drop: []string{"ALL"}, available: []string{"CAP_NET_BIND_SERVICE"}, want: []string{"CAP_NET_BIND_SERVICE"}},
		{name: "drop ALL alone", drop: []string{"all"}, want: []string{}},
		{name: "add ALL gives what is available", add: []string{"ALL"}, want: avail},
		{name: "add ALL minus drops", add: []string{"ALL"}, drop: []string{"SYS_ADMIN", "MKNOD"}, want: []string{"CAP_CHOWN", "CAP_NET_RAW", "CAP_KILL", "CAP_NET_ADMIN", "CAP_SYS_PTRACE"}},
		{name: "add ALL without availability list: every known", add: []string{"ALL"}, available: []string{}, want: nil},
		{name: "unknown add", add: []string{"NET_ADMIN", "FLY"}, wantErrMsg: `cap add: unknown capability "FLY"`},
		{name: "unknown drop", drop: []string{"CAP_"}, wantErrMsg: `cap drop: unknown capability "CAP_"`},
		{name: "not available", add: []string{"SYS_TIME"}, wantErrMsg: "CAP_SYS_TIME is not available"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			available := avail
			switch {
			case tc.available == nil:
			case len(tc.available) == 0:
				available = nil
			default:
				available = tc.available
			}
			got, err := tweakCapabilities(base, available, tc.add, tc.drop)
			if tc.wantErrMsg != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrMsg) {
					t.Fatalf("error %v, want %q", err, tc.wantErrMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if want == nil {
				want = cap.Known()
			}
			if !slices.Equal(got, want) {
				t.Fatalf("got %q, want %q", got, want)
			}
		})
	}
	if !slices.Equal(base, []string{"CAP_CHOWN", "CAP_MKNOD", "CAP_NET_RAW", "CAP_KILL"}) {
		t.Fatal("base modified")
	}
}

func TestApplyCapabilities(t *testing.T) {
	p := &specs.Process{Capabilities: &specs.LinuxCapabilities{
		Bounding: []string{"CAP_CHOWN", "CAP_MKNOD"}, Effective: []string{"CAP_CHOWN", "CAP_MKNOD"},
		Permitted: []string{"CAP_CHOWN", "CAP_MKNOD"}, Inheritable: []string{"CAP_CHOWN"},
	}}
	if err := applyCapabilities(p, nil, []string{"SYS_PTRACE"}, []string{"MKNOD"}); err != nil {
		t.Fatal(err)
	}
	want := []string{"CAP_CHOWN", "CAP_SYS_PTRACE"}
	c := p.Capabilities
	for name, got := range map[string][]string{"bounding": c.Bounding, "effective": c.Effective, "permitted": c.Permitted} {
		if !slices.Equal(got, want) {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if len(c.Inheritable) != 0 || len(c.Ambient) != 0 {
		t.Errorf("inheritable %q ambient %q, want none", c.Inheritable, c.Ambient)
	}
	c.Effective[0] = "X"
	if c.Bounding[0] != "CAP_CHOWN" {
		t.Error("capability sets share memory")
	}
}
