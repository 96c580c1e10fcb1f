// Package e2e tests Berth end to end: it builds the berth binary, runs
// `berth dev` as a subprocess on 127.0.0.1 and drives it with the real AWS
// CLI (/usr/bin/aws, the Debian awscli package) and the berth credentials
// commands, comparing what the CLI prints with what Amazon ECS returns.
//
// It is plain `go test ./test/e2e` (no build tag). Without /usr/bin/aws
// every test skips with a loud message; CI installs the CLI.
//
// Expected values come from Amazon ECS, not from Berth: where Berth differs,
// the failing assertion says "BERTH BUG" and names the ECS behaviour, so the
// server is fixed rather than the expectation.
package e2e
