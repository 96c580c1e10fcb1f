// Package service decides what a service's controller does next: given a
// service, its tasks and the cluster's container instances at one instant,
// Compute says which tasks to start and stop, how the service's
// deployments move on, and which events to record, the way the Amazon ECS
// service scheduler does for its rolling-update (ECS) deployment
// controller.
//
// Compute is a pure function: no I/O, no goroutines, no clock reads; time
// and new IDs come in through Input. The loop around it (a later part of
// the server) reads a snapshot, calls Compute, places the Start entries
// with scheduler.Place, and commits the tasks, the stops and the updated
// deployments with compare-and-swap, retrying on conflict (the Nomad
// reconciler's Compute() is the model). Calling Compute again on an
// unchanged snapshot returns the same decisions, so a lost commit is
// harmless.
//
// What it implements, and the choices made where ECS documents no rule:
//
//   - Counting. A task belongs to the deployment named by its startedBy.
//     Live tasks are those not yet STOPPED. Healthy tasks are RUNNING,
//     desired RUNNING, on an instance that is not lost, and HEALTHY when an
//     essential container has a health check (not UNHEALTHY otherwise).
//     The floor is ceil(desired × minimumHealthyPercent / 100) healthy
//     tasks; the ceiling floor(desired × maximumPercent / 100) live tasks,
//     counting tasks being stopped until they are STOPPED (they still hold
//     their resources) and leaving out tasks on lost instances.
//   - Rolling update. Tasks of older deployments, tasks on DRAINING
//     instances and tasks beyond the desired count are "leaving". Tasks of
//     the PRIMARY deployment are started up to the ceiling; leaving tasks
//     are stopped at once when they are not healthy (PENDING tasks on a
//     draining instance, old tasks still starting), RUNNING ones awaiting
//     their first health check result only while the floor holds without
//     them, and healthy ones only while the floor still holds afterwards
//     (draining instances first, then the oldest deployments, then
//     scale-in surplus). A stop lowers
//     the live count only once the task is STOPPED, so starts never
//     overshoot the ceiling. When neither is possible and nothing is in
//     flight, the ECS event about the deployment configuration is posted.
//   - Health. An UNHEALTHY task is stopped (ECS's reason "Task failed
//     container health checks") once healthCheckGracePeriodSeconds have
//     passed since it started, and replaced within the ceiling.
//   - Completion. The PRIMARY deployment becomes COMPLETED when it has
//     exactly the desired count of healthy tasks, nothing else is live and
//     nothing is left to do; the other deployments then become INACTIVE
//     and leave the service (Result.Retired).
//   - Failures. A task of a deployment that stops without reaching RUNNING
//     (not stopped by the scheduler or a user), that stops because an
//     essential container exited, or that the scheduler stopped for failed
//     health checks, counts once in the deployment's failedTasks and
//     towards its circuit breaker. With the breaker on, an IN_PROGRESS
//     PRIMARY deployment whose count reaches ecs.DeploymentCircuitBreaker
//     .Threshold becomes FAILED ("ECS deployment circuit breaker: tasks
//     failed to start."); a task of it that becomes healthy (started after
//     the last failure) resets the count when resetOnHealthyTask holds.
//     With rollback, a new PRIMARY deployment (Input.NewDeploymentID)
//     takes the configuration of the newest COMPLETED deployment still on
//     the service, unless that runs the same task definition (no rollback
//     loop); the new deployment launches from the next step on. A FAILED
//     PRIMARY deployment that was not rolled back launches and replaces
//     nothing: the old tasks keep serving until the next UpdateService.
//     Lost, unhealthy and draining-PENDING tasks are still stopped, and a
//     lower desired count (or deletion) still scales the service in.
//   - Restart throttle. After RestartThrottleAfter tasks in a row of the
//     PRIMARY deployment stopped without reaching RUNNING, starts wait
//     RestartThrottleBase, doubling with each further failure up to
//     RestartThrottleMax (ECS: "up to a maximum of 15 minutes"), counted
//     from the last failure; the event "(service X) is unable to
//     consistently start tasks successfully." is posted. A new deployment
//     starts unthrottled; so does one that got a task to RUNNING.
//   - Lost instances. A task whose instance is missing, INACTIVE or
//     DEREGISTERING, or whose agent has not been heard from (AgentSeenAt,
//     else RegisteredAt) for more than Input.LostAfter, is stopped with
//     Stop.Lost set (the caller records it STOPPED itself: no agent will)
//     and replaced; one event per instance says so. Lost tasks count
//     neither towards the floor nor the ceiling.
//   - DAEMON. One task per eligible instance: ACTIVE, not lost, matching
//     the service's memberOf constraints and the task definition's
//     (Input.Definition) memberOf constraints and requiresAttributes.
//     Starts go only to eligible instances with a connected agent that
//     have no task of the PRIMARY deployment, instances with no task at
//     all first. Floor and ceiling are taken over the number of eligible
//     instances; tasks on other instances (draining, no longer matching,
//     deregistered) are stopped, and so are extra tasks on one instance.
//   - Deletion. A DRAINING service has a desired count of 0 and no floor:
//     everything is stopped, and Result.Status is INACTIVE once no task is
//     live.
//   - Events use ECS's wording (service-event-messages in the ECS
//     developer guide); the lost-instance event is Berth's own. As in ECS,
//     a message already posted within the last 6 hours is not repeated
//     until the service has since reached a steady state, and the steady
//     state message is repeated only after 6 hours or after other events.
//     Task IDs of started tasks are known only to the caller, which posts
//     StartedMessage itself (and UnableToPlaceMessage when placement
//     fails).
package service

