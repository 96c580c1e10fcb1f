package conformance

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/berth/berth/internal/servertest"
)

// suitePackage is the conformance suite's Go package (required in go.mod
// by tools.go).
const suitePackage = "github.com/opencontainers/distribution-spec/conformance"

// The repositories the suite pushes into: repo1 for everything, repo2 as
// the source of cross-repository mounts.
const (
	repo1 = "conformance/main"
	repo2 = "conformance/other"
)

// resultsDirEnv names a directory to keep the suite's results in
// (junit.xml, results.yaml, report.html with every request and response);
// by default they go to a temporary directory removed after the test.
const resultsDirEnv = "BERTH_CONFORMANCE_RESULTS"

// suiteTimeout bounds one run of the suite (it takes a few seconds).
const suiteTimeout = 3 * time.Minute

func TestDistributionSpecConformance(t *testing.T) {
	bin := buildSuite(t)

	srv := servertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), suiteTimeout)
	defer cancel()
	password := ecrLogin(ctx, t, srv)
	u, err := url.Parse(srv.Endpoint())
	if err != nil {
		t.Fatalf("server endpoint %q: %v", srv.Endpoint(), err)
	}

	work := t.TempDir()
	resultsDir := filepath.Join(work, "results")
	if dir := os.Getenv(resultsDirEnv); dir != "" {
		resultsDir = dir
		if err := os.Remove(filepath.Join(dir, "junit.xml")); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("remove the previous run's junit.xml: %v", err)
		}
	}
	cmd := exec.CommandContext(ctx, bin, "-test.run=^TestLegacy$", "-test.timeout="+suiteTimeout.String())
	cmd.Dir = work // no oci-conformance.yaml there: the environment is the whole configuration
	cmd.Env = suiteEnv(suiteConfig(u.Host, password, resultsDir))
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	start := time.Now()
	runErr := cmd.Run()
	elapsed := time.Since(start)
	if _, exited := errors.AsType[*exec.ExitError](runErr); runErr != nil && !exited {
		t.Fatalf("run the conformance suite: %v\n%s", runErr, out.String())
	}

	raw, err := os.ReadFile(filepath.Join(resultsDir, "junit.xml"))
	if err != nil {
		t.Fatalf("the suite wrote no junit.xml (exit: %v): %v\n%s", runErr, err, out.String())
	}
	cases, err := parseJUnit(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("junit.xml: %v", err)
	}
	rep := classify(cases, knownGaps)
	where := "set " + resultsDirEnv + " to keep the suite's report.html"
	if os.Getenv(resultsDirEnv) != "" {
		where = "report: " + filepath.Join(resultsDir, "report.html")
	}
	t.Logf("distribution-spec conformance against %s: %d tests in %s (suite exit: %v); %s\n%s",
		srv.Endpoint(), len(cases), elapsed.Round(time.Millisecond), runErr, where, rep.String())
	if testing.Verbose() {
		t.Logf("suite summary:\n%s", suiteSummary(out.String()))
	}

	for _, w := range workflows {
		if rep.Counts[w].total() == 0 {
			t.Errorf("workflow %s ran no test: the suite's test names changed (see workflowOf)", w)
		}
	}
	if n := rep.Counts[workflowOther].total(); n > 0 {
		t.Errorf("%d tests belong to no workflow: the suite's test names changed (see workflowOf)", n)
	}
	for _, f := range rep.New {
		t.Errorf("NEW FAILURE [%s] %s: %s", f.Case.Status, f.Case.Name, f.Case.Message())
	}
	for _, g := range rep.Stale {
		t.Logf("known gap no longer seen (remove it from knownGaps): %s", g)
	}
	if runErr == nil && rep.Failed() > 0 {
		t.Errorf("the suite exited 0 although junit.xml records %d failures", rep.Failed())
	}
	if runErr != nil && rep.Failed() == 0 {
		t.Errorf("the suite exited with %v although junit.xml records no failure\n%s", runErr, out.String())
	}
}

