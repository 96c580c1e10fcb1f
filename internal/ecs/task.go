package ecs

import (
	"encoding/json"
	"fmt"
	"time"
)

// TaskStatus is a task's lifecycle state, ordered as ECS moves tasks
// through it, so that "at or past" checks are comparisons:
//
//	PROVISIONING → PENDING → ACTIVATING → RUNNING → DEACTIVATING → STOPPING → DEPROVISIONING → STOPPED → DELETED
//
// A task's desired status is only ever RUNNING or STOPPED. Its last status
// only moves forwards: a report that would move it backwards is ignored.
type TaskStatus int

// Task statuses, in lifecycle order. TaskStatusNone is the zero value.
const (
	TaskStatusNone TaskStatus = iota
	TaskProvisioning
	TaskPending
	TaskActivating
	TaskRunning
	TaskDeactivating
	TaskStopping
	TaskDeprovisioning
	TaskStopped
	TaskDeleted
)

var taskStatusNames = [...]string{"", "PROVISIONING", "PENDING", "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED", "DELETED"}

func (s TaskStatus) String() string {
	if s < 0 || int(s) >= len(taskStatusNames) {
		return fmt.Sprintf("TaskStatus(%d)", int(s))
	}
	return taskStatusNames[s]
}

// ParseTaskStatus returns the status named s (ECS's upper-case names).
func ParseTaskStatus(s string) (TaskStatus, bool) {
	for i, n := range taskStatusNames {
		if n == s && i != 0 {
			return TaskStatus(i), true
		}
	}
	return TaskStatusNone, false
}

// MarshalJSON writes the status as its ECS name.
func (s TaskStatus) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// UnmarshalJSON reads an ECS status name.
func (s *TaskStatus) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err != nil {
		return err
	}
	if name == "" {
		*s = TaskStatusNone
		return nil
	}
	v, ok := ParseTaskStatus(name)
	if !ok {
		return fmt.Errorf("unknown task status %q", name)
	}
	*s = v
	return nil
}

// Stop codes ECS reports on stopped tasks.
const (
	StopCodeTaskFailedToStart         = "TaskFailedToStart"
	StopCodeEssentialContainerExited  = "EssentialContainerExited"
	StopCodeUserInitiated             = "UserInitiated"
	StopCodeServiceSchedulerInitiated = "ServiceSchedulerInitiated"
	StopCodeSpotInterruption          = "SpotInterruption"
	StopCodeTerminationNotice         = "TerminationNotice"
)

// Container statuses as ECS reports them on a task's containers.
const (
	ContainerPending = "PENDING"
	ContainerRunning = "RUNNING"
	ContainerStopped = "STOPPED"
)

// Health statuses of containers and tasks.
const (
	HealthHealthy   = "HEALTHY"
	HealthUnhealthy = "UNHEALTHY"
	HealthUnknown   = "UNKNOWN"
)

// NetworkBinding is a host port bound to a container port.
type NetworkBinding struct {
	BindIP        string `json:"bindIP,omitempty"`
	ContainerPort int    `json:"containerPort,omitempty"`
	HostPort      int    `json:"hostPort,omitempty"`
	Protocol      string `json:"protocol,omitempty"`
}

// NetworkInterface is an awsvpc task's address as shown on a container.
type NetworkInterface struct {
	AttachmentID       string `json:"attachmentId,omitempty"`
	PrivateIPv4Address string `json:"privateIpv4Address,omitempty"`
}

// KeyValue is a name/value pair (attachment details).
type KeyValue struct {
	Name  string `json:"name,omitempty"`
	Value string `json:"value,omitempty"`
}

// Attachment is a resource attached to a task: for awsvpc tasks, the
// network interface (type "ElasticNetworkInterface") with its details
// (subnetId, networkInterfaceId, macAddress, privateIPv4Address, ...).
type Attachment struct {
	ID      string     `json:"id"`
	Type    string     `json:"type"`
	Status  string     `json:"status"` // PRECREATED, ATTACHING, ATTACHED, DETACHING, DETACHED, DELETED, FAILED
	Details []KeyValue `json:"details,omitzero"`
}

// TaskContainer is one container of a task, as the control plane knows it.
type TaskContainer struct {
	Name              string             `json:"name"`
	ARN               string             `json:"containerArn"`
	Image             string             `json:"image,omitempty"`
	ImageDigest       string             `json:"imageDigest,omitempty"`
	RuntimeID         string             `json:"runtimeId,omitempty"`
	LastStatus        string             `json:"lastStatus"`
	ExitCode          *int               `json:"exitCode,omitempty"`
	Reason            string             `json:"reason,omitempty"`
	NetworkBindings   []NetworkBinding   `json:"networkBindings,omitzero"`
	NetworkInterfaces []NetworkInterface `json:"networkInterfaces,omitzero"`
	HealthStatus      string             `json:"healthStatus,omitempty"`
	CPU               string             `json:"cpu,omitempty"`
	Memory            string             `json:"memory,omitempty"`
	MemoryReservation string             `json:"memoryReservation,omitempty"`
}

