package ecs

import "time"

// This file holds the task-definition model: a TaskDefinition and every
// shape inside it, with ECS's exact JSON member names so that a stored record
// reads like ECS's own output. Conventions for the JSON tags:
//
//   - Slices and maps use omitzero: nil is omitted, an empty non-nil value is
//     written as [] or {}. ECS distinguishes the two (DescribeTaskDefinition
//     returns "environment": [] but omits "links"), and
//     ApplyTaskDefinitionDefaults produces the empty lists ECS returns.
//   - Values whose absence differs from zero are pointers with omitempty
//     (memory, essential before defaults, health-check timings, timeouts).
//   - Strings use omitempty: ECS never distinguishes "" from absent for them.

// TaskDefinitionStatus is a task definition's lifecycle state.
type TaskDefinitionStatus string

// Task definition statuses.
const (
	TaskDefinitionActive           TaskDefinitionStatus = "ACTIVE"
	TaskDefinitionInactive         TaskDefinitionStatus = "INACTIVE"
	TaskDefinitionDeleteInProgress TaskDefinitionStatus = "DELETE_IN_PROGRESS"
)

// NetworkMode is the Docker networking mode of a task's containers.
type NetworkMode string

// Network modes. An empty NetworkMode means "not given": on Linux EC2 and
// external instances the task then runs in bridge mode, and ECS omits the
// field from DescribeTaskDefinition.
const (
	NetworkModeBridge NetworkMode = "bridge"
	NetworkModeHost   NetworkMode = "host"
	NetworkModeAwsvpc NetworkMode = "awsvpc"
	NetworkModeNone   NetworkMode = "none"
)

// Compatibility is a launch type a task definition is validated against
// (requiresCompatibilities) or found compatible with (compatibilities).
type Compatibility string

// Compatibilities, in the order of ECS's model.
const (
	CompatibilityEC2              Compatibility = "EC2"
	CompatibilityFargate          Compatibility = "FARGATE"
	CompatibilityExternal         Compatibility = "EXTERNAL"
	CompatibilityManagedInstances Compatibility = "MANAGED_INSTANCES"
)

// PidMode is the process namespace a task's containers use.
type PidMode string

// PID modes.
const (
	PidModeHost PidMode = "host"
	PidModeTask PidMode = "task"
)

// IpcMode is the IPC namespace a task's containers use.
type IpcMode string

// IPC modes.
const (
	IpcModeHost IpcMode = "host"
	IpcModeTask IpcMode = "task"
	IpcModeNone IpcMode = "none"
)

// TransportProtocol is a port mapping's protocol.
type TransportProtocol string

// Transport protocols; ECS fills in tcp when none is given.
const (
	ProtocolTCP TransportProtocol = "tcp"
	ProtocolUDP TransportProtocol = "udp"
)

// ApplicationProtocol is a port mapping's Service Connect protocol.
type ApplicationProtocol string

// Application protocols.
const (
	AppProtocolHTTP  ApplicationProtocol = "http"
	AppProtocolHTTP2 ApplicationProtocol = "http2"
	AppProtocolGRPC  ApplicationProtocol = "grpc"
)

// ContainerCondition is the state a dependsOn target must reach.
type ContainerCondition string

// Container dependency conditions.
const (
	ConditionStart    ContainerCondition = "START"
	ConditionComplete ContainerCondition = "COMPLETE"
	ConditionSuccess  ContainerCondition = "SUCCESS"
	ConditionHealthy  ContainerCondition = "HEALTHY"
)

// LogDriver is a container's Docker logging driver.
type LogDriver string

// Log drivers ECS accepts in a task definition.
const (
	LogDriverJSONFile    LogDriver = "json-file"
	LogDriverSyslog      LogDriver = "syslog"
	LogDriverJournald    LogDriver = "journald"
	LogDriverGelf        LogDriver = "gelf"
	LogDriverFluentd     LogDriver = "fluentd"
	LogDriverAwslogs     LogDriver = "awslogs"
	LogDriverSplunk      LogDriver = "splunk"
	LogDriverAwsfirelens LogDriver = "awsfirelens"
)