// suiteConfig is the suite's configuration: Berth's registry over plain
// http with the ECR login, every API the distribution spec 1.1 defines.
func suiteConfig(registry, password, resultsDir string) map[string]string {
	return map[string]string{
		"OCI_VERSION":     "1.1",
		"OCI_REGISTRY":    registry,
		"OCI_TLS":         "disabled", // servertest serves plain http
		"OCI_REPO1":       repo1,
		"OCI_REPO2":       repo2,
		"OCI_USERNAME":    "AWS",
		"OCI_PASSWORD":    password,
		"OCI_RESULTS_DIR": resultsDir,
		"OCI_LOG":         "warn",
		// The legacy suite's four workflows by their current names:
		// OCI_TEST_PULL and OCI_TEST_PUSH are OCI_API_PULL/PUSH,
		// OCI_TEST_CONTENT_DISCOVERY is the tag list and referrers,
		// OCI_TEST_CONTENT_MANAGEMENT the three deletes.
		"OCI_API_PULL":             "true",
		"OCI_API_PUSH":             "true",
		"OCI_API_TAGS_LIST":        "true",
		"OCI_API_REFERRER":         "true",
		"OCI_API_TAGS_DELETE":      "true",
		"OCI_API_MANIFESTS_DELETE": "true",
		"OCI_API_BLOBS_DELETE":     "true",
		// Beyond the 1.1 defaults: Docker-Content-Digest is required on
		// blob and manifest answers (clients rely on it), and upload
		// sessions can be cancelled. Cross-repository mount uses
		// OCI_REPO2; a mount without a source may fall back to an upload
		// (202), which the suite records as a skip. Deletes are checked
		// to take effect at once (the *_ATOMIC defaults).
		"OCI_API_BLOBS_DIGEST_HEADER":     "true",
		"OCI_API_MANIFESTS_DIGEST_HEADER": "true",
		"OCI_API_BLOBS_UPLOAD_CANCEL":     "true",
		"OCI_API_BLOBS_MOUNT_ANONYMOUS":   "true",
	}
}

// suiteSummary is the part of the suite's output after the per-test
// tree: the overall counts and the per-API and per-data verdicts.
func suiteSummary(out string) string {
	if i := strings.Index(out, "OCI Conformance Result:"); i >= 0 {
		return out[i:]
	}
	return out
}

// buildSuite compiles the suite's test binary into a temporary directory.
// It runs from the module root, so go.mod's version of the suite is built
// from the module cache; a suite missing from the cache fails the test
// with the command that fetches it (the build itself never downloads).
func buildSuite(t *testing.T) string {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	modFile := strings.TrimSpace(string(gomod))
	if modFile == "" || modFile == os.DevNull {
		t.Fatalf("go env GOMOD = %q: not inside the Berth module", modFile)
	}
	root := filepath.Dir(modFile)

	list := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", suitePackage)
	list.Dir = root
	list.Env = append(os.Environ(), "GOPROXY=off")
	dir, err := list.CombinedOutput()
	if err != nil || strings.TrimSpace(string(dir)) == "" {
		t.Fatalf("the conformance suite %s (required by test/conformance/tools.go) is not in the module cache: "+
			"run `go mod download %s` in %s once with network access\ngo list -m: %v\n%s", suitePackage, suitePackage, root, err, dir)
	}

	bin := filepath.Join(t.TempDir(), "conformance.test")
	build := exec.Command("go", "test", "-c", "-o", bin, suitePackage)
	build.Dir = root
	build.Env = append(os.Environ(), "GOPROXY=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the conformance suite (go test -c %s, in %s): %v\n%s", suitePackage, root, err, out)
	}
	return bin
}

// ecrLogin creates the suite's repositories with the ECR API and returns
// the registry password GetAuthorizationToken hands out.
func ecrLogin(ctx context.Context, t *testing.T, srv *servertest.Server) string {
	t.Helper()
	c := ecr.New(ecr.Options{
		Region:           srv.Config.Region,
		BaseEndpoint:     aws.String(srv.Endpoint()),
		Credentials:      credentials.NewStaticCredentialsProvider(srv.Admin.AccessKeyID, srv.Admin.SecretAccessKey, ""),
		RetryMaxAttempts: 1,
	})
	for _, name := range []string{repo1, repo2} {
		if _, err := c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(name)}); err != nil {
			t.Fatalf("CreateRepository %s: %v", name, err)
		}
	}
	auth, err := c.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		t.Fatalf("GetAuthorizationToken: %v", err)
	}
	if len(auth.AuthorizationData) == 0 || auth.AuthorizationData[0].AuthorizationToken == nil {
		t.Fatalf("GetAuthorizationToken returned no token: %+v", auth)
	}
	raw, err := base64.StdEncoding.DecodeString(*auth.AuthorizationData[0].AuthorizationToken)
	if err != nil {
		t.Fatalf("decode authorization token: %v", err)
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok || user != "AWS" || pass == "" {
		t.Fatalf("authorization token decodes to user %q (want AWS:<password>)", user)
	}
	return pass
}

// suiteEnv is this process's environment without any OCI_ variable (a
// stray OCI_CONFIGURATION or legacy OCI_ROOT_URL would change the run),
// plus set.
func suiteEnv(set map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OCI_") {
			env = append(env, kv)
		}
	}
	for k, v := range set {
		env = append(env, k+"="+v)
	}
	return env
}
