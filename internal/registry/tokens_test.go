package registry

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/berth/berth/internal/store"
	"github.com/berth/berth/internal/store/embedded"
)

func TestTokens(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	tok := NewTokens(key, testAccount)
	now := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	pw, exp := tok.Mint(now)
	if want := now.Add(12 * time.Hour); !exp.Equal(want) {
		t.Fatalf("expiresAt = %v, want %v", exp, want)
	}
	// Change a character of the expiry field to another base64url one.
	tampered := []byte(pw)
	if tampered[5] == 'A' {
		tampered[5] = 'B'
	} else {
		tampered[5] = 'A'
	}
	otherPW, _ := NewTokens(key, "999999999999").Mint(now)
	otherKeyPW, _ := NewTokens([]byte("another key another key another!!"), testAccount).Mint(now)

	tests := []struct {
		name     string
		password string
		at       time.Time
		want     error
	}{
		{"fresh", pw, now, nil},
		{"last second", pw, now.Add(12*time.Hour - time.Second), nil},
		{"expired", pw, now.Add(12 * time.Hour), ErrTokenExpired},
		{"long expired", pw, now.Add(100 * time.Hour), ErrTokenExpired},
		{"tampered", string(tampered), now, ErrTokenInvalid},
		{"other account", otherPW, now, ErrTokenInvalid},
		{"other key", otherKeyPW, now, ErrTokenInvalid},
		{"empty", "", now, ErrTokenInvalid},
		{"short", pw[:len(pw)-2], now, ErrTokenInvalid},
		{"not base64", "!" + pw[1:], now, ErrTokenInvalid},
		{"padded", pw + "=", now, ErrTokenInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tok.Verify(tt.password, tt.at)
			if tt.want == nil && err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := embedded.Open(filepath.Join(t.TempDir(), "state.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestLoadOrCreateKeyConcurrent(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	const n = 8
	keys := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys[i], errs[i] = LoadOrCreateKey(ctx, st)
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("LoadOrCreateKey: %v", errs[i])
		}
		if len(keys[i]) != 32 || string(keys[i]) != string(keys[0]) {
			t.Fatalf("key %d = %x, key 0 = %x", i, keys[i], keys[0])
		}
	}
	again, err := LoadOrCreateKey(ctx, st)
	if err != nil || string(again) != string(keys[0]) {
		t.Fatalf("reload = %x, %v; want %x", again, err, keys[0])
	}
}

// racingStore lets another writer create the key between the caller's
// read and its compare-and-swap.
type racingStore struct {
	store.Store
	once   sync.Once
	winner []byte
}

func (s *racingStore) Txn(ctx context.Context, ops ...store.Op) (int64, error) {
	var err error
	s.once.Do(func() {
		_, err = LoadOrCreateKey(ctx, s.Store)
		if err == nil {
			s.winner, err = LoadOrCreateKey(ctx, s.Store)
		}
	})
	if err != nil {
		return 0, err
	}
	return s.Store.Txn(ctx, ops...)
}

func TestLoadOrCreateKeyConflictReadsWinner(t *testing.T) {
	rs := &racingStore{Store: openStore(t)}
	key, err := LoadOrCreateKey(context.Background(), rs)
	if err != nil {
		t.Fatal(err)
	}
	if rs.winner == nil || string(key) != string(rs.winner) {
		t.Fatalf("key = %x, winner = %x", key, rs.winner)
	}
}
