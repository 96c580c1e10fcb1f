package ecs

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Container-level limits.
const (
	MinContainerTimeout            = 2
	MaxContainerTimeout            = 120
	maxEnvironmentFiles            = 10
	maxIgnoredExitCodes            = 50
	minRestartAttemptPeriod        = 60
	maxRestartAttemptPeriod        = 1800
	maxPortRangesPerContainer      = 100
	maxCredentialSpecsPerContainer = 1
)

var (
	validLogDrivers = []LogDriver{LogDriverJSONFile, LogDriverSyslog, LogDriverJournald, LogDriverGelf,
		LogDriverFluentd, LogDriverAwslogs, LogDriverSplunk, LogDriverAwsfirelens}
	validUlimitNames = []string{"core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice",
		"nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack"}
	validKernelCapabilities = []string{"ALL", "AUDIT_CONTROL", "AUDIT_WRITE", "BLOCK_SUSPEND", "CHOWN",
		"DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "IPC_LOCK", "IPC_OWNER", "KILL", "LEASE",
		"LINUX_IMMUTABLE", "MAC_ADMIN", "MAC_OVERRIDE", "MKNOD", "NET_ADMIN", "NET_BIND_SERVICE",
		"NET_BROADCAST", "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_ADMIN", "SYS_BOOT",
		"SYS_CHROOT", "SYS_MODULE", "SYS_NICE", "SYS_PACCT", "SYS_PTRACE", "SYS_RAWIO", "SYS_RESOURCE",
		"SYS_TIME", "SYS_TTY_CONFIG", "SYSLOG", "WAKE_ALARM"}
	s3ObjectArnRE = regexp.MustCompile(`^arn:aws[a-z-]*:s3:::[^/]+/.+`)
)

// containerDetails checks each container's own settings.
func (v *tdValidator) containerDetails() error {
	for i := range v.td.ContainerDefinitions {
		c := &v.td.ContainerDefinitions[i]
		for _, check := range []func(*ContainerDefinition) error{
			v.containerSimple, v.containerEnvironment, v.containerMounts, v.containerLinux,
			v.containerHealthCheck, v.containerLogging, v.containerMisc,
		} {
			if err := check(c); err != nil {
				return err
			}
		}
	}
	return nil
}

func (v *tdValidator) containerSimple(c *ContainerDefinition) error {
	if rc := c.RepositoryCredentials; rc != nil && rc.CredentialsParameter == "" {
		return clientErr("Invalid 'repositoryCredentials' setting for container '%s': credentialsParameter is required.", c.Name)
	}
	if c.StartTimeout != nil && (*c.StartTimeout < MinContainerTimeout || *c.StartTimeout > MaxContainerTimeout) {
		return clientErr("Invalid 'startTimeout' setting for container '%s'. The valid values are %d-%d seconds.", c.Name, MinContainerTimeout, MaxContainerTimeout)
	}
	if c.StopTimeout != nil && (*c.StopTimeout < MinContainerTimeout || *c.StopTimeout > MaxContainerTimeout) {
		return clientErr("Invalid 'stopTimeout' setting for container '%s'. The valid values are %d-%d seconds.", c.Name, MinContainerTimeout, MaxContainerTimeout)
	}
	switch c.VersionConsistency {
	case "", "enabled", "disabled":
	default:
		return clientErr("Invalid 'versionConsistency' setting for container '%s': '%s'. Valid values are enabled and disabled.", c.Name, truncateForMessage(c.VersionConsistency))
	}
	mode := v.td.EffectiveNetworkMode()
	if c.Hostname != "" && mode == NetworkModeAwsvpc {
		return clientErr("hostname is not supported on container when networkMode=awsvpc.")
	}
	if len(c.ExtraHosts) > 0 && mode == NetworkModeAwsvpc {
		return clientErr("extraHosts is not supported on container when networkMode=awsvpc.")
	}
	for _, h := range c.ExtraHosts {
		if h.Hostname == "" || h.IPAddress == "" {
			return clientErr("Invalid 'extraHosts' setting for container '%s': hostname and ipAddress are required.", c.Name)
		}
	}
	for _, o := range c.DockerSecurityOptions {
		if o != "no-new-privileges" && !strings.HasPrefix(o, "apparmor:") && !strings.HasPrefix(o, "label:") &&
			!strings.HasPrefix(o, "credentialspec:") {
			return clientErr("Invalid 'dockerSecurityOptions' setting for container '%s': '%s'. Valid values are no-new-privileges, apparmor:PROFILE, label:value and credentialspec:CredentialSpecFilePath.", c.Name, truncateForMessage(o))
		}
	}
	for k := range c.DockerLabels {
		if k == "" {
			return clientErr("Invalid 'dockerLabels' setting for container '%s': label keys must not be empty.", c.Name)
		}
	}
	return nil
}

