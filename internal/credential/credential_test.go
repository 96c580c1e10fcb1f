package credential

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2024, 3, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600))

func TestGenerate(t *testing.T) {
	c, err := Generate(rand.Reader, "ci-deploy", true, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.AccessKeyID) != 20 || !strings.HasPrefix(c.AccessKeyID, "BKIA") {
		t.Errorf("access key ID %q: want BKIA + 16 characters", c.AccessKeyID)
	}
	if strings.Trim(c.AccessKeyID[4:], "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" {
		t.Errorf("access key ID %q has characters outside upper-case base32", c.AccessKeyID)
	}
	if len(c.SecretAccessKey) != 40 {
		t.Errorf("secret %q has %d characters, want 40", c.SecretAccessKey, len(c.SecretAccessKey))
	}
	if strings.Trim(c.SecretAccessKey, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") != "" {
		t.Errorf("secret %q has characters outside base64", c.SecretAccessKey)
	}
	if c.Name != "ci-deploy" || !c.Admin || !c.CreatedAt.Equal(now) || c.CreatedAt.Location() != time.UTC {
		t.Errorf("metadata %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("generated credential does not validate: %v", err)
	}

	// Deterministic for a given random stream; different streams differ.
	seed := bytes.Repeat([]byte{0xA5}, 40)
	a, _ := Generate(bytes.NewReader(seed), "x", false, now)
	b, _ := Generate(bytes.NewReader(seed), "x", false, now)
	if a != b {
		t.Errorf("same random bytes gave %+v and %+v", a, b)
	}
	d, _ := Generate(rand.Reader, "x", false, now)
	if d.AccessKeyID == c.AccessKeyID || d.SecretAccessKey == c.SecretAccessKey {
		t.Error("two random credentials collide")
	}

	if _, err := Generate(bytes.NewReader(make([]byte, 12)), "x", false, now); err == nil {
		t.Error("a short random stream must fail")
	}
	if _, err := Generate(rand.Reader, "", false, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty name: got %v", err)
	}
}

func TestValidate(t *testing.T) {
	good := Credential{AccessKeyID: "BKIAAAAAAAAAAAAAAAAA", SecretAccessKey: "0123456789abcdef/+=", Name: "ops"}
	tests := []struct {
		name   string
		mutate func(c *Credential)
		ok     bool
	}{
		{"valid", func(c *Credential) {}, true},
		{"aws style key", func(c *Credential) { c.AccessKeyID = "AKIAIOSFODNN7EXAMPLE" }, true},
		{"short key", func(c *Credential) { c.AccessKeyID = "BKIA123" }, false},
		{"long key", func(c *Credential) { c.AccessKeyID = strings.Repeat("A", 129) }, false},
		{"key with slash", func(c *Credential) { c.AccessKeyID = "BKIAAAAAAAAAAAAA/../x" }, false},
		{"key with dash", func(c *Credential) { c.AccessKeyID = "BKIA-AAAAAAAAAAAAAAA" }, false},
		{"short secret", func(c *Credential) { c.SecretAccessKey = "short" }, false},
		{"secret with space", func(c *Credential) { c.SecretAccessKey = "0123456789 abcdefgh" }, false},
		{"secret with newline", func(c *Credential) { c.SecretAccessKey = "0123456789abcdefgh\n" }, false},
		{"IAM name characters", func(c *Credential) { c.Name = "ci+deploy=x,y.z@w_v-u" }, true},
		{"unicode name", func(c *Credential) { c.Name = "équipe" }, false},
		{"slash in name", func(c *Credential) { c.Name = "ci/x" }, false},
		{"space in name", func(c *Credential) { c.Name = "ci deploy" }, false},
		{"empty name", func(c *Credential) { c.Name = "" }, false},
		{"name with newline", func(c *Credential) { c.Name = "a\nb" }, false},
		{"long name", func(c *Credential) { c.Name = strings.Repeat("n", 65) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.mutate(&c)
			err := c.Validate()
			if tt.ok && err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
		})
	}
}