// TaskDefinition is a registered (or to-be-registered) revision of a task
// definition family. Output-only fields (ARN, revision, status,
// compatibilities, requiresAttributes, timestamps, registeredBy) are filled
// by the registering caller and ApplyTaskDefinitionDefaults.
type TaskDefinition struct {
	ARN                           string                              `json:"taskDefinitionArn,omitempty"`
	ContainerDefinitions          []ContainerDefinition               `json:"containerDefinitions,omitzero"`
	Family                        string                              `json:"family,omitempty"`
	TaskRoleArn                   string                              `json:"taskRoleArn,omitempty"`
	ExecutionRoleArn              string                              `json:"executionRoleArn,omitempty"`
	NetworkMode                   NetworkMode                         `json:"networkMode,omitempty"`
	Revision                      int                                 `json:"revision,omitempty"`
	Volumes                       []Volume                            `json:"volumes,omitzero"`
	Status                        TaskDefinitionStatus                `json:"status,omitempty"`
	RequiresAttributes            []Attribute                         `json:"requiresAttributes,omitzero"`
	PlacementConstraints          []TaskDefinitionPlacementConstraint `json:"placementConstraints,omitzero"`
	Compatibilities               []Compatibility                     `json:"compatibilities,omitzero"`
	RuntimePlatform               *RuntimePlatform                    `json:"runtimePlatform,omitempty"`
	RequiresCompatibilities       []Compatibility                     `json:"requiresCompatibilities,omitzero"`
	CPU                           string                              `json:"cpu,omitempty"`
	Memory                        string                              `json:"memory,omitempty"`
	InferenceAccelerators         []InferenceAccelerator              `json:"inferenceAccelerators,omitzero"`
	PidMode                       PidMode                             `json:"pidMode,omitempty"`
	IpcMode                       IpcMode                             `json:"ipcMode,omitempty"`
	ProxyConfiguration            *ProxyConfiguration                 `json:"proxyConfiguration,omitempty"`
	RegisteredAt                  time.Time                           `json:"registeredAt,omitzero"`
	DeregisteredAt                time.Time                           `json:"deregisteredAt,omitzero"`
	DeleteRequestedAt             time.Time                           `json:"deleteRequestedAt,omitzero"`
	RegisteredBy                  string                              `json:"registeredBy,omitempty"`
	EphemeralStorage              *EphemeralStorage                   `json:"ephemeralStorage,omitempty"`
	EnableFaultInjection          *bool                               `json:"enableFaultInjection,omitempty"`
	TrustedExecutionConfiguration *TrustedExecutionConfiguration      `json:"trustedExecutionConfiguration,omitempty"`

	// Tags are kept with the record so the store holds one document; on the
	// wire ECS returns them beside the taskDefinition object (include=TAGS),
	// so the API layer moves them out.
	Tags []Tag `json:"tags,omitzero"`
}