func (v *tdValidator) containerEnvironment(c *ContainerDefinition) error {
	for _, kv := range c.Environment {
		if kv.Name == "" {
			return clientErr("Invalid 'environment' setting for container '%s': environment variable names must not be empty.", c.Name)
		}
	}
	if len(c.EnvironmentFiles) > maxEnvironmentFiles {
		return clientErr("Invalid 'environmentFiles' setting for container '%s': at most %d environment files are allowed.", c.Name, maxEnvironmentFiles)
	}
	for _, ef := range c.EnvironmentFiles {
		if ef.Type != "s3" {
			return clientErr("Invalid 'environmentFiles' setting for container '%s': type '%s' is not valid. The only valid value is s3.", c.Name, truncateForMessage(ef.Type))
		}
		if !s3ObjectArnRE.MatchString(ef.Value) {
			return clientErr("Invalid 'environmentFiles' setting for container '%s': the value must be the ARN of an Amazon S3 object.", c.Name)
		}
	}
	for _, s := range c.Secrets {
		if s.Name == "" || s.ValueFrom == "" {
			return clientErr("Invalid 'secrets' setting for container '%s': name and valueFrom are required.", c.Name)
		}
	}
	if len(c.Secrets) > 0 && v.td.ExecutionRoleArn == "" {
		return clientErr("When you are specifying container secrets, you must also specify a value for 'executionRoleArn'.")
	}
	return nil
}

func (v *tdValidator) containerMounts(c *ContainerDefinition) error {
	paths := map[string]bool{}
	for _, mp := range c.MountPoints {
		if mp.SourceVolume == "" {
			return clientErr("Invalid 'mountPoints' setting for container '%s': sourceVolume is required.", c.Name)
		}
		if !v.volumeNames[mp.SourceVolume] {
			return clientErr("Invalid 'mountPoints' setting for container '%s': sourceVolume '%s' is not defined in the task definition's volumes.", c.Name, truncateForMessage(mp.SourceVolume))
		}
		if mp.ContainerPath == "" {
			return clientErr("Invalid 'mountPoints' setting for container '%s': containerPath is required.", c.Name)
		}
		if paths[mp.ContainerPath] {
			return clientErr("Invalid 'mountPoints' setting for container '%s': containerPath '%s' is used by more than one mount point.", c.Name, truncateForMessage(mp.ContainerPath))
		}
		paths[mp.ContainerPath] = true
	}
	for _, vf := range c.VolumesFrom {
		switch {
		case vf.SourceContainer == "":
			return clientErr("Invalid 'volumesFrom' setting for container '%s': sourceContainer is required.", c.Name)
		case vf.SourceContainer == c.Name:
			return clientErr("Invalid 'volumesFrom' setting for container '%s': a container cannot mount volumes from itself.", c.Name)
		case v.td.Container(vf.SourceContainer) == nil:
			return clientErr("Invalid 'volumesFrom' setting for container '%s': sourceContainer '%s' is not defined in the task definition.", c.Name, truncateForMessage(vf.SourceContainer))
		}
	}
	return nil
}

