package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// awsPath is the Debian awscli package's binary. It is called by absolute
// path on purpose: a pyenv shim named aws may come first on PATH.
const awsPath = "/usr/bin/aws"

// Identity Berth presents by default (server.DefaultRegion/DefaultAccount).
const (
	region    = "us-east-1"
	account   = "000000000000"
	adminUser = "arn:aws:iam::" + account + ":user/admin"
)

// Set up by TestMain.
var (
	haveAWS  bool
	repoRoot string     // module root: the aws CLI runs here, so file:// paths are relative to it
	berthBin string     // the berth binary built for this run
	workDir  string     // temporary directory of this run
	cliHome  string     // isolated HOME for the aws CLI
	wireTime string     // AWS config file that makes the CLI print timestamps as sent on the wire
	shared   *berthProc // the `berth dev` most tests share
)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	if _, err := os.Stat(awsPath); err != nil {
		fmt.Fprintf(os.Stderr, "\n%s\n!!! berth e2e: %s is missing (%v).\n!!! EVERY END-TO-END TEST IS SKIPPED. CI installs it: apt-get install awscli\n%s\n\n",
			strings.Repeat("!", 78), awsPath, err, strings.Repeat("!", 78))
		return m.Run()
	}
	haveAWS = true
	var err error
	if workDir, err = os.MkdirTemp("", "berth-e2e-"); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(workDir)
	if err := setUp(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: set-up failed:", err)
		return 1
	}
	code := m.Run()
	if err := shared.terminate(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: FAIL: berth dev did not stop cleanly on SIGTERM: %v\n--- berth stderr:\n%s\n", err, shared.stderr)
		code = 1
	}
	return code
}

func setUp() error {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return errors.New("go env GOMOD: not inside a module")
	}
	repoRoot = filepath.Dir(gomod)
	berthBin = filepath.Join(workDir, "berth")
	build := exec.Command("go", "build", "-o", berthBin, "./cmd/berth")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/berth: %w\n%s", err, out)
	}
	cliHome = filepath.Join(workDir, "home")
	if err := os.MkdirAll(cliHome, 0o700); err != nil {
		return err
	}
	wireTime = filepath.Join(workDir, "config-wire-time")
	body := "[default]\nregion = " + region + "\ncli_timestamp_format = wire\n"
	if err := os.WriteFile(wireTime, []byte(body), 0o600); err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	shared, err = startBerth(filepath.Join(workDir, "shared"), addr)
	return err
}

func requireAWS(t *testing.T) {
	t.Helper()
	if !haveAWS {
		t.Skipf("!!! %s (Debian package awscli) is missing: end-to-end test SKIPPED; CI installs it", awsPath)
	}
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// syncBuffer collects a subprocess's output while tests read it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// berthProc is a running `berth dev` subprocess.
type berthProc struct {
	dataDir string
	listen  string
	cmd     *exec.Cmd
	stdout  *syncBuffer
	stderr  *syncBuffer
	exited  chan struct{} // closed once the process was reaped
	state   *os.ProcessState
}

// startBerth runs `berth dev --no-agent` (the control plane alone: these
// tests run several at once, and one machine holds one agent) and returns
// once /healthz answers 200 and the usage text (with the endpoint) is
// printed.
func startBerth(dataDir, listen string) (*berthProc, error) {
	return startBerthArgs(dataDir, listen, "--no-agent")
}

// startBerthArgs runs `berth dev` with extra arguments.
func startBerthArgs(dataDir, listen string, extra ...string) (*berthProc, error) {
	b := &berthProc{dataDir: dataDir, listen: listen, stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{})}
	b.cmd = exec.Command(berthBin, append([]string{"dev", "--data-dir", dataDir, "--listen", listen}, extra...)...)
	b.cmd.Stdout, b.cmd.Stderr = b.stdout, b.stderr
	if err := b.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start berth dev: %w", err)
	}
	go func() {
		_ = b.cmd.Wait() // the exit status is read from ProcessState
		b.state = b.cmd.ProcessState
		close(b.exited)
	}()
	if err := b.waitReady(); err != nil {
		_ = b.cmd.Process.Kill()
		<-b.exited
		return nil, fmt.Errorf("%w\n--- berth stdout:\n%s\n--- berth stderr:\n%s", err, b.stdout, b.stderr)
	}
	return b, nil
}

