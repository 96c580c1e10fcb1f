package ecs

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SchedulingStrategy is how a service's scheduler decides the task count:
// REPLICA keeps DesiredCount tasks, DAEMON one task on each ACTIVE
// container instance that meets the service's constraints.
type SchedulingStrategy string

// Scheduling strategies.
const (
	SchedulingReplica SchedulingStrategy = "REPLICA"
	SchedulingDaemon  SchedulingStrategy = "DAEMON"
)

// ServiceStatus is a service's lifecycle state: ACTIVE, DRAINING once
// DeleteService was called (its tasks are being stopped), INACTIVE once
// they all have.
type ServiceStatus string

// Service statuses.
const (
	ServiceActive   ServiceStatus = "ACTIVE"
	ServiceDraining ServiceStatus = "DRAINING"
	ServiceInactive ServiceStatus = "INACTIVE"
)

// DeploymentStatus is a deployment's role in its service: the PRIMARY one
// is what the service should run; ACTIVE ones still have tasks being
// replaced; INACTIVE ones are finished (ECS no longer lists them on the
// service).
type DeploymentStatus string

// Deployment statuses.
const (
	DeploymentPrimary  DeploymentStatus = "PRIMARY"
	DeploymentActive   DeploymentStatus = "ACTIVE"
	DeploymentInactive DeploymentStatus = "INACTIVE"
)

// RolloutState is how far a deployment got.
type RolloutState string

// Rollout states.
const (
	RolloutInProgress RolloutState = "IN_PROGRESS"
	RolloutCompleted  RolloutState = "COMPLETED"
	RolloutFailed     RolloutState = "FAILED"
)

// Circuit breaker threshold types (thresholdConfiguration.type).
const (
	ThresholdCount            = "COUNT"
	ThresholdBoundedPercent   = "BOUNDED_PERCENT"
	ThresholdUnboundedPercent = "UNBOUNDED_PERCENT"
)

// Circuit breaker threshold bounds and default, as ECS documents them:
// BOUNDED_PERCENT 50 of the desired count, rounded up, at least 3 and at
// most 200 (ServiceDeploymentCircuitBreaker.threshold; ECS's developer
// guide said 10 before 2023, the API reference now says 3).
const (
	CircuitBreakerMinThreshold   = 3
	CircuitBreakerMaxThreshold   = 200
	CircuitBreakerDefaultPercent = 50
)

// Deployment configuration defaults, per scheduling strategy.
const (
	DefaultReplicaMinimumHealthyPercent = 100
	DefaultReplicaMaximumPercent        = 200
	DefaultDaemonMinimumHealthyPercent  = 0
	DefaultDaemonMaximumPercent         = 100
)

// MaxServiceEvents is how many events a service keeps (DescribeServices
// shows the last 100).
const MaxServiceEvents = 100

// Stopped reasons the service scheduler gives the tasks it stops.
const (
	// StoppedReasonUnhealthy is ECS's reason for a task stopped because
	// its essential containers failed their health checks.
	StoppedReasonUnhealthy = "Task failed container health checks"
	// stoppedReasonScalingFmt is ECS's reason for tasks stopped by a
	// deployment or scale-in; %s is the deployment ID.
	stoppedReasonScalingFmt = "Scaling activity initiated by (deployment %s)"
)

// StoppedReasonScaling returns ECS's stoppedReason for a task the service
// scheduler stops on behalf of deployment (rolling update, scale-in,
// draining, service deletion).
func StoppedReasonScaling(deploymentID string) string {
	return fmt.Sprintf(stoppedReasonScalingFmt, deploymentID)
}

// PlacementConstraint is a service's or a task's placement constraint
// (distinctInstance, or memberOf with a cluster query expression).
type PlacementConstraint struct {
	Type       string `json:"type"`
	Expression string `json:"expression,omitempty"`
}

// PlacementStrategy is a service's or a task's placement strategy
// (binpack, spread or random, with its field).
type PlacementStrategy struct {
	Type  string `json:"type"`
	Field string `json:"field,omitempty"`
}

// AwsVpcConfiguration is where an awsvpc task's interface goes.
type AwsVpcConfiguration struct {
	Subnets        []string `json:"subnets,omitzero"`
	SecurityGroups []string `json:"securityGroups,omitzero"`
	AssignPublicIP string   `json:"assignPublicIp,omitempty"` // ENABLED | DISABLED
}

// NetworkConfiguration is a service's or a task's network configuration.
type NetworkConfiguration struct {
	AwsvpcConfiguration *AwsVpcConfiguration `json:"awsvpcConfiguration,omitempty"`
}

