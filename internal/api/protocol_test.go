package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/berth/berth/internal/server"
	"github.com/berth/berth/internal/servertest"
)

type rawReply struct {
	status int
	typ    string
	msg    string
	body   map[string]any
}

// rawCall posts body with the given target, signed with creds unless creds
// is nil, and decodes the reply.
func rawCall(t *testing.T, srv *servertest.Server, method, target string, body []byte, creds *aws.Credentials, signAt time.Time) rawReply {
	t.Helper()
	req, err := http.NewRequest(method, srv.Endpoint()+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	if creds != nil {
		sum := sha256.Sum256(body)
		if err := v4.NewSigner().SignHTTP(context.Background(), *creds, req, hex.EncodeToString(sum[:]), "ecs", "us-east-1", signAt); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := rawReply{status: resp.StatusCode}
	if err := json.Unmarshal(b, &r.body); err != nil {
		t.Fatalf("reply is not JSON: %q", b)
	}
	r.typ, _ = r.body["__type"].(string)
	r.msg, _ = r.body["message"].(string)
	if r.typ != "" && resp.Header.Get("X-Amzn-Errortype") != r.typ {
		t.Errorf("X-Amzn-Errortype %q != __type %q", resp.Header.Get("X-Amzn-Errortype"), r.typ)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		t.Errorf("Content-Type %q", ct)
	}
	return r
}

const target = "AmazonEC2ContainerServiceV20141113."

func TestProtocolErrors(t *testing.T) {
	srv := servertest.Start(t)
	admin := &aws.Credentials{AccessKeyID: srv.Admin.AccessKeyID, SecretAccessKey: srv.Admin.SecretAccessKey}
	wrong := &aws.Credentials{AccessKeyID: srv.Admin.AccessKeyID, SecretAccessKey: strings.Repeat("x", 40)}
	unknown := &aws.Credentials{AccessKeyID: "BKIAAAAAAAAAAAAAAAAA", SecretAccessKey: srv.Admin.SecretAccessKey}
	now := time.Now()
	tests := []struct {
		name     string
		method   string
		target   string
		body     string
		creds    *aws.Credentials
		signAt   time.Time
		status   int
		typ      string
		fragment string
	}{
		{"unsigned", "POST", target + "ListClusters", `{}`, nil, now, 400, "MissingAuthenticationTokenException", "Missing Authentication Token"},
		{"wrong secret", "POST", target + "ListClusters", `{}`, wrong, now, 400, "InvalidSignatureException", "signature"},
		{"unknown key", "POST", target + "ListClusters", `{}`, unknown, now, 400, "UnrecognizedClientException", "security token"},
		{"expired", "POST", target + "ListClusters", `{}`, admin, now.Add(-20 * time.Minute), 400, "InvalidSignatureException", "Signature expired"},
		{"from the future", "POST", target + "ListClusters", `{}`, admin, now.Add(20 * time.Minute), 400, "InvalidSignatureException", "Signature"},
		{"unknown operation", "POST", target + "FlyToTheMoon", `{}`, admin, now, 400, "UnknownOperationException", "FlyToTheMoon"},
		{"no target", "POST", "", `{}`, admin, now, 400, "UnknownOperationException", ""},
		{"unknown service", "POST", "AmazonEC2ContainerRegistry_V19990101.ListImages", `{}`, admin, now, 400, "UnknownOperationException", ""},
		{"ECR target signed for ecs", "POST", "AmazonEC2ContainerRegistry_V20150921.ListImages", `{}`, admin, now, 400, "InvalidSignatureException", "'ecr'"},
		{"GET", "GET", target + "ListClusters", ``, admin, now, 400, "UnknownOperationException", "POST"},
		{"malformed JSON", "POST", target + "CreateCluster", `{"clusterName":`, admin, now, 400, "SerializationException", ""},
		{"wrong type", "POST", target + "ListClusters", `{"maxResults":"ten"}`, admin, now, 400, "SerializationException", "maxResults"},
		{"wrong nested type", "POST", target + "CreateCluster", `{"clusterName":"x","tags":[{"key":1}]}`, admin, now, 400, "SerializationException", "key"},
		{"not an object", "POST", target + "CreateCluster", `[1,2]`, admin, now, 400, "SerializationException", ""},
		{"timestamp garbage", "POST", target + "RegisterTaskDefinition", `{"family":"x","containerDefinitions":{}}`, admin, now, 400, "SerializationException", "containerDefinitions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rawCall(t, srv, tt.method, tt.target, []byte(tt.body), tt.creds, tt.signAt)
			if r.status != tt.status || r.typ != tt.typ || !strings.Contains(r.msg, tt.fragment) {
				t.Fatalf("got %d %s %q, want %d %s containing %q", r.status, r.typ, r.msg, tt.status, tt.typ, tt.fragment)
			}
		})
	}
	// A request without a body is an empty request.
	r := rawCall(t, srv, "POST", target+"ListClusters", nil, admin, now)
	if r.status != 200 || r.body["clusterArns"] == nil {
		t.Fatalf("empty body: %+v", r)
	}
	// None of the above changed anything, and the server still serves.
	r = rawCall(t, srv, "POST", target+"ListClusters", []byte(`{}`), admin, now)
	if arns, _ := r.body["clusterArns"].([]any); r.status != 200 || len(arns) != 0 {
		t.Fatalf("after errors: %+v", r)
	}
}

func TestHealthz(t *testing.T) {
	srv := servertest.Start(t)
	resp, err := http.Get(srv.Endpoint() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz: %d", resp.StatusCode)
	}
}

func TestAdminCredentials(t *testing.T) {
	srv := servertest.Start(t)
	admin := &aws.Credentials{AccessKeyID: srv.Admin.AccessKeyID, SecretAccessKey: srv.Admin.SecretAccessKey}
	r := rawCall(t, srv, "POST", "BerthAdminV1.CreateCredential", []byte(`{"name":"ci"}`), admin, time.Now())
	if r.status != 200 {
		t.Fatalf("create: %+v", r)
	}
	cred := r.body["credential"].(map[string]any)
	ci := &aws.Credentials{AccessKeyID: cred["accessKeyId"].(string), SecretAccessKey: cred["secretAccessKey"].(string)}

	// The new credential works for ECS calls, and acts as IAM user "ci".
	c := srv.ECSWith(ci.AccessKeyID, ci.SecretAccessKey)
	ctx := testCtx(t)
	if _, err := c.CreateCluster(ctx, &sdkecs.CreateClusterInput{ClusterName: aws.String("ci")}); err != nil {
		t.Fatal(err)
	}
	reg, err := c.RegisterTaskDefinition(ctx, webInput(t))
	if err != nil || aws.ToString(reg.TaskDefinition.RegisteredBy) != "arn:aws:iam::000000000000:user/ci" {
		t.Fatalf("registeredBy: %v %v", reg, err)
	}
	// But it is not an administrator.
	r = rawCall(t, srv, "POST", "BerthAdminV1.ListCredentials", []byte(`{}`), ci, time.Now())
	if r.typ != "AccessDeniedException" {
		t.Fatalf("non-admin list: %+v", r)
	}
	r = rawCall(t, srv, "POST", "BerthAdminV1.ListCredentials", []byte(`{}`), admin, time.Now())
	creds, _ := r.body["credentials"].([]any)
	if len(creds) != 2 {
		t.Fatalf("list: %+v", r)
	}
	for _, c := range creds {
		if _, leaked := c.(map[string]any)["secretAccessKey"]; leaked {
			t.Fatal("ListCredentials returned a secret")
		}
	}
	r = rawCall(t, srv, "POST", "BerthAdminV1.DeleteCredential", []byte(`{"accessKeyId":"`+ci.AccessKeyID+`"}`), admin, time.Now())
	if r.status != 200 {
		t.Fatalf("delete: %+v", r)
	}
	// A deleted key stops working at once.
	_, err = c.ListClusters(ctx, &sdkecs.ListClustersInput{})
	wantAPIError(t, err, "UnrecognizedClientException")
	r = rawCall(t, srv, "POST", "BerthAdminV1.DeleteCredential", []byte(`{"accessKeyId":"`+admin.AccessKeyID+`"}`), admin, time.Now())
	if r.typ != "InvalidParameterException" {
		t.Fatalf("deleting the signing credential: %+v", r)
	}
	r = rawCall(t, srv, "POST", "BerthAdminV1.CreateCredential", []byte(`{"name":""}`), admin, time.Now())
	if r.typ != "InvalidParameterException" {
		t.Fatalf("create without name: %+v", r)
	}
}

func TestInsecureNoAuth(t *testing.T) {
	srv := servertest.Start(t, func(c *server.Config) { c.InsecureNoAuth = true })
	r := rawCall(t, srv, "POST", target+"CreateCluster", []byte(`{"clusterName":"open"}`), nil, time.Now())
	if r.status != 200 {
		t.Fatalf("unsigned request with --insecure-no-auth: %+v", r)
	}
}

// A captured admin request cannot be sent again to mint another secret.
func TestAdminRequestsCannotBeReplayed(t *testing.T) {
	srv := servertest.Start(t)
	body := []byte(`{"name":"ci"}`)
	req, err := http.NewRequest("POST", srv.Endpoint()+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "BerthAdminV1.CreateCredential")
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: srv.Admin.AccessKeyID, SecretAccessKey: srv.Admin.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "ecs", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	send := func() int {
		r := req.Clone(context.Background())
		r.Body = io.NopCloser(bytes.NewReader(body))
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := send(); code != 200 {
		t.Fatalf("first use: %d", code)
	}
	if code := send(); code != 400 {
		t.Fatalf("replay: %d, want 400", code)
	}
}
