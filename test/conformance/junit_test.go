package conformance

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// testCase is one leaf test of the suite's junit.xml. The suite records
// the outcome in the status attribute (passed, skipped, failure, error),
// its errors in system-out and the requests and responses in system-err.
// Names are paths ("OCI Conformance Test/<data>/<step>/<api>") and are not
// unique: a step pushing six blobs yields six blob-post-put cases.
type testCase struct {
	Name   string `xml:"name,attr"`
	Status string `xml:"status,attr"`
	Errors string `xml:"system-out"`
	Output string `xml:"system-err"`
}

// junit.xml statuses.
const (
	statusPassed  = "passed"
	statusSkipped = "skipped"
	statusFailure = "failure" // a conformance failure
	statusError   = "error"   // the suite itself failed
)

func (c testCase) failed() bool { return c.Status == statusFailure || c.Status == statusError }

// Message is the test's errors on one line, cut to a readable length.
func (c testCase) Message() string {
	msg := strings.Join(strings.Fields(c.Errors), " ")
	if msg == "" {
		return "(no message)"
	}
	const maxLen = 400
	if len(msg) > maxLen {
		msg = msg[:maxLen] + "…"
	}
	return msg
}

// parseJUnit reads the test cases of every suite in a junit.xml.
func parseJUnit(r io.Reader) ([]testCase, error) {
	var doc struct {
		XMLName xml.Name `xml:"testsuites"`
		Suites  []struct {
			Cases []testCase `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.NewDecoder(r).Decode(&doc); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	var cases []testCase
	for _, s := range doc.Suites {
		cases = append(cases, s.Cases...)
	}
	if len(cases) == 0 {
		return nil, fmt.Errorf("no test cases")
	}
	for _, c := range cases {
		switch c.Status {
		case statusPassed, statusSkipped, statusFailure, statusError:
		default:
			return nil, fmt.Errorf("test %q: unknown status %q", c.Name, c.Status)
		}
	}
	return cases, nil
}

// The legacy suite's workflows, which the current suite's tests are
// grouped into (by the API each test exercises).
const (
	workflowPull       = "Pull"
	workflowPush       = "Push"
	workflowDiscovery  = "Content Discovery"
	workflowManagement = "Content Management"
	workflowOther      = "(none)"
)

var workflows = []string{workflowPull, workflowPush, workflowDiscovery, workflowManagement}

// workflowOf tells which workflow a test belongs to from the last two
// elements of its name: the API tested and the step it ran in.
func workflowOf(name string) string {
	parts := strings.Split(name, "/")
	api := parts[len(parts)-1]
	step := ""
	if len(parts) >= 2 {
		step = parts[len(parts)-2]
	}
	switch {
	case api == "tag-list" || api == "tag list" || api == "referrers":
		return workflowDiscovery
	case api == "tag-delete" || api == "manifest-delete" || api == "blob-delete":
		return workflowManagement
	case strings.HasPrefix(api, "blob-post") || strings.HasPrefix(api, "blob-patch") ||
		strings.HasPrefix(api, "blob-mount") || api == "manifest-put":
		return workflowPush
	case (api == "manifest-by-digest" || api == "manifest-by-tag") && step == "push":
		return workflowPush
	case (api == "manifest-by-digest" || api == "manifest-by-tag") && step == "pull":
		return workflowPull
	case api == "ping" || api == "blob-get" || api == "blob-head" || api == "get-missing" ||
		api == "manifest-get" || strings.HasPrefix(api, "manifest-head-by-") || strings.HasPrefix(api, "range "):
		return workflowPull
	case step == "missing-manifest": // GET of a manifest that does not exist, by-digest and by-tag
		return workflowPull
	}
	return workflowOther
}

// counts are one workflow's results. Failed includes Known.
type counts struct {
	Passed, Failed, Known, Skipped int
}

func (c counts) total() int { return c.Passed + c.Failed + c.Skipped }

// failure is a failed test and the known gap that explains it, if any.
type failure struct {
	Case testCase
	Gap  *knownGap
}

// report is the suite's results grouped by workflow, with each failure
// matched against the known gaps.
type report struct {
	Counts   map[string]counts
	Failures []failure  // every failed test, in the suite's order
	New      []failure  // the failures no known gap explains
	Skips    []testCase // every skipped test
	Stale    []string   // known gaps that explained no failure
}

func (r report) Failed() int { return len(r.Failures) }

func classify(cases []testCase, gaps []knownGap) report {
	r := report{Counts: make(map[string]counts)}
	used := make([]bool, len(gaps))
	for _, c := range cases {
		w := workflowOf(c.Name)
		n := r.Counts[w]
		switch {
		case c.failed():
			n.Failed++
			f := failure{Case: c}
			if i := matchGap(c, gaps); i >= 0 {
				used[i] = true
				f.Gap = &gaps[i]
				n.Known++
			} else {
				r.New = append(r.New, f)
			}
			r.Failures = append(r.Failures, f)
		case c.Status == statusSkipped:
			n.Skipped++
			r.Skips = append(r.Skips, c)
		default:
			n.Passed++
		}
		r.Counts[w] = n
	}
	for i, g := range gaps {
		if !used[i] {
			r.Stale = append(r.Stale, g.String())
		}
	}
	return r
}

// String renders the per-workflow table, then every failure and every
// skip with its message.
func (r report) String() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workflow\tpassed\tfailed\t(known gaps)\tskipped\t")
	var sum counts
	rows := workflows
	if r.Counts[workflowOther].total() > 0 {
		rows = append(rows[:len(rows):len(rows)], workflowOther)
	}
	for _, w := range rows {
		c := r.Counts[w]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t\n", w, c.Passed, c.Failed, c.Known, c.Skipped)
		sum.Passed += c.Passed
		sum.Failed += c.Failed
		sum.Known += c.Known
		sum.Skipped += c.Skipped
	}
	fmt.Fprintf(tw, "total\t%d\t%d\t%d\t%d\t\n", sum.Passed, sum.Failed, sum.Known, sum.Skipped)
	_ = tw.Flush()

	if len(r.Failures) > 0 {
		fmt.Fprintf(&b, "\nfailures (%d, %d new):\n", len(r.Failures), len(r.New))
		for _, f := range r.Failures {
			tag := "NEW"
			if f.Gap != nil {
				tag = "known gap " + f.Gap.ID
			}
			fmt.Fprintf(&b, "- %s [%s, %s]\n    %s\n", f.Case.Name, f.Case.Status, tag, f.Case.Message())
		}
		fmt.Fprintf(&b, "\nknown gaps seen:\n")
		seen := make(map[string]bool)
		for _, f := range r.Failures {
			if f.Gap != nil && !seen[f.Gap.ID] {
				seen[f.Gap.ID] = true
				fmt.Fprintf(&b, "- %s: %s\n", f.Gap.ID, f.Gap.Reason)
			}
		}
	}
	if len(r.Skips) > 0 {
		fmt.Fprintf(&b, "\nskipped (optional features the registry lacks):\n")
		for _, c := range r.Skips {
			fmt.Fprintf(&b, "- %s: %s\n", c.Name, c.Message())
		}
	}
	return b.String()
}
