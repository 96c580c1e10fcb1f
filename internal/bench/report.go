package bench

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// WriteTable writes the report as a human-readable table.
func (r Report) WriteTable(w io.Writer) error {
	mode := "mixed (the requests cycle through the operations)"
	if r.Phased {
		mode = "phased (each operation alone with every client)"
	}
	pace := "as fast as they can"
	if r.Rate > 0 {
		pace = fmt.Sprintf("paced to %.0f req/s in all", r.Rate)
	}
	if !r.Phased && r.CPU > 0 {
		mode += "; CPU per request is the mix's average"
	}
	client := "the AWS SDK for Go v2"
	if r.Client == ClientRaw {
		client = "raw AWS JSON 1.1 requests"
	}
	fmt.Fprintf(w, "%d concurrent clients (%s) %s, %s\n", r.Concurrency, client, pace, mode)
	fmt.Fprintf(w, "data set: %d families × %d revisions (%d registered for this run)\n", r.Families, r.Revisions, r.Populated)
	fmt.Fprintf(w, "measured %.2fs; %d TCP connections opened\n", r.Elapsed.Seconds(), r.Connections)
	if r.CPU > 0 && r.Elapsed > 0 {
		fmt.Fprintf(w, "CPU: this process %s\n", cpuLine(r.CPU, r.Elapsed, r.CPUPerRequest()))
	}
	if r.ServerCPU > 0 && r.Elapsed > 0 {
		fmt.Fprintf(w, "CPU: server (pid %d) %s\n", r.ServerPID, cpuLine(r.ServerCPU, r.Elapsed, r.ServerCPUPerRequest()))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	head := "OPERATION\tREQUESTS\tERRORS\tREQ/S\tP50 ms\tP90 ms\tP99 ms\tMAX ms\t"
	if r.CPU > 0 {
		head += "CPU µs/REQ\t"
	}
	if r.ServerCPU > 0 {
		head += "SERVER µs/REQ\t"
	}
	fmt.Fprintln(tw, head)
	for _, o := range r.Ops {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%s\t%s\t%s\t%s\t", o.Op, o.Count, o.Errors, o.Throughput,
			millis(o.P50), millis(o.P90), millis(o.P99), millis(o.Max))
		if r.CPU > 0 {
			fmt.Fprintf(tw, "%s\t", micros(o.CPUPerRequest))
		}
		if r.ServerCPU > 0 {
			fmt.Fprintf(tw, "%s\t", micros(o.ServerCPUPerRequest))
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, o := range r.Ops {
		if o.FirstError != "" {
			fmt.Fprintf(w, "\n%s: %d errors; first: %s\n", o.Op, o.Errors, o.FirstError)
		}
	}
	return nil
}

// cpuLine describes cpu used over elapsed: seconds, cores, per request.
func cpuLine(cpu, elapsed, perRequest time.Duration) string {
	return fmt.Sprintf("%.2fs = %.2f cores = %sµs per request", cpu.Seconds(), cpu.Seconds()/elapsed.Seconds(), micros(perRequest))
}

// micros formats d in microseconds with one decimal.
func micros(d time.Duration) string {
	return fmt.Sprintf("%.1f", float64(d)/float64(time.Microsecond))
}

// millis formats d in milliseconds with two decimals.
func millis(d time.Duration) string {
	return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond))
}
