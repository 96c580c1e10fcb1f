package ecs

import (
	"slices"
	"time"
)

// The agent reports what its tasks do (SubmitTaskStateChange,
// SubmitContainerStateChange, SubmitAttachmentStateChanges). Reports only
// move things forwards: the agent retries a report for a day until it is
// accepted, so a late, repeated or backwards report is answered with
// success and changes nothing.

// StoppedReasonEssentialExited is ECS's stoppedReason for a task whose
// essential container exited, used when the agent gives no reason.
const StoppedReasonEssentialExited = "Essential container in task exited"

// StoppedReasonFailedToStart is the stoppedReason of a task that stopped
// before it ran, when the agent gives no reason.
const StoppedReasonFailedToStart = "Task failed to start"

// TaskReport is an agent's report on one task.
type TaskReport struct {
	// Status is the task's new last status; TaskStatusNone reports only
	// containers and attachments.
	Status             TaskStatus
	Reason             string
	Containers         []ContainerReport
	Attachments        []AttachmentReport
	PullStartedAt      time.Time // zero: not given
	PullStoppedAt      time.Time
	ExecutionStoppedAt time.Time
}

// ContainerReport is an agent's report on one container of a task. Empty
// fields (nil ExitCode and NetworkBindings) are "not given".
type ContainerReport struct {
	Name            string
	Status          string // PENDING, RUNNING, STOPPED or "" (no status change)
	RuntimeID       string
	ExitCode        *int
	Reason          string
	NetworkBindings []NetworkBinding
	ImageDigest     string
}

// AttachmentReport is an agent's report on one attachment of a task.
type AttachmentReport struct {
	ID     string // the attachment id (the last part of its ARN)
	Status string
}

// ReportableTaskStatus reports whether an agent may report status s for a
// task: PENDING, ACTIVATING, RUNNING, DEACTIVATING, STOPPING,
// DEPROVISIONING or STOPPED (not PROVISIONING, which only the control
// plane sets, nor DELETED).
func ReportableTaskStatus(s TaskStatus) bool { return s >= TaskPending && s <= TaskStopped }

// containerStatusRank orders container statuses; 0 is unknown.
func containerStatusRank(s string) int {
	switch s {
	case ContainerPending:
		return 1
	case ContainerRunning:
		return 2
	case ContainerStopped:
		return 3
	}
	return 0
}

// attachmentStatuses is the order an attachment moves through; FAILED may
// follow any of them.
var attachmentStatuses = []string{AttachmentStatusPrecreated, "ATTACHING", AttachmentStatusAttached, "DETACHING", "DETACHED", "DELETED"}

// AttachmentStatusFailed is the status of an attachment that failed.
const AttachmentStatusFailed = "FAILED"

// ValidAttachmentStatus reports whether s is an attachment status.
func ValidAttachmentStatus(s string) bool {
	return s == AttachmentStatusFailed || slices.Contains(attachmentStatuses, s)
}

// ValidateTaskReport checks a report's shape before it is applied: known
// container statuses, container names and attachment ids present, known
// attachment statuses. Failures are InvalidParameterException naming the
// field.
func ValidateTaskReport(r TaskReport) error {
	if r.Status != TaskStatusNone && !ReportableTaskStatus(r.Status) {
		return Errorf(ErrInvalidParameter, "status %s cannot be reported by an agent; valid values: PENDING, RUNNING, STOPPED.", r.Status)
	}
	for i, c := range r.Containers {
		if c.Name == "" {
			return Errorf(ErrInvalidParameter, "containers[%d].containerName is required.", i)
		}
		if c.Status != "" && containerStatusRank(c.Status) == 0 {
			return Errorf(ErrInvalidParameter, "containers[%d].status %q is not valid; valid values: PENDING, RUNNING, STOPPED.", i, c.Status)
		}
	}
	for i, a := range r.Attachments {
		if a.ID == "" {
			return Errorf(ErrInvalidParameter, "attachments[%d].attachmentArn is required.", i)
		}
		if !ValidAttachmentStatus(a.Status) {
			return Errorf(ErrInvalidParameter, "attachments[%d].status %q is not valid; valid values: PRECREATED, ATTACHING, ATTACHED, DETACHING, DETACHED, DELETED, FAILED.", i, a.Status)
		}
	}
	return nil
}

