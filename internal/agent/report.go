package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/smithy-go"
)

// submitAPI is the part of the ECS API the reporter calls.
type submitAPI interface {
	SubmitTaskStateChange(ctx context.Context, in *sdkecs.SubmitTaskStateChangeInput, optFns ...func(*sdkecs.Options)) (*sdkecs.SubmitTaskStateChangeOutput, error)
	SubmitContainerStateChange(ctx context.Context, in *sdkecs.SubmitContainerStateChangeInput, optFns ...func(*sdkecs.Options)) (*sdkecs.SubmitContainerStateChangeOutput, error)
	SubmitAttachmentStateChanges(ctx context.Context, in *sdkecs.SubmitAttachmentStateChangesInput, optFns ...func(*sdkecs.Options)) (*sdkecs.SubmitAttachmentStateChangesOutput, error)
}

// report is one queued state change: exactly one of the inputs is set.
type report struct {
	task        *sdkecs.SubmitTaskStateChangeInput
	container   *sdkecs.SubmitContainerStateChangeInput
	attachments *sdkecs.SubmitAttachmentStateChangesInput
}

func (r report) send(ctx context.Context, api submitAPI) error {
	var err error
	switch {
	case r.task != nil:
		_, err = api.SubmitTaskStateChange(ctx, r.task)
	case r.container != nil:
		_, err = api.SubmitContainerStateChange(ctx, r.container)
	case r.attachments != nil:
		_, err = api.SubmitAttachmentStateChanges(ctx, r.attachments)
	}
	return err
}

func (r report) describe() []any {
	switch {
	case r.task != nil:
		return []any{"op", "SubmitTaskStateChange", "task", aws.ToString(r.task.Task), "status", aws.ToString(r.task.Status)}
	case r.container != nil:
		return []any{"op", "SubmitContainerStateChange", "task", aws.ToString(r.container.Task),
			"container", aws.ToString(r.container.ContainerName), "status", aws.ToString(r.container.Status)}
	default:
		return []any{"op", "SubmitAttachmentStateChanges", "attachments", len(r.attachments.Attachments)}
	}
}

// retriedClientErrors are 4xx answers that can pass without the report
// changing: credentials or clock problems an operator fixes, throttling.
var retriedClientErrors = map[string]bool{
	"UnrecognizedClientException":         true,
	"InvalidSignatureException":           true,
	"IncompleteSignatureException":        true,
	"MissingAuthenticationTokenException": true,
	"SignatureDoesNotMatch":               true,
	"ThrottlingException":                 true,
	"RequestLimitExceeded":                true,
}

// permanentError reports whether retrying a report can never succeed: the
// server refused it (access denied, invalid, unknown cluster or task...),
// as opposed to failing to answer, throttling, or rejecting credentials.
func permanentError(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false // no answer at all
	}
	code := ae.ErrorCode()
	switch {
	case retriedClientErrors[code]:
		return false
	case code == "AccessDeniedException", code == "InvalidParameterException", code == "ClientException",
		code == "ClusterNotFoundException":
		return true
	}
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		status := re.HTTPStatusCode()
		return status >= 400 && status < 500 && status != 429
	}
	return false
}

// stateReporter sends state changes to the control plane, each retried
// with backoff until the server acknowledges it or refuses it for good.
// The engine calls it from each task's goroutine, in order, so reports of
// one task stay ordered and tasks do not wait for each other.
type stateReporter struct {
	api    submitAPI
	timing Timing
	log    *slog.Logger
}

// deliver sends r until it is acknowledged (nil), refused for good (nil,
// logged: retrying cannot help), or ctx ends (an error: not delivered).
func (s *stateReporter) deliver(ctx context.Context, r report) error {
	b := newBackoff(s.timing.ReportBackoffMin, s.timing.ReportBackoffMax, 2, 0.2)
	for attempt := 1; ; attempt++ {
		err := r.send(ctx, s.api)
		if err == nil {
			s.log.Debug("state change reported", r.describe()...)
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("state change not reported: %w", ctx.Err())
		}
		if permanentError(err) {
			s.log.Error("state change refused by the control plane; giving up", append(r.describe(), "error", err)...)
			return nil
		}
		d := b.Next()
		s.log.Warn("state change report failed; retrying", append(r.describe(), "attempt", attempt, "in", d, "error", err)...)
		if !sleep(ctx, d) {
			return fmt.Errorf("state change not reported: %w (last error: %w)", ctx.Err(), err)
		}
	}
}
