package bench

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	bolt "go.etcd.io/bbolt"
)

// Milestones of a Berth task start, as the phase recorder sees them. The
// ones from logs depend on the messages of the server's and agent's
// packages (debug level); a milestone whose message changed is just
// missing from the report.
const (
	msRunTaskReturned   = "RunTask answered (client)"
	msPendingCommitted  = "PENDING committed (store watch)"
	msPayloadSent       = "payload sent (server ACS)"
	msTaskAccepted      = "task accepted (engine Apply, record saved)"
	msPayloadAcked      = "payload acknowledged (agent ACS)"
	msNetworkBegan      = "network setup began (after cgroup)"
	msNetworkDone       = "network set up"
	msImageReady        = "image ready: PULLED (engine)"
	msCtrdContainer     = "containerd: container record created"
	msCtrdSnapshot      = "containerd: snapshot prepared"
	msContainerCreated  = "container CREATED (engine)"
	msCtrdTaskCreate    = "containerd: task created (shim + runc create)"
	msCtrdTaskStart     = "containerd: task started (runc start)"
	msContainerRunning  = "container RUNNING (engine)"
	msTaskRunning       = "task RUNNING (engine)"
	msRunningCommitted  = "RUNNING committed (store watch)"
	msRunningReportSent = "RUNNING report answered (agent)"
)

// containerdTopics maps the containerd events the recorder follows to
// milestones.
var containerdTopics = map[string]string{
	"/containers/create": msCtrdContainer,
	"/snapshot/prepare":  msCtrdSnapshot,
	"/tasks/create":      msCtrdTaskCreate,
	"/tasks/start":       msCtrdTaskStart,
}

// stamp is one milestone passed at a time.
type stamp struct {
	at   time.Time
	name string
}

// recorderState is shared by a phase recorder and its derived handlers.
type recorderState struct {
	mu     sync.Mutex
	stamps []stamp
	cancel context.CancelFunc // ends the containerd subscription
	done   chan struct{}
}

// phaseRecorder is a slog handler that notes when the server and agent
// log the milestones of a task start, and forwards every record its next
// handler wants. It enables debug records, which costs the logging code a
// little: the benchmark only installs it with Config.Phases.
type phaseRecorder struct {
	next  slog.Handler
	attrs []slog.Attr
	st    *recorderState
}

func newPhaseRecorder(next slog.Handler) *phaseRecorder {
	return &phaseRecorder{next: next, st: &recorderState{}}
}

// Enabled implements slog.Handler: every level, for the debug milestones.
func (h *phaseRecorder) Enabled(context.Context, slog.Level) bool { return true }

// Handle implements slog.Handler.
func (h *phaseRecorder) Handle(ctx context.Context, r slog.Record) error {
	for _, s := range milestonesOf(r) {
		h.st.add(s)
	}
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

// WithAttrs implements slog.Handler.
func (h *phaseRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &phaseRecorder{next: h.next.WithAttrs(as), attrs: append(slices.Clip(h.attrs), as...), st: h.st}
}

// WithGroup implements slog.Handler.
func (h *phaseRecorder) WithGroup(name string) slog.Handler {
	return &phaseRecorder{next: h.next.WithGroup(name), attrs: h.attrs, st: h.st}
}

// milestonesOf returns the milestones a log record marks.
func milestonesOf(r slog.Record) []stamp {
	attr := func(key string) slog.Value {
		var v slog.Value
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == key {
				v = a.Value
				return false
			}
			return true
		})
		return v
	}
	one := func(name string) []stamp { return []stamp{{r.Time, name}} }
	switch r.Message {
	case "sent payload":
		return one(msPayloadSent)
	case "ACS: payload accepted":
		return one(msPayloadAcked)
	case "task accepted":
		return one(msTaskAccepted)
	case "container status":
		switch attr("known").String() {
		case "PULLED":
			return one(msImageReady)
		case "CREATED":
			return one(msContainerCreated)
		case "RUNNING":
			return one(msContainerRunning)
		}
	case "task status":
		if attr("known").String() == "RUNNING" {
			return one(msTaskRunning)
		}
	case "task network set up":
		out := one(msNetworkDone)
		if took := attr("took"); took.Kind() == slog.KindDuration {
			out = append(out, stamp{r.Time.Add(-took.Duration()), msNetworkBegan})
		}
		return out
	case "state change reported":
		return one(msRunningReportSent)
	}
	return nil
}

func (s *recorderState) add(st stamp) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stamps = append(s.stamps, st)
}

