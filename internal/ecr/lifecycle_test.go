package ecr

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth/berth/internal/ecr/lifecycle"
)

// untaggedPolicy expires untagged images pushed more than days ago.
func untaggedPolicy(days int) string {
	return fmt.Sprintf(`{"rules":[{"rulePriority":1,"description":"expire old untagged images","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":%d},"action":{"type":"expire"}}]}`, days)
}

// keepPolicy keeps the newest n images tagged with prefix "release",
// and expires untagged images older than a day.
func keepPolicy(n int) string {
	return fmt.Sprintf(`{"rules":[
	{"rulePriority":1,"description":"keep the last releases","selection":{"tagStatus":"tagged","tagPrefixList":["release"],"countType":"imageCountMoreThan","countNumber":%d},"action":{"type":"expire"}},
	{"rulePriority":2,"description":"old untagged","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}}]}`, n)
}

func TestLifecyclePolicyOperations(t *testing.T) {
	e := newEnv(t)
	e.createRepo(t, "app")
	text := untaggedPolicy(14)

	e.fails(t, "GetLifecyclePolicy", `{"repositoryName":"app"}`, "LifecyclePolicyNotFoundException",
		"Lifecycle policy does not exist for the repository with name 'app' in the registry with id '123456789012'")
	e.fails(t, "DeleteLifecyclePolicy", `{"repositoryName":"app"}`, "LifecyclePolicyNotFoundException", "'app'")

	cases := []struct {
		name, body, typ, msg string
	}{
		{"no repo", fmt.Sprintf(`{"repositoryName":"nope","lifecyclePolicyText":%q}`, text), "RepositoryNotFoundException", "'nope'"},
		{"no text", `{"repositoryName":"app"}`, "InvalidParameterException", "lifecyclePolicyText"},
		{"short", `{"repositoryName":"app","lifecyclePolicyText":"{}"}`, "InvalidParameterException", "LifecyclePolicyText"},
		{"invalid rule", fmt.Sprintf(`{"repositoryName":"app","lifecyclePolicyText":%q}`, strings.Replace(text, `"untagged"`, `"sometimes"`, 1)),
			"InvalidParameterException", "Lifecycle policy validation failure"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { e.fails(t, "PutLifecyclePolicy", c.body, c.typ, c.msg) })
	}

	out := e.ok(t, "PutLifecyclePolicy", fmt.Sprintf(`{"repositoryName":"app","lifecyclePolicyText":%q}`, text))
	if fmt.Sprint(out) != fmt.Sprint(map[string]any{"registryId": testAccount, "repositoryName": "app", "lifecyclePolicyText": text}) {
		t.Fatalf("put %v", out)
	}
	got := e.ok(t, "GetLifecyclePolicy", `{"repositoryName":"app"}`)
	if got["lifecyclePolicyText"] != text || got["lastEvaluatedAt"] != nil {
		t.Fatalf("get before evaluation %v", got)
	}
	if _, err := e.h.ApplyLifecyclePolicies(context.Background(), e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	got = e.ok(t, "GetLifecyclePolicy", `{"repositoryName":"app"}`)
	if got["lastEvaluatedAt"] != float64(e.clock.Now().Unix()) {
		t.Fatalf("get after evaluation %v", got)
	}
	del := e.ok(t, "DeleteLifecyclePolicy", `{"repositoryName":"app"}`)
	if del["lifecyclePolicyText"] != text || del["lastEvaluatedAt"] != got["lastEvaluatedAt"] {
		t.Fatalf("delete %v", del)
	}
	e.fails(t, "GetLifecyclePolicy", `{"repositoryName":"app"}`, "LifecyclePolicyNotFoundException", "'app'")
}

// TestApplyLifecyclePolicies pushes images over simulated days and checks
// that applying the policies deletes exactly what Evaluate says, and what
// the rules mean.
func TestApplyLifecyclePolicies(t *testing.T) {
	e := newEnv(t)
	e.createRepo(t, "app")
	e.createRepo(t, "other") // no policy: untouched
	day := 24 * time.Hour
	start := e.clock.Now()
	pushed := map[string]string{} // seed -> digest
	push := func(repo, seed, tag string, at time.Time) {
		body := fmt.Sprintf(`{"repositoryName":%q,"imageManifest":%q}`, repo, manifest(seed))
		if tag != "" {
			body = fmt.Sprintf(`{"repositoryName":%q,"imageTag":%q,"imageManifest":%q}`, repo, tag, manifest(seed))
		}
		d := e.ok(t, "PutImage", body)["image"].(map[string]any)["imageId"].(map[string]any)["imageDigest"].(string)
		e.images.setPushedAt(repo, d, at)
		pushed[seed] = d
	}
	push("app", "r1", "release-1", start.Add(-10*day))
	push("app", "r2", "release-2", start.Add(-8*day))
	push("app", "r3", "release-3", start.Add(-6*day))
	push("app", "r4", "release-4", start.Add(-4*day))
	push("app", "dev", "dev", start.Add(-9*day))
	push("app", "u-old", "", start.Add(-3*day))
	push("app", "u-new", "", start.Add(-2*time.Hour))
	push("other", "o1", "", start.Add(-30*day))
	e.ok(t, "PutLifecyclePolicy", fmt.Sprintf(`{"repositoryName":"app","lifecyclePolicyText":%q}`, keepPolicy(2)))

	before, err := e.images.Images(context.Background(), "app")
	if err != nil {
		t.Fatal(err)
	}
	pol, err := lifecycle.Parse(keepPolicy(2))
	if err != nil {
		t.Fatal(err)
	}
	var in []lifecycle.Image
	for _, im := range before {
		in = append(in, lifecycle.Image{Digest: im.Digest, Tags: im.Tags, PushedAt: im.PushedAt})
	}
	now := start.Add(time.Hour)
	var evaluated []string
	for _, x := range pol.Evaluate(in, now) {
		evaluated = append(evaluated, x.Digest)
	}
	// What the rules mean: the two oldest releases and the day-old
	// untagged image go; the newer releases, dev and the fresh untagged
	// image stay.
	meant := []string{pushed["r1"], pushed["r2"], pushed["u-old"]}
	slices.Sort(meant)
	slices.Sort(evaluated)
	if fmt.Sprint(evaluated) != fmt.Sprint(meant) {
		t.Fatalf("Evaluate says %v, the rules mean %v", evaluated, meant)
	}

	n, err := e.h.ApplyLifecyclePolicies(context.Background(), now)
	if err != nil || n != 3 {
		t.Fatalf("ApplyLifecyclePolicies = %d, %v; want 3", n, err)
	}
	var remaining []string
	for _, im := range before {
		if !slices.Contains(meant, im.Digest) {
			remaining = append(remaining, im.Digest)
		}
	}
	slices.Sort(remaining)
	if got := e.images.digests("app"); fmt.Sprint(got) != fmt.Sprint(remaining) {
		t.Fatalf("after apply: %v, want %v", got, remaining)
	}
	if got := e.images.digests("other"); len(got) != 1 {
		t.Fatalf("repository without a policy changed: %v", got)
	}
	if got := e.ok(t, "GetLifecyclePolicy", `{"repositoryName":"app"}`)["lastEvaluatedAt"]; got != float64(now.Unix()) {
		t.Fatalf("lastEvaluatedAt %v, want %d", got, now.Unix())
	}

	// Applying again at the same time deletes nothing more; a day later the
	// fresh untagged image has aged out.
	if n, err := e.h.ApplyLifecyclePolicies(context.Background(), now); err != nil || n != 0 {
		t.Fatalf("second apply = %d, %v", n, err)
	}
	if n, err := e.h.ApplyLifecyclePolicies(context.Background(), now.Add(day)); err != nil || n != 1 {
		t.Fatalf("apply a day later = %d, %v", n, err)
	}
	if slices.Contains(e.images.digests("app"), pushed["u-new"]) {
		t.Fatal("u-new survived past its day")
	}
}

func TestApplyLifecyclePoliciesErrors(t *testing.T) {
	e := newEnv(t)
	for _, r := range []string{"a1", "b2"} {
		e.createRepo(t, r)
		e.ok(t, "PutImage", fmt.Sprintf(`{"repositoryName":%q,"imageManifest":%q}`, r, manifest(r)))
		e.ok(t, "PutLifecyclePolicy", fmt.Sprintf(`{"repositoryName":%q,"lifecyclePolicyText":%q}`, r, untaggedPolicy(1)))
	}
	e.images.failDeleteManifest = digestOf([]byte(manifest("a1")))
	n, err := e.h.ApplyLifecyclePolicies(context.Background(), e.clock.Now().Add(48*time.Hour))
	if n != 1 || err == nil || !strings.Contains(err.Error(), "a1") {
		t.Fatalf("apply with a failing repository = %d, %v", n, err)
	}
	if len(e.images.digests("b2")) != 0 || len(e.images.digests("a1")) != 1 {
		t.Fatalf("a1 %v b2 %v", e.images.digests("a1"), e.images.digests("b2"))
	}
}

func TestRunLifecycle(t *testing.T) {
	e := newEnv(t)
	e.createRepo(t, "app")
	e.ok(t, "PutImage", fmt.Sprintf(`{"repositoryName":"app","imageManifest":%q}`, manifest("x")))
	e.ok(t, "PutLifecyclePolicy", fmt.Sprintf(`{"repositoryName":"app","lifecyclePolicyText":%q}`, untaggedPolicy(1)))
	e.clock.Advance(49 * time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.h.RunLifecycle(ctx, time.Hour); close(done) }()
	// The first pass runs at once; wait for it by polling.
	deadline := time.Now().Add(10 * time.Second)
	for len(e.images.digests("app")) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("RunLifecycle did not expire the image")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
}