func (v *tdValidator) containerLinux(c *ContainerDefinition) error {
	lp := c.LinuxParameters
	if lp == nil {
		return nil
	}
	if caps := lp.Capabilities; caps != nil {
		for _, list := range [][]string{caps.Add, caps.Drop} {
			for _, name := range list {
				if !slices.Contains(validKernelCapabilities, name) {
					return clientErr("Invalid 'linuxParameters.capabilities' setting for container '%s': '%s' is not a valid kernel capability.", c.Name, truncateForMessage(name))
				}
			}
		}
	}
	for _, d := range lp.Devices {
		if d.HostPath == "" {
			return clientErr("Invalid 'linuxParameters.devices' setting for container '%s': hostPath is required.", c.Name)
		}
		for _, p := range d.Permissions {
			if p != "read" && p != "write" && p != "mknod" {
				return clientErr("Invalid 'linuxParameters.devices' setting for container '%s': permission '%s' is not valid. Valid values are read, write and mknod.", c.Name, truncateForMessage(p))
			}
		}
	}
	if lp.SharedMemorySize != nil && *lp.SharedMemorySize <= 0 {
		return clientErr("Invalid 'linuxParameters.sharedMemorySize' setting for container '%s': the size must be a positive number of MiB.", c.Name)
	}
	for _, t := range lp.Tmpfs {
		if t.ContainerPath == "" {
			return clientErr("Invalid 'linuxParameters.tmpfs' setting for container '%s': containerPath is required.", c.Name)
		}
		if t.Size <= 0 {
			return clientErr("Invalid 'linuxParameters.tmpfs' setting for container '%s': size must be a positive number of MiB.", c.Name)
		}
	}
	if lp.MaxSwap != nil && *lp.MaxSwap < 0 {
		return clientErr("Invalid 'linuxParameters.maxSwap' setting for container '%s': accepted values are 0 or any positive integer.", c.Name)
	}
	if lp.Swappiness != nil && (*lp.Swappiness < 0 || *lp.Swappiness > 100) {
		return clientErr("Invalid 'linuxParameters.swappiness' setting for container '%s': accepted values are whole numbers between 0 and 100.", c.Name)
	}
	return nil
}

func (v *tdValidator) containerHealthCheck(c *ContainerDefinition) error {
	hc := c.HealthCheck
	if hc == nil {
		return nil
	}
	switch {
	case len(hc.Command) == 0:
		return clientErr("Invalid 'healthCheck' setting for container '%s': command is required.", c.Name)
	case hc.Command[0] == "NONE":
	case hc.Command[0] == "CMD" || hc.Command[0] == "CMD-SHELL":
		if len(hc.Command) < 2 {
			return clientErr("Invalid 'healthCheck' setting for container '%s': the command must name what to run after %s.", c.Name, hc.Command[0])
		}
	default:
		return clientErr("Invalid 'healthCheck' setting for container '%s': the command must start with CMD, CMD-SHELL or NONE.", c.Name)
	}
	ranges := []struct {
		name     string
		value    *int
		min, max int
	}{
		{"interval", hc.Interval, 5, 300},
		{"timeout", hc.Timeout, 2, 60},
		{"retries", hc.Retries, 1, 10},
		{"startPeriod", hc.StartPeriod, 0, 300},
	}
	for _, r := range ranges {
		if r.value != nil && (*r.value < r.min || *r.value > r.max) {
			return clientErr("Invalid 'healthCheck.%s' setting for container '%s': you may specify between %d and %d.", r.name, c.Name, r.min, r.max)
		}
	}
	return nil
}

func (v *tdValidator) containerLogging(c *ContainerDefinition) error {
	seen := map[string]bool{}
	for _, u := range c.Ulimits {
		if !slices.Contains(validUlimitNames, u.Name) {
			return clientErr("Invalid 'ulimits' setting for container '%s': '%s' is not a valid ulimit name. Valid names are %s.", c.Name, truncateForMessage(u.Name), strings.Join(validUlimitNames, ", "))
		}
		if seen[u.Name] {
			return clientErr("Invalid 'ulimits' setting for container '%s': ulimit '%s' is given more than once.", c.Name, u.Name)
		}
		seen[u.Name] = true
		if u.SoftLimit > u.HardLimit && u.HardLimit >= 0 {
			return clientErr("Invalid 'ulimits' setting for container '%s': the softLimit of '%s' must not be greater than its hardLimit.", c.Name, u.Name)
		}
	}
	lc := c.LogConfiguration
	if lc == nil {
		return nil
	}
	if !slices.Contains(validLogDrivers, lc.LogDriver) {
		return clientErr("Invalid 'logConfiguration' setting for container '%s': log driver '%s' is not supported. Valid values are json-file, syslog, journald, gelf, fluentd, awslogs, splunk and awsfirelens.", c.Name, truncateForMessage(string(lc.LogDriver)))
	}
	for _, s := range lc.SecretOptions {
		if s.Name == "" || s.ValueFrom == "" {
			return clientErr("Invalid 'logConfiguration.secretOptions' setting for container '%s': name and valueFrom are required.", c.Name)
		}
	}
	if len(lc.SecretOptions) > 0 && v.td.ExecutionRoleArn == "" {
		return clientErr("When you are specifying container secrets, you must also specify a value for 'executionRoleArn'.")
	}
	return nil
}