// ApplyTaskReport applies an agent's report to t at now and says whether
// anything changed (when it did, t.Version has grown). The rules:
//   - lastStatus only moves forwards; the first RUNNING sets startedAt and
//     connectivityAt;
//   - STOPPED sets stoppedAt, executionStoppedAt (reported, else now),
//     stoppingAt if unset, desiredStatus STOPPED (Seq grows when that
//     changes it), stoppedReason if none yet (the reported reason, else a
//     default), stopCode if none yet (TaskFailedToStart when neither the
//     task nor any container ever ran — a container with an exit code ran —
//     else EssentialContainerExited), and every container STOPPED;
//   - containers are matched by name: their status only moves forwards, and
//     a report that is not backwards sets the fields it gives;
//   - attachments are matched by id and only move forwards (FAILED always
//     applies);
//   - pull times are set once.
//
// It fails (changing nothing) with an InvalidParameterException when the
// report is malformed or names a container or attachment t does not have.
func ApplyTaskReport(t *Task, r TaskReport, now time.Time) (bool, error) {
	if err := ValidateTaskReport(r); err != nil {
		return false, err
	}
	for i, c := range r.Containers {
		if !slices.ContainsFunc(t.Containers, func(tc TaskContainer) bool { return tc.Name == c.Name }) {
			return false, Errorf(ErrInvalidParameter, "containers[%d].containerName %q is not a container of task %s.", i, c.Name, t.ARN)
		}
	}
	for i, a := range r.Attachments {
		if !slices.ContainsFunc(t.Attachments, func(ta Attachment) bool { return ta.ID == a.ID }) {
			return false, Errorf(ErrInvalidParameter, "attachments[%d].attachmentArn %q is not an attachment of task %s.", i, a.ID, t.ARN)
		}
	}
	changed := false
	set := func(dst *time.Time, v time.Time) {
		if dst.IsZero() && !v.IsZero() {
			*dst = v
			changed = true
		}
	}
	set(&t.PullStartedAt, r.PullStartedAt)
	set(&t.PullStoppedAt, r.PullStoppedAt)
	for _, c := range r.Containers {
		i := slices.IndexFunc(t.Containers, func(tc TaskContainer) bool { return tc.Name == c.Name })
		if applyContainerReport(&t.Containers[i], c) {
			changed = true
		}
	}
	for _, a := range r.Attachments {
		i := slices.IndexFunc(t.Attachments, func(ta Attachment) bool { return ta.ID == a.ID })
		if ApplyAttachmentStatus(&t.Attachments[i], a.Status) {
			changed = true
		}
	}
	if r.Status > t.LastStatus {
		ranBefore := t.LastStatus >= TaskRunning || !t.StartedAt.IsZero() ||
			slices.ContainsFunc(t.Containers, func(c TaskContainer) bool { return c.LastStatus == ContainerRunning || c.ExitCode != nil })
		t.LastStatus = r.Status
		changed = true
		if r.Status == TaskRunning {
			set(&t.StartedAt, now)
			set(&t.ConnectivityAt, now)
		}
		if r.Status >= TaskStopped {
			stopTask(t, r, now, ranBefore)
		}
	}
	if changed {
		t.Version++
	}
	return changed, nil
}

// stopTask records that t stopped.
func stopTask(t *Task, r TaskReport, now time.Time, ran bool) {
	t.StoppedAt = now
	if t.ExecutionStoppedAt.IsZero() {
		t.ExecutionStoppedAt = now
		if !r.ExecutionStoppedAt.IsZero() {
			t.ExecutionStoppedAt = r.ExecutionStoppedAt
		}
	}
	if t.StoppingAt.IsZero() {
		t.StoppingAt = now
	}
	if t.DesiredStatus != TaskStopped {
		t.DesiredStatus = TaskStopped
		t.Seq++
	}
	if t.StopCode == "" {
		t.StopCode = StopCodeEssentialContainerExited
		if !ran {
			t.StopCode = StopCodeTaskFailedToStart
		}
	}
	if t.StoppedReason == "" {
		switch {
		case r.Reason != "":
			t.StoppedReason = r.Reason
		case t.StopCode == StopCodeTaskFailedToStart:
			t.StoppedReason = StoppedReasonFailedToStart
		default:
			t.StoppedReason = StoppedReasonEssentialExited
		}
	}
	for i := range t.Containers {
		t.Containers[i].LastStatus = ContainerStopped
	}
}

// applyContainerReport applies r to c and says whether c changed.
func applyContainerReport(c *TaskContainer, r ContainerReport) bool {
	cur, next := containerStatusRank(c.LastStatus), containerStatusRank(r.Status)
	if r.Status != "" && next < cur {
		return false // backwards: stale
	}
	changed := false
	if next > cur {
		c.LastStatus = r.Status
		changed = true
	}
	if r.RuntimeID != "" && r.RuntimeID != c.RuntimeID {
		c.RuntimeID = r.RuntimeID
		changed = true
	}
	if r.ExitCode != nil && (c.ExitCode == nil || *c.ExitCode != *r.ExitCode) {
		v := *r.ExitCode
		c.ExitCode = &v
		changed = true
	}
	if r.Reason != "" && r.Reason != c.Reason {
		c.Reason = r.Reason
		changed = true
	}
	if r.NetworkBindings != nil && !slices.Equal(r.NetworkBindings, c.NetworkBindings) {
		c.NetworkBindings = slices.Clone(r.NetworkBindings)
		changed = true
	}
	if r.ImageDigest != "" && r.ImageDigest != c.ImageDigest {
		c.ImageDigest = r.ImageDigest
		changed = true
	}
	return changed
}

// ApplyAttachmentStatus moves a to status if that is forwards (FAILED
// always is, unless a already failed) and says whether a changed.
func ApplyAttachmentStatus(a *Attachment, status string) bool {
	if status == a.Status || a.Status == AttachmentStatusFailed {
		return false
	}
	if status != AttachmentStatusFailed && slices.Index(attachmentStatuses, status) < slices.Index(attachmentStatuses, a.Status) {
		return false
	}
	a.Status = status
	return true
}