// ContainerDefinition describes one container of a task, with every member
// of ECS's ContainerDefinition.
type ContainerDefinition struct {
	Name                   string                  `json:"name,omitempty"`
	Image                  string                  `json:"image,omitempty"`
	RepositoryCredentials  *RepositoryCredentials  `json:"repositoryCredentials,omitempty"`
	CPU                    int                     `json:"cpu"`
	Memory                 *int                    `json:"memory,omitempty"`
	MemoryReservation      *int                    `json:"memoryReservation,omitempty"`
	Links                  []string                `json:"links,omitzero"`
	PortMappings           []PortMapping           `json:"portMappings,omitzero"`
	Essential              *bool                   `json:"essential,omitempty"`
	RestartPolicy          *ContainerRestartPolicy `json:"restartPolicy,omitempty"`
	EntryPoint             []string                `json:"entryPoint,omitzero"`
	Command                []string                `json:"command,omitzero"`
	Environment            []KeyValuePair          `json:"environment,omitzero"`
	EnvironmentFiles       []EnvironmentFile       `json:"environmentFiles,omitzero"`
	MountPoints            []MountPoint            `json:"mountPoints,omitzero"`
	VolumesFrom            []VolumeFrom            `json:"volumesFrom,omitzero"`
	LinuxParameters        *LinuxParameters        `json:"linuxParameters,omitempty"`
	Secrets                []Secret                `json:"secrets,omitzero"`
	DependsOn              []ContainerDependency   `json:"dependsOn,omitzero"`
	StartTimeout           *int                    `json:"startTimeout,omitempty"`
	StopTimeout            *int                    `json:"stopTimeout,omitempty"`
	VersionConsistency     string                  `json:"versionConsistency,omitempty"` // enabled | disabled
	Hostname               string                  `json:"hostname,omitempty"`
	User                   string                  `json:"user,omitempty"`
	WorkingDirectory       string                  `json:"workingDirectory,omitempty"`
	DisableNetworking      *bool                   `json:"disableNetworking,omitempty"`
	Privileged             *bool                   `json:"privileged,omitempty"`
	ReadonlyRootFilesystem *bool                   `json:"readonlyRootFilesystem,omitempty"`
	DNSServers             []string                `json:"dnsServers,omitzero"`
	DNSSearchDomains       []string                `json:"dnsSearchDomains,omitzero"`
	ExtraHosts             []HostEntry             `json:"extraHosts,omitzero"`
	DockerSecurityOptions  []string                `json:"dockerSecurityOptions,omitzero"`
	Interactive            *bool                   `json:"interactive,omitempty"`
	PseudoTerminal         *bool                   `json:"pseudoTerminal,omitempty"`
	DockerLabels           map[string]string       `json:"dockerLabels,omitzero"`
	Ulimits                []Ulimit                `json:"ulimits,omitzero"`
	LogConfiguration       *LogConfiguration       `json:"logConfiguration,omitempty"`
	HealthCheck            *HealthCheck            `json:"healthCheck,omitempty"`
	SystemControls         []SystemControl         `json:"systemControls,omitzero"`
	ResourceRequirements   []ResourceRequirement   `json:"resourceRequirements,omitzero"`
	FirelensConfiguration  *FirelensConfiguration  `json:"firelensConfiguration,omitempty"`
	CredentialSpecs        []string                `json:"credentialSpecs,omitzero"`
}

// IsEssential reports whether the container is essential; ECS treats an
// absent essential flag as true.
func (c *ContainerDefinition) IsEssential() bool {
	return c.Essential == nil || *c.Essential
}

// RepositoryCredentials names the Secrets Manager secret holding private
// registry credentials.
type RepositoryCredentials struct {
	CredentialsParameter string `json:"credentialsParameter,omitempty"`
}

// PortMapping maps a container port (or port range) to the host or ENI.
type PortMapping struct {
	ContainerPort      *int                `json:"containerPort,omitempty"`
	HostPort           *int                `json:"hostPort,omitempty"`
	Protocol           TransportProtocol   `json:"protocol,omitempty"`
	Name               string              `json:"name,omitempty"`
	AppProtocol        ApplicationProtocol `json:"appProtocol,omitempty"`
	ContainerPortRange string              `json:"containerPortRange,omitempty"`
}

// ContainerRestartPolicy restarts a container in place when it exits.
type ContainerRestartPolicy struct {
	Enabled              *bool `json:"enabled,omitempty"`
	IgnoredExitCodes     []int `json:"ignoredExitCodes,omitzero"`
	RestartAttemptPeriod *int  `json:"restartAttemptPeriod,omitempty"`
}

