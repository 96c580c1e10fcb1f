package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// ClientKind is how the load generator sends its requests.
type ClientKind string

// The client kinds.
const (
	// ClientSDK sends every request through the aws-sdk-go-v2 ECS client:
	// what real callers do, but the SDK's middleware stack costs on the
	// order of 150µs of CPU per request, taken from the same cores as an
	// in-process or local server.
	ClientSDK ClientKind = "sdk"
	// ClientRaw sends the same operations as hand-built AWS JSON 1.1
	// requests: bodies marshalled once up front, each request signed with
	// one shared SigV4 signer, each answer checked with a targeted scan
	// instead of a full decode. It costs the machine far less per request.
	ClientRaw ClientKind = "raw"
)

// ClientKinds returns every client kind.
func ClientKinds() []ClientKind { return []ClientKind{ClientSDK, ClientRaw} }

// ParseClientKind parses a client kind name.
func ParseClientKind(s string) (ClientKind, error) {
	for _, k := range ClientKinds() {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown client %q (sdk or raw)", s)
}

// client sends the operations of a run and checks every answer: a request
// whose answer is not what it should be is an error.
type client interface {
	// register registers a revision of family (revision only varies the
	// image tag; the server picks the revision number).
	register(ctx context.Context, family string, revision int) error
	// describe describes revision rev of family number f of the data set,
	// its latest ACTIVE revision when rev is 0.
	describe(ctx context.Context, f, rev int) error
	// list lists the first page of ACTIVE task definitions.
	list(ctx context.Context) error
}

// newSDKECS returns an aws-sdk-go-v2 ECS client for cfg that sends over hc
// and never retries.
func newSDKECS(cfg Config, hc sdkecs.HTTPClient) *sdkecs.Client {
	return sdkecs.New(sdkecs.Options{
		Region:           cfg.Region,
		BaseEndpoint:     aws.String(cfg.Endpoint),
		Credentials:      credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.Secret, ""),
		HTTPClient:       hc,
		Retryer:          aws.NopRetryer{},
		RetryMaxAttempts: 1,
	})
}

// sdkClient sends through the SDK.
type sdkClient struct {
	c        *sdkecs.Client
	prefix   string
	wantList int // the fewest ARNs a listing may hold
}

func newSDKClient(cfg Config, hc *http.Client) *sdkClient {
	return &sdkClient{c: newSDKECS(cfg, hc), prefix: cfg.FamilyPrefix, wantList: minListed(cfg)}
}

func (s *sdkClient) register(ctx context.Context, family string, revision int) error {
	out, err := s.c.RegisterTaskDefinition(ctx, TaskDefinitionInput(family, revision))
	if err != nil {
		return err
	}
	if out.TaskDefinition == nil {
		return fmt.Errorf("register %s: no task definition in the answer", family)
	}
	return checkTaskDefARN(aws.ToString(out.TaskDefinition.TaskDefinitionArn), family, 0)
}

func (s *sdkClient) describe(ctx context.Context, f, rev int) error {
	fam := familyName(s.prefix, f)
	ref := fam
	if rev > 0 {
		ref += ":" + strconv.Itoa(rev)
	}
	out, err := s.c.DescribeTaskDefinition(ctx, &sdkecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(ref)})
	if err != nil {
		return err
	}
	if out.TaskDefinition == nil {
		return fmt.Errorf("describe %s: no task definition in the answer", ref)
	}
	if err := checkTaskDefARN(aws.ToString(out.TaskDefinition.TaskDefinitionArn), fam, rev); err != nil {
		return fmt.Errorf("describe %s: %w", ref, err)
	}
	if rev > 0 && out.TaskDefinition.Revision != int32(rev) {
		return fmt.Errorf("describe %s: answer is for revision %d", ref, out.TaskDefinition.Revision)
	}
	return nil
}

func (s *sdkClient) list(ctx context.Context) error {
	out, err := s.c.ListTaskDefinitions(ctx, &sdkecs.ListTaskDefinitionsInput{
		MaxResults: aws.Int32(listPageSize), Status: types.TaskDefinitionStatusActive})
	if err != nil {
		return err
	}
	for _, arn := range out.TaskDefinitionArns {
		if err := checkListedARN([]byte(arn)); err != nil {
			return fmt.Errorf("list: %w", err)
		}
	}
	if err := checkListCount(len(out.TaskDefinitionArns), s.wantList); err != nil {
		return fmt.Errorf("list: %w", err)
	}
	return nil
}

// capturedRequest is a request the SDK built and did not send.
type capturedRequest struct {
	target, contentType string
	body                []byte
}

// errCaptured carries a captured request out of the SDK's call.
type errCaptured struct{ req capturedRequest }

func (*errCaptured) Error() string { return "bench: request captured, not sent" }

// captureDoer is an SDK HTTP client that records the request and fails it.
type captureDoer struct{}

func (captureDoer) Do(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, fmt.Errorf("bench: read the captured body: %w", err)
		}
		body = b
	}
	return nil, &errCaptured{capturedRequest{
		target: r.Header.Get("X-Amz-Target"), contentType: r.Header.Get("Content-Type"), body: body}}
}

// capturer marshals requests with the SDK's own serializers, so that the
// raw client sends exactly the bytes the SDK would.
type capturer struct{ c *sdkecs.Client }

func newCapturer(cfg Config) capturer { return capturer{newSDKECS(cfg, captureDoer{})} }

// capture runs call against the capturing client and returns the request
// it built.
func capture(call func() error) (capturedRequest, error) {
	err := call()
	var ce *errCaptured
	if errors.As(err, &ce) {
		return ce.req, nil
	}
	if err == nil {
		err = errors.New("the SDK did not send a request")
	}
	return capturedRequest{}, fmt.Errorf("bench: build a request with the SDK: %w", err)
}

// register returns the SDK's RegisterTaskDefinition request for
// TaskDefinitionInput(family, revision).
func (c capturer) register(ctx context.Context, family string, revision int) (capturedRequest, error) {
	return capture(func() error {
		_, err := c.c.RegisterTaskDefinition(ctx, TaskDefinitionInput(family, revision))
		return err
	})
}
