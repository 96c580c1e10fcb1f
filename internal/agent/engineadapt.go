package agent

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth/berth/internal/agent/engine"
	"github.com/berth/berth/internal/agent/runtime"
	"github.com/berth/berth/internal/agent/taskstate"
	"github.com/berth/berth/internal/ecs"
)

// engineView adapts the task engine to the agent's interfaces.
type engineView struct{ *engine.Engine }

// TaskStates lists the engine's tasks for manifests and shutdown.
func (v engineView) TaskStates() []taskState {
	snaps := v.Tasks()
	out := make([]taskState, 0, len(snaps))
	for _, s := range snaps {
		out = append(out, taskState{
			ARN: s.ARN, ClusterARN: s.ClusterARN,
			DesiredStopped: s.DesiredStatus >= ecs.TaskStopped, Stopped: s.KnownStatus >= ecs.TaskStopped,
		})
	}
	return out
}

// statsReader reads a container's resource use (the runtime).
type statsReader interface {
	Stats(ctx context.Context, id string) (runtime.Stats, error)
}

// taskLister lists the engine's tasks.
type taskLister interface {
	Tasks() []engine.TaskSnapshot
}

// engineStats samples the running containers of the engine's tasks.
type engineStats struct {
	engine taskLister
	stats  statsReader
}

// ContainerSamples implements statsSource. Memory is the usage without
// the page cache, as the ECS agent reports it.
func (s *engineStats) ContainerSamples(ctx context.Context) ([]containerSample, error) {
	var out []containerSample
	for _, t := range s.engine.Tasks() {
		for _, c := range t.Containers {
			if c.KnownStatus != taskstate.ContainerRunning || c.RuntimeID == "" {
				continue
			}
			st, err := s.stats.Stats(ctx, c.RuntimeID)
			if err != nil {
				continue // it may have just exited
			}
			mem := st.Memory.Usage
			if cache := st.Memory.Stats["cache"]; cache <= mem {
				mem -= cache
			}
			out = append(out, containerSample{
				TaskARN: t.ARN, Family: t.Family, Version: t.Version, Container: c.Name,
				CPUUsage: time.Duration(st.CPU.TotalUsage), MemoryBytes: mem,
			})
		}
	}
	return out, ctx.Err()
}

// engineReporter is the engine's Reporter: state changes go to the ECS API
// (retried until acknowledged), health to TCS.
type engineReporter struct {
	cluster string
	rep     *stateReporter
	health  *healthBook
}

var _ engine.Reporter = (*engineReporter)(nil)

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func int32Ptr(p *int) *int32 {
	if p == nil {
		return nil
	}
	v := int32(*p)
	return &v
}

func stringPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func networkBindings(in []ecs.NetworkBinding) []types.NetworkBinding {
	var out []types.NetworkBinding
	for _, b := range in {
		out = append(out, types.NetworkBinding{
			BindIP: stringPtr(b.BindIP), ContainerPort: aws.Int32(int32(b.ContainerPort)),
			HostPort: aws.Int32(int32(b.HostPort)), Protocol: types.TransportProtocol(b.Protocol),
		})
	}
	return out
}

func containerStateChange(c engine.ContainerChange) types.ContainerStateChange {
	return types.ContainerStateChange{
		ContainerName: aws.String(c.ContainerName), RuntimeId: stringPtr(c.RuntimeID), Status: aws.String(c.Status),
		ExitCode: int32Ptr(c.ExitCode), Reason: stringPtr(c.Reason), NetworkBindings: networkBindings(c.NetworkBindings),
		ImageDigest: stringPtr(c.ImageDigest),
	}
}

// taskStateInput is the SubmitTaskStateChange request of c.
func (r *engineReporter) taskStateInput(c engine.TaskChange) *sdkecs.SubmitTaskStateChangeInput {
	in := &sdkecs.SubmitTaskStateChangeInput{
		Cluster: aws.String(r.cluster), Task: aws.String(c.TaskARN), Status: aws.String(c.Status.String()),
		Reason: aws.String(c.Reason), PullStartedAt: timePtr(c.PullStartedAt), PullStoppedAt: timePtr(c.PullStoppedAt),
		ExecutionStoppedAt: timePtr(c.ExecutionStoppedAt),
	}
	for _, cc := range c.Containers {
		in.Containers = append(in.Containers, containerStateChange(cc))
	}
	for _, a := range c.Attachments {
		in.Attachments = append(in.Attachments, types.AttachmentStateChange{AttachmentArn: aws.String(a.AttachmentARN), Status: aws.String(a.Status)})
	}
	return in
}

// ReportTask reports a task change. Attachments are first reported on
// their own (SubmitAttachmentStateChanges, as the ECS agent reports an ENI
// attached), then with the task.
func (r *engineReporter) ReportTask(ctx context.Context, c engine.TaskChange) error {
	in := r.taskStateInput(c)
	if len(in.Attachments) > 0 {
		err := r.rep.deliver(ctx, report{attachments: &sdkecs.SubmitAttachmentStateChangesInput{
			Cluster: aws.String(r.cluster), Attachments: in.Attachments}})
		if err != nil {
			return err
		}
	}
	if err := r.rep.deliver(ctx, report{task: in}); err != nil {
		return err
	}
	if c.Status >= ecs.TaskStopped {
		r.health.forget(c.TaskARN)
	}
	return nil
}

// ReportContainer reports a lone container change.
func (r *engineReporter) ReportContainer(ctx context.Context, c engine.ContainerChange) error {
	sc := containerStateChange(c)
	return r.rep.deliver(ctx, report{container: &sdkecs.SubmitContainerStateChangeInput{
		Cluster: aws.String(r.cluster), Task: aws.String(c.TaskARN), ContainerName: sc.ContainerName,
		RuntimeId: sc.RuntimeId, Status: sc.Status, ExitCode: sc.ExitCode, Reason: sc.Reason, NetworkBindings: sc.NetworkBindings,
	}})
}

// ReportHealth records the health for TCS, which publishes changes.
func (r *engineReporter) ReportHealth(_ context.Context, h engine.HealthChange) error {
	cs := make([]containerHealth, 0, len(h.Containers))
	for _, c := range h.Containers {
		cs = append(cs, containerHealth{Container: c.Name, Status: c.Status, Since: c.Since})
	}
	r.health.set(h.TaskARN, h.ClusterARN, h.Family, h.Version, cs)
	return nil
}
