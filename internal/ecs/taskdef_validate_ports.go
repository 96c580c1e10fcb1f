package ecs

import (
	"regexp"
	"strconv"
	"strings"
)

// MaxPort is the largest TCP/UDP port number.
const MaxPort = 65535

var portNameRE = regexp.MustCompile(`^[a-z0-9_][a-z0-9_-]{0,63}$`)

// portSpan is a claimed port or port range of one protocol.
type portSpan struct {
	lo, hi int
	proto  TransportProtocol
	owner  string
}

// portSet records claimed ports. Single ports live in a map so large
// definitions stay linear; ranges (at most 100 per container) in a slice.
type portSet struct {
	singles map[portSpan]string // key has owner ""
	ranges  []portSpan
}

func newPortSet() *portSet { return &portSet{singles: map[portSpan]string{}} }

// claim records lo..hi/proto for owner, or returns the owner already holding
// an overlapping port and the first overlapping port.
func (s *portSet) claim(lo, hi int, proto TransportProtocol, owner string) (conflictOwner string, port int, conflict bool) {
	for _, r := range s.ranges {
		if r.proto == proto && lo <= r.hi && r.lo <= hi {
			return r.owner, max(lo, r.lo), true
		}
	}
	if lo == hi {
		key := portSpan{lo: lo, hi: lo, proto: proto}
		if o, ok := s.singles[key]; ok {
			return o, lo, true
		}
		s.singles[key] = owner
		return "", 0, false
	}
	for k, o := range s.singles {
		if k.proto == proto && k.lo >= lo && k.lo <= hi {
			return o, k.lo, true
		}
	}
	s.ranges = append(s.ranges, portSpan{lo: lo, hi: hi, proto: proto, owner: owner})
	return "", 0, false
}

// parsePortRange parses "first-last" with 1 <= first < last <= 65535.
func parsePortRange(s string) (lo, hi int, ok bool) {
	a, b, found := strings.Cut(s, "-")
	if !found || len(a) > 5 || len(b) > 5 {
		return 0, 0, false
	}
	lo, err1 := strconv.Atoi(a)
	hi, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || strings.ContainsAny(s, "+ ") || lo < 1 || hi > MaxPort || lo >= hi {
		return 0, 0, false
	}
	return lo, hi, true
}