import (
	"time"

	"github.com/berth/berth/internal/ecs"
)

// Restart throttle parameters (ECS documents only the 15 minute maximum).
const (
	RestartThrottleAfter = 3
	RestartThrottleBase  = 15 * time.Second
	RestartThrottleMax   = 15 * time.Minute
)

// EventDedupWindow is how long an event message is not repeated.
const EventDedupWindow = 6 * time.Hour

// Input is the snapshot Compute decides over.
type Input struct {
	Service ecs.Service
	// Tasks are the service's tasks, any status; tasks of other services
	// (by ServiceName) are ignored, so the cluster's tasks may be passed.
	// Compute only reads them (callers may share them).
	Tasks []*ecs.Task
	// Instances are the cluster's container instances: DAEMON placement
	// and lost-instance detection.
	Instances []ecs.ContainerInstance
	// Definition is the PRIMARY deployment's task definition, if known: a
	// DAEMON service checks its memberOf constraints and
	// requiresAttributes per instance.
	Definition *ecs.TaskDefinition
	Now        time.Time
	// LostAfter is how long an instance's agent may go unheard before its
	// tasks count as lost; 0 means only missing or deregistered instances
	// are lost.
	LostAfter time.Duration
	// NewDeploymentID is the ID for a deployment Compute creates (a
	// circuit-breaker rollback); without it there is no rollback.
	NewDeploymentID string
}

// Launch asks the caller to start tasks of a deployment. For a REPLICA
// service it gives a Count to place; for a DAEMON service, one task
// (Count 1) on InstanceID.
type Launch struct {
	DeploymentID string
	Count        int
	InstanceID   string
}

// Stop asks the caller to stop a task: desired status STOPPED with this
// stoppedReason and stopCode.
type Stop struct {
	TaskID   string
	Reason   string
	StopCode string
	// Lost says the task's instance is lost: no agent will report the task
	// stopped, so the caller records it STOPPED at once.
	Lost bool
}

// Result is what Compute decided.
type Result struct {
	Start []Launch
	Stop  []Stop
	// Deployments are the service's deployments after this step, PRIMARY
	// first then ACTIVE ones newest first: store them as
	// Service.Deployments (and Service.TaskDefinition from the first).
	Deployments []ecs.Deployment
	// Retired are deployments that became INACTIVE in this step, for the
	// deployment history.
	Retired []ecs.Deployment
	// Events are messages to record, oldest first.
	Events []string
	// Steady reports that the service runs exactly what it should and has
	// nothing left to do.
	Steady bool
	// Backoff, when not zero, is how long starts are held back by the
	// restart throttle; the caller should run Compute again after it.
	Backoff time.Duration
	// DesiredCount is the service's desired count: the number of eligible
	// instances for a DAEMON service, unchanged for a REPLICA one.
	DesiredCount int
	// RunningCount and PendingCount count the service's tasks that stay
	// desired RUNNING after this step (lost ones left out).
	RunningCount, PendingCount int
	// Status is the service's status: INACTIVE once a DRAINING service has
	// no live task.
	Status ecs.ServiceStatus
}

// Compute decides the next step of in.Service's controller. It does not
// modify in (Deployments are copied).
func Compute(in Input) Result {
	c := newComputation(in)
	if in.Service.Status == ecs.ServiceInactive {
		return Result{Deployments: c.deps, DesiredCount: in.Service.DesiredCount, Status: ecs.ServiceInactive}
	}
	c.countFailures()
	c.stopLost()
	c.circuitBreaker()
	c.stopUnhealthy()
	if in.Service.SchedulingStrategy == ecs.SchedulingDaemon {
		c.planDaemon()
	} else {
		c.planReplica()
	}
	return c.finish()
}
