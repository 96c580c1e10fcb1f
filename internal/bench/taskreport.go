package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable writes the report as a table per mode, with the verdicts.
func (r TaskStartReport) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "task start: RunTask until RUNNING is committed, one task at a time, %d measured after %d warm-up per mode\n",
		r.Tasks, r.WarmUp)
	fmt.Fprintf(w, "task: one container, %s %s (cached), cpu %d, memory %d MiB, no port mapping\n",
		r.Image, strings.Join(r.Command, " "), taskStartCPU, taskStartMemory)
	fmt.Fprintf(w, "baseline: ctr run -d of the same image and command, same limits, --cni for bridge\n")
	for _, m := range r.Modes {
		fmt.Fprintf(w, "\nmode %s\n", m.Mode)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "\tN\tFAILED\tMEDIAN ms\tP90 ms\tP99 ms\tMAX ms\t")
		for _, s := range []struct {
			name string
			s    StartSeries
		}{{"berth", m.Berth}, {"ctr run -d", m.Ctr}} {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t\n", s.name, len(s.s.Samples), s.s.Failed,
				millis(s.s.P50), millis(s.s.P90), millis(s.s.P99), millis(s.s.Max))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(w, "median(berth)/median(ctr) = %.2f (target ≤ %.1f): %s\n", m.Ratio, TargetMaxRatio, verdict(m.RatioOK))
		fmt.Fprintf(w, "p99(berth) = %s ms (target < %s ms): %s\n", millis(m.Berth.P99), millis(TargetMaxP99), verdict(m.P99OK))
		for _, s := range []struct {
			name string
			s    StartSeries
		}{{"berth", m.Berth}, {"ctr", m.Ctr}} {
			if s.s.FirstError != "" {
				fmt.Fprintf(w, "%s: %d failed; first: %s\n", s.name, s.s.Failed, s.s.FirstError)
			}
		}
		if m.Phases != nil {
			if err := m.Phases.writeTable(w); err != nil {
				return err
			}
		}
	}
	if r.Incomplete {
		fmt.Fprintf(w, "\noverall: INCOMPLETE (the run ended early)\n")
		return nil
	}
	fmt.Fprintf(w, "\noverall: %s\n", verdict(r.Pass()))
	return nil
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

// writeTable writes the milestones of the measured starts.
func (p *PhaseReport) writeTable(w io.Writer) error {
	fmt.Fprintf(w, "\nwhere the time goes (%d measured starts; milestones in order of their median time):\n", p.Starts)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MILESTONE\tN\tAT p50 ms\tAT p90 ms\tSTEP p50 ms\tSTEP p90 ms")
	for _, s := range p.Steps {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", s.Milestone, s.N, millis(s.AtP50), millis(s.AtP90), millis(s.StepP50), millis(s.StepP90))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if p.StoreCommit > 0 {
		fmt.Fprintf(w, "one fsync'd bbolt write in the data dir: %s ms (median)\n", millis(p.StoreCommit))
	}
	return nil
}

// The JSON form of the report: durations in milliseconds.
type (
	taskStartJSON struct {
		Tasks          int            `json:"tasks"`
		WarmUp         int            `json:"warmUp"`
		Image          string         `json:"image"`
		Command        []string       `json:"command"`
		TargetMaxRatio float64        `json:"targetMaxRatio"`
		TargetMaxP99Ms float64        `json:"targetMaxP99Ms"`
		Modes          []taskModeJSON `json:"modes"`
		Incomplete     bool           `json:"incomplete,omitempty"`
		Pass           bool           `json:"pass"`
	}
	taskModeJSON struct {
		Mode    string      `json:"mode"`
		Berth   seriesJSON  `json:"berth"`
		Ctr     seriesJSON  `json:"ctr"`
		Ratio   float64     `json:"ratio"`
		RatioOK bool        `json:"ratioOk"`
		P99OK   bool        `json:"p99Ok"`
		Pass    bool        `json:"pass"`
		Phases  *phasesJSON `json:"phases,omitempty"`
	}
	seriesJSON struct {
		N          int       `json:"n"`
		Failed     int       `json:"failed"`
		FirstError string    `json:"firstError,omitempty"`
		MedianMs   float64   `json:"medianMs"`
		P90Ms      float64   `json:"p90Ms"`
		P99Ms      float64   `json:"p99Ms"`
		MaxMs      float64   `json:"maxMs"`
		SamplesMs  []float64 `json:"samplesMs"`
	}
	phasesJSON struct {
		Starts        int        `json:"starts"`
		StoreCommitMs float64    `json:"storeCommitMs,omitempty"`
		Steps         []stepJSON `json:"steps"`
	}
	stepJSON struct {
		Milestone string  `json:"milestone"`
		N         int     `json:"n"`
		AtP50Ms   float64 `json:"atP50Ms"`
		AtP90Ms   float64 `json:"atP90Ms"`
		StepP50Ms float64 `json:"stepP50Ms"`
		StepP90Ms float64 `json:"stepP90Ms"`
	}
)

func toMs(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func seriesOf(s StartSeries) seriesJSON {
	out := seriesJSON{N: len(s.Samples), Failed: s.Failed, FirstError: s.FirstError,
		MedianMs: toMs(s.P50), P90Ms: toMs(s.P90), P99Ms: toMs(s.P99), MaxMs: toMs(s.Max), SamplesMs: []float64{}}
	for _, d := range s.Samples {
		out.SamplesMs = append(out.SamplesMs, toMs(d))
	}
	return out
}

// WriteJSON writes the report as one indented JSON document.
func (r TaskStartReport) WriteJSON(w io.Writer) error {
	out := taskStartJSON{Tasks: r.Tasks, WarmUp: r.WarmUp, Image: r.Image, Command: r.Command,
		TargetMaxRatio: TargetMaxRatio, TargetMaxP99Ms: toMs(TargetMaxP99), Modes: []taskModeJSON{}, Incomplete: r.Incomplete, Pass: r.Pass()}
	for _, m := range r.Modes {
		mj := taskModeJSON{Mode: m.Mode, Berth: seriesOf(m.Berth), Ctr: seriesOf(m.Ctr), Ratio: m.Ratio,
			RatioOK: m.RatioOK, P99OK: m.P99OK, Pass: m.Pass()}
		if p := m.Phases; p != nil {
			pj := &phasesJSON{Starts: p.Starts, StoreCommitMs: toMs(p.StoreCommit), Steps: []stepJSON{}}
			for _, s := range p.Steps {
				pj.Steps = append(pj.Steps, stepJSON{Milestone: s.Milestone, N: s.N, AtP50Ms: toMs(s.AtP50), AtP90Ms: toMs(s.AtP90),
					StepP50Ms: toMs(s.StepP50), StepP90Ms: toMs(s.StepP90)})
			}
			mj.Phases = pj
		}
		out.Modes = append(out.Modes, mj)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