// KeyValuePair is a name/value pair (environment variables, proxy
// properties, attachment details).
type KeyValuePair struct {
	Name  string `json:"name,omitempty"`
	Value string `json:"value,omitempty"`
}

// EnvironmentFile is an S3 object holding environment variables.
type EnvironmentFile struct {
	Value string `json:"value,omitempty"`
	Type  string `json:"type,omitempty"` // s3
}

// MountPoint mounts a task volume into a container.
type MountPoint struct {
	SourceVolume  string `json:"sourceVolume,omitempty"`
	ContainerPath string `json:"containerPath,omitempty"`
	ReadOnly      *bool  `json:"readOnly,omitempty"`
}

// VolumeFrom mounts all volumes of another container of the task.
type VolumeFrom struct {
	SourceContainer string `json:"sourceContainer,omitempty"`
	ReadOnly        *bool  `json:"readOnly,omitempty"`
}

// LinuxParameters are Linux-specific container options.
type LinuxParameters struct {
	Capabilities       *KernelCapabilities `json:"capabilities,omitempty"`
	Devices            []Device            `json:"devices,omitzero"`
	InitProcessEnabled *bool               `json:"initProcessEnabled,omitempty"`
	SharedMemorySize   *int                `json:"sharedMemorySize,omitempty"`
	Tmpfs              []Tmpfs             `json:"tmpfs,omitzero"`
	MaxSwap            *int                `json:"maxSwap,omitempty"`
	Swappiness         *int                `json:"swappiness,omitempty"`
}

// KernelCapabilities are Linux capabilities added to or dropped from
// Docker's default set.
type KernelCapabilities struct {
	Add  []string `json:"add,omitzero"`
	Drop []string `json:"drop,omitzero"`
}

// Device exposes a host device to a container.
type Device struct {
	HostPath      string   `json:"hostPath,omitempty"`
	ContainerPath string   `json:"containerPath,omitempty"`
	Permissions   []string `json:"permissions,omitzero"` // read | write | mknod
}

// Tmpfs is a tmpfs mount.
type Tmpfs struct {
	ContainerPath string   `json:"containerPath,omitempty"`
	Size          int      `json:"size"`
	MountOptions  []string `json:"mountOptions,omitzero"`
}

// Secret injects a Secrets Manager secret or SSM parameter.
type Secret struct {
	Name      string `json:"name,omitempty"`
	ValueFrom string `json:"valueFrom,omitempty"`
}

// ContainerDependency makes a container wait for another one.
type ContainerDependency struct {
	ContainerName string             `json:"containerName,omitempty"`
	Condition     ContainerCondition `json:"condition,omitempty"`
}

// HostEntry is an /etc/hosts entry.
type HostEntry struct {
	Hostname  string `json:"hostname,omitempty"`
	IPAddress string `json:"ipAddress,omitempty"`
}

// Ulimit is a resource limit.
type Ulimit struct {
	Name      string `json:"name,omitempty"`
	SoftLimit int    `json:"softLimit"`
	HardLimit int    `json:"hardLimit"`
}

// LogConfiguration selects and configures a container's log driver.
type LogConfiguration struct {
	LogDriver     LogDriver         `json:"logDriver,omitempty"`
	Options       map[string]string `json:"options,omitzero"`
	SecretOptions []Secret          `json:"secretOptions,omitzero"`
}

// HealthCheck is a container health check (Docker HEALTHCHECK).
type HealthCheck struct {
	Command     []string `json:"command,omitzero"`
	Interval    *int     `json:"interval,omitempty"`
	Timeout     *int     `json:"timeout,omitempty"`
	Retries     *int     `json:"retries,omitempty"`
	StartPeriod *int     `json:"startPeriod,omitempty"`
}

// SystemControl is a namespaced kernel parameter (sysctl).
type SystemControl struct {
	Namespace string `json:"namespace,omitempty"`
	Value     string `json:"value,omitempty"`
}

