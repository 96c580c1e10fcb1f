package engine

import (
	"time"

	"github.com/berth/berth/internal/agent/network"
	"github.com/berth/berth/internal/agent/taskstate"
	"github.com/berth/berth/internal/ecs"
)

// TaskChange is a task state change: what SubmitTaskStateChange carries
// (protocol.md §5). The cluster is the reporter's to add.
type TaskChange struct {
	TaskARN string
	// Status is RUNNING or STOPPED (PENDING is never reported: the control
	// plane creates tasks PENDING).
	Status ecs.TaskStatus
	// Reason is why the task stopped ("" when the control plane asked).
	Reason      string
	Containers  []ContainerChange
	Attachments []AttachmentChange
	// Zero times are left out of the report.
	PullStartedAt, PullStoppedAt, ExecutionStoppedAt time.Time
}

// ContainerChange is one container's state: an element of a TaskChange,
// or on its own what SubmitContainerStateChange carries.
type ContainerChange struct {
	TaskARN         string
	ContainerName   string
	RuntimeID       string
	Status          string // PENDING, RUNNING or STOPPED
	ExitCode        *int
	Reason          string
	NetworkBindings []ecs.NetworkBinding
	ImageDigest     string
}

// AttachmentChange is the status of a task attachment (an awsvpc task's
// elastic network interface: ATTACHED once its network is set up).
type AttachmentChange struct {
	AttachmentARN string
	Status        string
}

// HealthChange is a task's container health, for TCS PublishHealthRequest
// (protocol.md §6). It lists every container with a health check.
type HealthChange struct {
	TaskARN, ClusterARN, Family, Version string
	Containers                           []ContainerHealth
}

// ContainerHealth is one container's health.
type ContainerHealth struct {
	Name   string
	Status string // HEALTHY, UNHEALTHY or UNKNOWN
	Since  time.Time
}

// maxReasonLen is ECS's limit on reported reasons.
const maxReasonLen = 255

func truncateReason(s string) string {
	if len(s) <= maxReasonLen {
		return s
	}
	return s[:maxReasonLen]
}

// reportRank orders container statuses as reported: PENDING < RUNNING < STOPPED.
func reportRank(s taskstate.ContainerStatus) int {
	switch {
	case s >= taskstate.ContainerStopped:
		return 2
	case s == taskstate.ContainerRunning:
		return 1
	}
	return 0
}

// pendingReport is the next report a task owes the control plane.
type pendingReport struct {
	task      *TaskChange
	container *ContainerChange
	// statuses are the container statuses the report carries, by index,
	// which become "reported" once it is acknowledged.
	statuses map[int]taskstate.ContainerStatus
}

// nextReport returns the oldest state the control plane has not
// acknowledged: the task reaching RUNNING, then STOPPED (each with every
// container), else a lone container change.
func (mt *managedTask) nextReport() (pendingReport, bool) {
	rec := mt.rec
	var status ecs.TaskStatus
	switch {
	case rec.Reported < ecs.TaskRunning && !rec.RunningAt.IsZero():
		status = ecs.TaskRunning
	case rec.Reported < ecs.TaskStopped && rec.State.Known >= ecs.TaskStopped:
		status = ecs.TaskStopped
	}
	if status != ecs.TaskStatusNone {
		tc := &TaskChange{TaskARN: rec.Payload.ARN, Status: status, PullStartedAt: rec.PullStartedAt, PullStoppedAt: rec.PullStoppedAt}
		pr := pendingReport{task: tc, statuses: map[int]taskstate.ContainerStatus{}}
		for i := range rec.State.Containers {
			tc.Containers = append(tc.Containers, mt.containerChange(i))
			pr.statuses[i] = rec.State.Containers[i].Known
		}
		if status == ecs.TaskStopped {
			tc.Reason = truncateReason(rec.State.StopReason)
			tc.ExecutionStoppedAt = rec.StoppedAt
		}
		if rec.Network != nil && rec.SetupDone && networkMode(&rec.Payload) == network.ModeAWSVPC {
			for _, eni := range rec.Payload.ElasticNetworkInterfaces {
				if eni.AttachmentARN != "" {
					tc.Attachments = append(tc.Attachments, AttachmentChange{AttachmentARN: eni.AttachmentARN, Status: "ATTACHED"})
				}
			}
		}
		return pr, true
	}
	if rec.Reported < ecs.TaskRunning {
		// Container changes of a task not yet reported RUNNING ride with
		// its RUNNING or STOPPED report, as the ECS agent batches them.
		return pendingReport{}, false
	}
	for i, c := range rec.State.Containers {
		if reportRank(c.Known) > reportRank(rec.Containers[i].Reported) {
			cc := mt.containerChange(i)
			return pendingReport{container: &cc, statuses: map[int]taskstate.ContainerStatus{i: c.Known}}, true
		}
	}
	return pendingReport{}, false
}

func (mt *managedTask) containerChange(i int) ContainerChange {
	rec := mt.rec
	c := &rec.State.Containers[i]
	cc := ContainerChange{
		TaskARN:       rec.Payload.ARN,
		ContainerName: c.Name,
		Status:        c.Known.Reported(),
		Reason:        truncateReason(c.Reason),
		ImageDigest:   rec.Containers[i].ImageDigest,
	}
	if !rec.Containers[i].CreatedAt.IsZero() {
		cc.RuntimeID = rec.Containers[i].RuntimeID
	}
	if c.ExitCode != nil {
		code := *c.ExitCode
		cc.ExitCode = &code
	}
	if c.Started() {
		cc.NetworkBindings = bindings(networkMode(&rec.Payload), &rec.Payload.Containers[i])
	}
	return cc
}

// healthChange lists the health of the task's containers with health checks.
func (mt *managedTask) healthChange() (HealthChange, bool) {
	p := &mt.rec.Payload
	h := HealthChange{TaskARN: p.ARN, ClusterARN: p.TaskClusterARN, Family: p.Family, Version: p.Version}
	for _, c := range mt.rec.State.Containers {
		if c.HealthCheck == nil {
			continue
		}
		since := c.Health.Since
		if since.IsZero() {
			since = c.StartedAt
		}
		h.Containers = append(h.Containers, ContainerHealth{Name: c.Name, Status: c.Health.Status.String(), Since: since})
	}
	return h, len(h.Containers) > 0
}
