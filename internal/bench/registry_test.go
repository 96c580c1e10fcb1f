package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// TestRunRegistry runs the whole benchmark on a small image: both sides
// must move the image's bytes each way and give back what was pushed.
func TestRunRegistry(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Berth server and moves a few MB")
	}
	cfg := NewRegistryConfig()
	cfg.ImageBytes, cfg.Layers, cfg.Rounds = 5_000_000, 2, 1
	cfg.DataDir = t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := RunRegistry(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.ImageBytes < cfg.ImageBytes || rep.ImageBytes > cfg.ImageBytes+64<<10 {
		t.Fatalf("image is %d bytes, want about %d", rep.ImageBytes, cfg.ImageBytes)
	}
	if len(rep.Berth) != 1 || len(rep.Plain) != 1 {
		t.Fatalf("rounds: berth %d, plain %d, want 1 each", len(rep.Berth), len(rep.Plain))
	}
	for side, rr := range map[string]RegistryRound{"berth": rep.Berth[0], "plain": rep.Plain[0]} {
		for what, tr := range map[string]RegistryTransfer{"push": rr.Push, "pull": rr.Pull} {
			if tr.WireBytes < rep.ImageBytes {
				t.Errorf("%s %s moved %d bytes, want at least the image's %d", side, what, tr.WireBytes, rep.ImageBytes)
			}
			if tr.Duration <= 0 {
				t.Errorf("%s %s took %s", side, what, tr.Duration)
			}
		}
		if !strings.HasPrefix(rr.Push.Digest, "sha256:") || rr.Pull.Digest != rr.Push.Digest {
			t.Errorf("%s: pushed %q, pulled %q", side, rr.Push.Digest, rr.Pull.Digest)
		}
	}
	if rep.Berth[0].Push.Digest != rep.Plain[0].Push.Digest {
		t.Errorf("the sides got different images: %s, %s", rep.Berth[0].Push.Digest, rep.Plain[0].Push.Digest)
	}
	var out bytes.Buffer
	if err := rep.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"push: berth / plain", "pull: berth / plain", "result"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

// TestBerthRegistryRefusesWrongPassword shows the Berth side goes through
// the registry's authentication: the same push with a wrong token fails.
func TestBerthRegistryRefusesWrongPassword(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Berth server")
	}
	ctx := context.Background()
	berth, stop, err := startBerthRegistry(ctx, t.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	img, err := registryImage(0, 1, 1000)
	if err != nil {
		t.Fatal(err)
	}
	berth.auth = &authn.Basic{Username: "AWS", Password: "not-a-token"}
	_, err = berth.round(ctx, img, "t", time.Minute)
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode != http.StatusUnauthorized {
		t.Fatalf("push with a wrong password: %v, want 401 Unauthorized", err)
	}
}

func TestRegistryImage(t *testing.T) {
	digest := func(round, layers int, size int64) string {
		t.Helper()
		img, err := registryImage(round, layers, size)
		if err != nil {
			t.Fatal(err)
		}
		n, err := imageBytes(img)
		if err != nil {
			t.Fatal(err)
		}
		if n < size {
			t.Fatalf("image of %d bytes, want at least %d", n, size)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d.String()
	}
	a := digest(1, 3, 100_001)
	if b := digest(1, 3, 100_001); b != a {
		t.Errorf("the same round gave %s and %s", a, b)
	}
	if c := digest(2, 3, 100_001); c == a {
		t.Errorf("rounds 1 and 2 gave the same image %s", a)
	}
}

func TestRegistryReportRatios(t *testing.T) {
	rounds := func(push, pull []time.Duration) []RegistryRound {
		var rs []RegistryRound
		for i := range push {
			rs = append(rs, RegistryRound{Push: RegistryTransfer{Duration: push[i]}, Pull: RegistryTransfer{Duration: pull[i]}})
		}
		return rs
	}
	s := time.Second
	tests := []struct {
		name         string
		berth, plain []RegistryRound
		push, pull   float64 // ratios
		pass         bool
	}{
		{"equal", rounds([]time.Duration{s, s, s}, []time.Duration{s, s, s}), rounds([]time.Duration{s, s, s}, []time.Duration{s, s, s}), 1, 1, true},
		// Medians: berth push 2 s (50 MB/s), plain 1 s (100 MB/s).
		{"slow push", rounds([]time.Duration{s, 2 * s, 9 * s}, []time.Duration{s, s, s}), rounds([]time.Duration{s, s, s}, []time.Duration{s, s, s}), 0.5, 1, false},
		// One slow round does not move the median.
		{"outlier", rounds([]time.Duration{s, s, s}, []time.Duration{s, 10 * s, s}), rounds([]time.Duration{s, s, s}, []time.Duration{s, s, s}), 1, 1, true},
		{"pull at the bound", rounds([]time.Duration{s, s, s}, []time.Duration{s * 10 / 9, s * 10 / 9, s * 10 / 9}), rounds([]time.Duration{s, s, s}, []time.Duration{s, s, s}), 1, 0.9, true},
		{"pull below", rounds([]time.Duration{s, s, s}, []time.Duration{s * 10 / 8, s * 10 / 8, s * 10 / 8}), rounds([]time.Duration{s, s, s}, []time.Duration{s, s, s}), 1, 0.8, false},
		{"missing rounds", rounds([]time.Duration{s}, []time.Duration{s}), nil, 0, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := RegistryReport{ImageBytes: 100_000_000, Berth: tc.berth, Plain: tc.plain}
			q := r.Ratios()
			if !near(q.Push, tc.push) || !near(q.Pull, tc.pull) {
				t.Errorf("ratios %+v, want push %v pull %v", q, tc.push, tc.pull)
			}
			if r.Pass() != tc.pass {
				t.Errorf("Pass() = %v, want %v", r.Pass(), tc.pass)
			}
		})
	}
}

func TestRegistryPairedRatios(t *testing.T) {
	s := time.Second
	tr := func(d time.Duration) RegistryTransfer { return RegistryTransfer{Duration: d} }
	round := func(push, pull time.Duration) RegistryRound { return RegistryRound{Push: tr(push), Pull: tr(pull)} }
	tests := []struct {
		name         string
		berth, plain []RegistryRound
		push, pull   float64
	}{
		// Push ratios 2, 1, 2/3; pull ratios 1, 1, 1.
		{"odd", []RegistryRound{round(s, s), round(2*s, s), round(3*s, s)}, []RegistryRound{round(2*s, s), round(2*s, s), round(2*s, s)}, 1, 1},
		// Push ratios 2 and 1; pull ratios 0.5 and 0.25.
		{"even", []RegistryRound{round(s, 2*s), round(2*s, 4*s)}, []RegistryRound{round(2*s, s), round(2*s, s)}, 1.5, 0.375},
		{"none", nil, nil, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := RegistryReport{ImageBytes: 1e6, Berth: tc.berth, Plain: tc.plain}.PairedRatios()
			if !near(q.Push, tc.push) || !near(q.Pull, tc.pull) {
				t.Errorf("paired ratios %+v, want push %v pull %v", q, tc.push, tc.pull)
			}
		})
	}
}

