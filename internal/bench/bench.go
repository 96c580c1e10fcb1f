// Package bench measures Berth. `berth bench tasks` (taskstart.go) times
// task starts — RunTask until RUNNING on an in-process server and agent —
// beside `ctr run -d` of the same image with the same networking (ctr.go).
// The rest of this file is the load generator for Berth's ECS API. It drives a
// running server over HTTP (AWS JSON 1.1, SigV4 signed) from many
// concurrent clients, and reports per operation the request count, errors,
// throughput and latency percentiles, and the CPU the load generator (and
// optionally the server) used per request. Requests are sent either with
// the real aws-sdk-go-v2 ECS client or, to leave more of the machine to a
// local server, as hand-built raw requests (see ClientKind).
//
// A run first registers a data set of task definitions (Families ×
// Revisions) so that describes and listings do real work, then measures.
// It is bounded (a request budget or a duration, whichever ends first),
// stops by itself, and only ever talks to a loopback address. Neither
// client retries, so every latency is that of one HTTP exchange; every
// answer is checked, and any failed request fails the run.
package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Op is one kind of request the load generator sends.
type Op string

// The operations.
const (
	// OpRegister registers a new revision of a family of the client's own
	// (so concurrent registrations do not conflict with each other).
	OpRegister Op = "register"
	// OpDescribeLatest describes a family by name: its latest ACTIVE revision.
	OpDescribeLatest Op = "describe-latest"
	// OpDescribeRevision describes family:revision.
	OpDescribeRevision Op = "describe-revision"
	// OpList lists the first page (100) of ACTIVE task definitions.
	OpList Op = "list"
)

// AllOps returns every operation, in report order.
func AllOps() []Op { return []Op{OpRegister, OpDescribeLatest, OpDescribeRevision, OpList} }

// ParseOp parses an operation name.
func ParseOp(s string) (Op, error) {
	for _, o := range AllOps() {
		if string(o) == s {
			return o, nil
		}
	}
	return "", fmt.Errorf("unknown operation %q (register, describe-latest, describe-revision or list)", s)
}

// API is the ECS operation behind o.
func (o Op) API() string {
	switch o {
	case OpRegister:
		return "RegisterTaskDefinition"
	case OpDescribeLatest, OpDescribeRevision:
		return "DescribeTaskDefinition"
	case OpList:
		return "ListTaskDefinitions"
	}
	return ""
}

// Limits that keep a run bounded.
const (
	MaxConcurrency = 2000
	MaxRequests    = 10_000_000
	MaxDuration    = 10 * time.Minute
	MaxDataSet     = 100_000 // Families × Revisions
)

// listPageSize is the page ListTaskDefinitions asks for.
const listPageSize = 100

// Config configures a run.
type Config struct {
	// Endpoint is the URL of the ECS API; its host must be a loopback address.
	Endpoint            string
	Region              string
	AccessKeyID, Secret string

	// Client is how requests are sent: ClientSDK (the default) or ClientRaw.
	Client ClientKind
	// ServerPID, when positive, is the process id of the server (on the
	// same machine, Linux only): its CPU time is then measured too.
	ServerPID int

	// Concurrency is the number of clients sending requests at once.
	Concurrency int
	// Requests is the number of measured requests per phase (0: no limit),
	// Duration the length of a phase (0: no limit). At least one is needed;
	// a phase ends at whichever comes first.
	Requests int
	Duration time.Duration
	// Ops are the operations to send, AllOps() when empty. Mixed (the
	// default), the requests cycle through them; Phased, each runs alone in
	// its own phase with every client.
	Ops    []Op
	Phased bool
	// Rate, when positive, paces each phase to this many requests per
	// second (all clients together) instead of sending as fast as the
	// clients can: request n is due at n/Rate seconds into the phase, is
	// sent by the next free client, and its latency counts from when it was
	// due, so time spent waiting for a free client is included.
	Rate float64

	// The data set: Families families of Revisions revisions each, named
	// FamilyPrefix-NN (defaults 20, 10, "bench"). Describes pick among
	// them at random; SkipPopulate assumes it is already registered.
	Families     int
	Revisions    int
	FamilyPrefix string
	SkipPopulate bool

	// Seed makes the random choice of families and revisions repeatable.
	Seed uint64
	// RequestTimeout bounds one request (default 30s).
	RequestTimeout time.Duration
	// Now is the clock latencies are measured with (default time.Now).
	Now func() time.Time
}