// ThresholdConfiguration sets the circuit breaker's failure threshold.
type ThresholdConfiguration struct {
	Type  string `json:"type"` // COUNT | BOUNDED_PERCENT | UNBOUNDED_PERCENT
	Value int    `json:"value"`
}

// DeploymentCircuitBreaker fails a deployment whose tasks keep failing
// and, with Rollback, returns the service to its last completed
// deployment.
type DeploymentCircuitBreaker struct {
	Enable   bool `json:"enable"`
	Rollback bool `json:"rollback"`
	// ResetOnHealthyTask (default true) sets the failure count back to 0
	// when a task of the deployment becomes healthy.
	ResetOnHealthyTask     *bool                   `json:"resetOnHealthyTask,omitempty"`
	ThresholdConfiguration *ThresholdConfiguration `json:"thresholdConfiguration,omitempty"`
}

// ResetsOnHealthyTask reports the effective resetOnHealthyTask.
func (cb *DeploymentCircuitBreaker) ResetsOnHealthyTask() bool {
	return cb.ResetOnHealthyTask == nil || *cb.ResetOnHealthyTask
}

// Threshold returns the number of failed tasks at which the breaker marks
// a deployment FAILED, for a service of desired tasks. The default
// (BOUNDED_PERCENT 50) is ceil(0.5 × desired) clamped to [3, 200];
// UNBOUNDED_PERCENT is ceil(value% × desired), at least 1; COUNT is value,
// at least 1.
func (cb *DeploymentCircuitBreaker) Threshold(desired int) int {
	typ, value := ThresholdBoundedPercent, CircuitBreakerDefaultPercent
	if tc := cb.ThresholdConfiguration; tc != nil {
		typ, value = tc.Type, tc.Value
	}
	desired = max(desired, 0)
	switch typ {
	case ThresholdCount:
		return max(value, 1)
	case ThresholdUnboundedPercent:
		return max(ceilPercent(desired, value), 1)
	default:
		return min(max(ceilPercent(desired, value), CircuitBreakerMinThreshold), CircuitBreakerMaxThreshold)
	}
}

// DeploymentConfiguration bounds a rolling update: MinimumHealthyPercent
// of the desired count (rounded up) must stay RUNNING and healthy,
// MaximumPercent (rounded down) caps RUNNING plus PENDING tasks. The same
// bounds apply while container instances drain.
type DeploymentConfiguration struct {
	MinimumHealthyPercent    int                       `json:"minimumHealthyPercent"`
	MaximumPercent           int                       `json:"maximumPercent"`
	DeploymentCircuitBreaker *DeploymentCircuitBreaker `json:"deploymentCircuitBreaker,omitempty"`
}

// Floor is the fewest healthy RUNNING tasks a service of desired tasks
// keeps: desired × minimumHealthyPercent / 100, rounded up.
func (c *DeploymentConfiguration) Floor(desired int) int {
	return ceilPercent(max(desired, 0), max(c.MinimumHealthyPercent, 0))
}

// Ceiling is the most RUNNING plus PENDING tasks a service of desired
// tasks may have: desired × maximumPercent / 100, rounded down.
func (c *DeploymentConfiguration) Ceiling(desired int) int {
	return max(desired, 0) * max(c.MaximumPercent, 0) / 100
}

// CircuitBreakerEnabled reports whether the breaker is on.
func (c *DeploymentConfiguration) CircuitBreakerEnabled() bool {
	return c.DeploymentCircuitBreaker != nil && c.DeploymentCircuitBreaker.Enable
}

func ceilPercent(n, pct int) int { return (n*pct + 99) / 100 }