func (v *tdValidator) containerMisc(c *ContainerDefinition) error {
	mode := v.td.EffectiveNetworkMode()
	for _, sc := range c.SystemControls {
		if sc.Namespace == "" {
			return clientErr("Invalid 'systemControls' setting for container '%s': namespace is required.", c.Name)
		}
		if mode == NetworkModeHost && strings.HasPrefix(sc.Namespace, "net.") {
			return clientErr("Invalid 'systemControls' setting for container '%s': network namespace parameters (%s) are not supported when networkMode=host.", c.Name, truncateForMessage(sc.Namespace))
		}
	}
	types := map[string]bool{}
	for _, rr := range c.ResourceRequirements {
		switch rr.Type {
		case "GPU", "NeuronDevice":
			if n, err := strconv.Atoi(rr.Value); err != nil || n <= 0 {
				return clientErr("Invalid 'resourceRequirements' setting for container '%s': the %s value must be a positive whole number.", c.Name, rr.Type)
			}
		case "InferenceAccelerator":
			if !slices.ContainsFunc(v.td.InferenceAccelerators, func(ia InferenceAccelerator) bool { return ia.DeviceName == rr.Value }) {
				return clientErr("Invalid 'resourceRequirements' setting for container '%s': inference accelerator '%s' is not defined in the task definition.", c.Name, truncateForMessage(rr.Value))
			}
		default:
			return clientErr("Invalid 'resourceRequirements' setting for container '%s': type '%s' is not valid. Valid values are GPU, InferenceAccelerator and NeuronDevice.", c.Name, truncateForMessage(rr.Type))
		}
		if types[rr.Type] {
			return clientErr("Invalid 'resourceRequirements' setting for container '%s': type %s is given more than once.", c.Name, rr.Type)
		}
		types[rr.Type] = true
	}
	if fc := c.FirelensConfiguration; fc != nil {
		if fc.Type != "fluentd" && fc.Type != "fluentbit" {
			return clientErr("Invalid 'firelensConfiguration' setting for container '%s': type '%s' is not valid. Valid values are fluentd and fluentbit.", c.Name, truncateForMessage(fc.Type))
		}
		if t, ok := fc.Options["config-file-type"]; ok {
			if t != "s3" && t != "file" {
				return clientErr("Invalid 'firelensConfiguration' setting for container '%s': config-file-type must be s3 or file.", c.Name)
			}
			if fc.Options["config-file-value"] == "" {
				return clientErr("Invalid 'firelensConfiguration' setting for container '%s': config-file-value is required with config-file-type.", c.Name)
			}
		}
	}
	if rp := c.RestartPolicy; rp != nil {
		if len(rp.IgnoredExitCodes) > maxIgnoredExitCodes {
			return clientErr("Invalid 'restartPolicy' setting for container '%s': at most %d ignoredExitCodes are allowed.", c.Name, maxIgnoredExitCodes)
		}
		if p := rp.RestartAttemptPeriod; p != nil && (*p < minRestartAttemptPeriod || *p > maxRestartAttemptPeriod) {
			return clientErr("Invalid 'restartPolicy' setting for container '%s': restartAttemptPeriod must be between %d and %d seconds.", c.Name, minRestartAttemptPeriod, maxRestartAttemptPeriod)
		}
	}
	if len(c.CredentialSpecs) > maxCredentialSpecsPerContainer {
		return clientErr("Invalid 'credentialSpecs' setting for container '%s': at most %d credential spec is allowed.", c.Name, maxCredentialSpecsPerContainer)
	}
	for _, cs := range c.CredentialSpecs {
		if !strings.HasPrefix(cs, "credentialspec:") && !strings.HasPrefix(cs, "credentialspecdomainless:") {
			return clientErr("Invalid 'credentialSpecs' setting for container '%s': each value must start with credentialspec: or credentialspecdomainless:.", c.Name)
		}
	}
	return nil
}

