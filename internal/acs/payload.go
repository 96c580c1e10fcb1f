package acs

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/berth/berth/internal/agentproto"
	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/ecs/arn"
)

// ECS's health-check defaults, in seconds (interval, timeout, start
// period) and tries.
const (
	defaultHealthInterval    = 30
	defaultHealthTimeout     = 5
	defaultHealthStartPeriod = 0
	defaultHealthRetries     = 3
)

const mib = 1 << 20

// PayloadTask maps a task record to the ACS task the agent runs: what ECS
// puts in a PayloadMessage. acctID is the account that owns the task
// definition (taskDefinitionAccountId). The containers come from the task's
// definition (overrides already applied); bridge host ports are the ones the
// control plane assigned (t.Ports); Docker-only settings travel as Docker
// JSON in dockerConfig. List members the agent expects are [] when empty,
// never null.
func PayloadTask(t ecs.Task, acctID string) agentproto.Task {
	def := &t.Definition
	mode := def.EffectiveNetworkMode()
	out := agentproto.Task{
		ARN:                      t.ARN,
		TaskClusterARN:           clusterARNOfTask(t.ARN),
		Family:                   def.Family,
		DesiredStatus:            t.DesiredStatus.String(),
		TaskDefinitionAccountID:  acctID,
		NetworkMode:              string(mode),
		LaunchType:               t.LaunchType,
		PidMode:                  string(def.PidMode),
		IpcMode:                  string(def.IpcMode),
		ServiceName:              t.ServiceName,
		Group:                    t.Group,
		Containers:               []agentproto.Container{},
		Volumes:                  payloadVolumes(def.Volumes),
		Associations:             []json.RawMessage{},
		Attachments:              []json.RawMessage{},
		ElasticNetworkInterfaces: payloadENIs(t),
	}
	if def.Revision > 0 {
		out.Version = strconv.Itoa(def.Revision)
	}
	if units, ok := taskSize(t.CPU, def.CPU, ecs.ParseTaskCPU); ok {
		out.CPU = float64(units) / 1024
	}
	if m, ok := taskSize(t.Memory, def.Memory, ecs.ParseTaskMemory); ok {
		out.Memory = m
	}
	arns := make(map[string]string, len(t.Containers))
	for _, c := range t.Containers {
		arns[c.Name] = c.ARN
	}
	for i := range def.ContainerDefinitions {
		cd := &def.ContainerDefinitions[i]
		out.Containers = append(out.Containers, payloadContainer(cd, arns[cd.Name], mode, t.Ports))
	}
	return out
}

// taskSize parses the task-level size as shown (with overrides) or, when
// absent, as the definition gives it.
func taskSize(shown, defined string, parse func(string) (int, bool)) (int, bool) {
	s := shown
	if s == "" {
		s = defined
	}
	if s == "" {
		return 0, false
	}
	return parse(s)
}

// clusterARNOfTask derives the cluster ARN from a task ARN
// (arn:P:ecs:R:A:task/<cluster>/<id>); "" when it is not one.
func clusterARNOfTask(taskARN string) string {
	a, err := arn.Parse(taskARN)
	if err != nil || a.Type != arn.TypeTask || len(a.Parts) != 2 {
		return ""
	}
	return arn.ARN{Partition: a.Partition, Service: a.Service, Region: a.Region, Account: a.Account,
		Type: arn.TypeCluster, Parts: []string{a.Parts[0]}}.String()
}

// attachmentARN names a task attachment as ECS does
// (arn:P:ecs:R:A:attachment/<id>), in the task's partition, region and
// account.
func attachmentARN(taskARN, id string) string {
	a, err := arn.Parse(taskARN)
	if err != nil {
		return ""
	}
	return arn.ARN{Partition: a.Partition, Service: a.Service, Region: a.Region, Account: a.Account,
		Type: "attachment", Parts: []string{id}}.String()
}

