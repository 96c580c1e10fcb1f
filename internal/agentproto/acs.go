// Package agentproto holds the messages the control plane and container
// agents exchange over the agent channel, in the shapes of ECS's Agent
// Communication Service (ACS, model "ecsacs" 2014-11-13) and telemetry
// service (TCS, "ecstcs" 2015-03-10), so that Berth's agent and the
// unmodified Amazon ECS agent speak the same protocol to Berth's control
// plane. Each websocket text frame is one Envelope: {"type": <shape name>,
// "message": {...}}. Numbers such as generatedAt are epoch milliseconds.
//
// Only the members Berth uses are declared; the rest of the model's members
// are ignored when decoding, as the real agent ignores what it does not know.
package agentproto

import (
	"encoding/json"
	"fmt"
)

// Message type names (the "type" of an Envelope).
const (
	TypeHeartbeat               = "HeartbeatMessage"
	TypeHeartbeatAck            = "HeartbeatAckRequest"
	TypePayload                 = "PayloadMessage"
	TypeAck                     = "AckRequest"
	TypeTaskManifest            = "TaskManifestMessage"
	TypeTaskStopVerification    = "TaskStopVerificationMessage"
	TypeTaskStopVerificationAck = "TaskStopVerificationAck"
	TypeCloseMessage            = "CloseMessage"
	TypeErrorMessage            = "ErrorMessage"
	TypeNack                    = "NackRequest"
	TypeIAMRoleCredentialsAck   = "IAMRoleCredentialsAckRequest"

	// Errors a refused upgrade (or a closing server) reports.
	TypeInactiveInstanceException = "InactiveInstanceException"
	TypeInvalidInstanceException  = "InvalidInstanceException"
	TypeInvalidClusterException   = "InvalidClusterException"
	TypeAccessDeniedException     = "AccessDeniedException"
	TypeBadRequestException       = "BadRequestException"
	TypeServerException           = "ServerException"
)

// Envelope is one websocket frame.
type Envelope struct {
	Type    string          `json:"type"`
	Message json.RawMessage `json:"message"`
}

// Encode wraps msg in an Envelope of type typ.
func Encode(typ string, msg any) ([]byte, error) {
	b, err := json.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("agentproto: encode %s: %w", typ, err)
	}
	return json.Marshal(Envelope{Type: typ, Message: b})
}

// Decode splits a frame into its type and raw message.
func Decode(frame []byte) (Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(frame, &e); err != nil {
		return e, fmt.Errorf("agentproto: decode frame: %w", err)
	}
	if e.Type == "" {
		return e, fmt.Errorf("agentproto: frame has no type")
	}
	return e, nil
}

// ErrorBody is the body of a refused upgrade or an exception frame:
// {"type":"InactiveInstanceException","message":{"message":"..."}}.
type ErrorBody struct {
	Message string `json:"message"`
}

// HeartbeatMessage is sent by the server at least every 30 s; the agent
// answers HeartbeatAckRequest with the same messageId.
type HeartbeatMessage struct {
	MessageID string `json:"messageId"`
	Healthy   bool   `json:"healthy"`
}

// HeartbeatAckRequest answers a HeartbeatMessage.
type HeartbeatAckRequest struct {
	MessageID string `json:"messageId"`
}

// AckRequest acknowledges a PayloadMessage or TaskManifestMessage once the
// agent has accepted its tasks.
type AckRequest struct {
	Cluster           string `json:"cluster"`
	ContainerInstance string `json:"containerInstance"`
	MessageID         string `json:"messageId"`
}

// NackRequest reports a message the agent could not accept.
type NackRequest struct {
	Cluster           string `json:"cluster,omitempty"`
	ContainerInstance string `json:"containerInstance,omitempty"`
	MessageID         string `json:"messageId"`
	Reason            string `json:"reason,omitempty"`
}

// PayloadMessage carries tasks and their desired status to an agent.
// clusterArn and containerInstanceArn are required (the real agent drops a
// payload without them); every task needs its arn. SeqNum grows with each
// payload of a connection's server.
type PayloadMessage struct {
	MessageID            string `json:"messageId"`
	ClusterARN           string `json:"clusterArn"`
	ContainerInstanceARN string `json:"containerInstanceArn"`
	GeneratedAt          int64  `json:"generatedAt"`
	SeqNum               int64  `json:"seqNum"`
	Tasks                []Task `json:"tasks"`
}

// TaskIdentifier names a task and its desired status (manifests, stop
// verification).
type TaskIdentifier struct {
	TaskARN        string `json:"taskArn"`
	TaskClusterARN string `json:"taskClusterArn,omitempty"`
	DesiredStatus  string `json:"desiredStatus,omitempty"`
}

