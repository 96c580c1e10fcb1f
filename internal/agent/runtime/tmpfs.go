package runtime

import (
	"cmp"
	"fmt"
	"path"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TmpfsMount is a tmpfs file system mounted into the container (ECS
// linuxParameters.tmpfs, Docker --tmpfs).
type TmpfsMount struct {
	Destination string   // absolute path in the container
	Size        int64    // bytes; 0 = the kernel's default (half of RAM)
	Options     []string // mount options (ECS's list), over noexec,nosuid,nodev
}

// tmpfsDefaults are Docker's options for a tmpfs mount; given options of
// the same kind replace them.
var tmpfsDefaults = []string{"noexec", "nosuid", "nodev", "rprivate"}

// tmpfsFlagKinds groups mount flags that set the same thing; a later flag
// of a kind replaces an earlier one.
var tmpfsFlagKinds = map[string]string{
	"ro": "rw", "rw": "rw",
	"exec": "exec", "noexec": "exec",
	"suid": "suid", "nosuid": "suid",
	"dev": "dev", "nodev": "dev",
	"sync": "sync", "async": "sync", "dirsync": "dirsync",
	"mand": "mand", "nomand": "mand",
	"atime": "atime", "noatime": "atime",
	"diratime": "diratime", "nodiratime": "diratime",
	"relatime": "relatime", "norelatime": "relatime",
	"strictatime": "strictatime", "nostrictatime": "strictatime",
	"private": "propagation", "rprivate": "propagation", "shared": "propagation", "rshared": "propagation",
	"slave": "propagation", "rslave": "propagation", "unbindable": "propagation", "runbindable": "propagation",
	"defaults": "defaults",
}

// tmpfsDataKeys are the key=value options a tmpfs mount takes (size comes
// from TmpfsMount.Size).
var tmpfsDataKeys = []string{"mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol"}

// tmpfsSpecMount validates t and builds its OCI mount: Docker's defaults,
// then t's options (a later option of a kind replaces an earlier one),
// then the size.
func tmpfsSpecMount(t TmpfsMount) (specs.Mount, error) {
	if !path.IsAbs(t.Destination) {
		return specs.Mount{}, fmt.Errorf("tmpfs %q: path must be absolute", t.Destination)
	}
	if t.Size < 0 {
		return specs.Mount{}, fmt.Errorf("tmpfs %s: negative size", t.Destination)
	}
	type opt struct{ kind, text string }
	var opts []opt
	put := func(o opt) {
		opts = slices.DeleteFunc(opts, func(x opt) bool { return x.kind == o.kind })
		opts = append(opts, o)
	}
	for _, o := range tmpfsDefaults {
		put(opt{tmpfsFlagKinds[o], o})
	}
	for _, o := range t.Options {
		o = strings.TrimSpace(o)
		if kind, ok := tmpfsFlagKinds[o]; ok {
			put(opt{kind, o})
			continue
		}
		k, v, hasValue := strings.Cut(o, "=")
		switch {
		case o == "bind" || o == "rbind" || o == "remount":
			return specs.Mount{}, fmt.Errorf("tmpfs %s: option %q does not apply to a tmpfs mount", t.Destination, o)
		case !hasValue || v == "" || strings.ContainsAny(v, ", \t\n") || !slices.Contains(tmpfsDataKeys, k):
			return specs.Mount{}, fmt.Errorf("tmpfs %s: unknown mount option %q", t.Destination, o)
		}
		put(opt{k, o})
	}
	if t.Size > 0 {
		put(opt{"size", fmt.Sprintf("size=%d", t.Size)})
	}
	m := specs.Mount{Type: "tmpfs", Source: "tmpfs", Destination: path.Clean(t.Destination)}
	for _, o := range opts {
		m.Options = append(m.Options, o.text)
	}
	return m, nil
}

// setShmSize sets the size of the /dev/shm tmpfs of containerd's default
// mounts, rounded up to KiB.
func setShmSize(s *specs.Spec, bytes int64) error {
	for i := range s.Mounts {
		m := &s.Mounts[i]
		if path.Clean(m.Destination) != "/dev/shm" || m.Type != "tmpfs" {
			continue
		}
		m.Options = slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return strings.HasPrefix(o, "size=") })
		m.Options = append(m.Options, fmt.Sprintf("size=%dk", (bytes+1023)/1024))
		return nil
	}
	return fmt.Errorf("shm size: the default spec has no /dev/shm mount")
}

// sortByDepth orders mounts so that a mount comes after those of its
// parent directories (fewer path elements first; stable otherwise), as
// Docker does, so that /data/x is not hidden by a later mount at /data.
func sortByDepth(ms []specs.Mount) {
	depth := func(p string) int {
		p = path.Clean(p)
		if p == "/" {
			return 0
		}
		return strings.Count(p, "/")
	}
	slices.SortStableFunc(ms, func(a, b specs.Mount) int { return cmp.Compare(depth(a.Destination), depth(b.Destination)) })
}
