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
	fmt.Fprintf(w, "%d concurrent clients %s, %s\n", r.Concurrency, pace, mode)
	fmt.Fprintf(w, "data set: %d families × %d revisions (%d registered for this run)\n", r.Families, r.Revisions, r.Populated)
	fmt.Fprintf(w, "measured %.2fs; %d TCP connections opened", r.Elapsed.Seconds(), r.Connections)
	if r.CPU > 0 && r.Elapsed > 0 {
		fmt.Fprintf(w, "; this process used %.2fs CPU = %.2f cores", r.CPU.Seconds(), r.CPU.Seconds()/r.Elapsed.Seconds())
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "OPERATION\tREQUESTS\tERRORS\tREQ/S\tP50 ms\tP90 ms\tP99 ms\tMAX ms\t")
	for _, o := range r.Ops {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%s\t%s\t%s\t%s\t\n", o.Op, o.Count, o.Errors, o.Throughput,
			millis(o.P50), millis(o.P90), millis(o.P99), millis(o.Max))
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

// millis formats d in milliseconds with two decimals.
func millis(d time.Duration) string {
	return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond))
}