// NewDeploymentConfiguration returns the configuration a service of
// strategy gets from the given (optional) percentages: unset ones take
// ECS's defaults, REPLICA 100/200 and DAEMON 0/100. It refuses a minimum
// outside 0..100, a maximum below 100 (the service could never reach its
// desired count) or below the minimum, and an invalid threshold
// configuration, with InvalidParameterException messages naming the field.
func NewDeploymentConfiguration(strategy SchedulingStrategy, minimumHealthyPercent, maximumPercent *int, cb *DeploymentCircuitBreaker) (DeploymentConfiguration, error) {
	c := DeploymentConfiguration{MinimumHealthyPercent: DefaultReplicaMinimumHealthyPercent, MaximumPercent: DefaultReplicaMaximumPercent}
	if strategy == SchedulingDaemon {
		c = DeploymentConfiguration{MinimumHealthyPercent: DefaultDaemonMinimumHealthyPercent, MaximumPercent: DefaultDaemonMaximumPercent}
	}
	if minimumHealthyPercent != nil {
		c.MinimumHealthyPercent = *minimumHealthyPercent
	}
	if maximumPercent != nil {
		c.MaximumPercent = *maximumPercent
	}
	switch {
	case c.MinimumHealthyPercent < 0 || c.MinimumHealthyPercent > 100:
		return c, Errorf(ErrInvalidParameter, "deploymentConfiguration.minimumHealthyPercent must be between 0 and 100 (got %d).", c.MinimumHealthyPercent)
	case c.MaximumPercent < 0:
		return c, Errorf(ErrInvalidParameter, "deploymentConfiguration.maximumPercent cannot be negative (got %d).", c.MaximumPercent)
	case c.MaximumPercent < 100:
		return c, Errorf(ErrInvalidParameter, "deploymentConfiguration.maximumPercent must be at least 100 (got %d).", c.MaximumPercent)
	case c.MinimumHealthyPercent > c.MaximumPercent:
		return c, Errorf(ErrInvalidParameter, "deploymentConfiguration.minimumHealthyPercent (%d) cannot be greater than maximumPercent (%d).", c.MinimumHealthyPercent, c.MaximumPercent)
	}
	if cb != nil {
		if tc := cb.ThresholdConfiguration; tc != nil {
			switch tc.Type {
			case ThresholdCount, ThresholdBoundedPercent, ThresholdUnboundedPercent:
			default:
				return c, Errorf(ErrInvalidParameter, "deploymentCircuitBreaker.thresholdConfiguration.type %q is not valid. Valid values: COUNT, BOUNDED_PERCENT, UNBOUNDED_PERCENT.", tc.Type)
			}
			if tc.Value < 1 {
				return c, Errorf(ErrInvalidParameter, "deploymentCircuitBreaker.thresholdConfiguration.value must be at least 1 (got %d).", tc.Value)
			}
		}
		v := *cb
		c.DeploymentCircuitBreaker = &v
	}
	return c, nil
}

// DeploymentFailures is the service controller's bookkeeping of a
// deployment's failed tasks (not part of ECS's shape). It is kept on the
// deployment so that the controller stays a pure function of the stored
// records.
type DeploymentFailures struct {
	// CircuitBreaker counts failures towards the breaker's threshold; a
	// task becoming healthy resets it when resetOnHealthyTask holds.
	CircuitBreaker int `json:"circuitBreaker,omitempty"`
	// Consecutive counts tasks in a row that stopped without reaching
	// RUNNING (the restart throttle); a task reaching RUNNING resets it.
	Consecutive int `json:"consecutive,omitempty"`
	// LastAt is when the last counted failure stopped.
	LastAt time.Time `json:"lastAt,omitzero"`
	// Counted holds the IDs of counted failed tasks that still exist, so
	// that each failure counts once; IDs of deleted tasks are dropped.
	Counted []string `json:"counted,omitzero"`
}

// Deployment is one revision of a service's configuration being rolled
// out (or run): its task definition and launch settings, and how many of
// its tasks run.
type Deployment struct {
	// ID is "ecs-svc/" and 19 digits; the tasks it launches carry it as
	// their startedBy.
	ID                       string                         `json:"id"`
	Status                   DeploymentStatus               `json:"status"`
	TaskDefinition           string                         `json:"taskDefinition"` // ARN
	DesiredCount             int                            `json:"desiredCount"`
	PendingCount             int                            `json:"pendingCount"`
	RunningCount             int                            `json:"runningCount"`
	FailedTasks              int                            `json:"failedTasks"`
	CreatedAt                time.Time                      `json:"createdAt"`
	UpdatedAt                time.Time                      `json:"updatedAt"`
	LaunchType               string                         `json:"launchType,omitempty"`
	CapacityProviderStrategy []CapacityProviderStrategyItem `json:"capacityProviderStrategy,omitzero"`
	PlatformVersion          string                         `json:"platformVersion,omitempty"`
	NetworkConfiguration     *NetworkConfiguration          `json:"networkConfiguration,omitempty"`
	RolloutState             RolloutState                   `json:"rolloutState"`
	RolloutStateReason       string                         `json:"rolloutStateReason,omitempty"`

	Failures DeploymentFailures `json:"failures,omitzero"`
}

// DeploymentIDPrefix starts every deployment ID.
const DeploymentIDPrefix = "ecs-svc/"

// FormatDeploymentID returns the deployment ID for n: "ecs-svc/" and n
// as 19 digits (ECS's IDs are 63-bit numbers written that way).
func FormatDeploymentID(n uint64) string {
	return fmt.Sprintf("%s%019d", DeploymentIDPrefix, n&(1<<63-1))
}

// ValidDeploymentID reports whether id has the form "ecs-svc/<digits>".
func ValidDeploymentID(id string) bool {
	digits, ok := strings.CutPrefix(id, DeploymentIDPrefix)
	if !ok || digits == "" || len(digits) > 19 {
		return false
	}
	_, err := strconv.ParseUint(digits, 10, 64)
	return err == nil
}

