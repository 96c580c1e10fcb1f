package ecs

import "strconv"

// Health-check values ECS fills in when a healthCheck omits them.
const (
	DefaultHealthCheckInterval = 30
	DefaultHealthCheckTimeout  = 5
	DefaultHealthCheckRetries  = 3
)

// ApplyTaskDefinitionDefaults fills in what ECS adds on RegisterTaskDefinition
// and returns from DescribeTaskDefinition. It is pure and idempotent, and it
// does not set the ARN, revision, registeredAt or registeredBy: the
// registering caller does, as it owns IDs and time. Call it after
// ValidateTaskDefinition succeeded; on an invalid definition it still does
// not panic, but the result is unspecified.
//
// Task level: status ACTIVE; cpu and memory normalised to plain integers
// ("1 vCPU" becomes "1024", "2 GB" becomes "2048"); volumes and
// placementConstraints [] when absent; compatibilities and
// requiresAttributes derived from the definition (see Compatibilities and
// RequiredAttributes). networkMode stays absent when none was given, as ECS
// leaves it.
//
// Container level: essential true when absent (cpu is always present: 0);
// portMappings, environment, mountPoints, volumesFrom and systemControls []
// when absent; each port mapping gets protocol tcp and a hostPort (equal to
// the containerPort in awsvpc and host mode, 0 — dynamic — in bridge mode;
// none for a containerPortRange); a healthCheck gets interval 30, timeout 5
// and retries 3 when absent.
func ApplyTaskDefinitionDefaults(td *TaskDefinition) {
	if td == nil {
		return
	}
	if td.Status == "" {
		td.Status = TaskDefinitionActive
	}
	if n, ok := ParseTaskCPU(td.CPU); ok {
		td.CPU = strconv.Itoa(n)
	}
	if n, ok := ParseTaskMemory(td.Memory); ok {
		td.Memory = strconv.Itoa(n)
	}
	if td.Volumes == nil {
		td.Volumes = []Volume{}
	}
	if td.PlacementConstraints == nil {
		td.PlacementConstraints = []TaskDefinitionPlacementConstraint{}
	}
	mode := td.EffectiveNetworkMode()
	for i := range td.ContainerDefinitions {
		applyContainerDefaults(&td.ContainerDefinitions[i], mode)
	}
	td.Compatibilities = Compatibilities(td)
	td.RequiresAttributes = RequiredAttributes(td)
}

func applyContainerDefaults(c *ContainerDefinition, mode NetworkMode) {
	if c.Essential == nil {
		t := true
		c.Essential = &t
	}
	if c.PortMappings == nil {
		c.PortMappings = []PortMapping{}
	}
	if c.Environment == nil {
		c.Environment = []KeyValuePair{}
	}
	if c.MountPoints == nil {
		c.MountPoints = []MountPoint{}
	}
	if c.VolumesFrom == nil {
		c.VolumesFrom = []VolumeFrom{}
	}
	if c.SystemControls == nil {
		c.SystemControls = []SystemControl{}
	}
	for j := range c.PortMappings {
		pm := &c.PortMappings[j]
		if pm.Protocol == "" {
			pm.Protocol = ProtocolTCP
		}
		if pm.ContainerPortRange != "" || pm.ContainerPort == nil {
			continue
		}
		switch mode {
		case NetworkModeAwsvpc, NetworkModeHost:
			if pm.HostPort == nil || *pm.HostPort == 0 {
				hp := *pm.ContainerPort
				pm.HostPort = &hp
			}
		default:
			if pm.HostPort == nil {
				hp := 0
				pm.HostPort = &hp
			}
		}
	}
	if hc := c.HealthCheck; hc != nil {
		hc.Interval = orDefault(hc.Interval, DefaultHealthCheckInterval)
		hc.Timeout = orDefault(hc.Timeout, DefaultHealthCheckTimeout)
		hc.Retries = orDefault(hc.Retries, DefaultHealthCheckRetries)
	}
}

func orDefault(p *int, def int) *int {
	if p != nil {
		return p
	}
	return &def
}

// Compatibilities returns the launch types td can run on, in the order ECS
// reports them (seen in ECS's DescribeTaskDefinition answers): EXTERNAL
// unless the network mode is awsvpc (ECS Anywhere has no awsvpc); EC2
// always; MANAGED_INSTANCES when it was required or the network mode is
// awsvpc or host; FARGATE last, when the definition meets every Fargate rule
// (awsvpc, a Fargate task size, nothing Fargate lacks), whether or not
// FARGATE was required.
func Compatibilities(td *TaskDefinition) []Compatibility {
	mode := td.EffectiveNetworkMode()
	var out []Compatibility
	if mode != NetworkModeAwsvpc {
		out = append(out, CompatibilityExternal)
	}
	out = append(out, CompatibilityEC2)
	if td.Requires(CompatibilityManagedInstances) || mode == NetworkModeAwsvpc || mode == NetworkModeHost {
		out = append(out, CompatibilityManagedInstances)
	}
	if fargateIncompatibility(td) == nil {
		out = append(out, CompatibilityFargate)
	}
	return out
}
