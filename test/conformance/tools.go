//go:build tools

package conformance

// The conformance suite is built by TestDistributionSpecConformance with
// `go test -c`; this import keeps its module required in go.mod.
import _ "github.com/opencontainers/distribution-spec/conformance"