func payloadContainer(cd *ecs.ContainerDefinition, containerARN string, mode ecs.NetworkMode, ports []ecs.PortAssignment) agentproto.Container {
	c := agentproto.Container{
		Name:         cd.Name,
		ContainerARN: containerARN,
		Image:        cd.Image,
		CPU:          cd.CPU,
		Essential:    cd.IsEssential(),
		Command:      cloneStrings(cd.Command),
		EntryPoint:   cloneStrings(cd.EntryPoint),
		PortMappings: payloadPorts(cd, mode, ports),
		MountPoints:  []agentproto.MountPoint{},
		VolumesFrom:  []agentproto.VolumeFrom{},
		Links:        []string{},
	}
	if cd.Memory != nil {
		c.Memory = *cd.Memory
	}
	if len(cd.Environment) > 0 {
		c.Environment = make(map[string]string, len(cd.Environment))
		for _, kv := range cd.Environment {
			c.Environment[kv.Name] = kv.Value
		}
	}
	for _, m := range cd.MountPoints {
		c.MountPoints = append(c.MountPoints, agentproto.MountPoint{SourceVolume: m.SourceVolume, ContainerPath: m.ContainerPath, ReadOnly: deref(m.ReadOnly)})
	}
	for _, v := range cd.VolumesFrom {
		c.VolumesFrom = append(c.VolumesFrom, agentproto.VolumeFrom{SourceContainer: v.SourceContainer, ReadOnly: deref(v.ReadOnly)})
	}
	c.Links = append(c.Links, cd.Links...)
	for _, d := range cd.DependsOn {
		c.DependsOn = append(c.DependsOn, agentproto.ContainerDependency{ContainerName: d.ContainerName, Condition: string(d.Condition)})
	}
	if cd.StartTimeout != nil {
		c.StartTimeout = *cd.StartTimeout
	}
	if cd.StopTimeout != nil {
		c.StopTimeout = *cd.StopTimeout
	}
	if cd.Privileged != nil {
		c.Privileged = new(*cd.Privileged)
	}
	if lp := cd.LinuxParameters; lp != nil && (lp.InitProcessEnabled != nil || lp.SharedMemorySize != nil || len(lp.Tmpfs) > 0) {
		c.LinuxParameters = &agentproto.LinuxParameters{}
		if lp.InitProcessEnabled != nil {
			c.LinuxParameters.InitProcessEnabled = new(*lp.InitProcessEnabled)
		}
		if lp.SharedMemorySize != nil {
			c.LinuxParameters.SharedMemorySize = new(*lp.SharedMemorySize)
		}
		for _, t := range lp.Tmpfs {
			c.LinuxParameters.Tmpfs = append(c.LinuxParameters.Tmpfs, agentproto.Tmpfs{
				ContainerPath: t.ContainerPath, Size: t.Size, MountOptions: cloneStrings(t.MountOptions)})
		}
	}
	cfg := agentproto.DockerContainerConfig{
		Hostname:    cd.Hostname,
		User:        cd.User,
		WorkingDir:  cd.WorkingDirectory,
		Healthcheck: dockerHealthcheck(cd.HealthCheck),
	}
	if len(cd.DockerLabels) > 0 {
		cfg.Labels = make(map[string]string, len(cd.DockerLabels))
		for k, v := range cd.DockerLabels {
			cfg.Labels[k] = v
		}
	}
	if cfg.Healthcheck != nil {
		c.HealthCheckType = "docker"
	}
	c.DockerConfig.Config = dockerJSON(cfg)
	c.DockerConfig.HostConfig = dockerJSON(dockerHostConfig(cd))
	return c
}

// dockerHealthcheck converts an ECS health check (seconds, with ECS's
// defaults) to Docker's (nanoseconds); nil when there is none.
func dockerHealthcheck(hc *ecs.HealthCheck) *agentproto.DockerHealthcheck {
	if hc == nil || len(hc.Command) == 0 {
		return nil
	}
	sec := func(p *int, def int) int64 {
		v := def
		if p != nil {
			v = *p
		}
		return int64(v) * 1e9
	}
	retries := defaultHealthRetries
	if hc.Retries != nil {
		retries = *hc.Retries
	}
	return &agentproto.DockerHealthcheck{
		Test:        cloneStrings(hc.Command),
		Interval:    sec(hc.Interval, defaultHealthInterval),
		Timeout:     sec(hc.Timeout, defaultHealthTimeout),
		StartPeriod: sec(hc.StartPeriod, defaultHealthStartPeriod),
		Retries:     retries,
	}
}