// ResourceRequirement reserves a GPU, inference accelerator or Neuron device.
type ResourceRequirement struct {
	Value           string           `json:"value,omitempty"`
	Type            string           `json:"type,omitempty"` // GPU | InferenceAccelerator | NeuronDevice
	SharingStrategy *SharingStrategy `json:"sharingStrategy,omitempty"`
}

// SharingStrategy is how a GPU is shared (a union; one member is set).
type SharingStrategy struct {
	NvidiaMps *NvidiaMpsAllocation `json:"nvidiaMps,omitempty"`
}

// NvidiaMpsAllocation is an NVIDIA MPS share of a GPU.
type NvidiaMpsAllocation struct {
	Memory            *int `json:"memory,omitempty"`
	MaxComputePercent *int `json:"maxComputePercent,omitempty"`
}

// FirelensConfiguration makes a container the task's FireLens log router.
type FirelensConfiguration struct {
	Type    string            `json:"type,omitempty"` // fluentd | fluentbit
	Options map[string]string `json:"options,omitzero"`
}

// Volume is a data volume containers of the task can mount.
type Volume struct {
	Name                                    string                                   `json:"name,omitempty"`
	Host                                    *HostVolumeProperties                    `json:"host,omitempty"`
	DockerVolumeConfiguration               *DockerVolumeConfiguration               `json:"dockerVolumeConfiguration,omitempty"`
	EFSVolumeConfiguration                  *EFSVolumeConfiguration                  `json:"efsVolumeConfiguration,omitempty"`
	S3FilesVolumeConfiguration              *S3FilesVolumeConfiguration              `json:"s3filesVolumeConfiguration,omitempty"`
	FSxWindowsFileServerVolumeConfiguration *FSxWindowsFileServerVolumeConfiguration `json:"fsxWindowsFileServerVolumeConfiguration,omitempty"`
	ConfiguredAtLaunch                      *bool                                    `json:"configuredAtLaunch,omitempty"`
}

// HostVolumeProperties is a bind mount; without a sourcePath the volume
// lives in task storage.
type HostVolumeProperties struct {
	SourcePath string `json:"sourcePath,omitempty"`
}

// DockerVolumeConfiguration is a Docker-managed volume.
type DockerVolumeConfiguration struct {
	Scope         string            `json:"scope,omitempty"` // task | shared
	Autoprovision *bool             `json:"autoprovision,omitempty"`
	Driver        string            `json:"driver,omitempty"`
	DriverOpts    map[string]string `json:"driverOpts,omitzero"`
	Labels        map[string]string `json:"labels,omitzero"`
}

// EFSVolumeConfiguration is an Amazon EFS volume.
type EFSVolumeConfiguration struct {
	FileSystemID          string                  `json:"fileSystemId,omitempty"`
	RootDirectory         string                  `json:"rootDirectory,omitempty"`
	TransitEncryption     string                  `json:"transitEncryption,omitempty"` // ENABLED | DISABLED
	TransitEncryptionPort *int                    `json:"transitEncryptionPort,omitempty"`
	AuthorizationConfig   *EFSAuthorizationConfig `json:"authorizationConfig,omitempty"`
}

// EFSAuthorizationConfig is EFS access-point and IAM authorization.
type EFSAuthorizationConfig struct {
	AccessPointID string `json:"accessPointId,omitempty"`
	IAM           string `json:"iam,omitempty"` // ENABLED | DISABLED
}

// S3FilesVolumeConfiguration is an Amazon S3 Files volume.
type S3FilesVolumeConfiguration struct {
	FileSystemArn         string `json:"fileSystemArn,omitempty"`
	RootDirectory         string `json:"rootDirectory,omitempty"`
	TransitEncryptionPort *int   `json:"transitEncryptionPort,omitempty"`
	AccessPointArn        string `json:"accessPointArn,omitempty"`
}