// subscribe follows containerd's events of namespace until stop.
func (h *phaseRecorder) subscribe(ctx context.Context, cd *containerd.Client, namespace string) error {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ch, errs := cd.Subscribe(ctx, fmt.Sprintf("namespace==%q", namespace))
	h.st.cancel, h.st.done = cancel, make(chan struct{})
	go func() {
		defer close(h.st.done)
		for {
			select {
			case env := <-ch:
				if env == nil {
					return
				}
				if name, ok := containerdTopics[env.Topic]; ok {
					h.st.add(stamp{env.Timestamp, name})
				}
			case <-errs:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return nil
}

// stop ends the containerd subscription.
func (h *phaseRecorder) stop() {
	if h.st.cancel != nil {
		h.st.cancel()
		<-h.st.done
		h.st.cancel = nil
	}
}

// phases returns the first time each milestone was passed in [from, to),
// as offsets from from, and forgets the stamps before to.
func (h *phaseRecorder) phases(from, to time.Time) taskPhases {
	p := taskPhases{t0: from, at: map[string]time.Duration{}}
	h.st.mu.Lock()
	defer h.st.mu.Unlock()
	var keep []stamp
	for _, s := range h.st.stamps {
		switch {
		case !s.at.Before(to):
			keep = append(keep, s)
		case !s.at.Before(from):
			p.add(s.name, s.at)
		}
	}
	h.st.stamps = keep
	return p
}

// taskPhases are the milestones of one task start, as offsets from the
// RunTask call.
type taskPhases struct {
	t0 time.Time
	at map[string]time.Duration
}

// add notes name at t unless an earlier time is known.
func (p *taskPhases) add(name string, t time.Time) {
	d := t.Sub(p.t0)
	if old, ok := p.at[name]; !ok || d < old {
		p.at[name] = d
	}
}

// PhaseStep is one milestone of the measured starts.
type PhaseStep struct {
	Milestone string
	// N is the number of starts the milestone was seen in.
	N int
	// AtP50, AtP90: time from the RunTask call to the milestone.
	AtP50, AtP90 time.Duration
	// StepP50, StepP90: time from the previous milestone (in the order of
	// AtP50) to this one, per start. Milestones of work done in parallel
	// (the image check beside the network setup) can make it negative.
	StepP50, StepP90 time.Duration
}

// PhaseReport is where the time of the measured starts went.
type PhaseReport struct {
	Starts int
	Steps  []PhaseStep
	// StoreCommit is the median time of one fsync'd bbolt write in the
	// run's data directory: the cost of each save of the agent's task
	// record (and of each store commit of the server).
	StoreCommit time.Duration
}

// summarizePhases orders the milestones by their median time and computes
// the steps between them.
func summarizePhases(tasks []taskPhases) *PhaseReport {
	rep := &PhaseReport{Starts: len(tasks)}
	offsets := map[string][]time.Duration{}
	for _, t := range tasks {
		for name, d := range t.at {
			offsets[name] = append(offsets[name], d)
		}
	}
	for name, ds := range offsets {
		l := Summarize(ds)
		rep.Steps = append(rep.Steps, PhaseStep{Milestone: name, N: len(ds), AtP50: l.P50, AtP90: l.P90})
	}
	slices.SortFunc(rep.Steps, func(a, b PhaseStep) int {
		return cmp.Or(cmp.Compare(a.AtP50, b.AtP50), cmp.Compare(a.Milestone, b.Milestone))
	})
	for k := 1; k < len(rep.Steps); k++ {
		prev, cur := rep.Steps[k-1].Milestone, rep.Steps[k].Milestone
		var steps []time.Duration
		for _, t := range tasks {
			a, okA := t.at[prev]
			b, okB := t.at[cur]
			if okA && okB {
				steps = append(steps, b-a)
			}
		}
		l := Summarize(steps)
		rep.Steps[k].StepP50, rep.Steps[k].StepP90 = l.P50, l.P90
	}
	if len(rep.Steps) > 0 {
		rep.Steps[0].StepP50, rep.Steps[0].StepP90 = rep.Steps[0].AtP50, rep.Steps[0].AtP90
	}
	return rep
}

// storeCommitTime measures n fsync'd bbolt writes of a small value in
// dir and returns the median.
func storeCommitTime(dir string, n int) (time.Duration, error) {
	path := filepath.Join(dir, "fsync-probe.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	value := make([]byte, 2048)
	var samples []time.Duration
	for i := range n {
		start := time.Now()
		err := db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("probe"))
			if err != nil {
				return err
			}
			return b.Put([]byte(fmt.Sprint(i%4)), value)
		})
		if err != nil {
			return 0, err
		}
		samples = append(samples, time.Since(start))
	}
	return Summarize(samples).P50, nil
}