// portMappings checks every port mapping against its network mode and the
// rest of the task.
func (v *tdValidator) portMappings() error {
	mode := v.td.EffectiveNetworkMode()
	shared := mode == NetworkModeAwsvpc || mode == NetworkModeHost
	taskPorts := newPortSet() // awsvpc/host: container ports share one namespace
	hostPorts := newPortSet() // bridge: static host ports
	names := map[string]bool{}
	for i := range v.td.ContainerDefinitions {
		c := &v.td.ContainerDefinitions[i]
		if len(c.PortMappings) > 0 && mode == NetworkModeNone {
			return clientErr("Invalid 'portMappings' setting for container '%s': port mappings are not supported when networkMode=none.", c.Name)
		}
		own := newPortSet()
		ranges := 0
		for _, pm := range c.PortMappings {
			proto := pm.Protocol
			if proto == "" {
				proto = ProtocolTCP
			}
			if proto != ProtocolTCP && proto != ProtocolUDP {
				return clientErr("Invalid 'protocol' setting for container '%s': '%s'. Valid values are tcp and udp.", c.Name, truncateForMessage(string(pm.Protocol)))
			}
			switch pm.AppProtocol {
			case "", AppProtocolHTTP, AppProtocolHTTP2, AppProtocolGRPC:
			default:
				return clientErr("Invalid 'appProtocol' setting for container '%s': '%s'. Valid values are http, http2 and grpc.", c.Name, truncateForMessage(string(pm.AppProtocol)))
			}
			if pm.Name != "" {
				if !portNameRE.MatchString(pm.Name) {
					return clientErr("Invalid 'portMappings' setting for container '%s': name '%s' is not valid. Up to 64 lowercase letters, numbers, underscores and hyphens are allowed, not starting with a hyphen.", c.Name, truncateForMessage(pm.Name))
				}
				if names[pm.Name] {
					return clientErr("Invalid 'portMappings' setting for container '%s': port mapping name '%s' is used more than once in the task definition.", c.Name, pm.Name)
				}
				names[pm.Name] = true
			}
			var lo, hi int
			if pm.ContainerPortRange != "" {
				if mode != NetworkModeBridge && mode != NetworkModeAwsvpc {
					return clientErr("Invalid 'containerPortRange' setting for container '%s': port ranges are only supported when networkMode is bridge or awsvpc.", c.Name)
				}
				if pm.ContainerPort != nil {
					return clientErr("Invalid 'containerPortRange' setting for container '%s': specify either containerPort or containerPortRange, not both.", c.Name)
				}
				if pm.HostPort != nil {
					return clientErr("Invalid 'containerPortRange' setting for container '%s': hostPort cannot be specified with containerPortRange.", c.Name)
				}
				var ok bool
				if lo, hi, ok = parsePortRange(pm.ContainerPortRange); !ok {
					return clientErr("Invalid 'containerPortRange' setting for container '%s': '%s'. Use first-last with ports between 1 and 65535 and first less than last.", c.Name, truncateForMessage(pm.ContainerPortRange))
				}
				if ranges++; ranges > maxPortRangesPerContainer {
					return clientErr("Invalid 'containerPortRange' setting for container '%s': at most %d port ranges are allowed per container.", c.Name, maxPortRangesPerContainer)
				}
			} else {
				if pm.ContainerPort == nil || *pm.ContainerPort < 1 || *pm.ContainerPort > MaxPort {
					return clientErr("Invalid 'containerPort' setting for container '%s'.", c.Name)
				}
				lo, hi = *pm.ContainerPort, *pm.ContainerPort
				hp := 0
				if pm.HostPort != nil {
					hp = *pm.HostPort
				}
				if hp < 0 || hp > MaxPort {
					return clientErr("Invalid 'hostPort' setting for container '%s'.", c.Name)
				}
				if shared && hp != 0 && hp != lo {
					return clientErr("When networkMode=%s, the host ports and container ports in port mappings must match.", mode)
				}
				if !shared && hp != 0 {
					if owner, _, dup := hostPorts.claim(hp, hp, proto, c.Name); dup {
						return clientErr("Invalid 'portMappings' setting for container '%s': host port %d/%s is already used by container '%s'.", c.Name, hp, proto, owner)
					}
				}
			}
			if _, port, dup := own.claim(lo, hi, proto, c.Name); dup {
				return clientErr("Invalid 'portMappings' setting for container '%s': port %d/%s is included in more than one port mapping.", c.Name, port, proto)
			}
			if shared {
				if owner, port, dup := taskPorts.claim(lo, hi, proto, c.Name); dup {
					return clientErr("Invalid 'portMappings' setting for container '%s': port %d/%s is already mapped by container '%s', and containers share one network namespace when networkMode=%s.", c.Name, port, proto, owner, mode)
				}
			}
		}
	}
	return nil
}

// volumes checks the task's volumes and records their names.
func (v *tdValidator) volumes() error {
	v.volumeNames = map[string]bool{}
	for i := range v.td.Volumes {
		vol := &v.td.Volumes[i]
		switch {
		case vol.Name == "":
			return clientErr("Volume.name should not be null or empty.")
		case len(vol.Name) > maxNameLength || !resourceNameRE.MatchString(vol.Name):
			return clientErr("Volume.name contains invalid characters: up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.")
		case v.volumeNames[vol.Name]:
			return clientErr("Duplicate volume name '%s': volume names must be unique within a task definition.", vol.Name)
		}
		v.volumeNames[vol.Name] = true
		kinds := 0
		for _, set := range []bool{vol.Host != nil, vol.DockerVolumeConfiguration != nil, vol.EFSVolumeConfiguration != nil,
			vol.S3FilesVolumeConfiguration != nil, vol.FSxWindowsFileServerVolumeConfiguration != nil} {
			if set {
				kinds++
			}
		}
		if kinds > 1 {
			return clientErr("Invalid volume '%s': specify only one of host, dockerVolumeConfiguration, efsVolumeConfiguration, s3filesVolumeConfiguration and fsxWindowsFileServerVolumeConfiguration.", vol.Name)
		}
		if vol.ConfiguredAtLaunch != nil && *vol.ConfiguredAtLaunch && kinds > 0 {
			return clientErr("Invalid volume '%s': a volume with configuredAtLaunch cannot also have a host, Docker, EFS, S3 Files or FSx configuration.", vol.Name)
		}
		if err := validateVolumeConfig(vol); err != nil {
			return err
		}
	}
	return nil
}

