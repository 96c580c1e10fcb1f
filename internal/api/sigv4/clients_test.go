package sigv4

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	v1creds "github.com/aws/aws-sdk-go/aws/credentials"
	v1signer "github.com/aws/aws-sdk-go/aws/signer/v4"
)

// fixtureCredential is the key pair testdata/capture.py signed with.
type fixtureCredential struct {
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey"`
	Region          string `json:"region"`
}

func loadFixtureCredential(t *testing.T) fixtureCredential {
	t.Helper()
	data, err := os.ReadFile("testdata/fixture-credential.json")
	if err != nil {
		t.Fatal(err)
	}
	var c fixtureCredential
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRealClientFixtures replays requests captured from botocore and the
// AWS CLI v1 and v2 (see testdata/capture.py): each must verify, and must
// fail once its body or a signed header is altered.
func TestRealClientFixtures(t *testing.T) {
	fc := loadFixtureCredential(t)
	files, err := filepath.Glob("testdata/*.http")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("expected captured fixtures, found %v", files)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			r, body := parseRaw(t, raw)
			if strings.Contains(r.Header.Get("Authorization"), "content-length") {
				t.Fatalf("fixture unexpectedly signs content-length: %s", r.Header.Get("Authorization"))
			}
			signedAt, err := time.Parse(timeFormat, r.Header.Get("X-Amz-Date"))
			if err != nil {
				t.Fatal(err)
			}
			v := &Verifier{
				Lookup: lookup{fc.AccessKeyID: fc.SecretAccessKey},
				Region: fc.Region,
				Now:    func() time.Time { return signedAt.Add(3 * time.Minute) },
			}
			id, err := v.Verify(context.Background(), r, body)
			if err != nil {
				var verr *Error
				if errors.As(err, &verr) {
					t.Fatalf("Verify: %v\n%s", err, verr.Detail)
				}
				t.Fatalf("Verify: %v", err)
			}
			if id.AccessKeyID != fc.AccessKeyID {
				t.Fatalf("identity %q", id.AccessKeyID)
			}

			r, body = parseRaw(t, raw)
			body = append(bytes.TrimSuffix(body, []byte("}")), []byte(`,"x":1}`)...)
			if _, err := v.Verify(context.Background(), r, body); !errors.Is(err, ErrInvalidSignature) {
				t.Fatalf("tampered body: got %v", err)
			}
			r, body = parseRaw(t, raw)
			r.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.DeleteCluster")
			if _, err := v.Verify(context.Background(), r, body); !errors.Is(err, ErrInvalidSignature) {
				t.Fatalf("tampered target: got %v", err)
			}
		})
	}
}

// verifyingServer is an httptest server that verifies every request with v
// and records the outcomes.
type verifyingServer struct {
	*httptest.Server
	mu      sync.Mutex
	results []error
	targets []string
}

func newVerifyingServer(t *testing.T, v *Verifier) *verifyingServer {
	s := &verifyingServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err == nil {
			_, err = v.Verify(r.Context(), r, body)
		}
		s.mu.Lock()
		s.results = append(s.results, err)
		s.targets = append(s.targets, r.Header.Get("X-Amz-Target"))
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"__type": "InvalidSignatureException", "message": err.Error()})
			return
		}
		io.WriteString(w, `{"clusterArns":["arn:aws:ecs:us-east-1:000000000000:cluster/default"],"cluster":{"clusterName":"demo"},"clusters":[],"failures":[]}`)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *verifyingServer) outcomes() ([]error, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.results...), append([]string(nil), s.targets...)
}

// TestSDKClient calls a verifying server through aws-sdk-go-v2's real ECS
// client, with its whole middleware stack (invocation IDs, retries headers,
// content-length signing).
func TestSDKClient(t *testing.T) {
	srv := newVerifyingServer(t, &Verifier{Lookup: testKeys, Region: testRegion})
	client := ecs.New(ecs.Options{
		Region:       testRegion,
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(testAKID, testSecret, ""),
	})
	ctx := context.Background()
	if _, err := client.ListClusters(ctx, &ecs.ListClustersInput{}); err != nil {
		t.Fatalf("ListClusters: %v", err)
	}
	if _, err := client.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("demo")}); err != nil {
		t.Fatalf("CreateCluster: %v", err)
	}
	results, targets := srv.outcomes()
	if len(results) != 2 {
		t.Fatalf("server saw %d requests (%v)", len(results), targets)
	}
	for i, err := range results {
		if err != nil {
			t.Errorf("%s: %v", targets[i], err)
		}
	}

	// The same client with a wrong secret is refused with AWS's message.
	bad := ecs.New(ecs.Options{
		Region:           testRegion,
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider(testAKID, "wrongSecret/0123456789+abcdefghijklmnop", ""),
		RetryMaxAttempts: 1,
	})
	_, err := bad.ListClusters(ctx, &ecs.ListClustersInput{})
	if err == nil || !strings.Contains(err.Error(), "The request signature we calculated does not match") {
		t.Fatalf("wrong secret: got %v", err)
	}
}

// TestSDKv1Signer: the v1 Go SDK signer (used by older ECS agents).
func TestSDKv1Signer(t *testing.T) {
	body := `{"cluster":"default","containerInstance":"i-1","status":"ACTIVE"}`
	req := jsonCall(t, "SubmitContainerStateChange", body)
	req.Header.Set("Amz-Sdk-Invocation-Id", "5b1d6a40-0a0b-4d6e-9d43-0b4c1a6f4a51")
	signer := v1signer.NewSigner(v1creds.NewStaticCredentials(testAKID, testSecret, ""))
	if _, err := signer.Sign(req, strings.NewReader(body), "ecs", testRegion, signTime); err != nil {
		t.Fatal(err)
	}
	req.Body = io.NopCloser(strings.NewReader(body))
	r, b := toServer(t, req)
	id, err := newVerifier(signTime).Verify(context.Background(), r, b)
	checkResult(t, id, err, nil, "")
}

// TestAWSCLI runs the real AWS CLI (Debian's v2 at /usr/bin/aws) against a
// verifying server: a correct key pair is accepted and a wrong one gets
// AWS's InvalidSignatureException text. About 3 s per call of Python start-up.
func TestAWSCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the AWS CLI")
	}
	const cli = "/usr/bin/aws"
	if _, err := os.Stat(cli); err != nil {
		t.Skip("no AWS CLI at " + cli)
	}
	srv := newVerifyingServer(t, &Verifier{Lookup: testKeys, Region: testRegion})
	run := func(secret string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, cli, "ecs", "describe-clusters", "--clusters", "demo",
			"--endpoint-url", srv.URL, "--no-cli-pager")
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+testAKID, "AWS_SECRET_ACCESS_KEY="+secret,
			"AWS_DEFAULT_REGION="+testRegion, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
			"AWS_MAX_ATTEMPTS=1", "AWS_RETRY_MODE=standard")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(testSecret); err != nil {
		results, _ := srv.outcomes()
		t.Fatalf("aws with the right secret: %v\n%s\nserver: %v", err, out, results)
	}
	out, err := run("wrongSecret/0123456789+abcdefghijklmnop")
	if err == nil || !strings.Contains(out, "(InvalidSignatureException)") ||
		!strings.Contains(out, "The request signature we calculated does not match") {
		t.Fatalf("aws with a wrong secret: err %v, output:\n%s", err, out)
	}
}