func (b *berthProc) endpoint() string { return "http://" + b.listen }

func (b *berthProc) waitReady() error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-b.exited:
			return fmt.Errorf("berth dev exited before it was ready: %s", b.state)
		default:
		}
		if healthy(client, b.endpoint()) && strings.Contains(b.stdout.String(), "ECS API endpoint:") {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("berth dev was not ready (healthz 200 and usage printed) within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func healthy(client *http.Client, endpoint string) bool {
	resp, err := client.Get(endpoint + "/healthz")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK
}

// terminate sends SIGTERM and reports an error unless berth exits with
// status 0.
func (b *berthProc) terminate() error {
	select {
	case <-b.exited:
		return fmt.Errorf("berth dev had already exited: %s", b.state)
	default:
	}
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("send SIGTERM: %w", err)
	}
	select {
	case <-b.exited:
	case <-time.After(30 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.exited
		return errors.New("berth dev still ran 30s after SIGTERM; killed it")
	}
	if !b.state.Success() {
		return fmt.Errorf("berth dev exited with %s after SIGTERM", b.state)
	}
	return nil
}

// kill9 kills berth with SIGKILL (no chance to flush or close anything).
func (b *berthProc) kill9() error {
	if err := b.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("send SIGKILL: %w", err)
	}
	<-b.exited
	ws, ok := b.state.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		return fmt.Errorf("berth dev did not die of SIGKILL: %s", b.state)
	}
	return nil
}

// startOwnBerth starts a `berth dev` for one test, on a fresh data dir and
// port, and kills it when the test ends unless the test stopped it.
func startOwnBerth(t *testing.T) *berthProc {
	t.Helper()
	requireAWS(t)
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	b, err := startBerth(filepath.Join(t.TempDir(), "data"), addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.stopIfRunning)
	return b
}

// stopIfRunning is a cleanup for tests that start their own server.
func (b *berthProc) stopIfRunning() {
	select {
	case <-b.exited:
	default:
		_ = b.cmd.Process.Kill()
		<-b.exited
	}
}

// cli returns an aws CLI set up as `berth dev` tells users to: its
// credentials and config files, region us-east-1, no pager, no IMDS.
func (b *berthProc) cli() awsCLI {
	return awsCLI{
		endpoint:    b.endpoint(),
		credentials: filepath.Join(b.dataDir, "credentials"),
		config:      filepath.Join(b.dataDir, "config"),
	}
}

// awsCLI runs /usr/bin/aws against one endpoint with one pair of files.
type awsCLI struct {
	endpoint    string
	credentials string // AWS_SHARED_CREDENTIALS_FILE
	config      string // AWS_CONFIG_FILE
}

func (c awsCLI) withCredentials(path string) awsCLI { c.credentials = path; return c }
func (c awsCLI) withConfig(path string) awsCLI      { c.config = path; return c }

type cliResult struct {
	args   []string
	code   int
	stdout string
	stderr string
}

