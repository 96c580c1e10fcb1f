package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Mount is a bind mount of a host path into the container. A Source that
// does not exist is created as a directory, as Docker does.
type Mount struct {
	Source, Destination string
	ReadOnly            bool
}

// Ulimit is a resource limit by its ECS/Docker name (core, cpu, data,
// fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio,
// rttime, sigpending, stack; "as" too).
type Ulimit struct {
	Name       string
	Soft, Hard uint64
}

// HostEntry is an extra /etc/hosts line (ECS extraHosts).
type HostEntry struct{ Hostname, IPAddress string }

// ContainerSpec describes a container to Create.
type ContainerSpec struct {
	ID     string // containerd container ID, unique in the namespace
	TaskID string // groups the task's containers in cgroup <CgroupRoot>/<TaskID>
	Image  string // a reference EnsureImage made present
	Labels map[string]string

	// EntryPoint, when set, replaces the image's Entrypoint and drops the
	// image's Cmd; Command, when set, replaces the image's Cmd.
	EntryPoint, Command []string
	Env                 []string // KEY=VALUE over the image's Env
	WorkingDir          string   // default: the image's, else /
	// User is "uid", "uid:gid", "name" or "name:group", resolved against
	// the image's /etc/passwd and /etc/group; default: the image's, else root.
	User     string
	Hostname string // default: host's hostname in host mode, else the first 12 characters of ID

	CPUShares         uint64 // ECS cpu units; 0 and 1 become 2
	MemoryLimit       int64  // bytes, hard limit; 0 = none
	MemoryReservation int64  // bytes, soft limit; 0 = none
	Ulimits           []Ulimit

	ReadonlyRootfs bool
	Privileged     bool // every capability the agent has, all devices; CapAdd/CapDrop are then ignored
	Init           bool // run Config.InitPath as PID 1 (see package doc)
	Mounts         []Mount

	// CapAdd and CapDrop change containerd's default capability set as
	// Docker's --cap-add/--cap-drop do: names like "NET_ADMIN" (any case,
	// "CAP_" optional) or "ALL". Unknown names fail Create.
	CapAdd, CapDrop []string
	ShmSize         int64 // bytes of the /dev/shm tmpfs; 0 = containerd's default, 64 MiB
	Tmpfs           []TmpfsMount

	// NetNSPath joins that network namespace; empty with HostNetwork false
	// gives a new namespace with only loopback (ECS "none").
	NetNSPath   string
	HostNetwork bool // share the host's network namespace, /etc/hosts and /etc/resolv.conf

	// Extra /etc/hosts lines and resolv.conf content. Other modes than host
	// get generated files: localhost plus ExtraHosts; DNSServers and
	// DNSSearchDomains, or else the host's resolv.conf minus its loopback
	// nameservers (which do not answer in another network namespace) with
	// DNSSearchDomains as search list. In host mode, setting any of these
	// gives the container copies of the host's files with these added
	// (loopback nameservers kept); otherwise the host's files are bound.
	ExtraHosts       []HostEntry
	DNSServers       []string
	DNSSearchDomains []string

	LogPath string // default <LogDir>/<ID>.log
}

// Internal labels the runtime keeps on containers (hidden from List).
const (
	labelPrefix  = "io.berth.runtime."
	labelLogPath = labelPrefix + "log-path"
	labelTaskID  = labelPrefix + "task-id"
)

// Paths of the init binary and of generated files inside the container.
const (
	containerInitPath = "/sbin/docker-init"
	hostsFile         = "hosts"
	resolvFile        = "resolv.conf"
)

var (
	// idPattern is containerd's identifier syntax (at most 76 characters).
	idPattern = regexp.MustCompile(`^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$`)

	rlimitNames = map[string]string{
		"as": "RLIMIT_AS", "core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA",
		"fsize": "RLIMIT_FSIZE", "locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK",
		"msgqueue": "RLIMIT_MSGQUEUE", "nice": "RLIMIT_NICE", "nofile": "RLIMIT_NOFILE",
		"nproc": "RLIMIT_NPROC", "rss": "RLIMIT_RSS", "rtprio": "RLIMIT_RTPRIO",
		"rttime": "RLIMIT_RTTIME", "sigpending": "RLIMIT_SIGPENDING", "stack": "RLIMIT_STACK",
	}
)

// defaultRlimits apply unless the spec sets the same limit: nofile soft
// 1024, hard 65535 (Fargate's defaults) but no higher than this process's
// own hard limit, which the container could not exceed without
// CAP_SYS_RESOURCE.
func defaultRlimits() []specs.POSIXRlimit {
	hard := uint64(65535)
	var own syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &own); err == nil && own.Max < hard {
		hard = own.Max
	}
	return []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: min(1024, hard), Hard: hard}}
}

// specContext is what spec generation needs besides the spec and image.
type specContext struct {
	rlimits      []specs.POSIXRlimit
	cgroupRoot   string
	stateDir     string
	initPath     string
	hostHostname string
	// capabilities is what the agent can grant (its effective set): the
	// meaning of CapAdd "ALL"; an added capability outside it fails. nil:
	// every known capability, unchecked.
	capabilities []string
}

