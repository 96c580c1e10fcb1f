package engine

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/berth/berth/internal/agent/network"
	"github.com/berth/berth/internal/agent/runtime"
	"github.com/berth/berth/internal/agentproto"
	"github.com/berth/berth/internal/ecs"
)

// Docker labels the engine puts on every container, as the ECS agent does.
const (
	LabelCluster           = "com.amazonaws.ecs.cluster"
	LabelContainerName     = "com.amazonaws.ecs.container-name"
	LabelTaskARN           = "com.amazonaws.ecs.task-arn"
	LabelTaskDefFamily     = "com.amazonaws.ecs.task-definition-family"
	LabelTaskDefVersion    = "com.amazonaws.ecs.task-definition-version"
	envMetadataURI         = "ECS_CONTAINER_METADATA_URI"
	envMetadataURIV4       = "ECS_CONTAINER_METADATA_URI_V4"
	envRegion              = "AWS_REGION"
	envDefaultRegion       = "AWS_DEFAULT_REGION"
	registryAuthTypeBerth  = "berth"
	volumeTypeHost         = "host"
	volumeTypeDocker       = "docker"
	maxVolumesFromNestings = 8
)

// networkMode is the task's network mode; ECS's EC2 default is bridge.
func networkMode(p *agentproto.Task) string {
	if p.NetworkMode == "" {
		return network.ModeBridge
	}
	return strings.ToLower(p.NetworkMode)
}

// portMappings are the mappings given to network Setup: in bridge mode the
// host ports the control plane assigned; in awsvpc and host mode the
// exposed container ports; none in mode none.
func portMappings(p *agentproto.Task) []network.PortMapping {
	mode := networkMode(p)
	if mode == network.ModeNone {
		return nil
	}
	var out []network.PortMapping
	for _, c := range p.Containers {
		for _, pm := range c.PortMappings {
			m := network.PortMapping{ContainerPort: pm.ContainerPort, HostPort: pm.HostPort, Protocol: protocolOf(pm.Protocol)}
			if mode == network.ModeBridge {
				if pm.HostPort <= 0 {
					continue // Berth's control plane assigns every host port; nothing to map
				}
			} else {
				m.HostPort = pm.ContainerPort
			}
			out = append(out, m)
		}
	}
	return out
}

func protocolOf(p string) string {
	if p == "" {
		return "tcp"
	}
	return strings.ToLower(p)
}

// bindings are a container's network bindings as reported to ECS: the
// mapped host ports (bridge) or the container ports themselves (host).
func bindings(mode string, c *agentproto.Container) []ecs.NetworkBinding {
	var out []ecs.NetworkBinding
	for _, pm := range c.PortMappings {
		b := ecs.NetworkBinding{BindIP: "0.0.0.0", ContainerPort: pm.ContainerPort, HostPort: pm.HostPort, Protocol: protocolOf(pm.Protocol)}
		switch mode {
		case network.ModeBridge:
			if pm.HostPort <= 0 {
				continue
			}
		case network.ModeHost:
			b.HostPort = pm.ContainerPort
		default:
			continue
		}
		out = append(out, b)
	}
	return out
}

// vpcAddress is the awsvpc address and MAC the control plane chose (the
// primary address of the payload's first elastic network interface).
func vpcAddress(p *agentproto.Task) (ipv4, mac string) {
	if networkMode(p) != network.ModeAWSVPC || len(p.ElasticNetworkInterfaces) == 0 {
		return "", ""
	}
	eni := p.ElasticNetworkInterfaces[0]
	for _, a := range eni.IPv4Addresses {
		if a.Primary || ipv4 == "" {
			ipv4 = a.PrivateAddress
		}
	}
	return ipv4, eni.MacAddress
}

// scratchDir is where a task-scoped volume lives on the host.
func (e *Engine) scratchDir(taskID, volume string) string {
	return filepath.Join(e.cfg.DataDir, "volumes", taskID, volume)
}

// volumePaths maps each task volume to its host path.
func (e *Engine) volumePaths(taskID string, p *agentproto.Task) (map[string]string, error) {
	out := make(map[string]string, len(p.Volumes))
	for _, v := range p.Volumes {
		if v.Name == "" || v.Name == "." || v.Name == ".." || strings.ContainsAny(v.Name, "/\\\x00") {
			return nil, fmt.Errorf("invalid volume name %q", v.Name)
		}
		switch {
		case (v.Type == volumeTypeHost || v.Type == "") && v.Host != nil && v.Host.SourcePath != "":
			if !filepath.IsAbs(v.Host.SourcePath) {
				return nil, fmt.Errorf("volume %s: source path %q is not absolute", v.Name, v.Host.SourcePath)
			}
			out[v.Name] = filepath.Clean(v.Host.SourcePath)
		case v.Type == volumeTypeHost || v.Type == volumeTypeDocker || v.Type == "":
			out[v.Name] = e.scratchDir(taskID, v.Name)
		default:
			return nil, fmt.Errorf("volume %s: type %q is not supported", v.Name, v.Type)
		}
	}
	return out, nil
}