func (r cliResult) String() string {
	return fmt.Sprintf("aws %s\nexit code %d\n--- stdout:\n%s\n--- stderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// run runs `aws --endpoint-url E --output json ARGS...` in the module root.
func (c awsCLI) run(t *testing.T, args ...string) cliResult {
	t.Helper()
	requireAWS(t)
	full := append([]string{"--endpoint-url", c.endpoint, "--output", "json"}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a safety net, not an assertion
	defer cancel()
	cmd := exec.CommandContext(ctx, awsPath, full...)
	cmd.Dir = repoRoot
	cmd.Env = []string{
		"PATH=/usr/bin:/bin",
		"HOME=" + cliHome,
		"LANG=C.UTF-8",
		"AWS_SHARED_CREDENTIALS_FILE=" + c.credentials,
		"AWS_CONFIG_FILE=" + c.config,
		"AWS_REGION=" + region,
		"AWS_PAGER=",
		"AWS_EC2_METADATA_DISABLED=true",
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cliResult{args: full, stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	default:
		t.Fatalf("run aws %s: %v", strings.Join(full, " "), err)
	}
	return res
}

// ok runs the CLI, requires success and decodes its JSON output ({} when
// the CLI printed nothing, as it does for an empty response).
func (c awsCLI) ok(t *testing.T, args ...string) map[string]any {
	t.Helper()
	res := c.run(t, args...)
	if res.code != 0 {
		t.Fatalf("want success, got:\n%s", res)
	}
	if strings.TrimSpace(res.stdout) == "" {
		return map[string]any{}
	}
	m, err := decodeObject(res.stdout)
	if err != nil {
		t.Fatalf("output is not a JSON object: %v\n%s", err, res)
	}
	return m
}

// awsError is the error line the CLI prints for a service error.
type awsError struct{ Type, Op, Message string }

var awsErrorRE = regexp.MustCompile(`^An error occurred \(([A-Za-z0-9]+)\) when calling the ([A-Za-z0-9]+) operation: (.*)$`)

// fail runs the CLI and requires the service-error outcome: exit code 254
// and nothing on stderr but `An error occurred (Type) when calling the Op
// operation: message`.
func (c awsCLI) fail(t *testing.T, args ...string) awsError {
	t.Helper()
	res := c.run(t, args...)
	if res.code != 254 {
		t.Fatalf("want exit code 254 (service error), got:\n%s", res)
	}
	m := awsErrorRE.FindStringSubmatch(strings.TrimSpace(res.stderr))
	if m == nil {
		t.Fatalf("stderr is not a single `An error occurred (Type) when calling the Op operation: message` line:\n%s", res)
	}
	return awsError{Type: m[1], Op: m[2], Message: m[3]}
}

// wantError compares an error with the expected type and operation and
// requires a message for which match returns true.
func wantError(t *testing.T, got awsError, typ, op string, match func(string) bool, what string) {
	t.Helper()
	if got.Type != typ || got.Op != op {
		t.Errorf("got (%s) on %s, want (%s) on %s; message %q", got.Type, got.Op, typ, op, got.Message)
	}
	if !match(got.Message) {
		t.Errorf("message %q: want %s", got.Message, what)
	}
}

func decodeObject(s string) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("null")
	}
	return m, nil
}

// writeCredentials writes a shared-credentials file with one default profile.
func writeCredentials(t *testing.T, keyID, secret string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "credentials")
	body := fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", keyID, secret)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// readCredentials returns the default profile's key id and secret.
func readCredentials(t *testing.T, path string) (keyID, secret string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "aws_access_key_id":
			keyID = strings.TrimSpace(v)
		case "aws_secret_access_key":
			secret = strings.TrimSpace(v)
		}
	}
	if keyID == "" || secret == "" {
		t.Fatalf("%s has no aws_access_key_id/aws_secret_access_key:\n%s", path, b)
	}
	return keyID, secret
}

// wantMode0600 requires path to be a regular file readable by its owner only.
func wantMode0600(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode(); m != 0o600 {
		t.Errorf("%s has mode %v, want -rw------- (0600)", path, m)
	}
}

// runBerth runs a berth subcommand (not the server) and returns its stdout.
func runBerth(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, berthBin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("berth %s: %v\n--- stdout:\n%s\n--- stderr:\n%s", strings.Join(args, " "), err, &stdout, &stderr)
	}
	return stdout.String()
}