// ContainerOverride changes one container for one task (RunTask/StartTask).
type ContainerOverride struct {
	Name              string         `json:"name,omitempty"`
	Command           []string       `json:"command,omitzero"`
	Environment       []KeyValuePair `json:"environment,omitzero"`
	CPU               *int           `json:"cpu,omitempty"`
	Memory            *int           `json:"memory,omitempty"`
	MemoryReservation *int           `json:"memoryReservation,omitempty"`
}

// TaskOverride is what RunTask/StartTask changed of the task definition.
type TaskOverride struct {
	ContainerOverrides []ContainerOverride `json:"containerOverrides,omitzero"`
	CPU                string              `json:"cpu,omitempty"`
	Memory             string              `json:"memory,omitempty"`
	TaskRoleArn        string              `json:"taskRoleArn,omitempty"`
	ExecutionRoleArn   string              `json:"executionRoleArn,omitempty"`
}

// PortAssignment is a host port the control plane reserved for a task:
// static ones from the task definition and dynamic ones it chose. The
// agent maps exactly these, so port collisions are placement failures.
type PortAssignment struct {
	Container     string `json:"container"`
	ContainerPort int    `json:"containerPort"`
	HostPort      int    `json:"hostPort"`
	Protocol      string `json:"protocol"`
}

// Task is one run of a task definition on a container instance.
type Task struct {
	ID                   string `json:"id"`
	ARN                  string `json:"taskArn"`
	Cluster              string `json:"cluster"`
	ContainerInstanceID  string `json:"containerInstanceId,omitempty"`
	ContainerInstanceARN string `json:"containerInstanceArn,omitempty"`
	// Definition is the task definition the task runs (with overrides
	// applied to its containers), kept whole so that the agent's payload
	// never depends on the definition still existing.
	Definition           TaskDefinition   `json:"definition"`
	Overrides            TaskOverride     `json:"overrides"`
	LaunchType           string           `json:"launchType,omitempty"`
	CPU                  string           `json:"cpu,omitempty"`    // task-level, as shown
	Memory               string           `json:"memory,omitempty"` // task-level, as shown
	Containers           []TaskContainer  `json:"containers"`
	Ports                []PortAssignment `json:"ports,omitzero"`
	Attachments          []Attachment     `json:"attachments,omitzero"`
	LastStatus           TaskStatus       `json:"lastStatus"`
	DesiredStatus        TaskStatus       `json:"desiredStatus"`
	HealthStatus         string           `json:"healthStatus,omitempty"`
	StartedBy            string           `json:"startedBy,omitempty"`
	Group                string           `json:"group,omitempty"`
	ServiceName          string           `json:"serviceName,omitempty"`
	Tags                 []Tag            `json:"tags,omitzero"`
	AvailabilityZone     string           `json:"availabilityZone,omitempty"`
	EnableExecuteCommand bool             `json:"enableExecuteCommand,omitempty"`

	CreatedAt          time.Time `json:"createdAt,omitzero"`
	PullStartedAt      time.Time `json:"pullStartedAt,omitzero"`
	PullStoppedAt      time.Time `json:"pullStoppedAt,omitzero"`
	StartedAt          time.Time `json:"startedAt,omitzero"`
	ConnectivityAt     time.Time `json:"connectivityAt,omitzero"`
	StoppingAt         time.Time `json:"stoppingAt,omitzero"`
	StoppedAt          time.Time `json:"stoppedAt,omitzero"`
	ExecutionStoppedAt time.Time `json:"executionStoppedAt,omitzero"`
	StopCode           string    `json:"stopCode,omitempty"`
	StoppedReason      string    `json:"stoppedReason,omitempty"`

	// Version counts the task's changes, as ECS's task version does.
	Version int64 `json:"version"`
	// Seq orders the desired-state changes pushed to the agent (the
	// payload seqNum): it grows whenever DesiredStatus changes.
	Seq int64 `json:"seq"`
}

// Stopped reports whether the task has reached STOPPED (or was deleted).
func (t *Task) Stopped() bool { return t.LastStatus >= TaskStopped }

// Active reports whether the task holds resources on its instance: every
// task not yet STOPPED does.
func (t *Task) Active() bool { return !t.Stopped() }

// Reservation returns the cpu units and MiB of memory a task of def
// reserves on an EC2 or external instance, as ECS counts them: the
// task-level values when set, otherwise the sum over containers of cpu and
// of memoryReservation (or memory when no reservation is given).
func (def *TaskDefinition) Reservation() (cpu, memory int64) {
	var sumCPU, sumMem int64
	for _, c := range def.ContainerDefinitions {
		sumCPU += int64(c.CPU)
		switch {
		case c.MemoryReservation != nil:
			sumMem += int64(*c.MemoryReservation)
		case c.Memory != nil:
			sumMem += int64(*c.Memory)
		}
	}
	cpu, memory = sumCPU, sumMem
	if v, ok := ParseTaskCPU(def.CPU); ok && def.CPU != "" {
		cpu = int64(v)
	}
	if v, ok := ParseTaskMemory(def.Memory); ok && def.Memory != "" {
		memory = int64(v)
	}
	return cpu, memory
}
