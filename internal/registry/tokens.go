package registry

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
)

// TokenLifetime is how long a minted registry password stays valid (ECR's
// GetAuthorizationToken: 12 hours).
const TokenLifetime = 12 * time.Hour

// TokenKeyPath is where LoadOrCreateKey keeps the token key in the store.
const TokenKeyPath = "/registry/token-key"

// tokenKeySize is the size of the HMAC key in bytes.
const tokenKeySize = 32

// Token layout, before base64url (no padding):
//
//	version (1 byte) | expiry, Unix seconds (8 bytes, big endian) | HMAC-SHA256 (32 bytes)
//
// The HMAC covers a domain label, the account and the first 9 bytes, so a
// token minted for one account never verifies for another.
const (
	tokenVersion = 1
	tokenBodyLen = 1 + 8
	tokenLen     = tokenBodyLen + sha256.Size
	tokenDomain  = "berth-registry-token\x00"
)

// Tokens mints and verifies the registry passwords GetAuthorizationToken
// hands out (the "AWS" user's password in Basic auth). A token is opaque
// base64url text binding the account and an expiry with HMAC-SHA256.
// Tokens is safe for concurrent use.
type Tokens struct {
	key     []byte
	account string
}

// NewTokens returns a Tokens signing with key for account.
func NewTokens(key []byte, account string) *Tokens {
	k := make([]byte, len(key))
	copy(k, key)
	return &Tokens{key: k, account: account}
}

// Mint returns a new password valid from now for TokenLifetime, and its
// expiry (whole seconds).
func (t *Tokens) Mint(now time.Time) (password string, expiresAt time.Time) {
	expiresAt = now.Add(TokenLifetime).Truncate(time.Second)
	var buf [tokenLen]byte
	buf[0] = tokenVersion
	binary.BigEndian.PutUint64(buf[1:tokenBodyLen], uint64(expiresAt.Unix()))
	copy(buf[tokenBodyLen:], t.mac(buf[:tokenBodyLen]))
	return base64.RawURLEncoding.EncodeToString(buf[:]), expiresAt
}

// Verify checks password at now. It returns an error wrapping
// ErrTokenInvalid for a malformed or tampered token or one of another
// account or key, and ErrTokenExpired for a genuine token past its expiry.
func (t *Tokens) Verify(password string, now time.Time) error {
	if base64.RawURLEncoding.DecodedLen(len(password)) != tokenLen {
		return fmt.Errorf("registry: token of %d characters: %w", len(password), ErrTokenInvalid)
	}
	var buf [tokenLen]byte
	n, err := base64.RawURLEncoding.Decode(buf[:], []byte(password))
	if err != nil || n != tokenLen {
		return fmt.Errorf("registry: token not base64url: %w", ErrTokenInvalid)
	}
	if !hmac.Equal(buf[tokenBodyLen:], t.mac(buf[:tokenBodyLen])) {
		return fmt.Errorf("registry: token signature mismatch: %w", ErrTokenInvalid)
	}
	if buf[0] != tokenVersion {
		return fmt.Errorf("registry: token version %d: %w", buf[0], ErrTokenInvalid)
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(buf[1:tokenBodyLen])), 0)
	if !now.Before(exp) {
		return fmt.Errorf("registry: token expired at %s: %w", exp.UTC().Format(time.RFC3339), ErrTokenExpired)
	}
	return nil
}

func (t *Tokens) mac(body []byte) []byte {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte(tokenDomain))
	m.Write([]byte(t.account))
	m.Write([]byte{0})
	m.Write(body)
	return m.Sum(nil)
}

// uploadSecret derives the distribution app's HTTP secret (which signs
// upload state) from the token key, so servers sharing a store agree on it.
func (t *Tokens) uploadSecret() string {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte("berth-registry-upload-state"))
	return base64.RawStdEncoding.EncodeToString(m.Sum(nil))
}

// tokenKeyRecord is the JSON kept at TokenKeyPath.
type tokenKeyRecord struct {
	Key []byte `json:"key"`
}

// LoadOrCreateKey returns the registry's token key from st, creating a
// random 32-byte key at TokenKeyPath if there is none. Creation is a
// compare-and-swap on the key's absence: when several servers sharing the
// store race, one write wins and the others read the winner's key.
func LoadOrCreateKey(ctx context.Context, st store.Store) ([]byte, error) {
	for attempt := 0; attempt < 3; attempt++ {
		rec, _, err := state.Get[tokenKeyRecord](ctx, st, TokenKeyPath)
		switch {
		case err == nil:
			if len(rec.Key) != tokenKeySize {
				return nil, fmt.Errorf("registry: token key at %s has %d bytes, want %d", TokenKeyPath, len(rec.Key), tokenKeySize)
			}
			return rec.Key, nil
		case !errors.Is(err, store.ErrNotFound):
			return nil, fmt.Errorf("registry: read token key: %w", err)
		}
		key := make([]byte, tokenKeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("registry: generate token key: %w", err)
		}
		op, err := state.PutOp(TokenKeyPath, tokenKeyRecord{Key: key}, store.ExpectAbsent)
		if err != nil {
			return nil, fmt.Errorf("registry: encode token key: %w", err)
		}
		_, err = st.Txn(ctx, op)
		switch {
		case err == nil:
			return key, nil
		case errors.Is(err, store.ErrConflict):
			continue // another server created it: read theirs
		default:
			return nil, fmt.Errorf("registry: store token key: %w", err)
		}
	}
	return nil, fmt.Errorf("registry: token key at %s keeps changing: %w", TokenKeyPath, store.ErrConflict)
}
