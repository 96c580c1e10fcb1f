package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/berth/berth/internal/testimage"
)

const skopeoPath = "/usr/bin/skopeo"

// TestRegistryPushAndRunTask is the registry issue's "must show", with the
// real aws CLI and skopeo: create-repository → get-login-password |
// skopeo login → skopeo copy (push) → describe-images lists it → a task
// definition naming repositoryUri:tag → run-task → RUNNING, the agent
// pulling with the short-lived credentials the control plane gave it. The
// image is then deleted from the registry and the task run again: it
// starts from the instance's cached image, with no pull.
func TestRegistryPushAndRunTask(t *testing.T) {
	requireAWS(t)
	testimage.RequireContainerd(t)
	if _, err := os.Stat(skopeoPath); err != nil {
		t.Skipf("!!! %s (Debian package skopeo) is missing: registry end-to-end test SKIPPED; CI installs it", skopeoPath)
	}
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	b := startDevWithAgent(t, filepath.Join(t.TempDir(), "data"), addr)
	cli := b.cli()

	repo := cli.ok(t, "ecr", "create-repository", "--repository-name", "web")["repository"].(map[string]any)
	uri := repo["repositoryUri"].(string)
	if uri != addr+"/web" {
		t.Fatalf("repositoryUri %q, want %s/web (the registry on the API's listener)", uri, addr)
	}

	// Log in the way ECR's documentation shows, then push an image built
	// here (busybox, serving HTTP) from an OCI layout.
	login := cli.run(t, "ecr", "get-login-password")
	password := strings.TrimSpace(login.stdout)
	if login.code != 0 || password == "" {
		t.Fatalf("get-login-password:\n%s", login)
	}
	dir := t.TempDir()
	authFile := filepath.Join(dir, "auth.json")
	skopeo(t, password, "login", "--authfile", authFile, "--tls-verify=false", "--username", "AWS", "--password-stdin", addr)
	layoutDir, err := testimage.Build(filepath.Join(dir, "layout"))
	if err != nil {
		t.Fatal(err)
	}
	// Without the login, the push is refused.
	if out, err := exec.Command(skopeoPath, "copy", "--dest-tls-verify=false", "--dest-no-creds", "oci:"+layoutDir+":latest", "docker://"+uri+":v1").CombinedOutput(); err == nil {
		t.Fatalf("an unauthenticated push succeeded:\n%s", out)
	}
	skopeo(t, "", "copy", "--authfile", authFile, "--dest-tls-verify=false", "oci:"+layoutDir+":latest", "docker://"+uri+":v1")

	imgs := cli.ok(t, "ecr", "describe-images", "--repository-name", "web")["imageDetails"].([]any)
	if len(imgs) != 1 {
		t.Fatalf("describe-images lists %d images, want 1: %v", len(imgs), imgs)
	}
	img := imgs[0].(map[string]any)
	digest, _ := img["imageDigest"].(string)
	if tags := strSlice(img["imageTags"]); len(tags) != 1 || tags[0] != "v1" || !strings.HasPrefix(digest, "sha256:") {
		t.Fatalf("image details %v, want tag v1 and a digest", img)
	}
	n, _ := img["imageSizeInBytes"].(json.Number)
	if size, _ := n.Int64(); size < 500_000 { // busybox alone is about 1 MB
		t.Errorf("imageSizeInBytes %v: too small for a busybox image", img["imageSizeInBytes"])
	}
	if img["imagePushedAt"] == nil {
		t.Errorf("no imagePushedAt in %v", img)
	}

	def := map[string]any{
		"family":      "regweb",
		"networkMode": "bridge",
		"containerDefinitions": []any{map[string]any{
			"name": "web", "image": uri + ":v1", "cpu": 128, "memory": 64, "essential": true,
			"linuxParameters": map[string]any{"initProcessEnabled": true}, // httpd as PID 1 would ignore SIGTERM
			"portMappings":    []any{map[string]any{"containerPort": 8080, "protocol": "tcp"}},
			"command":         []string{"sh", "-c", "mkdir -p /www && echo \"hello from $HOSTNAME\" > /www/index.html && exec httpd -f -p 8080 -h /www"},
		}},
	}
	defFile := filepath.Join(dir, "taskdef.json")
	if b, err := json.Marshal(def); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(defFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cli.ok(t, "ecs", "register-task-definition", "--cli-input-json", "file://"+defFile)
	t.Cleanup(func() { removeImage(t, uri+":v1") })

	for round, what := range []string{"pulled from Berth's registry", "from the instance's image cache, the registry copy deleted"} {
		if round == 1 {
			del := cli.ok(t, "ecr", "batch-delete-image", "--repository-name", "web", "--image-ids", "imageTag=v1")
			if f, _ := del["failures"].([]any); len(f) != 0 {
				t.Fatalf("batch-delete-image failures: %v", f)
			}
			if left := cli.ok(t, "ecr", "list-images", "--repository-name", "web")["imageIds"].([]any); len(left) != 0 {
				t.Fatalf("images left after the delete: %v", left)
			}
		}
		run := cli.ok(t, "ecs", "run-task", "--cluster", "default", "--task-definition", "regweb")
		if f, _ := run["failures"].([]any); len(f) != 0 {
			t.Fatalf("run-task failures: %v", f)
		}
		arns := taskARNs(t, run)
		t.Cleanup(func() { removeTaskContainers(t, arns) })
		cli.ok(t, "ecs", "wait", "tasks-running", "--cluster", "default", "--tasks", arns[0])
		task := describeTasks(t, cli, arns)[0]
		port := hostPort(t, task)
		id := arns[0][strings.LastIndex(arns[0], "/")+1:]
		if body := httpGet(t, "http://127.0.0.1:"+port+"/"); strings.TrimSpace(body) != "hello from "+id[:12] {
			t.Fatalf("round %d (%s): 127.0.0.1:%s answered %q", round, what, port, body)
		}
		ctr := task["containers"].([]any)[0].(map[string]any)
		if ctr["imageDigest"] != digest {
			t.Errorf("round %d (%s): container imageDigest %v, want the pushed %s", round, what, ctr["imageDigest"], digest)
		}
		t.Logf("round %d: task RUNNING, image %s", round, what)
		cli.ok(t, "ecs", "stop-task", "--cluster", "default", "--task", arns[0])
		cli.ok(t, "ecs", "wait", "tasks-stopped", "--cluster", "default", "--tasks", arns[0])
	}
}

// skopeo runs skopeo with stdin and requires success.
func skopeo(t *testing.T, stdin string, args ...string) {
	t.Helper()
	cmd := exec.Command(skopeoPath, args...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("skopeo %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// removeImage deletes ref from the agent's containerd namespace.
func removeImage(t *testing.T, ref string) {
	c, err := client.New(testimage.Socket)
	if err != nil {
		t.Log(err)
		return
	}
	defer c.Close()
	ctx := namespaces.WithNamespace(context.Background(), agentNamespace)
	if err := c.ImageService().Delete(ctx, ref); err != nil {
		t.Logf("remove image %s: %v", ref, err)
	}
}

// TestECRWithCLI drives the ECR API's rules through the real aws CLI, with
// pushes from go-containerregistry: an IMMUTABLE repository refuses to move
// a tag until it is made MUTABLE; lifecycle policies are stored and checked;
// a repository with images is only deleted with --force; errors carry ECR's
// types.
func TestECRWithCLI(t *testing.T) {
	cli := shared.cli()
	host := shared.listen
	created := cli.ok(t, "ecr", "create-repository", "--repository-name", "team/app",
		"--image-tag-mutability", "IMMUTABLE", "--tags", "Key=team,Value=blue")["repository"].(map[string]any)
	if created["imageTagMutability"] != "IMMUTABLE" || created["repositoryArn"] != "arn:aws:ecr:"+region+":"+account+":repository/team/app" {
		t.Fatalf("created repository %v", created)
	}
	wantError(t, cli.fail(t, "ecr", "create-repository", "--repository-name", "team/app"),
		"RepositoryAlreadyExistsException", "CreateRepository", containingFold("already exists"), "the name")
	wantError(t, cli.fail(t, "ecr", "describe-repositories", "--repository-names", "nope"),
		"RepositoryNotFoundException", "DescribeRepositories", containingFold("'nope' does not exist"), "the name")

	password := strings.TrimSpace(cli.run(t, "ecr", "get-login-password").stdout)
	push := func(marker string) error {
		_, err := testimage.Push(context.Background(), host, "team/app", "v1", testimage.WithAuth("AWS", password),
			testimage.WithFile("/marker", []byte(marker), 0o644))
		return err
	}
	if err := push("one"); err != nil {
		t.Fatal(err)
	}
	if err := push("two"); err == nil || !strings.Contains(err.Error(), "TAG_INVALID") {
		t.Fatalf("moving tag v1 of an IMMUTABLE repository: %v, want TAG_INVALID", err)
	}
	cli.ok(t, "ecr", "put-image-tag-mutability", "--repository-name", "team/app", "--image-tag-mutability", "MUTABLE")
	waitFor(t, 10*time.Second, "the push to a MUTABLE repository", func() (bool, string) {
		err := push("two") // the registry may remember IMMUTABLE for a moment
		return err == nil, fmt.Sprint(err)
	})
	ids := cli.ok(t, "ecr", "list-images", "--repository-name", "team/app")["imageIds"].([]any)
	if len(ids) != 2 { // v1 moved: the first image is now untagged
		t.Fatalf("list-images: %v, want the tagged image and the untagged one", ids)
	}

	policy := `{"rules":[{"rulePriority":1,"description":"untagged go after a day","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}}]}`
	cli.ok(t, "ecr", "put-lifecycle-policy", "--repository-name", "team/app", "--lifecycle-policy-text", policy)
	got := cli.ok(t, "ecr", "get-lifecycle-policy", "--repository-name", "team/app")
	if !strings.Contains(fmt.Sprint(got["lifecyclePolicyText"]), "untagged go after a day") {
		t.Errorf("get-lifecycle-policy: %v", got)
	}
	wantError(t, cli.fail(t, "ecr", "put-lifecycle-policy", "--repository-name", "team/app", "--lifecycle-policy-text",
		`{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`),
		"InvalidParameterException", "PutLifecyclePolicy", containingFold("tagPrefixList"), "the missing tag list")

	wantError(t, cli.fail(t, "ecr", "delete-repository", "--repository-name", "team/app"),
		"RepositoryNotEmptyException", "DeleteRepository", containingFold("contains images"), "why")
	cli.ok(t, "ecr", "delete-repository", "--repository-name", "team/app", "--force")
	if err := push("three"); err == nil || !strings.Contains(err.Error(), "NAME_UNKNOWN") {
		t.Fatalf("push to a deleted repository: %v, want NAME_UNKNOWN", err)
	}
}
