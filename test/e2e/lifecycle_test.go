package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDevStartup checks what `berth dev` leaves for its user: the endpoint
// in its usage text, a health check, and a shared-credentials file only its
// owner can read.
func TestDevStartup(t *testing.T) {
	requireAWS(t)
	out := shared.stdout.String()
	for _, want := range []string{
		"ECS API endpoint:  " + shared.endpoint() + " (the ECR API too)\n",
		"image registry:    " + shared.listen + " (repositories from aws ecr create-repository)\n",
		"health check:      " + shared.endpoint() + "/healthz\n",
		"credentials:       " + filepath.Join(shared.dataDir, "credentials"),
		"aws --endpoint-url " + shared.endpoint() + " ecs list-container-instances",
		"capacity:          none (--no-agent)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("berth dev's output lacks %q:\n%s", want, out)
		}
	}
	resp, err := http.Get(shared.endpoint() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz: %s, want 200", resp.Status)
	}
	creds := filepath.Join(shared.dataDir, "credentials")
	wantMode0600(t, creds)
	readCredentials(t, creds)
	cfg, err := os.ReadFile(filepath.Join(shared.dataDir, "config"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cfg), "region = "+region) {
		t.Errorf("config file does not set region %s:\n%s", region, cfg)
	}
}

// TestCredentialLifecycle creates a credential with the berth CLI, uses it
// with the aws CLI, deletes it and checks it stops working at once.
func TestCredentialLifecycle(t *testing.T) {
	requireAWS(t)
	admin := []string{"--endpoint", shared.endpoint(), "--data-dir", shared.dataDir}
	file := filepath.Join(t.TempDir(), "ci-credentials")

	out := runBerth(t, append([]string{"credentials", "create", "--name", "ci", "--write", file}, admin...)...)
	wantMode0600(t, file)
	keyID, _ := readCredentials(t, file)
	if !strings.Contains(out, "created "+keyID+" (ci)") {
		t.Errorf("credentials create printed %q, want it to name %s (ci)", out, keyID)
	}
	row := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(keyID) + `\s+ci\s+false\s`)
	if list := runBerth(t, append([]string{"credentials", "list"}, admin...)...); !row.MatchString(list) {
		t.Errorf("credentials list does not show %s as ci, not admin:\n%s", keyID, list)
	}

	ci := shared.cli().withCredentials(file)
	if got := ci.ok(t, "ecs", "list-clusters"); got["clusterArns"] == nil {
		t.Errorf("list-clusters with the new credential: no clusterArns in %s", show(got))
	}

	if out := runBerth(t, append([]string{"credentials", "delete", keyID}, admin...)...); !strings.Contains(out, "deleted "+keyID) {
		t.Errorf("credentials delete printed %q", out)
	}
	wantError(t, ci.fail(t, "ecs", "list-clusters"), "UnrecognizedClientException", "ListClusters",
		exactly("The security token included in the request is invalid."), "AWS's message for an unknown access key")
	if list := runBerth(t, append([]string{"credentials", "list"}, admin...)...); strings.Contains(list, keyID) {
		t.Errorf("credentials list still shows the deleted %s:\n%s", keyID, list)
	}
}

// TestDurability kills `berth dev` with SIGKILL after it acknowledged a
// cluster and a task definition, starts it again on the same data dir and
// port, and finds both, with the credentials file untouched.
func TestDurability(t *testing.T) {
	first := startOwnBerth(t)
	dataDir, addr := first.dataDir, first.listen
	cli := first.cli()
	cli.ok(t, "ecs", "create-cluster", "--cluster-name", "durable")
	reg := object(t, cli.withConfig(wireTime).ok(t, "ecs", "register-task-definition", "--cli-input-json", webTaskDefFile), "taskDefinition")
	credsPath := filepath.Join(dataDir, "credentials")
	credsBefore, err := os.ReadFile(credsPath)
	if err != nil {
		t.Fatal(err)
	}

	if err := first.kill9(); err != nil {
		t.Fatal(err)
	}
	second, err := startBerth(dataDir, addr)
	if err != nil {
		t.Fatalf("restart on the same data dir after SIGKILL: %v", err)
	}
	t.Cleanup(second.stopIfRunning)

	wantMode0600(t, credsPath)
	if after, err := os.ReadFile(credsPath); err != nil || string(after) != string(credsBefore) {
		t.Errorf("credentials file changed across the restart (err %v):\nbefore:\n%s\nafter:\n%s", err, credsBefore, after)
	}
	// The same credentials file still signs requests (cli reads it again).
	cl := cli.ok(t, "ecs", "describe-clusters", "--clusters", "durable")
	if f, ok := cl["failures"].([]any); ok && len(f) > 0 {
		t.Errorf("describe-clusters after the restart: failures %s", show(f))
	}
	if cs, _ := cl["clusters"].([]any); len(cs) != 1 {
		t.Errorf("describe-clusters after the restart: clusters %s, want the cluster durable", show(cl["clusters"]))
	} else {
		c, _ := cs[0].(map[string]any)
		wantJSON(t, c, "clusterArn", `"`+clusterARNPrefix+`durable"`)
		wantJSON(t, c, "status", `"ACTIVE"`)
	}
	td := object(t, cli.withConfig(wireTime).ok(t, "ecs", "describe-task-definition", "--task-definition", "web:1"), "taskDefinition")
	for _, k := range []string{"taskDefinitionArn", "revision", "status", "registeredAt", "registeredBy", "containerDefinitions"} {
		if show(td[k]) != show(reg[k]) {
			t.Errorf("after the restart %s = %s, RegisterTaskDefinition answered %s", k, show(td[k]), show(reg[k]))
		}
	}

	if err := second.terminate(); err != nil {
		t.Errorf("SIGTERM: %v\n--- berth stderr:\n%s", err, second.stderr)
	}
}
