package service

import (
	"fmt"
	"slices"
	"strings"

	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/scheduler"
)

// Event messages, in the wording of ECS's service event log.

// StartedMessage is ECS's event for tasks the scheduler started: the
// caller posts it once it has created the tasks of a Launch.
func StartedMessage(service string, taskIDs []string) string {
	return fmt.Sprintf("(service %s) has started %d tasks: %s.", service, len(taskIDs), taskList(taskIDs))
}

// SteadyStateMessage is ECS's event for a service at its desired state.
func SteadyStateMessage(service string) string {
	return fmt.Sprintf("(service %s) has reached a steady state.", service)
}

// UnableToPlaceMessage is ECS's event for a task no instance could take.
// closestInstanceID and reason are from the closest matching instance
// (a scheduler.Failure: its instance and ECS failure reason); an empty
// closestInstanceID means the cluster has no usable instance at all.
func UnableToPlaceMessage(service, closestInstanceID, reason string) string {
	const head = "(service %s) was unable to place a task because no container instance met all of its requirements."
	const tail = " For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."
	if closestInstanceID == "" {
		return fmt.Sprintf(head+" Reason: No Container Instances were found in your cluster."+tail, service)
	}
	var why string
	switch reason {
	case scheduler.ReasonCPU:
		why = "has insufficient CPU units available"
	case scheduler.ReasonMemory:
		why = "has insufficient memory available"
	case scheduler.ReasonPorts, scheduler.ReasonPortsUDP:
		why = "is already using a port required by your task"
	case scheduler.ReasonAgent:
		why = "doesn't have the agent connected"
	case scheduler.ReasonAttribute:
		why = "is missing an attribute required by your task"
	default:
		why = fmt.Sprintf("encountered error %q", reason)
	}
	return fmt.Sprintf(head+" The closest matching (container-instance %s) %s."+tail, service, closestInstanceID, why)
}

func taskList(ids []string) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = "(task " + id + ")"
	}
	return strings.Join(parts, " ")
}

func stoppedRunningMessage(service string, ids []string) string {
	return fmt.Sprintf("(service %s) has stopped %d running tasks: %s.", service, len(ids), taskList(ids))
}

func stoppedPendingMessage(service string, n int) string {
	return fmt.Sprintf("(service %s) stopped %d pending tasks.", service, n)
}

func deploymentCompletedMessage(service, id string) string {
	return fmt.Sprintf("(service %s) (deployment %s) deployment completed.", service, id)
}

func deploymentFailedMessage(service, id string) string {
	return fmt.Sprintf("(service %s) (deployment %s) deployment failed: tasks failed to start.", service, id)
}

func rollingBackMessage(service, id string) string {
	return fmt.Sprintf("(service %s) rolling back to deployment %s.", service, id)
}

func throttleMessage(service string) string {
	return fmt.Sprintf("(service %s) is unable to consistently start tasks successfully.", service)
}

func unhealthyMessage(service, taskID string) string {
	return fmt.Sprintf("(service %s) (task %s) failed container health checks.", service, taskID)
}

func blockedMessage(service string) string {
	return fmt.Sprintf("(service %s) was unable to stop or start tasks during a deployment because of the service deployment configuration. Update the minimumHealthyPercent or maximumPercent value and try again.", service)
}

// lostMessage is Berth's event for the tasks of a lost instance (ECS
// documents none).
func lostMessage(service, instanceID, why string, ids []string, replaced bool) string {
	verb := "Stopped"
	if replaced {
		verb = "Replacing"
	}
	return fmt.Sprintf("(service %s) (container-instance %s) %s. %s its %d tasks: %s.", service, instanceID, why, verb, len(ids), taskList(ids))
}

// emit posts msg unless this step already did or, with dedup, it was
// posted within EventDedupWindow and the service has not reached a steady
// state since.
func (c *computation) emit(msg string, dedup bool) {
	if slices.Contains(c.events, msg) || (dedup && c.recentlyPosted(msg)) {
		return
	}
	c.events = append(c.events, msg)
}

func (c *computation) recentlyPosted(msg string) bool {
	steady := SteadyStateMessage(c.svc.Name)
	for _, e := range c.svc.Events { // newest first
		if c.now.Sub(e.CreatedAt) >= EventDedupWindow || e.Message == steady {
			return false
		}
		if e.Message == msg {
			return true
		}
	}
	return false
}

// emitSteady posts the steady-state message unless it is already the
// newest event and younger than EventDedupWindow.
func (c *computation) emitSteady() {
	msg := SteadyStateMessage(c.svc.Name)
	if ev := c.svc.Events; len(ev) > 0 && ev[0].Message == msg && c.now.Sub(ev[0].CreatedAt) < EventDedupWindow && len(c.events) == 0 {
		return
	}
	c.emit(msg, false)
}

// stopEvents posts the stopped-tasks events for this step's stops (lost
// tasks have their own).
func (c *computation) stopEvents() {
	byID := map[string]*view{}
	for _, v := range c.tasks {
		byID[v.t.ID] = v
	}
	var running []string
	pending := 0
	for _, s := range c.stops {
		v := byID[s.TaskID]
		switch {
		case s.Lost:
		case v.t.LastStatus >= ecs.TaskRunning:
			running = append(running, s.TaskID)
		default:
			pending++
		}
	}
	if len(running) > 0 {
		c.emit(stoppedRunningMessage(c.svc.Name, running), false)
	}
	if pending > 0 {
		c.emit(stoppedPendingMessage(c.svc.Name, pending), false)
	}
}
