package engine

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/berth/berth/internal/agent/network"
	"github.com/berth/berth/internal/agent/taskstate"
	"github.com/berth/berth/internal/agentproto"
	"github.com/berth/berth/internal/ecs"
)

// recordSchema is the version of the persisted record's shape.
const recordSchema = 1

// record is everything the engine persists about one task: the payload as
// ACS sent it, the state machine, and what the engine did and reported.
// The task's goroutine owns it; every known-status change is saved before
// it is reported.
type record struct {
	Schema     int               `json:"schema"`
	Payload    agentproto.Task   `json:"payload"`
	State      taskstate.Task    `json:"state"`
	Containers []containerRecord `json:"containers"` // parallel to State.Containers
	AcceptedAt time.Time         `json:"acceptedAt"`

	// SetupStarted is saved before the task's resources (cgroup, scratch
	// volumes, network) are set up, SetupDone once they are; TornDown once
	// they are released after the task stopped.
	SetupStarted bool                `json:"setupStarted,omitempty"`
	SetupDone    bool                `json:"setupDone,omitempty"`
	Network      *network.Attachment `json:"network,omitempty"`
	TornDown     bool                `json:"tornDown,omitempty"`

	// PullStartedAt/PullStoppedAt span the image pulls that contacted a
	// registry (zero when every image was present).
	PullStartedAt time.Time `json:"pullStartedAt,omitzero"`
	PullStoppedAt time.Time `json:"pullStoppedAt,omitzero"`
	// RunningAt is when the task first became RUNNING, StoppedAt when it
	// became STOPPED (its executionStoppedAt).
	RunningAt time.Time `json:"runningAt,omitzero"`
	StoppedAt time.Time `json:"stoppedAt,omitzero"`

	// Reported is the last task status the control plane acknowledged.
	Reported ecs.TaskStatus `json:"reported"`
}

// containerRecord is what the engine keeps per container besides the state
// machine's view.
type containerRecord struct {
	RuntimeID   string    `json:"runtimeId"`
	Token       string    `json:"token"` // names the container in its metadata URI
	ImageDigest string    `json:"imageDigest,omitempty"`
	CreatedAt   time.Time `json:"createdAt,omitzero"`
	// Reported is the last status acknowledged for this container.
	Reported taskstate.ContainerStatus `json:"reported"`
}

func decodeRecord(b []byte) (*record, error) {
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode task record: %w", err)
	}
	if r.Schema != recordSchema {
		return nil, fmt.Errorf("task record schema %d, this agent reads %d", r.Schema, recordSchema)
	}
	if len(r.Containers) != len(r.State.Containers) || len(r.Payload.Containers) != len(r.State.Containers) {
		return nil, errors.New("task record: container lists differ in length")
	}
	return &r, nil
}

func (r *record) encode() ([]byte, error) { return json.Marshal(r) }

// newRecord turns a payload task into a new record. A task the engine
// cannot run (bad dependsOn graph, bad Docker config) is born desiring
// STOPPED with a TaskStateError reason, so that it is reported STOPPED
// rather than refused.
func newRecord(p agentproto.Task, now time.Time) *record {
	r := &record{Schema: recordSchema, Payload: p, AcceptedAt: now, Reported: ecs.TaskPending}
	taskID := taskIDOf(p.ARN)
	cs := make([]taskstate.Container, len(p.Containers))
	var errs []error
	for i, c := range p.Containers {
		cs[i] = taskstate.Container{
			Name:         c.Name,
			Essential:    c.Essential,
			StartTimeout: time.Duration(c.StartTimeout) * time.Second,
		}
		for _, d := range c.DependsOn {
			cs[i].DependsOn = append(cs[i].DependsOn, taskstate.Dependency{Container: d.ContainerName, Condition: taskstate.Condition(strings.ToUpper(d.Condition))})
		}
		cfg, err := parseContainerConfig(c.DockerConfig.Config)
		if err == nil {
			cs[i].HealthCheck, err = healthCheckOf(cfg.Healthcheck)
		}
		if err == nil {
			_, err = parseHostConfig(c.DockerConfig.HostConfig)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("container %s: %w", c.Name, err))
		}
		r.Containers = append(r.Containers, containerRecord{RuntimeID: containerID(taskID, c.Name), Token: newToken()})
	}
	r.State = taskstate.New(desiredOf(p.DesiredStatus), cs)
	if err := taskstate.Validate(cs); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		r.State.SetDesired(ecs.TaskStopped, "TaskStateError: the agent cannot run this task: "+errors.Join(errs...).Error())
	}
	return r
}