// scratchVolumes lists the task's scratch directories.
func (e *Engine) scratchVolumes(taskID string, p *agentproto.Task) []string {
	paths, err := e.volumePaths(taskID, p)
	if err != nil {
		return nil
	}
	var out []string
	for _, path := range paths {
		if strings.HasPrefix(path, e.scratchDir(taskID, "")) {
			out = append(out, path)
		}
	}
	slices.Sort(out)
	return out
}

// mounts are a container's mounts: its mountPoints, then the mounts of
// its volumesFrom containers (read-only when asked).
func mounts(p *agentproto.Task, c *agentproto.Container, vols map[string]string, depth int) ([]runtime.Mount, error) {
	if depth > maxVolumesFromNestings {
		return nil, errors.New("volumesFrom nests too deeply (a cycle?)")
	}
	var out []runtime.Mount
	for _, mp := range c.MountPoints {
		src, ok := vols[mp.SourceVolume]
		if !ok {
			return nil, fmt.Errorf("mount point %s: the task has no volume %q", mp.ContainerPath, mp.SourceVolume)
		}
		out = append(out, runtime.Mount{Source: src, Destination: mp.ContainerPath, ReadOnly: mp.ReadOnly})
	}
	for _, vf := range c.VolumesFrom {
		var src *agentproto.Container
		for i := range p.Containers {
			if p.Containers[i].Name == vf.SourceContainer {
				src = &p.Containers[i]
			}
		}
		if src == nil || src == c {
			return nil, fmt.Errorf("volumesFrom: no other container %q in the task", vf.SourceContainer)
		}
		ms, err := mounts(p, src, vols, depth+1)
		if err != nil {
			return nil, fmt.Errorf("volumesFrom %s: %w", vf.SourceContainer, err)
		}
		for _, m := range ms {
			m.ReadOnly = m.ReadOnly || vf.ReadOnly
			out = append(out, m)
		}
	}
	return out, nil
}

// containerSpec builds the runtime spec of the task's container i. att is
// the task's network (nil before setup, which Create waits for).
func (e *Engine) containerSpec(rec *record, i int) (runtime.ContainerSpec, error) {
	p := &rec.Payload
	c := &p.Containers[i]
	taskID := taskIDOf(p.ARN)
	cfg, err := parseContainerConfig(c.DockerConfig.Config)
	if err != nil {
		return runtime.ContainerSpec{}, err
	}
	hc, err := parseHostConfig(c.DockerConfig.HostConfig)
	if err != nil {
		return runtime.ContainerSpec{}, err
	}
	vols, err := e.volumePaths(taskID, p)
	if err != nil {
		return runtime.ContainerSpec{}, err
	}
	ms, err := mounts(p, c, vols, 0)
	if err != nil {
		return runtime.ContainerSpec{}, err
	}
	hosts, err := extraHosts(p, c, hc.ExtraHosts)
	if err != nil {
		return runtime.ContainerSpec{}, err
	}

	labels := containerLabels(e.cfg.Cluster, p, i, cfg.Labels)
	spec := runtime.ContainerSpec{
		ID:                rec.Containers[i].RuntimeID,
		TaskID:            taskID,
		Image:             c.Image,
		Labels:            labels,
		EntryPoint:        c.EntryPoint,
		Command:           c.Command,
		Env:               e.environment(rec, i),
		WorkingDir:        cfg.WorkingDir,
		User:              cfg.User,
		Hostname:          cfg.Hostname,
		CPUShares:         uint64(max(c.CPU, 0)),
		MemoryLimit:       int64(max(c.Memory, 0)) << 20,
		MemoryReservation: max(hc.MemoryReservation, 0),
		ReadonlyRootfs:    hc.ReadonlyRootfs,
		Privileged:        c.Privileged != nil && *c.Privileged,
		Init:              (hc.Init != nil && *hc.Init) || (c.LinuxParameters != nil && c.LinuxParameters.InitProcessEnabled != nil && *c.LinuxParameters.InitProcessEnabled),
		Mounts:            ms,
		ExtraHosts:        hosts,
		DNSServers:        hc.DNS,
		DNSSearchDomains:  hc.DNSSearch,
		CapAdd:            hc.CapAdd,
		CapDrop:           hc.CapDrop,
	}
	spec.ShmSize, spec.Tmpfs = linuxMemoryMounts(c.LinuxParameters)
	for _, u := range hc.Ulimits {
		if u.Soft < 0 || u.Hard < 0 {
			return runtime.ContainerSpec{}, fmt.Errorf("ulimit %s: negative limit", u.Name)
		}
		spec.Ulimits = append(spec.Ulimits, runtime.Ulimit{Name: u.Name, Soft: uint64(u.Soft), Hard: uint64(u.Hard)})
	}
	switch mode := networkMode(p); {
	case mode == network.ModeHost:
		spec.HostNetwork = true
	case rec.Network == nil || rec.Network.NetNSPath == "":
		return runtime.ContainerSpec{}, fmt.Errorf("the task's %s network is not set up", mode)
	default:
		spec.NetNSPath = rec.Network.NetNSPath
	}
	return spec, nil
}

