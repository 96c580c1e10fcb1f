package agent

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// fakeSubmitAPI fails each report as told, then acknowledges it.
type fakeSubmitAPI struct {
	mu sync.Mutex
	// failures returns the error for the n-th attempt (1-based) of the
	// report named key ("task/<arn>/<status>", "container/<name>/<status>", "attachments").
	failures func(key string, attempt int) error
	attempts map[string]int
	acked    []string // keys in acknowledgement order
	inputs   []any
}

func newFakeSubmitAPI(failures func(string, int) error) *fakeSubmitAPI {
	return &fakeSubmitAPI{failures: failures, attempts: map[string]int{}}
}

func (f *fakeSubmitAPI) call(key string, in any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts[key]++
	if f.failures != nil {
		if err := f.failures(key, f.attempts[key]); err != nil {
			return err
		}
	}
	f.acked = append(f.acked, key)
	f.inputs = append(f.inputs, in)
	return nil
}

func (f *fakeSubmitAPI) SubmitTaskStateChange(_ context.Context, in *sdkecs.SubmitTaskStateChangeInput, _ ...func(*sdkecs.Options)) (*sdkecs.SubmitTaskStateChangeOutput, error) {
	return &sdkecs.SubmitTaskStateChangeOutput{Acknowledgment: aws.String("true")}, f.call("task/"+aws.ToString(in.Task)+"/"+aws.ToString(in.Status), in)
}

func (f *fakeSubmitAPI) SubmitContainerStateChange(_ context.Context, in *sdkecs.SubmitContainerStateChangeInput, _ ...func(*sdkecs.Options)) (*sdkecs.SubmitContainerStateChangeOutput, error) {
	return &sdkecs.SubmitContainerStateChangeOutput{}, f.call("container/"+aws.ToString(in.ContainerName)+"/"+aws.ToString(in.Status), in)
}

func (f *fakeSubmitAPI) SubmitAttachmentStateChanges(_ context.Context, in *sdkecs.SubmitAttachmentStateChangesInput, _ ...func(*sdkecs.Options)) (*sdkecs.SubmitAttachmentStateChangesOutput, error) {
	return &sdkecs.SubmitAttachmentStateChangesOutput{}, f.call("attachments", in)
}

func (f *fakeSubmitAPI) state() (map[string]int, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := map[string]int{}
	for k, v := range f.attempts {
		m[k] = v
	}
	return m, append([]string(nil), f.acked...)
}

func taskReport(task, status string) report {
	return report{task: &sdkecs.SubmitTaskStateChangeInput{Cluster: aws.String("c1"), Task: aws.String(task), Status: aws.String(status)}}
}

func TestReporterRetriesUntilAcknowledged(t *testing.T) {
	api := newFakeSubmitAPI(func(key string, attempt int) error {
		if attempt <= 4 {
			if attempt%2 == 0 {
				return apiErr("ServerException")
			}
			return errors.New("dial tcp 127.0.0.1:1: connection refused")
		}
		return nil
	})
	r := &stateReporter{api: api, timing: fastTiming(), log: testLogger(t)}
	if err := r.deliver(context.Background(), taskReport("t1", "RUNNING")); err != nil {
		t.Fatalf("deliver = %v", err)
	}
	attempts, acked := api.state()
	if attempts["task/t1/RUNNING"] != 5 || len(acked) != 1 {
		t.Errorf("attempts = %d, acked %v; want 5 attempts, then acknowledged", attempts["task/t1/RUNNING"], acked)
	}
}

func TestReporterGivesUpOnPermanentErrors(t *testing.T) {
	for _, code := range []string{"AccessDeniedException", "InvalidParameterException", "ClientException"} {
		t.Run(code, func(t *testing.T) {
			api := newFakeSubmitAPI(func(string, int) error { return apiErr(code) })
			r := &stateReporter{api: api, timing: fastTiming(), log: testLogger(t)}
			// nil: the engine must not send it again.
			if err := r.deliver(context.Background(), taskReport("t1", "RUNNING")); err != nil {
				t.Fatalf("deliver = %v, want nil (given up)", err)
			}
			if attempts, _ := api.state(); attempts["task/t1/RUNNING"] != 1 {
				t.Errorf("attempts = %d, want 1 (no retry)", attempts["task/t1/RUNNING"])
			}
		})
	}
}

func TestReporterStopsWithContext(t *testing.T) {
	api := newFakeSubmitAPI(func(string, int) error { return apiErr("ServerException") })
	ctx, cancel := context.WithCancel(context.Background())
	r := &stateReporter{api: api, timing: fastTiming(), log: testLogger(t)}
	done := make(chan error, 1)
	go func() {
		done <- r.deliver(ctx, report{attachments: &sdkecs.SubmitAttachmentStateChangesInput{
			Attachments: []types.AttachmentStateChange{{AttachmentArn: aws.String("a"), Status: aws.String("ATTACHED")}}}})
	}()
	waitFor(t, "a few attempts", func() bool { a, _ := api.state(); return a["attachments"] >= 2 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("deliver = %v, want an error wrapping context.Canceled (not delivered)", err)
	}
}