func (c *Config) withDefaults() {
	if len(c.Ops) == 0 {
		c.Ops = AllOps()
	}
	if c.Families == 0 {
		c.Families = 20
	}
	if c.Revisions == 0 {
		c.Revisions = 10
	}
	if c.FamilyPrefix == "" {
		c.FamilyPrefix = "bench"
	}
	if c.Client == "" {
		c.Client = ClientSDK
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate checks the configuration (after defaults are applied by Run).
func (c *Config) Validate() error {
	if err := checkLoopbackURL(c.Endpoint); err != nil {
		return err
	}
	if _, err := ParseClientKind(string(c.Client)); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if c.ServerPID < 0 {
		return fmt.Errorf("bench: server pid must be positive, not %d", c.ServerPID)
	}
	if c.AccessKeyID == "" || c.Secret == "" {
		return errors.New("bench: an access key id and secret are required")
	}
	if c.Concurrency < 1 || c.Concurrency > MaxConcurrency {
		return fmt.Errorf("bench: concurrency must be 1..%d, not %d", MaxConcurrency, c.Concurrency)
	}
	if c.Requests < 0 || c.Requests > MaxRequests {
		return fmt.Errorf("bench: requests must be 0..%d, not %d", MaxRequests, c.Requests)
	}
	if c.Duration < 0 || c.Duration > MaxDuration {
		return fmt.Errorf("bench: duration must be 0..%v, not %v", MaxDuration, c.Duration)
	}
	if c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) {
		return fmt.Errorf("bench: rate must be a positive number of requests per second or 0, not %v", c.Rate)
	}
	if c.Requests == 0 && c.Duration == 0 {
		return errors.New("bench: set a number of requests or a duration (or both)")
	}
	if c.Families < 1 || c.Revisions < 1 || c.Families*c.Revisions > MaxDataSet {
		return fmt.Errorf("bench: families × revisions must be 1..%d, not %d × %d", MaxDataSet, c.Families, c.Revisions)
	}
	seen := map[Op]bool{}
	for _, o := range c.Ops {
		if o.API() == "" {
			return fmt.Errorf("bench: unknown operation %q", o)
		}
		if seen[o] {
			return fmt.Errorf("bench: operation %q given twice", o)
		}
		seen[o] = true
	}
	return nil
}

// checkLoopbackURL accepts only http(s) URLs whose host is a loopback
// address or "localhost".
func checkLoopbackURL(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		return fmt.Errorf("bench: endpoint %q: %w", endpoint, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("bench: endpoint %q must be an http:// or https:// URL", endpoint)
	}
	if h := u.Hostname(); h != "localhost" {
		if ip := net.ParseIP(h); ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("bench: endpoint %q is not a loopback address; the load generator only targets this machine", endpoint)
		}
	}
	return nil
}

// OpReport is the outcome of one operation.
type OpReport struct {
	Op Op
	// Count is the number of completed requests, Errors how many of them
	// failed; FirstError describes the first failure.
	Count      int
	Errors     int
	FirstError string
	// Elapsed is the wall time of the phase the operation ran in, and
	// Throughput Count per second of it.
	Elapsed    time.Duration
	Throughput float64
	// CPUPerRequest is the CPU time this process used per request of the
	// phase the operation ran in, ServerCPUPerRequest the server's (see
	// Report.CPU and Report.ServerCPU); 0 where unknown. Phased, they are
	// the operation's own; mixed, the average of the mix.
	CPUPerRequest, ServerCPUPerRequest time.Duration
	// Latencies of the successful requests.
	Latencies
}

// Report is the outcome of a run.
type Report struct {
	Client      ClientKind
	Concurrency int
	Phased      bool
	// Rate is the paced request rate, 0 when unpaced.
	Rate float64
	// Populated is the number of task definitions registered before measuring.
	Populated           int
	Families, Revisions int
	// Elapsed is the wall time of all measured phases.
	Elapsed time.Duration
	// CPU is the CPU time (user + system) this process used during the
	// measured phases, 0 where unknown. With an in-process server it
	// includes the server's.
	CPU time.Duration
	// ServerPID is Config.ServerPID, and ServerCPU the CPU time that
	// process used during the measured phases (0 where unknown).
	ServerPID int
	ServerCPU time.Duration
	// Connections is the number of TCP connections the clients opened,
	// warm-up included: about Concurrency when connections are reused.
	Connections int64
	Ops         []OpReport
}

// Op returns the report of op, if it ran.
func (r Report) Op(op Op) (OpReport, bool) {
	for _, o := range r.Ops {
		if o.Op == op {
			return o, true
		}
	}
	return OpReport{}, false
}

// Requests is the total number of measured requests.
func (r Report) Requests() int {
	n := 0
	for _, o := range r.Ops {
		n += o.Count
	}
	return n
}

