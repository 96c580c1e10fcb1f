package e2e

import (
	"strings"
	"testing"
)

func exactly(want string) func(string) bool { return func(s string) bool { return s == want } }

func containingFold(want string) func(string) bool {
	return func(s string) bool { return strings.Contains(strings.ToLower(s), strings.ToLower(want)) }
}

// TestServiceErrors checks that failed requests reach the CLI as ECS
// errors: exit code 254 and `An error occurred (Type) when calling the Op
// operation: message`, the message naming what was wrong. None of them
// creates anything.
func TestServiceErrors(t *testing.T) {
	requireAWS(t)
	cli := shared.cli()
	tests := []struct {
		name      string
		args      []string
		typ, op   string
		match     func(string) bool
		wantMatch string
	}{
		{
			// ECS's exact answer for a family it does not know.
			name: "describe unknown family",
			args: []string{"ecs", "describe-task-definition", "--task-definition", "no-such-family"},
			typ:  "ClientException", op: "DescribeTaskDefinition",
			match: exactly("Unable to describe task definition."), wantMatch: `"Unable to describe task definition."`,
		},
		{
			name: "invalid cluster name",
			args: []string{"ecs", "create-cluster", "--cluster-name", "demo cluster!"},
			typ:  "InvalidParameterException", op: "CreateCluster",
			match: containingFold("cluster name"), wantMatch: "a message naming the cluster name",
		},
		{
			// ECS's exact answer for a container without an image.
			name: "task definition without image",
			args: []string{"ecs", "register-task-definition", "--family", "broken",
				"--container-definitions", `[{"name":"app","memory":64}]`},
			typ: "ClientException", op: "RegisterTaskDefinition",
			match: exactly("Container.image should not be null or empty."), wantMatch: `"Container.image should not be null or empty."`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantError(t, cli.fail(t, tt.args...), tt.typ, tt.op, tt.match, tt.wantMatch)
		})
	}
}

// TestUnauthenticated checks how Berth turns away requests that are not
// signed by one of its credentials, with AWS's own error types and messages.
func TestUnauthenticated(t *testing.T) {
	requireAWS(t)
	cli := shared.cli()
	adminKey, _ := readCredentials(t, cli.credentials)
	const otherSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	tests := []struct {
		name    string
		cli     awsCLI
		extra   []string
		typ     string
		message string
	}{
		{
			name: "wrong secret",
			cli:  cli.withCredentials(writeCredentials(t, adminKey, otherSecret)),
			typ:  "InvalidSignatureException",
			message: "The request signature we calculated does not match the signature you provided. " +
				"Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
		},
		{
			name:    "unknown access key",
			cli:     cli.withCredentials(writeCredentials(t, "AKIAIOSFODNN7EXAMPLE", otherSecret)),
			typ:     "UnrecognizedClientException",
			message: "The security token included in the request is invalid.",
		},
		{
			name:    "unsigned",
			cli:     cli,
			extra:   []string{"--no-sign-request"},
			typ:     "MissingAuthenticationTokenException",
			message: "Missing Authentication Token",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"ecs", "list-clusters"}, tt.extra...)
			wantError(t, tt.cli.fail(t, args...), tt.typ, "ListClusters", exactly(tt.message), `"`+tt.message+`"`)
		})
	}
}