// FSxWindowsFileServerVolumeConfiguration is an FSx for Windows volume.
type FSxWindowsFileServerVolumeConfiguration struct {
	FileSystemID        string                                   `json:"fileSystemId,omitempty"`
	RootDirectory       string                                   `json:"rootDirectory,omitempty"`
	AuthorizationConfig *FSxWindowsFileServerAuthorizationConfig `json:"authorizationConfig,omitempty"`
}

// FSxWindowsFileServerAuthorizationConfig is the FSx domain login.
type FSxWindowsFileServerAuthorizationConfig struct {
	CredentialsParameter string `json:"credentialsParameter,omitempty"`
	Domain               string `json:"domain,omitempty"`
}

// Attribute is a name (and optional value) that a container instance has or
// a task definition requires. ECS derives a task definition's
// requiresAttributes; see ApplyTaskDefinitionDefaults.
type Attribute struct {
	Name       string `json:"name"`
	Value      string `json:"value,omitempty"`
	TargetType string `json:"targetType,omitempty"` // container-instance
	TargetID   string `json:"targetId,omitempty"`
}

// TaskDefinitionPlacementConstraint limits where tasks of the definition
// run; only memberOf is allowed at task-definition level.
type TaskDefinitionPlacementConstraint struct {
	Type       string `json:"type,omitempty"` // memberOf
	Expression string `json:"expression,omitempty"`
}

// RuntimePlatform is the OS and CPU architecture the task needs.
type RuntimePlatform struct {
	CPUArchitecture       string `json:"cpuArchitecture,omitempty"`       // X86_64 | ARM64
	OperatingSystemFamily string `json:"operatingSystemFamily,omitempty"` // LINUX | WINDOWS_SERVER_*
}

// InferenceAccelerator is an Elastic Inference accelerator (retired by AWS;
// kept so stored definitions round-trip).
type InferenceAccelerator struct {
	DeviceName string `json:"deviceName,omitempty"`
	DeviceType string `json:"deviceType,omitempty"`
}

// ProxyConfiguration is the App Mesh proxy configuration.
type ProxyConfiguration struct {
	Type          string         `json:"type,omitempty"` // APPMESH
	ContainerName string         `json:"containerName,omitempty"`
	Properties    []KeyValuePair `json:"properties,omitzero"`
}

// EphemeralStorage is the task's ephemeral storage size (Fargate).
type EphemeralStorage struct {
	SizeInGiB int `json:"sizeInGiB"`
}

// TrustedExecutionConfiguration is the task's isolation mode.
type TrustedExecutionConfiguration struct {
	IsolationMode     string `json:"isolationMode,omitempty"` // SHARED | ISOLATED_SANDBOX | CONFIDENTIAL_SANDBOX
	AttestationPolicy string `json:"attestationPolicy,omitempty"`
}

// EffectiveNetworkMode is the network mode tasks of td run in: the given
// mode, or bridge when none is given.
func (td *TaskDefinition) EffectiveNetworkMode() NetworkMode {
	if td.NetworkMode == "" {
		return NetworkModeBridge
	}
	return td.NetworkMode
}

// Container returns the container definition with the given name, or nil.
func (td *TaskDefinition) Container(name string) *ContainerDefinition {
	for i := range td.ContainerDefinitions {
		if td.ContainerDefinitions[i].Name == name {
			return &td.ContainerDefinitions[i]
		}
	}
	return nil
}

// Requires reports whether c is listed in requiresCompatibilities.
func (td *TaskDefinition) Requires(c Compatibility) bool {
	for _, r := range td.RequiresCompatibilities {
		if r == c {
			return true
		}
	}
	return false
}

// CompatibleWith reports whether c is listed in compatibilities (as filled
// in by ApplyTaskDefinitionDefaults), e.g. to check a RunTask launch type.
func (td *TaskDefinition) CompatibleWith(c Compatibility) bool {
	for _, r := range td.Compatibilities {
		if r == c {
			return true
		}
	}
	return false
}