// CPUPerRequest is CPU over Requests: this process's CPU time per
// measured request, 0 when either is unknown.
func (r Report) CPUPerRequest() time.Duration { return perRequest(r.CPU, r.Requests()) }

// ServerCPUPerRequest is the server's CPU time per measured request, 0
// when unknown.
func (r Report) ServerCPUPerRequest() time.Duration { return perRequest(r.ServerCPU, r.Requests()) }

func perRequest(cpu time.Duration, n int) time.Duration {
	if n <= 0 {
		return 0
	}
	return cpu / time.Duration(n)
}

// Errors is the total number of failed requests.
func (r Report) Errors() int {
	n := 0
	for _, o := range r.Ops {
		n += o.Errors
	}
	return n
}

// Run populates the data set, then measures. The report is returned even
// when the run fails; it fails when any request failed.
func Run(ctx context.Context, cfg Config) (Report, error) {
	cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	hc, dials := newHTTPClient(cfg.Concurrency, cfg.RequestTimeout)
	defer hc.CloseIdleConnections()
	rep := Report{Client: cfg.Client, Concurrency: cfg.Concurrency, Phased: cfg.Phased, Rate: cfg.Rate,
		Families: cfg.Families, Revisions: cfg.Revisions, ServerPID: cfg.ServerPID}
	cpu := cpuMeter{pid: cfg.ServerPID}
	if err := cpu.check(); err != nil {
		return rep, err
	}
	var c client = newSDKClient(cfg, hc)
	if cfg.Client == ClientRaw {
		rc, err := newRawClient(ctx, cfg, hc)
		if err != nil {
			return rep, err
		}
		c = rc
	}
	if !cfg.SkipPopulate {
		n, err := populate(ctx, c, cfg)
		rep.Populated = n
		if err != nil {
			return rep, fmt.Errorf("bench: populate: %w", err)
		}
	}
	phases := [][]Op{cfg.Ops}
	if cfg.Phased {
		phases = nil
		for _, o := range cfg.Ops {
			phases = append(phases, []Op{o})
		}
	}
	used := cpuUse{selfOK: true, serverOK: cfg.ServerPID > 0} // the sum of no phases
	for _, ops := range phases {
		if err := warmUp(ctx, c, cfg); err != nil {
			return rep, fmt.Errorf("bench: warm-up: %w", err)
		}
		before := cpu.read()
		reps, elapsed := runPhase(ctx, c, cfg, ops)
		phase := cpu.read().since(before)
		used = used.plus(phase)
		self, server := phase.known()
		n := 0
		for _, r := range reps {
			n += r.Count
		}
		for k := range reps {
			reps[k].CPUPerRequest, reps[k].ServerCPUPerRequest = perRequest(self, n), perRequest(server, n)
		}
		rep.Elapsed += elapsed
		rep.Ops = append(rep.Ops, reps...)
		if err := ctx.Err(); err != nil {
			return rep, fmt.Errorf("bench: %w", err)
		}
	}
	rep.CPU, rep.ServerCPU = used.known()
	rep.Connections = dials.Load()
	if n := rep.Errors(); n > 0 {
		var first string
		for _, o := range rep.Ops {
			if o.FirstError != "" {
				first = fmt.Sprintf("%s: %s", o.Op, o.FirstError)
				break
			}
		}
		return rep, fmt.Errorf("bench: %d requests failed; first failure: %s", n, first)
	}
	return rep, nil
}

// newHTTPClient returns the client every simulated client shares: enough
// idle connections per host that none is closed between requests, and a
// dialer that refuses anything but loopback addresses. dials counts the
// connections opened.
func newHTTPClient(concurrency int, timeout time.Duration) (*http.Client, *atomic.Int64) {
	dials := new(atomic.Int64)
	d := &net.Dialer{
		Timeout: 5 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return fmt.Errorf("bench: refusing to connect to %s: not a loopback address", address)
			}
			dials.Add(1)
			return nil
		},
	}
	// MaxConnsPerHost: one connection per client. Without it the transport
	// dials a new connection when a client sends its next request before
	// its previous connection is back in the idle pool, and the pool then
	// closes the surplus: connection churn.
	tr := &http.Transport{
		DialContext:         d.DialContext,
		MaxConnsPerHost:     concurrency,
		MaxIdleConns:        concurrency,
		MaxIdleConnsPerHost: concurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{Transport: tr, Timeout: timeout}, dials
}

// familyName is family i of the data set.
func familyName(prefix string, i int) string { return fmt.Sprintf("%s-%02d", prefix, i) }

// workerFamily is the family client w registers revisions of.
func workerFamily(prefix string, w int) string { return fmt.Sprintf("%s-w%04d", prefix, w) }

