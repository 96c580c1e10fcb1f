package runtime

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/berth/berth/internal/testimage"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// deleteImage removes a pulled image at the end of the test.
func (h *harness) deleteImage(t *testing.T, ref string) {
	t.Cleanup(func() {
		if err := h.clean.client.ImageService().Delete(nsCtx(), ref); err != nil && !strings.Contains(err.Error(), "not found") {
			t.Errorf("delete image %s: %v", ref, err)
		}
	})
}

func TestPull(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// A variant image, so that the pull really fetches and unpacks content.
	variant := testimage.WithConfig(func(c *v1.Config) { c.Env = append(c.Env, "PULLED=yes") })

	t.Run("anonymous", func(t *testing.T) {
		var ref, digest string
		t.Run("from registry", func(t *testing.T) {
			host := testimage.ServeRegistry(t, "", "")
			var err error
			if digest, err = testimage.Push(ctx, host, "team/app", "v1", variant); err != nil {
				t.Fatal(err)
			}
			ref = host + "/team/app:v1"
			img, err := h.r.EnsureImage(ctx, ref, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !img.Pulled || img.Digest != digest || img.Ref != ref || img.Size <= 0 {
				t.Fatalf("first EnsureImage %+v, want pulled %s", img, digest)
			}
		})
		if ref == "" {
			t.FailNow()
		}
		h.deleteImage(t, ref)
		// The registry is gone now: present images need no registry, in
		// this runtime or in a new one.
		for i, r := range []*Runtime{h.r, h.newRuntime(t)} {
			img, err := r.EnsureImage(ctx, ref, nil)
			if err != nil || img.Pulled || img.Digest != digest {
				t.Fatalf("EnsureImage #%d after pull: %+v %v, want present", i, img, err)
			}
		}
		cs := ContainerSpec{ID: newID(t), Image: ref, Command: []string{"sh", "-c", `[ "$PULLED" = yes ]`}}
		if e := h.run(t, cs); e.Code != 0 {
			t.Fatalf("container from pulled image exited %d", e.Code)
		}
	})

	t.Run("credentials", func(t *testing.T) {
		host := testimage.ServeRegistry(t, "berth", "s3cret")
		if _, err := testimage.Push(ctx, host, "private/app", "v1", variant, testimage.WithAuth("berth", "s3cret")); err != nil {
			t.Fatal(err)
		}
		ref := host + "/private/app:v1"
		h.deleteImage(t, ref)
		for _, auth := range []*RegistryAuth{nil, {Username: "berth", Password: "wrong"}} {
			_, err := h.r.EnsureImage(ctx, ref, auth)
			var pe *PullError
			if !errors.As(err, &pe) || pe.Kind != PullUnauthorized {
				t.Fatalf("auth %v: error %v, want PullError Unauthorized", auth, err)
			}
			if !strings.Contains(pe.Error(), "access denied") {
				t.Errorf("message %q", pe.Error())
			}
		}
		img, err := h.r.EnsureImage(ctx, ref, &RegistryAuth{Username: "berth", Password: "s3cret"})
		if err != nil || !img.Pulled {
			t.Fatalf("pull with credentials: %+v %v", img, err)
		}
	})

	t.Run("missing image", func(t *testing.T) {
		host := testimage.ServeRegistry(t, "", "")
		for _, ref := range []string{host + "/nope/app:v1", host + "/team/app:missing-tag"} {
			_, err := h.r.EnsureImage(ctx, ref, nil)
			var pe *PullError
			if !errors.As(err, &pe) || pe.Kind != PullNotFound {
				t.Fatalf("%s: error %v, want PullError NotFound", ref, err)
			}
			if !strings.Contains(pe.Error(), "not found") {
				t.Errorf("message %q", pe.Error())
			}
		}
	})

	t.Run("unreachable registry", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close() // nothing listens there now
		_, err = h.r.EnsureImage(ctx, addr+"/team/app:v1", nil)
		var pe *PullError
		if !errors.As(err, &pe) || pe.Kind != PullUnreachable {
			t.Fatalf("error %v, want PullError Unreachable", err)
		}
	})

	t.Run("invalid reference", func(t *testing.T) {
		_, err := h.r.EnsureImage(ctx, "UPPER/Case::bad", nil)
		var pe *PullError
		if !errors.As(err, &pe) || pe.Kind != PullInvalidRef {
			t.Fatalf("error %v, want PullError InvalidReference", err)
		}
	})

	t.Run("present image needs no registry", func(t *testing.T) {
		img, err := h.r.EnsureImage(ctx, h.image, nil)
		if err != nil || img.Pulled || img.Ref != h.image {
			t.Fatalf("%+v %v", img, err)
		}
	})
}