// desiredOf reads a payload's desiredStatus: STOPPED (or later) stops,
// anything else runs.
func desiredOf(s string) ecs.TaskStatus {
	if v, ok := ecs.ParseTaskStatus(s); ok && v >= ecs.TaskStopped {
		return ecs.TaskStopped
	}
	return ecs.TaskRunning
}

// Runtime IDs: the runtime accepts at most 76 characters of this grammar.
var runtimeIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,75}$`)

const maxTaskIDLen = 40

// taskIDOf is the task's ID (the ARN's last path element), used to name its
// network, cgroup and containers; an ID unusable as such is replaced by a
// hash of the ARN.
func taskIDOf(arn string) string {
	id := arn[strings.LastIndexByte(arn, '/')+1:]
	if len(id) <= maxTaskIDLen && runtimeIDPattern.MatchString(id) {
		return id
	}
	sum := sha256.Sum256([]byte(arn))
	return "t" + hex.EncodeToString(sum[:16])
}

// containerID is the deterministic runtime ID of a task's container:
// "<taskID>-<name>", or, when that is too long or has other characters, a
// shortened name plus a hash, so that an agent restarted mid-create finds
// the container it made instead of making another.
func containerID(taskID, name string) string {
	if id := taskID + "-" + name; runtimeIDPattern.MatchString(id) {
		return id
	}
	sum := sha256.Sum256([]byte(taskID + "/" + name))
	suffix := "-" + hex.EncodeToString(sum[:4])
	clean := []byte(name)
	for i, b := range clean {
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '.' || b == '-') {
			clean[i] = '_'
		}
	}
	room := 76 - len(taskID) - 1 - len(suffix)
	if len(clean) > room {
		clean = clean[:max(room, 0)]
	}
	return taskID + "-" + string(clean) + suffix
}

func newToken() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// parseContainerConfig reads dockerConfig.config.
func parseContainerConfig(s string) (agentproto.DockerContainerConfig, error) {
	var cfg agentproto.DockerContainerConfig
	if s == "" {
		return cfg, nil
	}
	if err := json.Unmarshal([]byte(s), &cfg); err != nil {
		return cfg, fmt.Errorf("dockerConfig.config: %w", err)
	}
	return cfg, nil
}

// parseHostConfig reads dockerConfig.hostConfig.
func parseHostConfig(s string) (agentproto.DockerHostConfig, error) {
	var hc agentproto.DockerHostConfig
	if s == "" {
		return hc, nil
	}
	if err := json.Unmarshal([]byte(s), &hc); err != nil {
		return hc, fmt.Errorf("dockerConfig.hostConfig: %w", err)
	}
	return hc, nil
}

// healthCheckOf turns Docker's health check into the state machine's:
// ["CMD", argv...] runs argv, ["CMD-SHELL", cmd] runs /bin/sh -c cmd,
// ["NONE"] or nothing means no check.
func healthCheckOf(h *agentproto.DockerHealthcheck) (*taskstate.HealthCheck, error) {
	if h == nil || len(h.Test) == 0 || h.Test[0] == "NONE" {
		return nil, nil
	}
	var argv []string
	switch h.Test[0] {
	case "CMD":
		argv = h.Test[1:]
	case "CMD-SHELL":
		if len(h.Test) > 1 {
			argv = []string{"/bin/sh", "-c", strings.Join(h.Test[1:], " ")}
		}
	default:
		return nil, fmt.Errorf("health check test must start with CMD, CMD-SHELL or NONE, not %q", h.Test[0])
	}
	if len(argv) == 0 || argv[0] == "" {
		return nil, errors.New("health check has no command")
	}
	if h.Retries < 0 || h.Interval < 0 || h.Timeout < 0 || h.StartPeriod < 0 {
		return nil, errors.New("health check durations and retries must not be negative")
	}
	hc := taskstate.HealthCheck{
		Command:     argv,
		Interval:    time.Duration(h.Interval),
		Timeout:     time.Duration(h.Timeout),
		StartPeriod: time.Duration(h.StartPeriod),
		Retries:     h.Retries,
	}.WithDefaults()
	return &hc, nil
}