// TaskManifestMessage lists every task the instance should know about.
// Timeline must exceed the highest payload seqNum the agent has seen.
type TaskManifestMessage struct {
	MessageID            string           `json:"messageId"`
	ClusterARN           string           `json:"clusterArn"`
	ContainerInstanceARN string           `json:"containerInstanceArn"`
	GeneratedAt          int64            `json:"generatedAt"`
	Timeline             int64            `json:"timeline"`
	Tasks                []TaskIdentifier `json:"tasks"`
}

// TaskStopVerificationMessage is the agent's list of tasks it runs that a
// manifest left out or listed as STOPPED.
type TaskStopVerificationMessage struct {
	MessageID      string           `json:"messageId"`
	StopCandidates []TaskIdentifier `json:"stopCandidates"`
}

// TaskStopVerificationAck tells the agent which candidates to stop.
type TaskStopVerificationAck struct {
	MessageID   string           `json:"messageId"`
	GeneratedAt int64            `json:"generatedAt"`
	StopTasks   []TaskIdentifier `json:"stopTasks"`
}

// Task is the ACS model's task: what to run and its desired status.
type Task struct {
	ARN                      string                    `json:"arn"`
	TaskClusterARN           string                    `json:"taskClusterArn,omitempty"`
	Family                   string                    `json:"family,omitempty"`
	Version                  string                    `json:"version,omitempty"`
	DesiredStatus            string                    `json:"desiredStatus"`
	TaskDefinitionAccountID  string                    `json:"taskDefinitionAccountId,omitempty"`
	NetworkMode              string                    `json:"networkMode,omitempty"`
	LaunchType               string                    `json:"launchType,omitempty"`
	CPU                      float64                   `json:"cpu,omitempty"`    // vCPU
	Memory                   int                       `json:"memory,omitempty"` // MiB
	PidMode                  string                    `json:"pidMode,omitempty"`
	IpcMode                  string                    `json:"ipcMode,omitempty"`
	ServiceName              string                    `json:"serviceName,omitempty"`
	Group                    string                    `json:"group,omitempty"`
	Zone                     string                    `json:"zone,omitempty"`
	Containers               []Container               `json:"containers"`
	Volumes                  []Volume                  `json:"volumes"`
	Associations             []json.RawMessage         `json:"associations"`
	Attachments              []json.RawMessage         `json:"attachments"`
	ElasticNetworkInterfaces []ElasticNetworkInterface `json:"elasticNetworkInterfaces"`
}

// Container is the ACS model's container. Settings that Docker takes in its
// create call (health check, labels, user, working directory, ulimits,
// read-only root, memory reservation, init) travel in DockerConfig as
// Docker JSON, as ECS sends them.
type Container struct {
	Name                   string                  `json:"name"`
	ContainerARN           string                  `json:"containerArn,omitempty"`
	Image                  string                  `json:"image"`
	CPU                    int                     `json:"cpu"`
	Memory                 int                     `json:"memory,omitempty"` // MiB, hard limit
	Essential              bool                    `json:"essential"`
	Command                []string                `json:"command,omitempty"`
	EntryPoint             []string                `json:"entryPoint,omitempty"`
	Environment            map[string]string       `json:"environment,omitempty"`
	PortMappings           []PortMapping           `json:"portMappings"`
	MountPoints            []MountPoint            `json:"mountPoints"`
	VolumesFrom            []VolumeFrom            `json:"volumesFrom"`
	Links                  []string                `json:"links"`
	DependsOn              []ContainerDependency   `json:"dependsOn,omitempty"`
	StartTimeout           int                     `json:"startTimeout,omitempty"` // seconds
	StopTimeout            int                     `json:"stopTimeout,omitempty"`  // seconds
	Privileged             *bool                   `json:"privileged,omitempty"`
	LinuxParameters        *LinuxParameters        `json:"linuxParameters,omitempty"`
	DockerConfig           DockerConfig            `json:"dockerConfig"`
	HealthCheckType        string                  `json:"healthCheckType,omitempty"` // "docker" when DockerConfig has a Healthcheck
	RegistryAuthentication *RegistryAuthentication `json:"registryAuthentication,omitempty"`
}

// PortMapping maps a container port to a host port (0 = the agent chooses;
// Berth's control plane always chooses, so hostPort is set in bridge mode).
type PortMapping struct {
	ContainerPort int    `json:"containerPort"`
	HostPort      int    `json:"hostPort"`
	Protocol      string `json:"protocol,omitempty"`
}

// MountPoint mounts a task volume into a container.
type MountPoint struct {
	SourceVolume  string `json:"sourceVolume"`
	ContainerPath string `json:"containerPath"`
	ReadOnly      bool   `json:"readOnly"`
}

