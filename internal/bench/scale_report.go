package bench

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// Targets of the scale benchmark.
const (
	// TargetPlacementsPerSecond bounds the pure placement function's rate
	// from below, on every workload.
	TargetPlacementsPerSecond = 5000
	// TargetTasksPerSecond bounds API call to RUNNING from below, per phase.
	TargetTasksPerSecond = 1000
)

// Pass reports whether every target was met and every check held.
func (r ScaleReport) Pass() bool {
	for _, p := range r.Placement {
		if p.PerSecond() < TargetPlacementsPerSecond {
			return false
		}
	}
	for _, p := range []PhaseThroughput{r.Service, r.RunTask} {
		if p.Tasks > 0 && p.PerSecond() < TargetTasksPerSecond {
			return false
		}
	}
	return r.PlacementMismatch == "" && (r.Service.Tasks == 0 || (r.ServiceCompleted && r.RunningAtEnd == r.Service.Tasks))
}

func passFail(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

// WriteTable writes the report for people.
func (r ScaleReport) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "instances\t%d (connected in %s)\n", r.Instances, r.RegisterDuration.Round(time.Millisecond))
	phase := func(name string, p PhaseThroughput) {
		if p.Tasks > 0 {
			fmt.Fprintf(tw, "%s\t%d tasks in %s\t%.0f tasks/s\t%s (>= %d/s)\n", name, p.Tasks, p.Duration.Round(time.Millisecond),
				p.PerSecond(), passFail(p.PerSecond() >= TargetTasksPerSecond), TargetTasksPerSecond)
		}
	}
	phase("service: CreateService to all RUNNING", r.Service)
	if r.Service.Tasks > 0 {
		fmt.Fprintf(tw, "service: running at end / deployment\t%d\tCOMPLETED=%v after %s\n", r.RunningAtEnd, r.ServiceCompleted, r.ServiceSteadyAt.Round(time.Millisecond))
	}
	phase("RunTask: first call to last RUNNING", r.RunTask)
	if r.RunTask.Tasks > 0 {
		l := r.RunTaskLatency
		fmt.Fprintf(tw, "RunTask: call to RUNNING latency\tp50 %s\tp99 %s\tmax %s\n", l.P50.Round(time.Microsecond*100), l.P99.Round(time.Microsecond*100), l.Max.Round(time.Microsecond*100))
		c := r.RunTaskCall
		fmt.Fprintf(tw, "RunTask: the call alone\tp50 %s\tp99 %s\tmax %s\n", c.P50.Round(time.Microsecond*100), c.P99.Round(time.Microsecond*100), c.Max.Round(time.Microsecond*100))
		perTask := func(d time.Duration) string {
			return (d / time.Duration(r.RunTask.Tasks)).Round(time.Microsecond).String()
		}
		fmt.Fprintf(tw, "RunTask: CPU per task, server / load generator\t%s\t%s\n", perTask(r.RunTaskCPU.Server), perTask(r.RunTaskCPU.LoadGenerator))
	}
	for _, p := range r.Placement {
		fmt.Fprintf(tw, "placement: %s\t%d tasks, %d calls in %s\t%.0f placements/s\t%s (>= %d/s)\n", p.Workload, p.Tasks, p.Calls,
			p.Duration.Round(time.Microsecond*100), p.PerSecond(), passFail(p.PerSecond() >= TargetPlacementsPerSecond), TargetPlacementsPerSecond)
	}
	fmt.Fprintf(tw, "server: peak RSS / final RSS\t%.1f MiB\t%.1f MiB\n", float64(r.ServerPeakRSS)/(1<<20), float64(r.ServerRSS)/(1<<20))
	fmt.Fprintf(tw, "server: CPU time / store size\t%s\t%.1f MiB\n", r.ServerCPU.Round(time.Millisecond), float64(r.StoreBytes)/(1<<20))
	check := "every instance's load matches its tasks"
	if r.PlacementMismatch != "" {
		check = "MISMATCH: " + r.PlacementMismatch
	}
	fmt.Fprintf(tw, "check\t%s\n", check)
	fmt.Fprintf(tw, "result\t%s\n", passFail(r.Pass()))
	return tw.Flush()
}