// generateSpec turns a ContainerSpec and image config into an OCI runtime
// spec with ECS/Docker semantics. It does no I/O.
func generateSpec(ctx context.Context, sc specContext, cs ContainerSpec, img *imageInfo) (*specs.Spec, error) {
	if err := validate(cs); err != nil {
		return nil, err
	}
	args, err := resolveArgs(cs.EntryPoint, cs.Command, img.config.Entrypoint, img.config.Cmd)
	if err != nil {
		return nil, err
	}
	if cs.Init {
		if sc.initPath == "" {
			return nil, ErrNoInit
		}
		args = append([]string{containerInitPath, "--"}, args...)
	}
	userSpec := cs.User
	if userSpec == "" {
		userSpec = img.config.User
	}
	u, err := resolveUser(userSpec, img.passwd, img.group)
	if err != nil {
		return nil, err
	}
	rlimits, err := mergeRlimits(sc.rlimits, cs.Ulimits)
	if err != nil {
		return nil, err
	}
	hostname := cs.Hostname
	if hostname == "" {
		if cs.HostNetwork {
			hostname = sc.hostHostname
		} else {
			hostname = cs.ID[:min(12, len(cs.ID))]
		}
	}

	// The namespace only feeds the default cgroups path, replaced below.
	s, err := oci.GenerateSpec(namespaces.WithNamespace(ctx, "berth"), nil, &containers.Container{ID: cs.ID})
	if err != nil {
		return nil, fmt.Errorf("default spec: %w", err)
	}
	s.Hostname = hostname
	p := s.Process
	p.Args = args
	p.Env = mergeEnv([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=" + hostname},
		img.config.Env, cs.Env)
	p.Cwd = firstNonEmpty(cs.WorkingDir, img.config.WorkingDir, "/")
	if !path.IsAbs(p.Cwd) {
		return nil, fmt.Errorf("working directory %q is not absolute", p.Cwd)
	}
	p.User = specs.User{UID: uint32(u.Uid), GID: uint32(u.Gid)}
	for _, g := range u.Sgids {
		p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(g))
	}
	p.NoNewPrivileges = false // as Docker: setuid binaries work
	p.Rlimits = rlimits
	if cs.Privileged {
		// Every capability follows below; the names must still be known.
		if _, err := normalizeCaps(slices.Concat(cs.CapAdd, cs.CapDrop)); err != nil {
			return nil, err
		}
	} else if err := applyCapabilities(p, sc.capabilities, cs.CapAdd, cs.CapDrop); err != nil {
		return nil, err
	}

	s.Root.Readonly = cs.ReadonlyRootfs
	s.Linux.CgroupsPath = cgroupPath(sc.cgroupRoot, cs.TaskID, cs.ID)
	shares := max(cs.CPUShares, 2)
	s.Linux.Resources.CPU = &specs.LinuxCPU{Shares: &shares}
	if cs.MemoryLimit > 0 || cs.MemoryReservation > 0 {
		mem := &specs.LinuxMemory{}
		if cs.MemoryLimit > 0 {
			mem.Limit = &cs.MemoryLimit
		}
		if cs.MemoryReservation > 0 {
			mem.Reservation = &cs.MemoryReservation
		}
		s.Linux.Resources.Memory = mem
	}

	if cs.ShmSize > 0 {
		if err := setShmSize(s, cs.ShmSize); err != nil {
			return nil, err
		}
	}

	switch {
	case cs.HostNetwork && !ownNetFiles(cs):
		s.Linux.Namespaces = withoutNamespace(s.Linux.Namespaces, specs.NetworkNamespace)
		s.Mounts = append(s.Mounts,
			bindMount("/etc/hosts", "/etc/hosts", true),
			bindMount("/etc/resolv.conf", "/etc/resolv.conf", true))
	case cs.HostNetwork:
		s.Linux.Namespaces = withoutNamespace(s.Linux.Namespaces, specs.NetworkNamespace)
		dir := filepath.Join(sc.stateDir, cs.ID)
		s.Mounts = append(s.Mounts,
			bindMount(filepath.Join(dir, hostsFile), "/etc/hosts", true),
			bindMount(filepath.Join(dir, resolvFile), "/etc/resolv.conf", true))
	default:
		if cs.NetNSPath != "" {
			s.Linux.Namespaces = withoutNamespace(s.Linux.Namespaces, specs.NetworkNamespace)
			s.Linux.Namespaces = append(s.Linux.Namespaces,
				specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: cs.NetNSPath})
		}
		dir := filepath.Join(sc.stateDir, cs.ID)
		s.Mounts = append(s.Mounts,
			bindMount(filepath.Join(dir, hostsFile), "/etc/hosts", cs.ReadonlyRootfs),
			bindMount(filepath.Join(dir, resolvFile), "/etc/resolv.conf", cs.ReadonlyRootfs))
	}
	var user []specs.Mount
	for _, m := range cs.Mounts {
		if !path.IsAbs(m.Destination) || !filepath.IsAbs(m.Source) {
			return nil, fmt.Errorf("mount %s:%s: paths must be absolute", m.Source, m.Destination)
		}
		user = append(user, bindMount(m.Source, m.Destination, m.ReadOnly))
	}
	for _, t := range cs.Tmpfs {
		m, err := tmpfsSpecMount(t)
		if err != nil {
			return nil, err
		}
		user = append(user, m)
	}
	sortByDepth(user)
	s.Mounts = append(s.Mounts, user...)
	if cs.Init {
		s.Mounts = append(s.Mounts, bindMount(sc.initPath, containerInitPath, true))
	}
	if cs.Privileged {
		err := oci.Compose(oci.WithPrivileged, oci.WithAllDevicesAllowed, oci.WithHostDevices)(ctx, nil, nil, s)
		if err != nil {
			return nil, fmt.Errorf("privileged spec: %w", err)
		}
	}
	return s, nil
}