// linkAddress is where a linked container answers: a bridge task's
// containers share one network namespace.
const linkAddress = "127.0.0.1"

// extraHosts are a container's /etc/hosts additions: dockerConfig's
// ExtraHosts ("hostname:ip", as Docker's --add-host), then, in bridge mode,
// its links: "name:alias" (or "name") makes alias and name resolve to
// 127.0.0.1, where the linked container of the task answers. ECS allows
// links in bridge mode only; other modes ignore them.
func extraHosts(p *agentproto.Task, c *agentproto.Container, docker []string) ([]runtime.HostEntry, error) {
	var out []runtime.HostEntry
	for _, h := range docker {
		name, ip, ok := strings.Cut(h, ":")
		if !ok || name == "" || ip == "" {
			return nil, fmt.Errorf("dockerConfig.hostConfig: extra host %q is not hostname:ip", h)
		}
		out = append(out, runtime.HostEntry{Hostname: name, IPAddress: ip})
	}
	if networkMode(p) != network.ModeBridge {
		return out, nil
	}
	var linked []string
	for _, l := range c.Links {
		name, alias, hasAlias := strings.Cut(l, ":")
		if !hasAlias {
			alias = name
		}
		if name == "" || alias == "" {
			return nil, fmt.Errorf("link %q: want name or name:alias", l)
		}
		if name == c.Name || !slices.ContainsFunc(p.Containers, func(o agentproto.Container) bool { return o.Name == name }) {
			return nil, fmt.Errorf("link %q: no other container %q in the task", l, name)
		}
		for _, h := range []string{alias, name} {
			if !slices.Contains(linked, h) {
				linked = append(linked, h)
				out = append(out, runtime.HostEntry{Hostname: h, IPAddress: linkAddress})
			}
		}
	}
	return out, nil
}

// linuxMemoryMounts are the /dev/shm size (bytes) and the tmpfs mounts of
// linuxParameters (sizes in MiB).
func linuxMemoryMounts(lp *agentproto.LinuxParameters) (shm int64, tmpfs []runtime.TmpfsMount) {
	if lp == nil {
		return 0, nil
	}
	if lp.SharedMemorySize != nil {
		shm = int64(*lp.SharedMemorySize) << 20
	}
	for _, t := range lp.Tmpfs {
		tmpfs = append(tmpfs, runtime.TmpfsMount{Destination: t.ContainerPath, Size: int64(t.Size) << 20, Options: t.MountOptions})
	}
	return shm, tmpfs
}

// environment is the payload's environment (sorted by name), then the
// metadata endpoint URIs and the region, as the ECS agent sets them.
func (e *Engine) environment(rec *record, i int) []string {
	c := &rec.Payload.Containers[i]
	env := make([]string, 0, len(c.Environment)+4)
	for _, k := range slices.Sorted(maps.Keys(c.Environment)) {
		env = append(env, k+"="+c.Environment[k])
	}
	if uri := e.metadataURI(rec, i); uri != "" {
		env = append(env, envMetadataURIV4+"="+uri, envMetadataURI+"="+uri)
	}
	if r := e.cfg.Region; r != "" {
		for _, k := range []string{envRegion, envDefaultRegion} {
			if _, set := c.Environment[k]; !set {
				env = append(env, k+"="+r)
			}
		}
	}
	return env
}

// metadataURI is the container's task metadata endpoint,
// http://<host>:<port>/v4/<token>, where host is the address the task's
// network reaches the agent on (127.0.0.1 in host mode); "" in mode none
// or when no metadata port is configured.
func (e *Engine) metadataURI(rec *record, i int) string {
	if e.cfg.MetadataPort <= 0 {
		return ""
	}
	mode := networkMode(&rec.Payload)
	var host string
	switch mode {
	case network.ModeNone:
		return ""
	case network.ModeHost:
		host = "127.0.0.1"
	default:
		host = e.net.GatewayIP(mode)
	}
	if host == "" {
		return ""
	}
	return fmt.Sprintf("http://%s:%d/v4/%s", host, e.cfg.MetadataPort, rec.Containers[i].Token)
}

// registryAuth is the pull credential a container's payload carries.
func registryAuth(c *agentproto.Container) *runtime.RegistryAuth {
	ra := c.RegistryAuthentication
	if ra == nil || ra.Type != registryAuthTypeBerth || ra.Username == "" {
		return nil
	}
	return &runtime.RegistryAuth{Username: ra.Username, Password: ra.Password}
}
