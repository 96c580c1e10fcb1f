package conformance

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestWorkflowOf(t *testing.T) {
	tests := []struct {
		name string
		want string
	}{
		{"OCI Conformance Test/ping", workflowPull},
		{"OCI Conformance Test/empty/tag list", workflowDiscovery},
		{"OCI Conformance Test/empty/referrers", workflowDiscovery},
		{"OCI Conformance Test/image/tag-list", workflowDiscovery},
		{"OCI Conformance Test/sha256 blobs/get-missing", workflowPull},
		{"OCI Conformance Test/sha256 blobs/post+put/blob-post-put", workflowPush},
		{"OCI Conformance Test/sha256 blobs/post only/blob-post-only", workflowPush},
		{"OCI Conformance Test/sha256 blobs/post cancel/blob-post-cancel", workflowPush},
		{"OCI Conformance Test/sha256 blobs/stream/blob-patch-stream", workflowPush},
		{"OCI Conformance Test/sha256 blobs/mount/blob-mount", workflowPush},
		{"OCI Conformance Test/sha256 blobs/mount anonymous/blob-mount-anonymous", workflowPush},
		{"OCI Conformance Test/sha256 blobs/range requests/range 500-1499", workflowPull},
		{"OCI Conformance Test/sha256 blobs/post+put/blob-head", workflowPull},
		{"OCI Conformance Test/sha256 blobs/post+put/blob-get", workflowPull},
		{"OCI Conformance Test/sha256 blobs/post+put/blob-delete", workflowManagement},
		{"OCI Conformance Test/image/push/manifest-by-digest", workflowPush},
		{"OCI Conformance Test/image/push/manifest-by-tag", workflowPush},
		{"OCI Conformance Test/image/pull/manifest-by-digest", workflowPull},
		{"OCI Conformance Test/image/pull/manifest-by-tag", workflowPull},
		{"OCI Conformance Test/image/head/manifest-head-by-tag", workflowPull},
		{"OCI Conformance Test/image/delete/tag-delete", workflowManagement},
		{"OCI Conformance Test/image/delete/manifest-delete", workflowManagement},
		{"OCI Conformance Test/missing-manifest/by-digest", workflowPull},
		{"OCI Conformance Test/invalid-digest-format/manifest-put", workflowPush},
		{"OCI Conformance Test/invalid-digest-format/manifest-get", workflowPull},
		{"OCI Conformance Test/something/new-api", workflowOther},
		{"OCI Conformance Test/image/other/manifest-by-tag", workflowOther},
	}
	for _, tt := range tests {
		if got := workflowOf(tt.name); got != tt.want {
			t.Errorf("workflowOf(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestParseJUnit(t *testing.T) {
	tests := []struct {
		name    string
		xml     string
		want    []testCase
		wantErr string
	}{{
		name: "leaves of one suite",
		xml: `<testsuites tests="2"><testsuite name="OCI Conformance Test" tests="2" failures="1" errors="0" time="1">
<testcase name="OCI Conformance Test/ping" status="passed"></testcase>
<testcase name="OCI Conformance Test/empty/referrers" status="failure"><system-out>bad
second</system-out><system-err>GET /v2/...</system-err></testcase>
</testsuite></testsuites>`,
		want: []testCase{
			{Name: "OCI Conformance Test/ping", Status: statusPassed},
			{Name: "OCI Conformance Test/empty/referrers", Status: statusFailure, Errors: "bad\nsecond", Output: "GET /v2/..."},
		},
	}, {
		name:    "no cases",
		xml:     `<testsuites><testsuite name="x" tests="0" failures="0" errors="0" time="0"></testsuite></testsuites>`,
		wantErr: "no test cases",
	}, {
		name:    "unknown status",
		xml:     `<testsuites><testsuite name="x"><testcase name="a" status="flaky"></testcase></testsuite></testsuites>`,
		wantErr: `unknown status "flaky"`,
	}, {
		name:    "not junit",
		xml:     `<results></results>`,
		wantErr: "decode",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseJUnit(strings.NewReader(tt.xml))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	gaps := []knownGap{
		{ID: "referrers", Test: regexp.MustCompile(`/referrers$`), Error: "received 404", Reason: "r"},
		{ID: "unused", Test: regexp.MustCompile(`^never$`), Error: "x", Reason: "u"},
	}
	cases := []testCase{
		{Name: "T/ping", Status: statusPassed},
		{Name: "T/empty/referrers", Status: statusFailure, Errors: "wrong type\nreceived 404"},
		{Name: "T/image/referrers", Status: statusFailure, Errors: "received 500"},        // right test, other error: new
		{Name: "T/image/push/blob-post-put", Status: statusError, Errors: "received 404"}, // other test: new
		{Name: "T/blobs/post only/blob-post-only", Status: statusSkipped, Errors: "unsupported"},
		{Name: "T/image/delete/tag-delete", Status: statusPassed},
	}
	r := classify(cases, gaps)

	wantCounts := map[string]counts{
		workflowPull:       {Passed: 1},
		workflowDiscovery:  {Failed: 2, Known: 1},
		workflowPush:       {Failed: 1, Skipped: 1},
		workflowManagement: {Passed: 1},
	}
	for w, want := range wantCounts {
		if got := r.Counts[w]; got != want {
			t.Errorf("counts[%s] = %+v, want %+v", w, got, want)
		}
	}
	if r.Failed() != 3 {
		t.Errorf("Failed() = %d, want 3", r.Failed())
	}
	var newNames []string
	for _, f := range r.New {
		newNames = append(newNames, f.Case.Name)
	}
	if want := []string{"T/image/referrers", "T/image/push/blob-post-put"}; !slices.Equal(newNames, want) {
		t.Errorf("new failures %q, want %q", newNames, want)
	}
	if len(r.Stale) != 1 || !strings.HasPrefix(r.Stale[0], "unused ") {
		t.Errorf("stale gaps %q, want only unused", r.Stale)
	}
	s := r.String()
	for _, want := range []string{"Content Discovery", "T/empty/referrers [failure, known gap referrers]",
		"T/image/referrers [failure, NEW]", "- referrers: r", "T/blobs/post only/blob-post-only: unsupported"} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q:\n%s", want, s)
		}
	}
}

// The known gaps must stay precise: each names a reason and matches
// only the tests it was written for.
func TestKnownGapsWellFormed(t *testing.T) {
	ids := make(map[string]bool)
	for _, g := range knownGaps {
		if g.ID == "" || g.Test == nil || g.Error == "" || g.Reason == "" || strings.Contains(g.Reason, "\n") {
			t.Errorf("gap %+v: needs an ID, a test pattern, an error and a one-line reason", g)
		}
		if ids[g.ID] {
			t.Errorf("gap ID %s twice", g.ID)
		}
		ids[g.ID] = true
	}
	for _, name := range []string{
		"OCI Conformance Test/image/push/manifest-by-digest",
		"OCI Conformance Test/non-distributable-layers/push/manifest-by-digest",
		"OCI Conformance Test/sha256 blobs/post+put/blob-post-put",
	} {
		c := testCase{Name: name, Status: statusFailure, Errors: "unexpected status code, expected one of [201], received 500"}
		if i := matchGap(c, knownGaps); i >= 0 {
			t.Errorf("%s failing with a 500 is excused by gap %s", name, knownGaps[i].ID)
		}
	}
}
