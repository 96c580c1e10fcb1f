package registry

import (
	"errors"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// uploadBlobs uploads img's layers and config into repo, without a manifest.
func (e *env) uploadBlobs(repo string, img v1.Image) {
	e.t.Helper()
	r := e.ref(repo, "x").Context()
	layers, err := img.Layers()
	if err != nil {
		e.t.Fatal(err)
	}
	raw, err := img.RawConfigFile()
	if err != nil {
		e.t.Fatal(err)
	}
	layers = append(layers, static.NewLayer(raw, types.DockerConfigJSON))
	for _, l := range layers {
		if err := remote.WriteLayer(r, l, e.opts()...); err != nil {
			e.t.Fatalf("upload blob: %v", err)
		}
	}
}

func TestImages(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	imgs, err := e.reg.Images(ctx, "app")
	if err != nil || len(imgs) != 0 {
		t.Fatalf("Images of an empty repository = %v, %v", imgs, err)
	}

	a := randomImage(t, 2)
	da := e.mustPush("app", "v2", a)
	e.mustPush("app", "v1", a)
	b := randomImage(t, 3)
	db := e.mustPush("app", digestOf(t, b), b) // untagged
	idx, err := random.Index(256, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(e.ref("app", "multi"), idx, e.opts()...); err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	var idxSize int64
	for _, m := range im.Manifests {
		child, _ := idx.Image(m.Digest)
		idxSize += layerBytes(t, child)
	}

	imgs, err = e.reg.Images(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	byDigest := map[string]Image{}
	for _, img := range imgs {
		byDigest[img.Digest] = img
		if img.PushedAt.IsZero() {
			t.Errorf("%s: no PushedAt", img.Digest)
		}
	}
	if len(imgs) != 5 { // a, b, the index and its two children
		t.Fatalf("Images = %d entries: %+v", len(imgs), imgs)
	}
	tests := []struct {
		digest   string
		tags     []string
		mt       string
		artifact string
		size     int64
	}{
		{da, []string{"v1", "v2"}, string(types.DockerManifestSchema2), string(types.DockerConfigJSON), layerBytes(t, a)},
		{db, []string{}, string(types.DockerManifestSchema2), string(types.DockerConfigJSON), layerBytes(t, b)},
		{digestOf(t, idx), []string{"multi"}, string(types.OCIImageIndex), "", idxSize},
	}
	for _, tt := range tests {
		got, ok := byDigest[tt.digest]
		if !ok {
			t.Errorf("%s missing", tt.digest)
			continue
		}
		if !slices.Equal(got.Tags, tt.tags) || got.MediaType != tt.mt || got.ArtifactMediaType != tt.artifact || got.SizeBytes != tt.size {
			t.Errorf("image %s = %+v, want tags %v, media type %s, artifact %q, size %d", tt.digest, got, tt.tags, tt.mt, tt.artifact, tt.size)
		}
	}
	if _, err := e.reg.Images(ctx, "../etc"); !errors.Is(err, ErrRepositoryNotFound) {
		t.Fatalf("Images of an invalid name: %v", err)
	}
}

func TestManifest(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	img := randomImage(t, 1)
	d := e.mustPush("app", "v1", img)
	raw, _ := img.RawManifest()
	e.mustPush("other", "v1", randomImage(t, 1))
	tests := []struct {
		name, repo, ref string
		wantErr         error
	}{
		{"by tag", "app", "v1", nil},
		{"by digest", "app", d, nil},
		{"unknown tag", "app", "nope", ErrImageNotFound},
		{"unknown digest", "app", "sha256:" + strings.Repeat("1", 64), ErrImageNotFound},
		{"digest of another repository", "other", d, ErrImageNotFound},
		{"bad tag", "app", "../../x", ErrImageNotFound},
		{"repository never pushed", "base", "v1", ErrImageNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mt, body, gotD, err := e.reg.Manifest(ctx, tt.repo, tt.ref)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Manifest = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if mt != string(types.DockerManifestSchema2) || string(body) != string(raw) || gotD != d {
				t.Fatalf("Manifest = %s, %d bytes, %s", mt, len(body), gotD)
			}
		})
	}
}

func TestPutManifest(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.repos.set("locked", RepoSettings{ImmutableTags: true})

	img := randomImage(t, 2)
	e.uploadBlobs("app", img)
	e.uploadBlobs("locked", img)
	raw, _ := img.RawManifest()
	d := digestOf(t, img)
	other := randomImage(t, 1)
	e.uploadBlobs("locked", other)
	otherRaw, _ := other.RawManifest()
	missing := randomImage(t, 1) // blobs never uploaded
	missingRaw, _ := missing.RawManifest()

	tests := []struct {
		name, repo, tag, mt string
		body                []byte
		wantErr             error
	}{
		{"tagged", "app", "v1", string(types.DockerManifestSchema2), raw, nil},
		{"untagged", "app", "", string(types.DockerManifestSchema2), raw, nil},
		{"media type from body", "app", "v2", "", raw, nil},
		{"garbage", "app", "v3", string(types.DockerManifestSchema2), []byte("{not json"), ErrManifestInvalid},
		{"media type mismatch", "app", "v3", string(types.OCIManifestSchema1), raw, ErrManifestInvalid},
		{"bad tag", "app", "no/slash", "", raw, ErrManifestInvalid},
		{"missing layers", "app", "v3", "", missingRaw, ErrLayersNotFound},
		{"no record", "ghost", "v1", "", raw, ErrRepositoryNotFound},
		{"immutable first", "locked", "v1", "", raw, nil},
		{"immutable same digest", "locked", "v1", "", raw, nil},
		{"immutable overwrite", "locked", "v1", "", otherRaw, ErrTagImmutable},
		{"immutable new tag", "locked", "v2", "", otherRaw, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.reg.PutManifest(ctx, tt.repo, tt.tag, tt.mt, tt.body)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("PutManifest = %q, %v; want %v", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.tag == "" {
				if got != d {
					t.Fatalf("digest = %s, want %s", got, d)
				}
				return
			}
			_, _, byTag, err := e.reg.Manifest(ctx, tt.repo, tt.tag)
			if err != nil || byTag != got {
				t.Fatalf("tag %s names %s (%v), put returned %s", tt.tag, byTag, err, got)
			}
		})
	}
	if err := e.pullValid("app", "v1"); err != nil {
		t.Fatalf("pull what PutManifest stored: %v", err)
	}
}

func TestUntagAndDeleteManifest(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	img := randomImage(t, 1)
	d := e.mustPush("app", "v1", img)
	e.mustPush("app", "v2", img)
	keep := e.mustPush("app", "keep", randomImage(t, 1))

	got, err := e.reg.Untag(ctx, "app", "v1")
	if err != nil || got != d {
		t.Fatalf("Untag = %s, %v", got, err)
	}
	if _, err := e.reg.Untag(ctx, "app", "v1"); !errors.Is(err, ErrImageNotFound) {
		t.Fatalf("Untag again: %v", err)
	}
	if _, _, _, err := e.reg.Manifest(ctx, "app", d); err != nil {
		t.Fatalf("manifest gone with its tag: %v", err)
	}

	if err := e.reg.DeleteManifest(ctx, "app", d); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{d, "v2"} {
		if _, _, _, err := e.reg.Manifest(ctx, "app", ref); !errors.Is(err, ErrImageNotFound) {
			t.Fatalf("Manifest(%s) after delete: %v", ref, err)
		}
	}
	if err := e.reg.DeleteManifest(ctx, "app", d); !errors.Is(err, ErrImageNotFound) {
		t.Fatalf("DeleteManifest again: %v", err)
	}
	if err := e.reg.DeleteManifest(ctx, "app", "not-a-digest"); !errors.Is(err, ErrImageNotFound) {
		t.Fatalf("DeleteManifest of a bad digest: %v", err)
	}
	imgs, err := e.reg.Images(ctx, "app")
	if err != nil || len(imgs) != 1 || imgs[0].Digest != keep {
		t.Fatalf("Images after delete = %+v, %v", imgs, err)
	}
	if err := e.pullValid("app", "keep"); err != nil {
		t.Fatal(err)
	}
}

func TestDeleteRepository(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.repos.set("nested", RepoSettings{})
	e.mustPush("nested", "v1", randomImage(t, 1))
	e.mustPush("nested/app", "v1", randomImage(t, 1))
	if err := e.pullValid("nested", "v1"); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.DeleteRepository(ctx, "nested"); err != nil {
		t.Fatal(err)
	}
	imgs, err := e.reg.Images(ctx, "nested")
	if err != nil || len(imgs) != 0 {
		t.Fatalf("Images after DeleteRepository = %v, %v", imgs, err)
	}
	if err := e.pullValid("nested", "v1"); err == nil {
		t.Fatal("pull from a deleted repository succeeded")
	}
	// The repository below it is untouched.
	if err := e.pullValid("nested/app", "v1"); err != nil {
		t.Fatalf("nested/app after deleting nested: %v", err)
	}
	// Deleting again, or a repository never pushed, is fine.
	if err := e.reg.DeleteRepository(ctx, "nested"); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.DeleteRepository(ctx, "base"); err != nil {
		t.Fatal(err)
	}
}