// RolloutReasonInProgress and friends are ECS's rolloutStateReason texts.
func RolloutReasonInProgress(id string) string { return "ECS deployment " + id + " in progress." }

// RolloutReasonCompleted is the rolloutStateReason of a completed deployment.
func RolloutReasonCompleted(id string) string { return "ECS deployment " + id + " completed." }

// RolloutReasonCircuitBreaker is the rolloutStateReason of a deployment the
// circuit breaker failed.
const RolloutReasonCircuitBreaker = "ECS deployment circuit breaker: tasks failed to start."

// ServiceEvent is one line of a service's event log.
type ServiceEvent struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"createdAt"`
	Message   string    `json:"message"`
}

// AddServiceEvents returns events (newest first) with add prepended, add's
// last element becoming the newest, keeping the MaxServiceEvents newest.
func AddServiceEvents(events []ServiceEvent, add ...ServiceEvent) []ServiceEvent {
	out := make([]ServiceEvent, 0, min(len(events)+len(add), MaxServiceEvents))
	for i := len(add) - 1; i >= 0 && len(out) < MaxServiceEvents; i-- {
		out = append(out, add[i])
	}
	for _, e := range events {
		if len(out) == MaxServiceEvents {
			break
		}
		out = append(out, e)
	}
	return out
}

// Propagate-tags values.
const (
	PropagateTagsTaskDefinition = "TASK_DEFINITION"
	PropagateTagsService        = "SERVICE"
	PropagateTagsNone           = "NONE"
)

// Service keeps tasks of a task definition running in a cluster.
type Service struct {
	Name                     string                         `json:"serviceName"`
	ARN                      string                         `json:"serviceArn"`
	Cluster                  string                         `json:"cluster"`
	Status                   ServiceStatus                  `json:"status"`
	SchedulingStrategy       SchedulingStrategy             `json:"schedulingStrategy"`
	DesiredCount             int                            `json:"desiredCount"`
	TaskDefinition           string                         `json:"taskDefinition"` // the PRIMARY deployment's
	LaunchType               string                         `json:"launchType,omitempty"`
	CapacityProviderStrategy []CapacityProviderStrategyItem `json:"capacityProviderStrategy,omitzero"`
	PlatformVersion          string                         `json:"platformVersion,omitempty"`
	DeploymentConfiguration  DeploymentConfiguration        `json:"deploymentConfiguration"`
	// Deployments holds the PRIMARY deployment first, then the ACTIVE
	// ones, newest first.
	Deployments []Deployment `json:"deployments,omitzero"`
	// Events are newest first, at most MaxServiceEvents.
	Events                        []ServiceEvent        `json:"events,omitzero"`
	PlacementConstraints          []PlacementConstraint `json:"placementConstraints,omitzero"`
	PlacementStrategy             []PlacementStrategy   `json:"placementStrategy,omitzero"`
	NetworkConfiguration          *NetworkConfiguration `json:"networkConfiguration,omitempty"`
	HealthCheckGracePeriodSeconds int                   `json:"healthCheckGracePeriodSeconds,omitempty"`
	Tags                          []Tag                 `json:"tags,omitzero"`
	PropagateTags                 string                `json:"propagateTags,omitempty"`
	EnableECSManagedTags          bool                  `json:"enableECSManagedTags,omitempty"`
	EnableExecuteCommand          bool                  `json:"enableExecuteCommand,omitempty"`
	CreatedAt                     time.Time             `json:"createdAt"`
	CreatedBy                     string                `json:"createdBy,omitempty"`
	// Version counts the service's changes.
	Version int64 `json:"version"`
}

// Primary returns the PRIMARY deployment, or nil.
func (s *Service) Primary() *Deployment {
	for i := range s.Deployments {
		if s.Deployments[i].Status == DeploymentPrimary {
			return &s.Deployments[i]
		}
	}
	return nil
}

// Group is the task group of the service's tasks ("service:<name>").
func (s *Service) Group() string { return "service:" + s.Name }

// HealthCheckGracePeriod is HealthCheckGracePeriodSeconds as a duration.
func (s *Service) HealthCheckGracePeriod() time.Duration {
	return time.Duration(max(s.HealthCheckGracePeriodSeconds, 0)) * time.Second
}

// HasHealthCheck reports whether any essential container of def has a
// health check, which makes a task of def healthy only once it reports
// HEALTHY.
func (def *TaskDefinition) HasHealthCheck() bool {
	for i := range def.ContainerDefinitions {
		c := &def.ContainerDefinitions[i]
		if c.IsEssential() && c.HealthCheck != nil {
			return true
		}
	}
	return false
}