func validateVolumeConfig(vol *Volume) error {
	if d := vol.DockerVolumeConfiguration; d != nil {
		if d.Scope != "" && d.Scope != "task" && d.Scope != "shared" {
			return clientErr("Invalid 'dockerVolumeConfiguration' setting for volume '%s': scope '%s' is not valid. Valid values are task and shared.", vol.Name, truncateForMessage(d.Scope))
		}
		if d.Autoprovision != nil && *d.Autoprovision && d.Scope != "shared" {
			return clientErr("Invalid 'dockerVolumeConfiguration' setting for volume '%s': autoprovision can only be set when scope is shared.", vol.Name)
		}
	}
	if e := vol.EFSVolumeConfiguration; e != nil {
		if e.FileSystemID == "" {
			return clientErr("Invalid 'efsVolumeConfiguration' setting for volume '%s': fileSystemId is required.", vol.Name)
		}
		if e.TransitEncryption != "" && e.TransitEncryption != "ENABLED" && e.TransitEncryption != "DISABLED" {
			return clientErr("Invalid 'efsVolumeConfiguration' setting for volume '%s': transitEncryption must be ENABLED or DISABLED.", vol.Name)
		}
		if p := e.TransitEncryptionPort; p != nil && (*p < 1 || *p > MaxPort) {
			return clientErr("Invalid 'efsVolumeConfiguration' setting for volume '%s': transitEncryptionPort must be between 1 and 65535.", vol.Name)
		}
		if a := e.AuthorizationConfig; a != nil {
			if a.IAM != "" && a.IAM != "ENABLED" && a.IAM != "DISABLED" {
				return clientErr("Invalid 'efsVolumeConfiguration' setting for volume '%s': authorizationConfig.iam must be ENABLED or DISABLED.", vol.Name)
			}
			if (a.IAM == "ENABLED" || a.AccessPointID != "") && e.TransitEncryption != "ENABLED" {
				return clientErr("Invalid 'efsVolumeConfiguration' setting for volume '%s': transitEncryption must be ENABLED when an access point or IAM authorization is used.", vol.Name)
			}
			if a.AccessPointID != "" && e.RootDirectory != "" && e.RootDirectory != "/" {
				return clientErr("Invalid 'efsVolumeConfiguration' setting for volume '%s': rootDirectory must be omitted or set to / when an access point is used.", vol.Name)
			}
		}
	}
	if s := vol.S3FilesVolumeConfiguration; s != nil && s.FileSystemArn == "" {
		return clientErr("Invalid 's3filesVolumeConfiguration' setting for volume '%s': fileSystemArn is required.", vol.Name)
	}
	if f := vol.FSxWindowsFileServerVolumeConfiguration; f != nil {
		if f.FileSystemID == "" || f.RootDirectory == "" || f.AuthorizationConfig == nil ||
			f.AuthorizationConfig.CredentialsParameter == "" || f.AuthorizationConfig.Domain == "" {
			return clientErr("Invalid 'fsxWindowsFileServerVolumeConfiguration' setting for volume '%s': fileSystemId, rootDirectory and authorizationConfig (credentialsParameter, domain) are required.", vol.Name)
		}
	}
	return nil
}