// dockerHostConfig gathers the settings Docker takes in its host config:
// memory reservation, ulimits, read-only root, init, capabilities, and
// extraHosts ("hostname:ip"), dnsServers and dnsSearchDomains as Docker's
// ExtraHosts, Dns and DnsSearch.
func dockerHostConfig(cd *ecs.ContainerDefinition) agentproto.DockerHostConfig {
	var hc agentproto.DockerHostConfig
	if cd.MemoryReservation != nil {
		hc.MemoryReservation = int64(*cd.MemoryReservation) * mib
	}
	for _, u := range cd.Ulimits {
		hc.Ulimits = append(hc.Ulimits, agentproto.DockerUlimit{Name: u.Name, Soft: int64(u.SoftLimit), Hard: int64(u.HardLimit)})
	}
	hc.ReadonlyRootfs = deref(cd.ReadonlyRootFilesystem)
	for _, h := range cd.ExtraHosts {
		hc.ExtraHosts = append(hc.ExtraHosts, h.Hostname+":"+h.IPAddress)
	}
	hc.DNS = cloneStrings(cd.DNSServers)
	hc.DNSSearch = cloneStrings(cd.DNSSearchDomains)
	if lp := cd.LinuxParameters; lp != nil {
		if lp.InitProcessEnabled != nil {
			hc.Init = new(*lp.InitProcessEnabled)
		}
		if lp.Capabilities != nil {
			hc.CapAdd = cloneStrings(lp.Capabilities.Add)
			hc.CapDrop = cloneStrings(lp.Capabilities.Drop)
		}
	}
	return hc
}

// dockerJSON encodes a Docker config struct, or "" when it holds nothing.
func dockerJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil || string(b) == "{}" {
		// The structs hold only strings, numbers, bools, maps and slices
		// of those: Marshal cannot fail.
		return ""
	}
	return string(b)
}

// payloadPorts maps a container's port mappings: in bridge mode the host
// port is the control plane's assignment (the definition's static port
// when none is recorded, else 0); in host and awsvpc mode it is the
// container port. A containerPortRange is listed port by port.
func payloadPorts(cd *ecs.ContainerDefinition, mode ecs.NetworkMode, ports []ecs.PortAssignment) []agentproto.PortMapping {
	out := []agentproto.PortMapping{}
	for _, pm := range cd.PortMappings {
		proto := string(pm.Protocol)
		if proto == "" {
			proto = string(ecs.ProtocolTCP)
		}
		var cports []int
		switch {
		case pm.ContainerPort != nil:
			cports = []int{*pm.ContainerPort}
		case pm.ContainerPortRange != "":
			lo, hi, ok := portRange(pm.ContainerPortRange)
			if !ok {
				continue
			}
			for p := lo; p <= hi; p++ {
				cports = append(cports, p)
			}
		}
		for _, cp := range cports {
			host := 0
			switch mode {
			case ecs.NetworkModeHost, ecs.NetworkModeAwsvpc:
				host = cp
			case ecs.NetworkModeBridge:
				if hp, ok := assignedPort(ports, cd.Name, cp, proto); ok {
					host = hp
				} else if pm.HostPort != nil && pm.ContainerPort != nil {
					host = *pm.HostPort
				}
			}
			out = append(out, agentproto.PortMapping{ContainerPort: cp, HostPort: host, Protocol: proto})
		}
	}
	return out
}

func assignedPort(ports []ecs.PortAssignment, container string, containerPort int, proto string) (int, bool) {
	for _, p := range ports {
		if p.Container == container && p.ContainerPort == containerPort && (p.Protocol == proto || (p.Protocol == "" && proto == string(ecs.ProtocolTCP))) {
			return p.HostPort, true
		}
	}
	return 0, false
}

