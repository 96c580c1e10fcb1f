package ecr

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// seedImages creates repository "app" with three images: A tagged v1 and
// latest, B tagged v2, C untagged.
func seedImages(t *testing.T, e *env) (a, b, c string) {
	t.Helper()
	e.createRepo(t, "app")
	put := func(seed, tag string) string {
		body := fmt.Sprintf(`{"repositoryName":"app","imageManifest":%q}`, manifest(seed))
		if tag != "" {
			body = fmt.Sprintf(`{"repositoryName":"app","imageTag":%q,"imageManifest":%q}`, tag, manifest(seed))
		}
		out := e.ok(t, "PutImage", body)
		e.clock.Advance(time.Minute)
		return out["image"].(map[string]any)["imageId"].(map[string]any)["imageDigest"].(string)
	}
	a = put("a", "v1")
	e.ok(t, "PutImage", fmt.Sprintf(`{"repositoryName":"app","imageTag":"latest","imageManifest":%q}`, manifest("a")))
	b = put("b", "v2")
	c = put("c", "")
	return a, b, c
}

func ids(v any) string {
	var out []string
	for _, x := range v.([]any) {
		m := x.(map[string]any)
		s, _ := m["imageDigest"].(string)
		if len(s) > 13 {
			s = s[7:13]
		}
		if tag, ok := m["imageTag"]; ok {
			s += ":" + tag.(string)
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

func short(d string) string { return d[7:13] }

func TestListImages(t *testing.T) {
	e := newEnv(t)
	a, b, c := seedImages(t, e)
	byDigest := []string{a, b, c}
	// Expected identifiers in digest order, then tag order.
	entries := map[string][]string{a: {short(a) + ":latest", short(a) + ":v1"}, b: {short(b) + ":v2"}, c: {short(c)}}
	want := func(status string) string {
		var out []string
		for _, d := range sortedCopy(byDigest) {
			tagged := d != c
			if status == "ANY" || (status == "TAGGED") == tagged {
				out = append(out, entries[d]...)
			}
		}
		return strings.Join(out, " ")
	}
	for _, status := range []string{"ANY", "TAGGED", "UNTAGGED"} {
		t.Run(status, func(t *testing.T) {
			got := ids(e.ok(t, "ListImages", fmt.Sprintf(`{"repositoryName":"app","filter":{"tagStatus":%q}}`, status))["imageIds"])
			if got != want(status) {
				t.Fatalf("got %s, want %s", got, want(status))
			}
			// One at a time, the pages add up to the same.
			var paged []string
			token := ""
			for i := 0; i < 10; i++ {
				body := fmt.Sprintf(`{"repositoryName":"app","maxResults":1,"filter":{"tagStatus":%q}}`, status)
				if token != "" {
					body = body[:len(body)-1] + fmt.Sprintf(`,"nextToken":%q}`, token)
				}
				out := e.ok(t, "ListImages", body)
				paged = append(paged, ids(out["imageIds"]))
				token, _ = out["nextToken"].(string)
				if token == "" {
					break
				}
			}
			if strings.Join(paged, " ") != want(status) {
				t.Fatalf("paged %v, want %s", paged, want(status))
			}
		})
	}
	e.fails(t, "ListImages", `{"repositoryName":"app","filter":{"tagStatus":"SOME"}}`, "InvalidParameterException", "TAGGED")
	e.fails(t, "ListImages", `{"repositoryName":"nope"}`, "RepositoryNotFoundException", "'nope'")
	tok := e.ok(t, "ListImages", `{"repositoryName":"app","maxResults":1}`)["nextToken"].(string)
	e.fails(t, "ListImages", fmt.Sprintf(`{"repositoryName":"app","filter":{"tagStatus":"TAGGED"},"nextToken":%q}`, tok), "InvalidParameterException", "nextToken")
	// A repository nothing was pushed to has no images.
	e.createRepo(t, "bare")
	if got := e.ok(t, "ListImages", `{"repositoryName":"bare"}`)["imageIds"].([]any); len(got) != 0 {
		t.Fatalf("bare repository lists %v", got)
	}
}

func sortedCopy(s []string) []string { return slices.Sorted(slices.Values(s)) }

func TestDescribeImages(t *testing.T) {
	e := newEnv(t)
	a, b, c := seedImages(t, e)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	out := e.ok(t, "DescribeImages", fmt.Sprintf(`{"repositoryName":"app","imageIds":[{"imageTag":"latest"},{"imageDigest":%q},{"imageTag":"v1"}]}`, b))
	details := out["imageDetails"].([]any)
	if len(details) != 2 {
		t.Fatalf("details %v", details)
	}
	da := details[0].(map[string]any)
	want := map[string]any{
		"registryId": testAccount, "repositoryName": "app", "imageDigest": a,
		"imageTags": []any{"latest", "v1"}, "imageSizeInBytes": float64(0),
		"imagePushedAt": float64(t0.Unix()), "imageManifestMediaType": mediaOCIManifest,
		"artifactMediaType": "application/vnd.oci.image.config.v1+json",
	}
	if fmt.Sprint(da) != fmt.Sprint(want) {
		t.Fatalf("detail\n got %v\nwant %v", da, want)
	}
	if details[1].(map[string]any)["imageDigest"] != b {
		t.Fatalf("second detail %v", details[1])
	}

	cases := []struct {
		name, body, typ, msg string
	}{
		{"missing tag", `{"repositoryName":"app","imageIds":[{"imageTag":"v9"}]}`, "ImageNotFoundException",
			"The image with imageId {imageDigest:null, imageTag:'v9'} does not exist within the repository with name 'app' in the registry with id '123456789012'"},
		{"tag not on digest", fmt.Sprintf(`{"repositoryName":"app","imageIds":[{"imageTag":"v2","imageDigest":%q}]}`, a), "ImageNotFoundException", "imageTag:'v2'"},
		{"ids and token", `{"repositoryName":"app","imageIds":[{"imageTag":"v1"}],"nextToken":"x"}`, "InvalidParameterException", "nextToken"},
		{"no repo", `{"repositoryName":"nope"}`, "RepositoryNotFoundException", "'nope'"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { e.fails(t, "DescribeImages", c.body, c.typ, c.msg) })
	}

	for _, f := range []struct{ status, want string }{
		{"ANY", strings.Join(sortedCopy([]string{short(a), short(b), short(c)}), " ")},
		{"UNTAGGED", short(c)},
		{"TAGGED", strings.Join(sortedCopy([]string{short(a), short(b)}), " ")},
	} {
		var got []string
		token := ""
		for i := 0; i < 10; i++ {
			body := fmt.Sprintf(`{"repositoryName":"app","maxResults":1,"filter":{"tagStatus":%q}`, f.status)
			if token != "" {
				body += fmt.Sprintf(`,"nextToken":%q`, token)
			}
			out := e.ok(t, "DescribeImages", body+"}")
			for _, d := range out["imageDetails"].([]any) {
				got = append(got, short(d.(map[string]any)["imageDigest"].(string)))
			}
			token, _ = out["nextToken"].(string)
			if token == "" {
				break
			}
		}
		if strings.Join(got, " ") != f.want {
			t.Fatalf("%s: paged %v, want %s", f.status, got, f.want)
		}
	}
}

func TestBatchGetImage(t *testing.T) {
	e := newEnv(t)
	a, b, _ := seedImages(t, e)
	body := fmt.Sprintf(`{"repositoryName":"app","imageIds":[
		{"imageTag":"v1"},
		{"imageDigest":%q},
		{"imageTag":"v1"},
		{"imageTag":"v2","imageDigest":%q},
		{"imageTag":"v2","imageDigest":%q},
		{"imageTag":"gone"},
		{"imageDigest":"sha256:zz"},
		{"imageTag":""},
		{}
	]}`, b, b, a)
	out := e.ok(t, "BatchGetImage", body)
	images := out["images"].([]any)
	if got := ids(images2ids(images)); got != short(a)+":v1 "+short(b)+" "+short(b)+":v2" {
		t.Fatalf("images %s", got)
	}
	first := images[0].(map[string]any)
	if first["imageManifest"] != manifest("a") || first["imageManifestMediaType"] != mediaOCIManifest || first["registryId"] != testAccount {
		t.Fatalf("image %v", first)
	}
	var codes []string
	for _, f := range out["failures"].([]any) {
		m := f.(map[string]any)
		codes = append(codes, m["failureCode"].(string))
		if m["failureReason"] == "" {
			t.Errorf("failure without reason: %v", m)
		}
	}
	if got := strings.Join(codes, " "); got != "ImageTagDoesNotMatchDigest ImageNotFound InvalidImageDigest InvalidImageTag MissingDigestAndTag" {
		t.Fatalf("failure codes %s", got)
	}
	// Media types: a manifest in a format not accepted is not served.
	out = e.ok(t, "BatchGetImage", `{"repositoryName":"app","imageIds":[{"imageTag":"v1"}],"acceptedMediaTypes":["application/vnd.docker.distribution.manifest.v2+json"]}`)
	if len(out["images"].([]any)) != 0 || len(out["failures"].([]any)) != 1 {
		t.Fatalf("unaccepted media type: %v", out)
	}
	out = e.ok(t, "BatchGetImage", `{"repositoryName":"app","imageIds":[{"imageTag":"v1"}],"acceptedMediaTypes":["application/vnd.docker.distribution.manifest.v2+json","`+mediaOCIManifest+`"]}`)
	if len(out["images"].([]any)) != 1 {
		t.Fatalf("accepted media type: %v", out)
	}
	e.fails(t, "BatchGetImage", `{"repositoryName":"app","imageIds":[]}`, "InvalidParameterException", "imageIds")
	e.fails(t, "BatchGetImage", `{"repositoryName":"nope","imageIds":[{"imageTag":"v1"}]}`, "RepositoryNotFoundException", "'nope'")
}

// images2ids turns BatchGetImage's images into their identifiers.
func images2ids(images []any) []any {
	var out []any
	for _, im := range images {
		out = append(out, im.(map[string]any)["imageId"])
	}
	return out
}

func TestBatchDeleteImage(t *testing.T) {
	cases := []struct {
		name string
		ids  func(a, b, c string) string
		// deleted and failed as ids() prints them, remaining digests (short)
		deleted, failures func(a, b, c string) string
		remaining         func(a, b, c string) []string
	}{
		{
			name:      "one of two tags only untags",
			ids:       func(a, b, c string) string { return `{"imageTag":"v1"}` },
			deleted:   func(a, b, c string) string { return short(a) + ":v1" },
			failures:  func(a, b, c string) string { return "" },
			remaining: func(a, b, c string) []string { return []string{a, b, c} },
		},
		{
			name:      "both tags: the image goes with the last",
			ids:       func(a, b, c string) string { return `{"imageTag":"v1"},{"imageTag":"latest"}` },
			deleted:   func(a, b, c string) string { return short(a) + ":v1 " + short(a) + ":latest" },
			failures:  func(a, b, c string) string { return "" },
			remaining: func(a, b, c string) []string { return []string{b, c} },
		},
		{
			name:      "by digest: every tag reported",
			ids:       func(a, b, c string) string { return fmt.Sprintf(`{"imageDigest":%q},{"imageDigest":%q}`, a, c) },
			deleted:   func(a, b, c string) string { return short(a) + ":latest " + short(a) + ":v1 " + short(c) },
			failures:  func(a, b, c string) string { return "" },
			remaining: func(a, b, c string) []string { return []string{b} },
		},
		{
			name: "digest then its tag",
			ids: func(a, b, c string) string {
				return fmt.Sprintf(`{"imageDigest":%q},{"imageTag":"v2"},{"imageTag":"v2"}`, b)
			},
			deleted:   func(a, b, c string) string { return short(b) + ":v2" },
			failures:  func(a, b, c string) string { return ":v2:ImageNotFound :v2:ImageNotFound" },
			remaining: func(a, b, c string) []string { return []string{a, c} },
		},
		{
			name: "failures",
			ids: func(a, b, c string) string {
				return fmt.Sprintf(`{"imageTag":"nope"},{"imageDigest":"sha256:abc"},{"imageDigest":"bad"},{},{"imageDigest":%q,"imageTag":"v2"}`, a)
			},
			deleted: func(a, b, c string) string { return "" },
			failures: func(a, b, c string) string {
				return ":nope:ImageNotFound sha256:abc:ImageNotFound bad:InvalidImageDigest :MissingDigestAndTag " + short(a) + ":v2:ImageTagDoesNotMatchDigest"
			},
			remaining: func(a, b, c string) []string { return []string{a, b, c} },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			a, b, c := seedImages(t, e)
			out := e.ok(t, "BatchDeleteImage", fmt.Sprintf(`{"repositoryName":"app","imageIds":[%s]}`, tc.ids(a, b, c)))
			if got := ids(out["imageIds"]); got != tc.deleted(a, b, c) {
				t.Errorf("deleted %q, want %q", got, tc.deleted(a, b, c))
			}
			var fails []string
			for _, f := range out["failures"].([]any) {
				m := f.(map[string]any)
				fails = append(fails, ids([]any{m["imageId"]})+":"+m["failureCode"].(string))
			}
			if got := strings.Join(fails, " "); got != tc.failures(a, b, c) {
				t.Errorf("failures %q, want %q", got, tc.failures(a, b, c))
			}
			if got, want := e.images.digests("app"), sortedCopy(tc.remaining(a, b, c)); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("registry holds %v, want %v", got, want)
			}
		})
	}
}

func TestPutImage(t *testing.T) {
	e := newEnv(t)
	e.createRepo(t, "app")
	e.ok(t, "CreateRepository", `{"repositoryName":"locked","imageTagMutability":"IMMUTABLE"}`)
	m1, m2 := manifest("one"), manifest("two")
	d1 := digestOf([]byte(m1))

	out := e.ok(t, "PutImage", fmt.Sprintf(`{"repositoryName":"app","imageTag":"v1","imageManifest":%q,"imageDigest":%q}`, m1, d1))
	want := fmt.Sprint(map[string]any{"image": map[string]any{
		"registryId": testAccount, "repositoryName": "app",
		"imageId":       map[string]any{"imageDigest": d1, "imageTag": "v1"},
		"imageManifest": m1, "imageManifestMediaType": mediaOCIManifest,
	}})
	if fmt.Sprint(out) != want {
		t.Fatalf("PutImage\n got %v\nwant %s", out, want)
	}
	e.ok(t, "PutImage", fmt.Sprintf(`{"repositoryName":"locked","imageTag":"v1","imageManifest":%q}`, m1))
	index := `{"schemaVersion":2,"manifests":[]}`

	cases := []struct {
		name, body, typ, msg string
	}{
		{"same tag same digest", fmt.Sprintf(`{"repositoryName":"app","imageTag":"v1","imageManifest":%q}`, m1), "ImageAlreadyExistsException",
			fmt.Sprintf("Image with digest '%s' and tag 'v1' already exists in the repository with name 'app' in registry with id '123456789012'", d1)},
		{"untagged again", fmt.Sprintf(`{"repositoryName":"app","imageManifest":%q}`, m1), "ImageAlreadyExistsException", "Image with digest '" + d1 + "' already exists"},
		{"digest mismatch", fmt.Sprintf(`{"repositoryName":"app","imageTag":"v2","imageManifest":%q,"imageDigest":%q}`, m2, d1), "ImageDigestDoesNotMatchException", d1},
		{"bad digest", fmt.Sprintf(`{"repositoryName":"app","imageManifest":%q,"imageDigest":"nope"}`, m2), "InvalidParameterException", "imageDigest"},
		{"immutable", fmt.Sprintf(`{"repositoryName":"locked","imageTag":"v1","imageManifest":%q}`, m2), "ImageTagAlreadyExistsException",
			"The image tag 'v1' already exists in the 'locked' repository and cannot be overwritten because the repository is immutable."},
		{"missing layers", fmt.Sprintf(`{"repositoryName":"app","imageTag":"v3","imageManifest":%q}`, manifest("three", "sha256:0bad1234")), "LayersNotFoundException", "sha256:0bad1234"},
		{"not json", `{"repositoryName":"app","imageTag":"v3","imageManifest":"{not json"}`, "InvalidParameterException", "imageManifest"},
		{"media type mismatch", fmt.Sprintf(`{"repositoryName":"app","imageTag":"v3","imageManifest":%q,"imageManifestMediaType":"application/vnd.docker.distribution.manifest.v2+json"}`, m2), "InvalidParameterException", "imageManifest"},
		{"empty manifest", `{"repositoryName":"app","imageManifest":""}`, "InvalidParameterException", "imageManifest"},
		{"no manifest", `{"repositoryName":"app"}`, "InvalidParameterException", "imageManifest"},
		{"long tag", fmt.Sprintf(`{"repositoryName":"app","imageTag":%q,"imageManifest":%q}`, strings.Repeat("t", 301), m2), "InvalidParameterException", "imageTag"},
		{"tag grammar", fmt.Sprintf(`{"repositoryName":"app","imageTag":"has space","imageManifest":%q}`, m2), "InvalidParameterException", "imageTag"},
		{"no repo", fmt.Sprintf(`{"repositoryName":"nope","imageManifest":%q}`, m2), "RepositoryNotFoundException", "'nope'"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { e.fails(t, "PutImage", c.body, c.typ, c.msg) })
	}

	// Retagging: a new tag on a stored manifest, and a mutable tag moved.
	e.ok(t, "PutImage", fmt.Sprintf(`{"repositoryName":"app","imageTag":"stable","imageManifest":%q}`, m1))
	e.ok(t, "PutImage", fmt.Sprintf(`{"repositoryName":"app","imageTag":"v1","imageManifest":%q}`, m2))
	got := ids(e.ok(t, "ListImages", `{"repositoryName":"app"}`)["imageIds"])
	d2 := digestOf([]byte(m2))
	want2 := []string{short(d1) + ":stable", short(d2) + ":v1"}
	if d2 < d1 {
		want2[0], want2[1] = want2[1], want2[0]
	}
	if got != strings.Join(want2, " ") {
		t.Fatalf("after retagging: %s, want %v", got, want2)
	}
	// An index's media type is inferred from its shape.
	out = e.ok(t, "PutImage", fmt.Sprintf(`{"repositoryName":"app","imageTag":"multi","imageManifest":%q}`, index))
	if mt := out["image"].(map[string]any)["imageManifestMediaType"]; mt != mediaOCIIndex {
		t.Fatalf("index media type %v", mt)
	}
}