func validate(cs ContainerSpec) error {
	if !validID(cs.ID) {
		return fmt.Errorf("invalid container id %q", cs.ID)
	}
	if cs.TaskID != "" && !validID(cs.TaskID) {
		return fmt.Errorf("invalid task id %q", cs.TaskID)
	}
	if cs.MemoryLimit < 0 || cs.MemoryReservation < 0 {
		return errors.New("memory limits must not be negative")
	}
	if cs.HostNetwork && cs.NetNSPath != "" {
		return errors.New("HostNetwork and NetNSPath are exclusive")
	}
	if cs.ShmSize < 0 {
		return errors.New("shm size must not be negative")
	}
	if _, err := hostsContent(cs.ExtraHosts); err != nil {
		return err
	}
	return validateDNS(cs.DNSServers, cs.DNSSearchDomains)
}

func validID(id string) bool { return len(id) <= 76 && idPattern.MatchString(id) }

// resolveArgs applies Docker's entrypoint/command rules.
func resolveArgs(entry, cmd, imgEntry, imgCmd []string) ([]string, error) {
	var args []string
	switch {
	case len(entry) > 0:
		args = append(append(args, entry...), cmd...)
	case len(cmd) > 0:
		args = append(append(args, imgEntry...), cmd...)
	default:
		args = append(append(args, imgEntry...), imgCmd...)
	}
	if len(args) == 0 || args[0] == "" {
		return nil, errors.New("no command: neither the container nor the image sets an entrypoint or command")
	}
	return args, nil
}

// mergeEnv overlays KEY=VALUE lists in order; a later key replaces an
// earlier one in place.
func mergeEnv(lists ...[]string) []string {
	var out []string
	index := map[string]int{}
	for _, l := range lists {
		for _, kv := range l {
			k, _, _ := strings.Cut(kv, "=")
			if i, ok := index[k]; ok {
				out[i] = kv
				continue
			}
			index[k] = len(out)
			out = append(out, kv)
		}
	}
	return out
}

// resolveUser resolves a Docker user spec against the image's user
// databases (nil when the image has none).
func resolveUser(spec string, passwd, group []byte) (*user.ExecUser, error) {
	var pr, gr io.Reader
	if passwd != nil {
		pr = bytes.NewReader(passwd)
	}
	if group != nil {
		gr = bytes.NewReader(group)
	}
	u, err := user.GetExecUser(spec, &user.ExecUser{Home: "/"}, pr, gr)
	if err != nil {
		return nil, fmt.Errorf("resolve user %q: %w", spec, err)
	}
	return u, nil
}

func mergeRlimits(defaults []specs.POSIXRlimit, ulimits []Ulimit) ([]specs.POSIXRlimit, error) {
	out := append([]specs.POSIXRlimit(nil), defaults...)
	for _, u := range ulimits {
		typ, ok := rlimitNames[strings.ToLower(u.Name)]
		if !ok {
			return nil, fmt.Errorf("unknown ulimit %q", u.Name)
		}
		if u.Soft > u.Hard {
			return nil, fmt.Errorf("ulimit %s: soft limit %d above hard limit %d", u.Name, u.Soft, u.Hard)
		}
		l := specs.POSIXRlimit{Type: typ, Soft: u.Soft, Hard: u.Hard}
		replaced := false
		for i := range out {
			if out[i].Type == typ {
				out[i], replaced = l, true
			}
		}
		if !replaced {
			out = append(out, l)
		}
	}
	return out, nil
}

func cgroupPath(root, taskID, id string) string {
	if taskID == "" {
		return path.Join(root, id)
	}
	return path.Join(root, taskID, id)
}

func withoutNamespace(nss []specs.LinuxNamespace, t specs.LinuxNamespaceType) []specs.LinuxNamespace {
	out := nss[:0:0]
	for _, n := range nss {
		if n.Type != t {
			out = append(out, n)
		}
	}
	return out
}

func bindMount(src, dst string, ro bool) specs.Mount {
	mode := "rw"
	if ro {
		mode = "ro"
	}
	return specs.Mount{Type: "bind", Source: src, Destination: dst, Options: []string{"rbind", "rprivate", mode}}
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
