// Package credential manages Berth's own API credentials: AWS-style access
// key pairs that clients use to SigV4-sign calls to Berth.
//
// Credentials live in the store under /credentials/<access key ID> as JSON.
// The secret is kept in the clear because SigV4 verification needs it (the
// signature is an HMAC keyed by a key derived from the secret); protecting
// the store is therefore protecting the secrets. A Registry creates, lists
// and deletes them and answers secret lookups for internal/api/sigv4 from a
// cache that a store watch keeps current, so several Berth servers sharing
// one etcd see each other's changes and a deleted key stops working as soon
// as its delete event arrives. The shared-credentials-file helpers write and
// read the ~/.aws/credentials format the AWS CLI and SDKs read.
package credential

import (
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
)

// Sentinel errors; callers test with errors.Is.
var (
	// ErrNotFound: no credential has this access key ID.
	ErrNotFound = errors.New("credential: access key not found")
	// ErrExists: a credential with this access key ID already exists.
	ErrExists = errors.New("credential: access key already exists")
	// ErrInvalid: a field of a credential (or a profile name) is malformed.
	ErrInvalid = errors.New("credential: invalid")
)

// AccessKeyPrefix starts every access key ID Berth generates ("BKIA", after
// AWS's "AKIA" for long-term keys), so a Berth key is recognisable.
const AccessKeyPrefix = "BKIA"

// Lengths of generated keys: 20-character access key IDs and 40-character
// secrets, the same shape as AWS's.
const (
	accessKeyIDLen = 20
	secretLen      = 40
	maxNameLen     = 64
)

// Credential is one access key pair with its metadata.
type Credential struct {
	AccessKeyID     string    `json:"accessKeyId"`
	SecretAccessKey string    `json:"secretAccessKey"`
	Name            string    `json:"name"`
	Admin           bool      `json:"admin"`
	CreatedAt       time.Time `json:"createdAt"`
}

// Generate makes a new credential from rand (crypto/rand.Reader in
// production): an access key ID of "BKIA" and 16 base32 characters (80
// random bits) and a 40-character base64 secret (240 random bits).
func Generate(rand io.Reader, name string, admin bool, now time.Time) (Credential, error) {
	if err := validateName(name); err != nil {
		return Credential{}, err
	}
	var idBytes [10]byte     // 80 bits: exactly 16 base32 characters
	var secretBytes [30]byte // 240 bits: exactly 40 base64 characters
	if _, err := io.ReadFull(rand, idBytes[:]); err != nil {
		return Credential{}, fmt.Errorf("credential: read random access key ID: %w", err)
	}
	if _, err := io.ReadFull(rand, secretBytes[:]); err != nil {
		return Credential{}, fmt.Errorf("credential: read random secret: %w", err)
	}
	return Credential{
		AccessKeyID:     AccessKeyPrefix + base32.StdEncoding.EncodeToString(idBytes[:]),
		SecretAccessKey: base64.StdEncoding.EncodeToString(secretBytes[:]),
		Name:            name,
		Admin:           admin,
		CreatedAt:       now.UTC(),
	}, nil
}

// Validate checks every field a stored credential needs.
func (c Credential) Validate() error {
	if err := ValidateAccessKeyID(c.AccessKeyID); err != nil {
		return err
	}
	if err := validateSecret(c.SecretAccessKey); err != nil {
		return err
	}
	return validateName(c.Name)
}

// ValidateAccessKeyID accepts what AWS accepts for an access key ID: 16 to
// 128 word characters ([A-Za-z0-9_]). Anything else can never name a
// credential (and never reaches the store as part of a key).
func ValidateAccessKeyID(id string) error {
	if len(id) < 16 || len(id) > 128 {
		return fmt.Errorf("%w: access key ID must be 16 to 128 characters long, got %d", ErrInvalid, len(id))
	}
	for _, r := range id {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return fmt.Errorf("%w: access key ID %q may contain only letters, digits and '_'", ErrInvalid, id)
		}
	}
	return nil
}

// validateSecret accepts 16 to 128 printable ASCII characters without white
// space, so a secret survives environment variables and INI files.
func validateSecret(s string) error {
	if len(s) < 16 || len(s) > 128 {
		return fmt.Errorf("%w: secret access key must be 16 to 128 characters long, got %d", ErrInvalid, len(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return fmt.Errorf("%w: secret access key may contain only printable ASCII without spaces", ErrInvalid)
		}
	}
	return nil
}

// validateName accepts a human label of 1 to 128 characters without
// control characters.
// validateName checks a credential name. A credential acts as the IAM
// user of its name, so names follow IAM's user-name rules: 1 to 64 of
// letters, digits and + = , . @ _ - (no '/', which would let one principal's
// keys nest inside another's).
func validateName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("%w: name must be 1 to %d characters long", ErrInvalid, maxNameLen)
	}
	for _, r := range name {
		ok := r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("+=,.@_-", r))
		if !ok {
			return fmt.Errorf("%w: name %q may only contain letters, digits and + = , . @ _ -", ErrInvalid, name)
		}
	}
	return nil
}
