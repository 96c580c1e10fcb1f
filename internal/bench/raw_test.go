package bench

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// cannedServer answers every request with status and body and records the
// last request.
type cannedServer struct {
	mu      sync.Mutex
	status  int
	body    string
	req     *http.Request
	reqBody []byte
}

func (s *cannedServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.req, s.reqBody = r, b
	w.Header().Set("Content-Type", jsonContentType)
	w.WriteHeader(s.status)
	io.WriteString(w, s.body)
}

func listAnswer(n int, arn string) string {
	arns := make([]string, n)
	for i := range arns {
		arns[i] = `"` + arn + `"`
	}
	return `{"taskDefinitionArns":[` + strings.Join(arns, ",") + `],"nextToken":"abc"}`
}

func TestRawClient(t *testing.T) {
	srv := &cannedServer{}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	cfg := Config{Endpoint: ts.URL, AccessKeyID: "AKIDBENCH", Secret: "secret", Concurrency: 2, Requests: 1,
		Families: 2, Revisions: 3}
	cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.Now = func() time.Time { return time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC) }
	ctx := context.Background()
	rc, err := newRawClient(ctx, cfg, ts.Client())
	if err != nil {
		t.Fatal(err)
	}
	// What the SDK sends for the same calls.
	sdk := newCapturer(cfg)
	sdkDescribe := func(ref string) func() error {
		return func() error {
			_, err := sdk.c.DescribeTaskDefinition(ctx, &sdkecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(ref)})
			return err
		}
	}
	sdkList := func() error {
		_, err := sdk.c.ListTaskDefinitions(ctx, &sdkecs.ListTaskDefinitionsInput{
			MaxResults: aws.Int32(listPageSize), Status: types.TaskDefinitionStatusActive})
		return err
	}
	sdkRegister := func(fam string) func() error {
		return func() error {
			_, err := sdk.c.RegisterTaskDefinition(ctx, TaskDefinitionInput(fam, 1))
			return err
		}
	}
	list := func() error { return rc.list(ctx) }
	const arn = testARN
	tests := []struct {
		name    string
		call    func() error
		sdk     func() error // the SDK's request for the same call
		status  int
		answer  string
		wantErr string
	}{
		{"describe revision", func() error { return rc.describe(ctx, 1, 2) }, sdkDescribe("bench-01:2"),
			200, `{"taskDefinition":{"taskDefinitionArn":"` + arn + `bench-01:2","revision":2},"tags":[]}`, ""},
		{"describe latest", func() error { return rc.describe(ctx, 0, 0) }, sdkDescribe("bench-00"),
			200, `{"taskDefinition":{"taskDefinitionArn":"` + arn + `bench-00:9"}}`, ""},
		{"describe, wrong revision", func() error { return rc.describe(ctx, 1, 2) }, sdkDescribe("bench-01:2"),
			200, `{"taskDefinition":{"taskDefinitionArn":"` + arn + `bench-01:3"}}`, "not of revision 2"},
		{"describe, wrong family", func() error { return rc.describe(ctx, 0, 0) }, sdkDescribe("bench-00"),
			200, `{"taskDefinition":{"taskDefinitionArn":"` + arn + `bench-01:3"}}`, "not of family"},
		{"describe, no ARN", func() error { return rc.describe(ctx, 0, 1) }, sdkDescribe("bench-00:1"),
			200, `{}`, "field not found"},
		{"describe, ECS error", func() error { return rc.describe(ctx, 0, 3) }, sdkDescribe("bench-00:3"),
			400, `{"__type":"ClientException","message":"Unable to describe task definition."}`,
			"DescribeTaskDefinition: HTTP 400: ClientException: Unable to describe"},
		{"describe, server error", func() error { return rc.describe(ctx, 0, 3) }, sdkDescribe("bench-00:3"),
			500, `oops`, "HTTP 500"},
		{"describe, error status with a good body", func() error { return rc.describe(ctx, 1, 2) }, sdkDescribe("bench-01:2"),
			201, `{"taskDefinition":{"taskDefinitionArn":"` + arn + `bench-01:2"}}`, "HTTP 201"},
		{"list, a full page", list, sdkList, 200, listAnswer(100, arn+"x:1"), ""},
		{"list, the whole data set", list, sdkList, 200, listAnswer(6, arn+"x:1"), ""},
		{"list, too few", list, sdkList, 200, listAnswer(5, arn+"x:1"), "5 task definitions listed"},
		{"list, too many", list, sdkList, 200, listAnswer(101, arn+"x:1"), "101 task definitions listed"},
		{"list, not ARNs", list, sdkList, 200, listAnswer(100, "x:1"), "not a task-definition ARN"},
		{"list, no array", list, sdkList, 200, `{"nextToken":"x"}`, "field not found"},
		{"register", func() error { return rc.register(ctx, "bench-w0001", 1) }, sdkRegister("bench-w0001"),
			200, `{"taskDefinition":{"taskDefinitionArn":"` + arn + `bench-w0001:7"}}`, ""},
		{"register, not prebuilt", func() error { return rc.register(ctx, "other", 1) }, sdkRegister("other"),
			200, `{"taskDefinition":{"taskDefinitionArn":"` + arn + `other:1"}}`, ""},
		{"register, wrong family", func() error { return rc.register(ctx, "bench-w0000", 1) }, sdkRegister("bench-w0000"),
			200, `{"taskDefinition":{"taskDefinitionArn":"` + arn + `bench-w0001:7"}}`, "not of family"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.mu.Lock()
			srv.status, srv.body = tt.status, tt.answer
			srv.mu.Unlock()
			checkErr(t, tt.call(), tt.wantErr)

			want, err := capture(tt.sdk)
			if err != nil {
				t.Fatal(err)
			}
			srv.mu.Lock()
			defer srv.mu.Unlock()
			r := srv.req
			if r.Method != http.MethodPost || r.URL.Path != "/" {
				t.Errorf("sent %s %s", r.Method, r.URL)
			}
			if got := r.Header.Get("X-Amz-Target"); got != want.target || !strings.HasPrefix(got, targetPrefix) {
				t.Errorf("X-Amz-Target %q, the SDK sends %q", got, want.target)
			}
			if got := r.Header.Get("Content-Type"); got != want.contentType || got != jsonContentType {
				t.Errorf("Content-Type %q, the SDK sends %q", got, want.contentType)
			}
			// The same JSON (the SDK writes map members in random order).
			var got, sdkBody any
			if err := json.Unmarshal(srv.reqBody, &got); err != nil {
				t.Fatalf("body %q: %v", srv.reqBody, err)
			}
			if err := json.Unmarshal(want.body, &sdkBody); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, sdkBody) {
				t.Errorf("body\n%s\nthe SDK sends\n%s", srv.reqBody, want.body)
			}
			auth := r.Header.Get("Authorization")
			for _, part := range []string{"AWS4-HMAC-SHA256 Credential=AKIDBENCH/20250304/us-east-1/ecs/aws4_request",
				"SignedHeaders=content-length;content-type;host;x-amz-date;x-amz-target", "Signature="} {
				if !strings.Contains(auth, part) {
					t.Errorf("Authorization %q lacks %q", auth, part)
				}
			}
			if got := r.Header.Get("X-Amz-Date"); got != "20250304T050607Z" {
				t.Errorf("X-Amz-Date %q", got)
			}
		})
	}
	if err := rc.describe(ctx, 2, 0); err == nil || !strings.Contains(err.Error(), "outside the data set") {
		t.Errorf("describe of family 2 of 2 = %v", err)
	}
}

func TestCaptureWithoutRequest(t *testing.T) {
	if _, err := capture(func() error { return nil }); err == nil {
		t.Error("capture of a call that sent nothing succeeded")
	}
	if _, err := capture(func() error { return io.EOF }); err == nil || !strings.Contains(err.Error(), "EOF") {
		t.Errorf("capture of a failing call = %v", err)
	}
}