// portRange parses "lo-hi" (1 ≤ lo < hi ≤ 65535).
func portRange(s string) (lo, hi int, ok bool) {
	a, b, found := strings.Cut(s, "-")
	if !found {
		return 0, 0, false
	}
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo >= hi {
		return 0, 0, false
	}
	return lo, hi, true
}

// payloadVolumes maps task volumes: a host volume with a sourcePath is a
// bind mount ("host"); a host volume without one, a bare named volume and
// a Docker volume are task-scoped scratch directories ("docker"). Volume
// kinds Berth cannot provide keep their ECS name as type ("efs", ...), so
// the agent fails the task with a clear reason.
func payloadVolumes(vols []ecs.Volume) []agentproto.Volume {
	out := []agentproto.Volume{}
	for _, v := range vols {
		pv := agentproto.Volume{Name: v.Name}
		switch {
		case v.Host != nil && v.Host.SourcePath != "":
			pv.Type = "host"
			pv.Host = &agentproto.HostVolumeProps{SourcePath: v.Host.SourcePath}
		case v.EFSVolumeConfiguration != nil:
			pv.Type = "efs"
		case v.FSxWindowsFileServerVolumeConfiguration != nil:
			pv.Type = "fsxWindowsFileServer"
		case v.S3FilesVolumeConfiguration != nil:
			pv.Type = "s3files"
		default:
			pv.Type = "docker"
		}
		out = append(out, pv)
	}
	return out
}

// payloadENIs maps the task's network-interface attachment (awsvpc). The
// gateway comes from the attachment's subnetGatewayIpv4Address detail when
// present; otherwise the session fills it in from the instance's awsvpc
// subnet (withGateway).
func payloadENIs(t ecs.Task) []agentproto.ElasticNetworkInterface {
	out := []agentproto.ElasticNetworkInterface{}
	for _, a := range t.Attachments {
		if a.Type != ecs.AttachmentTypeENI {
			continue
		}
		eni := agentproto.ElasticNetworkInterface{
			AttachmentARN:            attachmentARN(t.ARN, a.ID),
			MacAddress:               ecs.AttachmentDetail(a, ecs.ENIDetailMACAddress),
			SubnetGatewayIPv4Address: ecs.AttachmentDetail(a, detailSubnetGateway),
		}
		if ip := ecs.AttachmentDetail(a, ecs.ENIDetailPrivateIPv4Address); ip != "" {
			eni.IPv4Addresses = []agentproto.IPv4AddressAssignment{{PrivateAddress: ip, Primary: true}}
		}
		out = append(out, eni)
	}
	return out
}

// detailSubnetGateway is an optional attachment detail: the gateway and
// prefix length ("10.213.128.1/17").
const detailSubnetGateway = "subnetGatewayIpv4Address"

// withGateway fills in the gateway of ENIs that lack one from the
// instance's awsvpc subnet (the berth.awsvpc-cidr attribute): its first
// host address and prefix length, e.g. "10.213.128.1/17".
func withGateway(t *agentproto.Task, cidr string) {
	p, ok := ecs.ParseAwsvpcCIDR(cidr)
	if !ok {
		return
	}
	gw := ecs.AwsvpcGateway(p).String() + "/" + strconv.Itoa(p.Bits())
	for i := range t.ElasticNetworkInterfaces {
		if t.ElasticNetworkInterfaces[i].SubnetGatewayIPv4Address == "" {
			t.ElasticNetworkInterfaces[i].SubnetGatewayIPv4Address = gw
		}
	}
}

// awsvpcCIDR returns the instance's awsvpc subnet attribute.
func awsvpcCIDR(inst *ecs.ContainerInstance) string {
	for _, a := range inst.Attributes {
		if a.Name == ecs.AttributeAwsvpcCIDR {
			return a.Value
		}
	}
	return ""
}

func deref(p *bool) bool { return p != nil && *p }

func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string{}, s...)
}
