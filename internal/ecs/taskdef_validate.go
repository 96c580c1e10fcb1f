package ecs

import (
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Limits enforced on task definitions.
const (
	MaxContainersPerTaskDefinition = 10
	MaxTaskPlacementConstraints    = 10
	MinEphemeralStorageGiB         = 21
	MaxEphemeralStorageGiB         = 200
	maxNameLength                  = 255
	maxConstraintExpressionLength  = 2000
)

// ValidateTaskDefinition checks a task definition as RegisterTaskDefinition
// does, before defaults are applied (it also accepts a definition that
// already has them). It returns the first problem found as an *Error whose
// message names the offending field; ECS reports these as ClientException
// (ErrClient), except tag problems, which are InvalidParameterException.
// Where ECS's own wording is known it is used verbatim.
//
// Output-only fields (ARN, revision, status, compatibilities,
// requiresAttributes, timestamps) are not checked. It never panics, whatever
// the input.
func ValidateTaskDefinition(td *TaskDefinition) error {
	if td == nil {
		return clientErr("Task definition must not be null.")
	}
	v := &tdValidator{td: td}
	steps := []func() error{
		v.family,
		v.containerList,
		v.taskEnums,
		v.taskSize,
		v.launchTypes,
		v.volumes,
		v.resources,
		v.containerDetails,
		v.crossContainer,
		v.dependencies,
		v.portMappings,
		v.placement,
		v.proxy,
		func() error { return ValidateTags(td.Tags) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// tdValidator carries what earlier steps learned to later ones.
type tdValidator struct {
	td          *TaskDefinition
	cpu, memory int // parsed task-level values; 0 when not given
	volumeNames map[string]bool
}

func clientErr(format string, args ...any) error { return Errorf(ErrClient, format, args...) }

var (
	resourceNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	imageRE        = regexp.MustCompile(`^[A-Za-z0-9_.:/#@-]+$`)
)

func (v *tdValidator) family() error {
	f := v.td.Family
	switch {
	case f == "":
		return clientErr("Family can not be blank.")
	case len(f) > maxNameLength:
		return clientErr("Family is too long: up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.")
	case !resourceNameRE.MatchString(f):
		return clientErr("Family contains invalid characters.")
	}
	return nil
}

// containerList checks the container count and each container's identity.
func (v *tdValidator) containerList() error {
	cs := v.td.ContainerDefinitions
	if len(cs) == 0 {
		return clientErr("Container list cannot be empty.")
	}
	if len(cs) > MaxContainersPerTaskDefinition {
		return clientErr("Too many containers: %d container definitions given, a task definition can have at most %d.", len(cs), MaxContainersPerTaskDefinition)
	}
	seen := map[string]bool{}
	for i := range cs {
		c := &cs[i]
		switch {
		case c.Name == "":
			return clientErr("Container.name should not be null or empty.")
		case len(c.Name) > maxNameLength:
			return clientErr("Container.name is too long: up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.")
		case !resourceNameRE.MatchString(c.Name):
			return clientErr("Container.name contains invalid characters.")
		}
		if seen[c.Name] {
			return clientErr("Duplicate container name '%s': container names must be unique within a task definition.", c.Name)
		}
		seen[c.Name] = true
		switch {
		case c.Image == "":
			return clientErr("Container.image should not be null or empty.")
		case len(c.Image) > maxNameLength:
			return clientErr("Container.image is too long for container '%s': up to 255 characters are allowed.", c.Name)
		case !imageRE.MatchString(c.Image):
			return clientErr("Container.image contains invalid characters.")
		}
	}
	return nil
}

var (
	validNetworkModes = []NetworkMode{NetworkModeBridge, NetworkModeHost, NetworkModeAwsvpc, NetworkModeNone}
	validCompat       = []Compatibility{CompatibilityEC2, CompatibilityFargate, CompatibilityExternal, CompatibilityManagedInstances}
	validOSFamilies   = []string{
		"LINUX", "WINDOWS_SERVER_2019_FULL", "WINDOWS_SERVER_2019_CORE", "WINDOWS_SERVER_2016_FULL",
		"WINDOWS_SERVER_2004_CORE", "WINDOWS_SERVER_2022_CORE", "WINDOWS_SERVER_2022_FULL",
		"WINDOWS_SERVER_2025_CORE", "WINDOWS_SERVER_2025_FULL", "WINDOWS_SERVER_20H2_CORE",
	}
)

// taskEnums checks the task-level enumerations and small structures.
func (v *tdValidator) taskEnums() error {
	td := v.td
	if td.NetworkMode != "" && !slices.Contains(validNetworkModes, td.NetworkMode) {
		return clientErr("Invalid 'networkMode' setting for task: '%s'. Valid values are bridge, host, awsvpc and none.", td.NetworkMode)
	}
	for _, c := range td.RequiresCompatibilities {
		if !slices.Contains(validCompat, c) {
			return clientErr("Invalid 'requiresCompatibilities' setting for task: '%s'. Valid values are EC2, FARGATE, EXTERNAL and MANAGED_INSTANCES.", c)
		}
	}
	switch td.PidMode {
	case "", PidModeHost, PidModeTask:
	default:
		return clientErr("Invalid 'pidMode' setting for task: '%s'. Valid values are host and task.", td.PidMode)
	}
	switch td.IpcMode {
	case "", IpcModeHost, IpcModeTask, IpcModeNone:
	default:
		return clientErr("Invalid 'ipcMode' setting for task: '%s'. Valid values are host, task and none.", td.IpcMode)
	}
	if rp := td.RuntimePlatform; rp != nil {
		switch rp.CPUArchitecture {
		case "", "X86_64", "ARM64":
		default:
			return clientErr("Invalid 'runtimePlatform.cpuArchitecture' setting for task: '%s'. Valid values are X86_64 and ARM64.", rp.CPUArchitecture)
		}
		if rp.OperatingSystemFamily != "" && !slices.Contains(validOSFamilies, rp.OperatingSystemFamily) {
			return clientErr("Invalid 'runtimePlatform.operatingSystemFamily' setting for task: '%s'.", rp.OperatingSystemFamily)
		}
	}
	if es := td.EphemeralStorage; es != nil {
		if es.SizeInGiB < MinEphemeralStorageGiB {
			return clientErr("EphemeralStorage size should be at least %d", MinEphemeralStorageGiB)
		}
		if es.SizeInGiB > MaxEphemeralStorageGiB {
			return clientErr("EphemeralStorage size should be at most %d", MaxEphemeralStorageGiB)
		}
	}
	if tec := td.TrustedExecutionConfiguration; tec != nil {
		switch tec.IsolationMode {
		case "", "SHARED", "ISOLATED_SANDBOX", "CONFIDENTIAL_SANDBOX":
		default:
			return clientErr("Invalid 'trustedExecutionConfiguration.isolationMode' setting for task: '%s'. Valid values are SHARED, ISOLATED_SANDBOX and CONFIDENTIAL_SANDBOX.", tec.IsolationMode)
		}
	}
	names := map[string]bool{}
	for _, ia := range td.InferenceAccelerators {
		if ia.DeviceName == "" || ia.DeviceType == "" {
			return clientErr("Invalid 'inferenceAccelerators' setting for task: deviceName and deviceType are required.")
		}
		if names[ia.DeviceName] {
			return clientErr("Invalid 'inferenceAccelerators' setting for task: deviceName '%s' is used more than once.", ia.DeviceName)
		}
		names[ia.DeviceName] = true
	}
	return nil
}

// taskSize parses the task-level cpu and memory.
func (v *tdValidator) taskSize() error {
	td := v.td
	if td.CPU != "" {
		n, ok := ParseTaskCPU(td.CPU)
		if !ok || (!td.Requires(CompatibilityFargate) && (n < MinTaskCPU || n > MaxTaskCPU)) {
			return clientErr("Invalid 'cpu' setting for task. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.")
		}
		v.cpu = n
	}
	if td.Memory != "" {
		n, ok := ParseTaskMemory(td.Memory)
		if !ok || n < MinContainerMemoryMiB || n > MaxTaskMemoryMiB {
			return clientErr("Invalid 'memory' setting for task. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.")
		}
		v.memory = n
	}
	return nil
}

// launchTypes applies the rules of each launch type listed in
// requiresCompatibilities.
func (v *tdValidator) launchTypes() error {
	td := v.td
	if td.Requires(CompatibilityFargate) {
		if err := fargateIncompatibility(td); err != nil {
			return err
		}
	}
	if td.Requires(CompatibilityExternal) && td.NetworkMode == NetworkModeAwsvpc {
		return clientErr("Tasks using the EXTERNAL launch type do not support network mode 'awsvpc'. The supported values are bridge, host and none.")
	}
	return nil
}

// resources checks container cpu and memory against each other and the task.
func (v *tdValidator) resources() error {
	cs := v.td.ContainerDefinitions
	cpuSum, reserveSum, essential := 0, 0, false
	for i := range cs {
		c := &cs[i]
		if c.IsEssential() {
			essential = true
		}
		if c.CPU < 0 || c.CPU > MaxTaskCPU {
			return clientErr("Invalid 'cpu' setting for container '%s'.", c.Name)
		}
		if v.cpu > 0 && c.CPU > v.cpu {
			return clientErr("Invalid 'cpu' setting for container '%s'. The container cpu (%d) must not be greater than the task cpu (%d).", c.Name, c.CPU, v.cpu)
		}
		cpuSum += c.CPU
		if c.Memory != nil {
			m := *c.Memory
			if m < MinContainerMemoryMiB || m > MaxTaskMemoryMiB {
				return clientErr("Invalid 'memory' setting for container '%s'. The memory value must be at least %d MiB.", c.Name, MinContainerMemoryMiB)
			}
			if v.memory > 0 && m > v.memory {
				return clientErr("Invalid 'memory' setting for container '%s'. The container memory (%d MiB) must not be greater than the task memory (%d MiB).", c.Name, m, v.memory)
			}
		}
		if c.MemoryReservation != nil {
			r := *c.MemoryReservation
			if r <= 0 || r > MaxTaskMemoryMiB {
				return clientErr("Invalid 'memoryReservation' setting for container '%s'. The value must be a positive number of MiB.", c.Name)
			}
			if c.Memory != nil && r > *c.Memory {
				return clientErr("Invalid setting for container '%s'. The 'memoryReservation' value (%d) must be less than or equal to the 'memory' value (%d).", c.Name, r, *c.Memory)
			}
		}
		if v.td.Memory == "" && c.Memory == nil && c.MemoryReservation == nil {
			return clientErr("Invalid setting for container '%s'. At least one of 'memory' or 'memoryReservation' must be specified.", c.Name)
		}
		switch {
		case c.MemoryReservation != nil:
			reserveSum += *c.MemoryReservation
		case c.Memory != nil:
			reserveSum += *c.Memory
		}
	}
	if v.cpu > 0 && cpuSum > v.cpu {
		return clientErr("The sum of all container 'cpu' values cannot be greater than the value of the task 'cpu'.")
	}
	if v.memory > 0 && reserveSum > v.memory {
		return clientErr("The sum of all container 'memoryReservation' values cannot be greater than the value of the task 'memory'.")
	}
	if !essential {
		return clientErr("Task definition doesn't have any essential container: at least one container must have 'essential' set to true.")
	}
	return nil
}

// placement checks task-definition placement constraints.
func (v *tdValidator) placement() error {
	pcs := v.td.PlacementConstraints
	if len(pcs) > MaxTaskPlacementConstraints {
		return clientErr("Too many placement constraints: %d given, a task definition can have at most %d 'placementConstraints'.", len(pcs), MaxTaskPlacementConstraints)
	}
	for _, pc := range pcs {
		if pc.Type != "memberOf" {
			return clientErr("Invalid 'placementConstraints' setting for task: type '%s' is not supported in a task definition; only memberOf is allowed.", pc.Type)
		}
		if strings.TrimSpace(pc.Expression) == "" {
			return clientErr("Invalid 'placementConstraints' setting for task: a memberOf constraint requires an expression.")
		}
		if utf8.RuneCountInString(pc.Expression) > maxConstraintExpressionLength {
			return clientErr("Invalid 'placementConstraints' setting for task: the expression can be at most %d characters.", maxConstraintExpressionLength)
		}
	}
	return nil
}

// proxy checks the App Mesh proxy configuration.
func (v *tdValidator) proxy() error {
	p := v.td.ProxyConfiguration
	if p == nil {
		return nil
	}
	if p.Type != "" && p.Type != "APPMESH" {
		return clientErr("Invalid 'proxyConfiguration' setting for task: type '%s' is not valid. The only valid value is APPMESH.", p.Type)
	}
	if p.ContainerName == "" {
		return clientErr("Invalid 'proxyConfiguration' setting for task: containerName is required.")
	}
	if v.td.Container(p.ContainerName) == nil {
		return clientErr("Invalid 'proxyConfiguration' setting for task: container '%s' is not defined in the task definition.", p.ContainerName)
	}
	if v.td.NetworkMode != NetworkModeAwsvpc {
		return clientErr("Invalid 'proxyConfiguration' setting for task: a proxy configuration requires network mode 'awsvpc'.")
	}
	for _, kv := range p.Properties {
		if kv.Name == "" {
			return clientErr("Invalid 'proxyConfiguration' setting for task: property names must not be empty.")
		}
	}
	return nil
}

// fargateIncompatibility returns why td cannot run on Fargate, or nil. It is
// used both to validate definitions that require FARGATE and to decide
// whether FARGATE is listed in compatibilities, so it parses the task size
// itself.
func fargateIncompatibility(td *TaskDefinition) error {
	if td.NetworkMode != NetworkModeAwsvpc {
		return clientErr("Fargate only supports network mode ‘awsvpc’.")
	}
	if td.CPU == "" {
		return clientErr("Fargate requires that 'cpu' be defined at the task level.")
	}
	if td.Memory == "" {
		return clientErr("Fargate requires that 'memory' be defined at the task level.")
	}
	cpu, okCPU := ParseTaskCPU(td.CPU)
	mem, okMem := ParseTaskMemory(td.Memory)
	if !okCPU || !okMem || !ValidFargateSize(cpu, mem) {
		return clientErr("No Fargate configuration exists for given values: %s CPU, %s memory. See the Amazon ECS documentation for the valid values.", truncateForMessage(td.CPU), truncateForMessage(td.Memory))
	}
	if rp := td.RuntimePlatform; rp != nil && strings.HasPrefix(rp.OperatingSystemFamily, "WINDOWS") && cpu < 1024 {
		return clientErr("Tasks using the Fargate launch type with Windows containers require a task 'cpu' of at least 1024 (1 vCPU).")
	}
	if td.PidMode == PidModeHost {
		return clientErr("Tasks using the Fargate launch type do not support pidMode 'host'. The supported value for pidMode is 'task'.")
	}
	if td.IpcMode != "" {
		return clientErr("Tasks using the Fargate launch type do not support ipcMode.")
	}
	if len(td.PlacementConstraints) > 0 {
		return clientErr("Tasks using the Fargate launch type do not support placementConstraints.")
	}
	if len(td.InferenceAccelerators) > 0 {
		return clientErr("Tasks using the Fargate launch type do not support inferenceAccelerators.")
	}
	for _, vol := range td.Volumes {
		if vol.Host != nil && vol.Host.SourcePath != "" {
			return clientErr("Tasks using the Fargate launch type do not support the 'sourcePath' parameter of host volumes (volume '%s').", vol.Name)
		}
		if vol.DockerVolumeConfiguration != nil {
			return clientErr("Tasks using the Fargate launch type do not support 'dockerVolumeConfiguration' (volume '%s').", vol.Name)
		}
	}
	for i := range td.ContainerDefinitions {
		if err := fargateContainerIncompatibility(td, &td.ContainerDefinitions[i]); err != nil {
			return err
		}
	}
	return nil
}

func fargateContainerIncompatibility(td *TaskDefinition, c *ContainerDefinition) error {
	if c.Privileged != nil && *c.Privileged {
		return clientErr("Tasks using the Fargate launch type do not support 'privileged' containers (container '%s').", c.Name)
	}
	if len(c.DockerSecurityOptions) > 0 {
		return clientErr("Tasks using the Fargate launch type do not support 'dockerSecurityOptions' (container '%s').", c.Name)
	}
	if lp := c.LinuxParameters; lp != nil {
		var field string
		switch {
		case len(lp.Devices) > 0:
			field = "devices"
		case lp.SharedMemorySize != nil:
			field = "sharedMemorySize"
		case len(lp.Tmpfs) > 0:
			field = "tmpfs"
		case lp.MaxSwap != nil:
			field = "maxSwap"
		case lp.Swappiness != nil:
			field = "swappiness"
		}
		if field != "" {
			return clientErr("Tasks using the Fargate launch type do not support 'linuxParameters.%s' (container '%s').", field, c.Name)
		}
		if lp.Capabilities != nil {
			for _, capName := range lp.Capabilities.Add {
				if capName != "SYS_PTRACE" {
					return clientErr("Tasks using the Fargate launch type only support adding the SYS_PTRACE kernel capability in 'linuxParameters.capabilities.add' (container '%s').", c.Name)
				}
			}
		}
	}
	if lc := c.LogConfiguration; lc != nil {
		switch lc.LogDriver {
		case LogDriverAwslogs, LogDriverSplunk, LogDriverAwsfirelens:
		default:
			return clientErr("Tasks using the Fargate launch type only support the awslogs, splunk and awsfirelens log drivers (container '%s' uses 'logDriver' '%s').", c.Name, truncateForMessage(string(lc.LogDriver)))
		}
		if lc.LogDriver == LogDriverAwslogs && td.ExecutionRoleArn == "" {
			return clientErr("Fargate requires task definition to have execution role ARN to support log driver awslogs.")
		}
	}
	for _, rr := range c.ResourceRequirements {
		if rr.Type == "GPU" {
			return clientErr("Tasks using the Fargate launch type do not support GPU 'resourceRequirements' (container '%s').", c.Name)
		}
	}
	if isPrivateECRImage(c.Image) && td.ExecutionRoleArn == "" {
		return clientErr("Fargate requires task definition to have execution role ARN to support ECR images.")
	}
	return nil
}

var privateECRRE = regexp.MustCompile(`^[0-9]{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/`)

// isPrivateECRImage reports whether image is in a private ECR registry
// (pulling it needs ECR credentials: the execution role on Fargate).
func isPrivateECRImage(image string) bool {
	return privateECRRE.MatchString(image)
}