// crossContainer checks settings that refer to other containers: links,
// FireLens routing.
func (v *tdValidator) crossContainer() error {
	mode := v.td.EffectiveNetworkMode()
	routers := 0
	needsRouter := ""
	for i := range v.td.ContainerDefinitions {
		c := &v.td.ContainerDefinitions[i]
		if len(c.Links) > 0 && mode != NetworkModeBridge {
			return clientErr("Links are not supported when networkMode=%s.", mode)
		}
		for _, l := range c.Links {
			target, alias, hasAlias := strings.Cut(l, ":")
			if !resourceNameRE.MatchString(target) || len(target) > maxNameLength ||
				(hasAlias && (!resourceNameRE.MatchString(alias) || len(alias) > maxNameLength)) {
				return clientErr("Invalid 'links' setting for container '%s': '%s' is not a valid link. Use name or name:alias.", c.Name, truncateForMessage(l))
			}
			if target == c.Name {
				return clientErr("Invalid 'links' setting for container '%s': a container cannot link to itself.", c.Name)
			}
			if v.td.Container(target) == nil {
				return clientErr("Invalid 'links' setting for container '%s': container '%s' is not defined in the task definition.", c.Name, target)
			}
		}
		if c.FirelensConfiguration != nil {
			routers++
		}
		if c.LogConfiguration != nil && c.LogConfiguration.LogDriver == LogDriverAwsfirelens && needsRouter == "" {
			needsRouter = c.Name
		}
	}
	if routers > 1 {
		return clientErr("Invalid 'firelensConfiguration' setting: only one container in a task definition can have a firelensConfiguration.")
	}
	if needsRouter != "" && routers == 0 {
		return clientErr("Invalid 'logConfiguration' setting for container '%s': the awsfirelens log driver requires a log router container with a firelensConfiguration in the task definition.", needsRouter)
	}
	return nil
}

// dependencies checks dependsOn: known targets, valid conditions and no
// cycles.
func (v *tdValidator) dependencies() error {
	for i := range v.td.ContainerDefinitions {
		c := &v.td.ContainerDefinitions[i]
		for _, d := range c.DependsOn {
			target := v.td.Container(d.ContainerName)
			switch {
			case d.ContainerName == "":
				return clientErr("Invalid 'dependsOn' setting for container '%s': containerName is required.", c.Name)
			case d.ContainerName == c.Name:
				return clientErr("Invalid 'dependsOn' setting for container '%s': a container cannot depend on itself.", c.Name)
			case target == nil:
				return clientErr("Invalid 'dependsOn' setting for container '%s': container '%s' is not defined in the task definition.", c.Name, truncateForMessage(d.ContainerName))
			}
			switch d.Condition {
			case ConditionStart:
			case ConditionHealthy:
				if target.HealthCheck == nil {
					return clientErr("Invalid 'dependsOn' setting for container '%s': condition HEALTHY requires container '%s' to have a healthCheck.", c.Name, target.Name)
				}
			case ConditionComplete, ConditionSuccess:
				if target.IsEssential() {
					return clientErr("A dependency container with SUCCESS or COMPLETE condition cannot be an essential container ('dependsOn' of container '%s' names essential container '%s').", c.Name, target.Name)
				}
			default:
				return clientErr("Invalid 'dependsOn' setting for container '%s': condition '%s' is not valid. Valid values are START, COMPLETE, SUCCESS and HEALTHY.", c.Name, truncateForMessage(string(d.Condition)))
			}
		}
	}
	if cycle := dependencyCycle(v.td.ContainerDefinitions); cycle != nil {
		return clientErr("Invalid 'dependsOn' settings: the container dependencies form a cycle: %s.", strings.Join(cycle, " -> "))
	}
	return nil
}

// dependencyCycle returns one dependsOn cycle as a path whose first and last
// names are equal, or nil. Unknown targets are ignored.
func dependencyCycle(cs []ContainerDefinition) []string {
	index := make(map[string]int, len(cs))
	for i := range cs {
		index[cs[i].Name] = i
	}
	const (
		unvisited = iota
		onPath
		done
	)
	state := make([]int, len(cs))
	var path []string
	var visit func(i int) []string
	visit = func(i int) []string {
		state[i] = onPath
		path = append(path, cs[i].Name)
		for _, d := range cs[i].DependsOn {
			j, ok := index[d.ContainerName]
			if !ok {
				continue
			}
			switch state[j] {
			case onPath:
				start := slices.Index(path, cs[j].Name)
				return append(slices.Clone(path[start:]), cs[j].Name)
			case unvisited:
				if c := visit(j); c != nil {
					return c
				}
			}
		}
		path = path[:len(path)-1]
		state[i] = done
		return nil
	}
	for i := range cs {
		if state[i] == unvisited {
			if c := visit(i); c != nil {
				return c
			}
		}
	}
	return nil
}
