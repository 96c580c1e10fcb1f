package bench_test

import (
	"context"
	"math"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/berth/berth/internal/bench"
	"github.com/berth/berth/internal/servertest"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func baseConfig(srv *servertest.Server) bench.Config {
	return bench.Config{
		Endpoint:    srv.Endpoint(),
		Region:      srv.Config.Region,
		AccessKeyID: srv.Admin.AccessKeyID,
		Secret:      srv.Admin.SecretAccessKey,
		Concurrency: 4,
		Requests:    40,
		Families:    3,
		Revisions:   4,
	}
}

func TestValidate(t *testing.T) {
	good := bench.Config{Endpoint: "http://127.0.0.1:8830", AccessKeyID: "AK", Secret: "S", Concurrency: 1,
		Requests: 1, Families: 1, Revisions: 1, Client: bench.ClientSDK}
	tests := []struct {
		name    string
		change  func(*bench.Config)
		wantErr string // "" means valid
	}{
		{"valid", func(*bench.Config) {}, ""},
		{"localhost", func(c *bench.Config) { c.Endpoint = "http://localhost:1" }, ""},
		{"ipv6 loopback", func(c *bench.Config) { c.Endpoint = "http://[::1]:1" }, ""},
		{"other 127/8 address", func(c *bench.Config) { c.Endpoint = "https://127.0.0.2:443" }, ""},
		{"duration only", func(c *bench.Config) { c.Requests, c.Duration = 0, time.Second }, ""},
		{"remote host", func(c *bench.Config) { c.Endpoint = "http://ecs.us-east-1.amazonaws.com" }, "loopback"},
		{"private address", func(c *bench.Config) { c.Endpoint = "http://10.0.0.1:8830" }, "loopback"},
		{"not a URL scheme", func(c *bench.Config) { c.Endpoint = "127.0.0.1:8830" }, "endpoint"},
		{"ftp scheme", func(c *bench.Config) { c.Endpoint = "ftp://127.0.0.1/" }, "http"},
		{"no credentials", func(c *bench.Config) { c.Secret = "" }, "secret"},
		{"zero concurrency", func(c *bench.Config) { c.Concurrency = 0 }, "concurrency"},
		{"too much concurrency", func(c *bench.Config) { c.Concurrency = bench.MaxConcurrency + 1 }, "concurrency"},
		{"unbounded", func(c *bench.Config) { c.Requests, c.Duration = 0, 0 }, "requests or a duration"},
		{"too long", func(c *bench.Config) { c.Duration = bench.MaxDuration + time.Second }, "duration"},
		{"too many requests", func(c *bench.Config) { c.Requests = bench.MaxRequests + 1 }, "requests"},
		{"negative requests", func(c *bench.Config) { c.Requests = -1 }, "requests"},
		{"data set too large", func(c *bench.Config) { c.Families, c.Revisions = 1000, 1000 }, "families"},
		{"no families", func(c *bench.Config) { c.Families = 0 }, "families"},
		{"unknown op", func(c *bench.Config) { c.Ops = []bench.Op{"delete"} }, "unknown operation"},
		{"paced", func(c *bench.Config) { c.Rate = 500 }, ""},
		{"negative rate", func(c *bench.Config) { c.Rate = -1 }, "rate"},
		{"infinite rate", func(c *bench.Config) { c.Rate = math.Inf(1) }, "rate"},
		{"op twice", func(c *bench.Config) { c.Ops = []bench.Op{bench.OpList, bench.OpList} }, "twice"},
		{"raw client", func(c *bench.Config) { c.Client = bench.ClientRaw }, ""},
		{"unknown client", func(c *bench.Config) { c.Client = "curl" }, "unknown client"},
		{"server pid", func(c *bench.Config) { c.ServerPID = 1 }, ""},
		{"negative server pid", func(c *bench.Config) { c.ServerPID = -1 }, "pid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.change(&c)
			err := c.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Validate = %v, want an error about %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseOp(t *testing.T) {
	for _, o := range bench.AllOps() {
		got, err := bench.ParseOp(string(o))
		if err != nil || got != o {
			t.Errorf("ParseOp(%q) = %q, %v", o, got, err)
		}
		if o.API() == "" {
			t.Errorf("%q has no ECS operation", o)
		}
	}
	if _, err := bench.ParseOp("describe"); err == nil {
		t.Error("ParseOp(describe) succeeded")
	}
}

func TestParseClientKind(t *testing.T) {
	for _, k := range bench.ClientKinds() {
		if got, err := bench.ParseClientKind(string(k)); err != nil || got != k {
			t.Errorf("ParseClientKind(%q) = %q, %v", k, got, err)
		}
	}
	for _, s := range []string{"", "SDK", "http"} {
		if _, err := bench.ParseClientKind(s); err == nil {
			t.Errorf("ParseClientKind(%q) succeeded", s)
		}
	}
}

func TestRunMixed(t *testing.T) {
	for _, kind := range bench.ClientKinds() {
		t.Run(string(kind), func(t *testing.T) { testRunMixed(t, kind) })
	}
}

func testRunMixed(t *testing.T, kind bench.ClientKind) {
	srv := servertest.Start(t)
	cfg := baseConfig(srv)
	cfg.Client = kind
	rep, err := bench.Run(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Client != kind || rep.Requests() != cfg.Requests {
		t.Errorf("report of client %q with %d requests", rep.Client, rep.Requests())
	}
	if rep.Populated != 12 || rep.Errors() != 0 || len(rep.Ops) != 4 {
		t.Fatalf("populated %d, errors %d, ops %d", rep.Populated, rep.Errors(), len(rep.Ops))
	}
	total := 0
	for _, o := range rep.Ops {
		// The requests cycle through the four operations: an even mix.
		if o.Count != 10 || o.Errors != 0 || o.Throughput <= 0 {
			t.Errorf("%s: count %d errors %d throughput %v", o.Op, o.Count, o.Errors, o.Throughput)
		}
		if !(0 < o.P50 && o.P50 <= o.P90 && o.P90 <= o.P99 && o.P99 <= o.Max) {
			t.Errorf("%s: percentiles out of order: %+v", o.Op, o.Latencies)
		}
		total += o.Count
	}
	if total != cfg.Requests {
		t.Errorf("sent %d requests, want %d", total, cfg.Requests)
	}
	// Connections are reused: about one per client (a few more when a
	// request is sent just before another one's connection is back in the
	// pool), not one per request.
	if rep.Connections < 1 || rep.Connections > 2*int64(cfg.Concurrency) {
		t.Errorf("opened %d connections for %d clients", rep.Connections, cfg.Concurrency)
	}
	// The registrations really happened: each client that drew a register
	// from the random mix made its own family (a client may draw none).
	c := srv.ECS(t)
	fams, err := c.ListTaskDefinitionFamilies(testCtx(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	registered := 0
	for _, o := range rep.Ops {
		if o.Op == bench.OpRegister {
			registered = o.Count
		}
	}
	if got := len(fams.Families) - cfg.Families; got < min(1, registered) || got > min(cfg.Concurrency, registered) {
		t.Errorf("families after the run: %v (%d registrations by %d clients)", fams.Families, registered, cfg.Concurrency)
	}
	var b strings.Builder
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"4 concurrent clients", "describe-latest", "P99 ms", "3 families × 4 revisions"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

func TestRunPhasedWithDuration(t *testing.T) {
	srv := servertest.Start(t)
	cfg := baseConfig(srv)
	cfg.Phased = true
	cfg.Requests = 0
	cfg.Duration = 100 * time.Millisecond
	cfg.Ops = []bench.Op{bench.OpDescribeRevision, bench.OpList}
	rep, err := bench.Run(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Ops) != 2 || rep.Ops[0].Op != bench.OpDescribeRevision || rep.Ops[1].Op != bench.OpList {
		t.Fatalf("ops %+v", rep.Ops)
	}
	for _, o := range rep.Ops {
		if o.Count == 0 || o.Elapsed < cfg.Duration {
			t.Errorf("%s: %d requests in %v", o.Op, o.Count, o.Elapsed)
		}
	}
	if rep.Elapsed != rep.Ops[0].Elapsed+rep.Ops[1].Elapsed {
		t.Errorf("elapsed %v is not the sum of the phases", rep.Elapsed)
	}
}

func TestRunPaced(t *testing.T) {
	srv := servertest.Start(t)
	cfg := baseConfig(srv)
	// 100 requests/s for 200ms: requests 0..19 are due before the end,
	// every 10ms, whether or not the clients keep up.
	cfg.Requests = 0
	cfg.Duration = 200 * time.Millisecond
	cfg.Rate = 100
	cfg.Ops = []bench.Op{bench.OpDescribeRevision}
	rep, err := bench.Run(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	o, _ := rep.Op(bench.OpDescribeRevision)
	if o.Count != 20 || rep.Rate != 100 {
		t.Fatalf("paced run sent %d requests (rate %v), want 20", o.Count, rep.Rate)
	}
	// Request 19 is due 190ms in: the phase cannot end before.
	if o.Elapsed < 190*time.Millisecond {
		t.Errorf("paced phase ended after %v", o.Elapsed)
	}
}

func TestRunFailsLoudly(t *testing.T) {
	for _, kind := range bench.ClientKinds() {
		t.Run(string(kind), func(t *testing.T) { testRunFailsLoudly(t, kind) })
	}
}

func testRunFailsLoudly(t *testing.T, kind bench.ClientKind) {
	srv := servertest.Start(t)
	cfg := baseConfig(srv)
	cfg.Client = kind
	if _, err := bench.Run(testCtx(t), cfg); err != nil {
		t.Fatal(err)
	}
	// The same data set, but describes now ask for revisions 1..40 of which
	// only 1..4 exist.
	cfg.SkipPopulate = true
	cfg.Revisions = 40
	cfg.Ops = []bench.Op{bench.OpDescribeRevision}
	rep, err := bench.Run(testCtx(t), cfg)
	if err == nil || !strings.Contains(err.Error(), "requests failed") {
		t.Fatalf("Run = %v, want a failure", err)
	}
	o, ok := rep.Op(bench.OpDescribeRevision)
	if !ok || o.Count != cfg.Requests || o.Errors == 0 || o.FirstError == "" {
		t.Fatalf("report %+v", o)
	}
	if !strings.Contains(o.FirstError, "ClientException") {
		t.Errorf("first error %q does not name the ECS error", o.FirstError)
	}
	if rep.Populated != 0 {
		t.Errorf("populated %d with SkipPopulate", rep.Populated)
	}

	// A wrong secret fails at once, while populating.
	cfg.SkipPopulate = false
	cfg.Secret = "wrong"
	if _, err := bench.Run(testCtx(t), cfg); err == nil || !strings.Contains(err.Error(), "populate") {
		t.Fatalf("Run with a wrong secret = %v", err)
	}
}

func TestRunServerCPU(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("another process's CPU time is read from /proc")
	}
	srv := servertest.Start(t)
	cfg := baseConfig(srv)
	cfg.Client = bench.ClientRaw
	cfg.Requests = 400
	// The server runs in this process: both meters read the same clock,
	// rusage to the microsecond and /proc in 10ms ticks.
	cfg.ServerPID = os.Getpid()
	rep, err := bench.Run(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.ServerPID != cfg.ServerPID {
		t.Errorf("report names server pid %d", rep.ServerPID)
	}
	if d := rep.ServerCPU - rep.CPU; d < -20*time.Millisecond || d > 20*time.Millisecond {
		t.Errorf("server CPU %v, this process %v: the same process", rep.ServerCPU, rep.CPU)
	}
	var b strings.Builder
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"raw AWS JSON 1.1", "CPU: this process"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}

	// A process that does not exist fails the run before it sends anything.
	cfg.ServerPID = 1 << 30
	if _, err := bench.Run(testCtx(t), cfg); err == nil || !strings.Contains(err.Error(), "server process") {
		t.Fatalf("Run with a missing server process = %v", err)
	}
}

func TestRunRefusesRemoteEndpoints(t *testing.T) {
	cfg := bench.Config{Endpoint: "http://192.0.2.1:8830", AccessKeyID: "AK", Secret: "S", Concurrency: 1, Requests: 1}
	if _, err := bench.Run(testCtx(t), cfg); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("Run = %v", err)
	}
}

// BenchmarkTaskDefinitionAPI runs 200 concurrent clients against an
// in-process server and reports latency percentiles and throughput per
// operation, the CPU cores the process (server and load generator) used
// and its CPU time per request: each operation alone with every client
// (phased), all mixed, and phased again but paced to 500 requests/s (a
// load every operation sustains) instead of as fast as the clients can;
// with the AWS SDK client, then phased and mixed again with the raw client,
// which takes far less of the machine from the server. Each iteration sends
// 2,000 requests per operation (500 paced, one second); run it with
// -benchtime 1x (or Nx for more). It asserts nothing about the figures.
func BenchmarkTaskDefinitionAPI(b *testing.B) {
	const clients = 200
	cases := []struct {
		name   string
		client bench.ClientKind
		phased bool
		rate   float64
		perOp  int
	}{
		{"phased", bench.ClientSDK, true, 0, 2000},
		{"mixed", bench.ClientSDK, false, 0, 2000},
		{"phased-paced-500rps", bench.ClientSDK, true, 500, 500},
		{"raw-phased", bench.ClientRaw, true, 0, 2000},
		{"raw-mixed", bench.ClientRaw, false, 0, 2000},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			srv := servertest.Start(b)
			cfg := bench.Config{
				Endpoint:    srv.Endpoint(),
				Region:      srv.Config.Region,
				AccessKeyID: srv.Admin.AccessKeyID,
				Secret:      srv.Admin.SecretAccessKey,
				Client:      tc.client,
				Concurrency: clients,
				Requests:    tc.perOp * b.N,
				Phased:      tc.phased,
				Rate:        tc.rate,
			}
			if !tc.phased {
				cfg.Requests *= len(bench.AllOps())
			}
			b.ResetTimer()
			rep, err := bench.Run(context.Background(), cfg)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			for _, o := range rep.Ops {
				b.ReportMetric(ms(o.P50), "p50-ms-"+string(o.Op))
				b.ReportMetric(ms(o.P99), "p99-ms-"+string(o.Op))
				b.ReportMetric(o.Throughput, "req/s-"+string(o.Op))
			}
			if rep.Elapsed > 0 {
				b.ReportMetric(rep.CPU.Seconds()/rep.Elapsed.Seconds(), "cpu-cores")
			}
			b.ReportMetric(float64(rep.CPUPerRequest())/float64(time.Microsecond), "cpu-µs/req")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