// VolumeFrom mounts every volume of another container of the task.
type VolumeFrom struct {
	SourceContainer string `json:"sourceContainer"`
	ReadOnly        bool   `json:"readOnly"`
}

// ContainerDependency orders container start-up (START, COMPLETE, SUCCESS, HEALTHY).
type ContainerDependency struct {
	ContainerName string `json:"containerName"`
	Condition     string `json:"condition"`
}

// LinuxParameters are the Linux-specific settings ECS sends as such.
type LinuxParameters struct {
	InitProcessEnabled *bool   `json:"initProcessEnabled,omitempty"`
	SharedMemorySize   *int    `json:"sharedMemorySize,omitempty"` // MiB of /dev/shm
	Tmpfs              []Tmpfs `json:"tmpfs,omitempty"`
}

// Tmpfs is a tmpfs mount of a container (ECS linuxParameters.tmpfs).
type Tmpfs struct {
	ContainerPath string   `json:"containerPath"`
	Size          int      `json:"size"` // MiB
	MountOptions  []string `json:"mountOptions,omitempty"`
}

// RegistryAuthentication says how the agent authenticates image pulls.
// Berth uses type "berth" with short-lived credentials inline; the ECS
// types "ecr" and "asm" are recognised by the real agent.
type RegistryAuthentication struct {
	Type     string `json:"type"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
}

// Volume is a task volume: "host" (sourcePath on the instance, or empty
// for a task-scoped scratch volume) or "docker".
type Volume struct {
	Name string           `json:"name"`
	Type string           `json:"type"`
	Host *HostVolumeProps `json:"host,omitempty"`
}

// HostVolumeProps names the host path of a bind-mount volume.
type HostVolumeProps struct {
	SourcePath string `json:"sourcePath,omitempty"`
}

// ElasticNetworkInterface is the ACS shape of a task's network interface.
type ElasticNetworkInterface struct {
	AttachmentARN            string                  `json:"attachmentArn,omitempty"`
	MacAddress               string                  `json:"macAddress,omitempty"`
	IPv4Addresses            []IPv4AddressAssignment `json:"ipv4Addresses,omitempty"`
	SubnetGatewayIPv4Address string                  `json:"subnetGatewayIpv4Address,omitempty"`
}

// IPv4AddressAssignment is one address of an ElasticNetworkInterface.
type IPv4AddressAssignment struct {
	PrivateAddress string `json:"privateAddress"`
	Primary        bool   `json:"primary"`
}

// DockerConfig carries Docker create-call JSON, as strings, the way ECS
// sends it: Config is a container config, HostConfig a host config.
type DockerConfig struct {
	Version    string `json:"version,omitempty"`
	Config     string `json:"config,omitempty"`
	HostConfig string `json:"hostConfig,omitempty"`
}

// DockerContainerConfig is the part of Docker's container config that
// Berth sends and reads.
type DockerContainerConfig struct {
	Hostname    string             `json:"Hostname,omitempty"`
	User        string             `json:"User,omitempty"`
	WorkingDir  string             `json:"WorkingDir,omitempty"`
	Labels      map[string]string  `json:"Labels,omitempty"`
	Healthcheck *DockerHealthcheck `json:"Healthcheck,omitempty"`
}

// DockerHealthcheck is Docker's health check: Test is ["CMD", ...] or
// ["CMD-SHELL", "..."]; durations are nanoseconds.
type DockerHealthcheck struct {
	Test        []string `json:"Test,omitempty"`
	Interval    int64    `json:"Interval,omitempty"`
	Timeout     int64    `json:"Timeout,omitempty"`
	StartPeriod int64    `json:"StartPeriod,omitempty"`
	Retries     int      `json:"Retries,omitempty"`
}

// DockerHostConfig is the part of Docker's host config that Berth sends
// and reads.
type DockerHostConfig struct {
	MemoryReservation int64          `json:"MemoryReservation,omitempty"` // bytes
	Ulimits           []DockerUlimit `json:"Ulimits,omitempty"`
	ReadonlyRootfs    bool           `json:"ReadonlyRootfs,omitempty"`
	Init              *bool          `json:"Init,omitempty"`
	CapAdd            []string       `json:"CapAdd,omitempty"`
	CapDrop           []string       `json:"CapDrop,omitempty"`
	ExtraHosts        []string       `json:"ExtraHosts,omitempty"` // "hostname:ip"
	DNS               []string       `json:"Dns,omitempty"`
	DNSSearch         []string       `json:"DnsSearch,omitempty"`
}

// DockerUlimit is one ulimit in Docker's shape.
type DockerUlimit struct {
	Name string `json:"Name"`
	Soft int64  `json:"Soft"`
	Hard int64  `json:"Hard"`
}