// populate registers Revisions revisions of each of the Families families,
// with up to Concurrency clients (one family per client at a time, so
// revisions of a family never race).
func populate(ctx context.Context, c client, cfg Config) (int, error) {
	workers := min(cfg.Concurrency, cfg.Families)
	var (
		wg    sync.WaitGroup
		count atomic.Int64
		errs  = make([]error, workers)
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for w := range workers {
		wg.Go(func() {
			for f := w; f < cfg.Families; f += workers {
				name := familyName(cfg.FamilyPrefix, f)
				for r := 1; r <= cfg.Revisions; r++ {
					if err := c.register(ctx, name, r); err != nil {
						errs[w] = fmt.Errorf("register %s: %w", name, err)
						cancel()
						return
					}
					count.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return int(count.Load()), errors.Join(errs...)
}

// warmUp has every client send one request, unmeasured, so that the
// measured phase starts with its connections open.
func warmUp(ctx context.Context, c client, cfg Config) error {
	var wg sync.WaitGroup
	errs := make([]error, cfg.Concurrency)
	for w := range cfg.Concurrency {
		wg.Go(func() { errs[w] = c.describe(ctx, w%cfg.Families, 1) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// opStats is what one client records for one operation.
type opStats struct {
	samples  []time.Duration
	errors   int
	firstErr error
}

// runPhase runs Concurrency clients sending ops until the request budget
// or the duration is used up, and reports per op.
func runPhase(ctx context.Context, c client, cfg Config, ops []Op) ([]OpReport, time.Duration) {
	var (
		wg     sync.WaitGroup
		issued atomic.Int64
		start  = make(chan struct{})
		stats  = make([][]opStats, cfg.Concurrency)
		t0     time.Time
	)
	deadline := func() time.Time { return t0.Add(cfg.Duration) }
	for w := range cfg.Concurrency {
		stats[w] = make([]opStats, len(ops))
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(cfg.Seed, uint64(w)))
			<-start
			for {
				if ctx.Err() != nil {
					return
				}
				// Tickets number the requests of the phase; they pick the
				// operation too, so the mix is even whatever the clients' speed.
				ticket := issued.Add(1) - 1
				if cfg.Requests > 0 && ticket >= int64(cfg.Requests) {
					return
				}
				began := cfg.Now()
				if cfg.Rate > 0 {
					due := t0.Add(time.Duration(float64(ticket) / cfg.Rate * float64(time.Second)))
					if cfg.Duration > 0 && !due.Before(deadline()) {
						return
					}
					if !sleepUntil(ctx, cfg.Now, due) {
						return
					}
					began = due
				} else if cfg.Duration > 0 && !began.Before(deadline()) {
					return
				}
				k := int(ticket % int64(len(ops)))
				err := do(ctx, c, cfg, ops[k], w, rng)
				lat := cfg.Now().Sub(began)
				s := &stats[w][k]
				if err != nil {
					s.errors++
					if s.firstErr == nil {
						s.firstErr = err
					}
					continue
				}
				s.samples = append(s.samples, lat)
			}
		})
	}
	t0 = cfg.Now()
	close(start)
	wg.Wait()
	elapsed := cfg.Now().Sub(t0)

	out := make([]OpReport, len(ops))
	for k, o := range ops {
		r := OpReport{Op: o, Elapsed: elapsed}
		var samples []time.Duration
		for w := range stats {
			s := stats[w][k]
			samples = append(samples, s.samples...)
			r.Errors += s.errors
			if r.FirstError == "" && s.firstErr != nil {
				r.FirstError = s.firstErr.Error()
			}
		}
		r.Count = len(samples) + r.Errors
		r.Throughput = Throughput(r.Count, elapsed)
		r.Latencies = Summarize(samples)
		out[k] = r
	}
	return out, elapsed
}

// sleepUntil waits until now() reaches t; false if ctx ended first.
func sleepUntil(ctx context.Context, now func() time.Time, t time.Time) bool {
	d := t.Sub(now())
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// do sends one request of op as client w.
func do(ctx context.Context, c client, cfg Config, op Op, w int, rng *rand.Rand) error {
	switch op {
	case OpRegister:
		return c.register(ctx, workerFamily(cfg.FamilyPrefix, w), 1)
	case OpDescribeLatest:
		return c.describe(ctx, rng.IntN(cfg.Families), 0)
	case OpDescribeRevision:
		return c.describe(ctx, rng.IntN(cfg.Families), 1+rng.IntN(cfg.Revisions))
	case OpList:
		return c.list(ctx)
	}
	return fmt.Errorf("unknown operation %q", op)
}
