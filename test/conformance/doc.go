// Package conformance runs the OCI distribution-spec conformance suite
// (github.com/opencontainers/distribution-spec/conformance, pinned in
// go.mod) against Berth's registry, the way a user reaches it: a real
// server started in-process, repositories created and a password obtained
// through the ECR API with the AWS SDK, then the suite's own binary pushing,
// pulling, listing and deleting over HTTP with Basic auth "AWS:<password>".
//
// The package holds only tests. TestDistributionSpecConformance builds the
// suite from the module cache, runs it, reads its junit.xml and reports
// passed, failed and skipped tests per workflow (Pull, Push, Content
// Discovery, Content Management). It fails on any failure that is not in
// knownGaps, the table of limitations of the distribution library Berth
// accepts, each with its reason. Set BERTH_CONFORMANCE_RESULTS to a
// directory to keep the suite's report.html, junit.xml and results.yaml.
//
//	go test -count=1 -v ./test/conformance/
package conformance