func near(a, b float64) bool { return a-b < 1e-6 && b-a < 1e-6 }

func TestRegistryConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*RegistryConfig)
		ok     bool
	}{
		{"defaults", func(*RegistryConfig) {}, true},
		{"no rounds", func(c *RegistryConfig) { c.Rounds = 0 }, false},
		{"no layers", func(c *RegistryConfig) { c.Layers = 0 }, false},
		{"fewer bytes than layers", func(c *RegistryConfig) { c.ImageBytes = 3 }, false},
		{"too big", func(c *RegistryConfig) { c.ImageBytes = 5 << 30 }, false},
		{"no timeout", func(c *RegistryConfig) { c.Timeout = 0 }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewRegistryConfig()
			tc.change(&c)
			if err := c.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// BenchmarkRegistryPushPull pushes and pulls a 20 MB image (fresh bytes
// each iteration) through Berth's registry and through the plain
// distribution registry; bytes/s counts both directions.
func BenchmarkRegistryPushPull(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	berth, stopBerth, err := startBerthRegistry(ctx, filepath.Join(dir, "berth"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer stopBerth()
	plain, stopPlain, err := startPlainRegistry(ctx, filepath.Join(dir, "plain"))
	if err != nil {
		b.Fatal(err)
	}
	defer stopPlain()
	seq := 0 // image and tag of each iteration, across runs and sides
	// A warm-up on each side first: the process's first transfers pay
	// for growing its heap, whichever side they go to.
	for _, t := range []*registryTarget{berth, plain} {
		img, err := registryImage(-1, 2, 20_000_000)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := t.round(ctx, img, "warm-up", time.Minute); err != nil {
			b.Fatal(err)
		}
	}
	for _, t := range []*registryTarget{berth, plain} {
		b.Run(t.name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				seq++
				img, err := registryImage(seq, 2, 20_000_000)
				if err != nil {
					b.Fatal(err)
				}
				n, err := imageBytes(img)
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(2 * n)
				ref := t.repo.Tag(fmt.Sprintf("bench-%d", seq))
				runtime.GC()
				b.StartTimer()
				if err := remote.Write(ref, img, t.options(ctx)...); err != nil {
					b.Fatal(err)
				}
				if _, err := t.pull(ctx, ref); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
