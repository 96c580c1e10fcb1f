package runtime

import (
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestTmpfsSpecMount(t *testing.T) {
	tests := []struct {
		name    string
		in      TmpfsMount
		want    []string // options; nil with wantErr
		wantErr bool
	}{
		{"defaults and size", TmpfsMount{Destination: "/cache", Size: 16 << 20}, []string{"noexec", "nosuid", "nodev", "rprivate", "size=16777216"}, false},
		{"no size", TmpfsMount{Destination: "/cache"}, []string{"noexec", "nosuid", "nodev", "rprivate"}, false},
		{"options replace defaults of their kind", TmpfsMount{Destination: "/run/", Size: 1 << 20, Options: []string{"exec", "mode=0755", "ro", "uid=1000", "mode=1777"}},
			[]string{"nosuid", "nodev", "rprivate", "exec", "ro", "uid=1000", "mode=1777", "size=1048576"}, false},
		{"propagation and atime", TmpfsMount{Destination: "/x", Options: []string{"rshared", "noatime", "defaults"}}, []string{"noexec", "nosuid", "nodev", "rshared", "noatime", "defaults"}, false},
		{"relative path", TmpfsMount{Destination: "cache"}, nil, true},
		{"negative size", TmpfsMount{Destination: "/c", Size: -1}, nil, true},
		{"bind", TmpfsMount{Destination: "/c", Options: []string{"rbind"}}, nil, true},
		{"unknown flag", TmpfsMount{Destination: "/c", Options: []string{"bogus"}}, nil, true},
		{"unknown key", TmpfsMount{Destination: "/c", Options: []string{"size=1g"}}, nil, true},
		{"option injection", TmpfsMount{Destination: "/c", Options: []string{"mode=1777,exec"}}, nil, true},
		{"empty value", TmpfsMount{Destination: "/c", Options: []string{"uid="}}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := tmpfsSpecMount(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if m.Type != "tmpfs" || m.Source != "tmpfs" || m.Destination == "" || m.Destination[len(m.Destination)-1] == '/' && m.Destination != "/" {
				t.Errorf("mount %+v", m)
			}
			if !slices.Equal(m.Options, tc.want) {
				t.Errorf("options %q, want %q", m.Options, tc.want)
			}
		})
	}
}

func TestSetShmSize(t *testing.T) {
	s := &specs.Spec{Mounts: []specs.Mount{
		{Destination: "/proc", Type: "proc"},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "size=65536k", "mode=1777"}},
	}}
	orig := slices.Clone(s.Mounts[1].Options)
	if err := setShmSize(s, 128<<20+1); err != nil {
		t.Fatal(err)
	}
	if want := []string{"nosuid", "mode=1777", "size=131073k"}; !slices.Equal(s.Mounts[1].Options, want) {
		t.Errorf("options %q, want %q", s.Mounts[1].Options, want)
	}
	if !slices.Equal(orig, []string{"nosuid", "size=65536k", "mode=1777"}) {
		t.Error("original options modified")
	}
	if err := setShmSize(&specs.Spec{}, 1); err == nil {
		t.Error("no error without a /dev/shm mount")
	}
}

func TestSortByDepth(t *testing.T) {
	ms := []specs.Mount{{Destination: "/data/x/y"}, {Destination: "/data/x"}, {Destination: "/b"}, {Destination: "/data/"}, {Destination: "/a"}}
	sortByDepth(ms)
	var got []string
	for _, m := range ms {
		got = append(got, m.Destination)
	}
	if want := []string{"/b", "/data/", "/a", "/data/x", "/data/x/y"}; !slices.Equal(got, want) {
		t.Fatalf("order %q, want %q", got, want)
	}
}
