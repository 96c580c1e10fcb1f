package credential_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/berth/berth/internal/api/sigv4"
	"github.com/berth/berth/internal/credential"
	"github.com/berth/berth/internal/store"
)

var _ sigv4.SecretLookup = (*credential.Registry)(nil)

// memStore is the minimum store the registry needs for this end-to-end
// check: Get, List, Txn (puts and deletes, expectations) and an idle Watch.
type memStore struct {
	kvs map[string]store.KV
	rev int64
}

func (m *memStore) Get(_ context.Context, k string) (store.KV, error) {
	kv, ok := m.kvs[k]
	if !ok {
		return store.KV{}, store.ErrNotFound
	}
	return kv, nil
}

func (m *memStore) List(context.Context, string, store.ListOptions) ([]store.KV, int64, error) {
	var out []store.KV
	for _, kv := range m.kvs {
		out = append(out, kv)
	}
	return out, m.rev, nil
}

func (m *memStore) Txn(_ context.Context, ops ...store.Op) (int64, error) {
	for _, op := range ops {
		_, exists := m.kvs[op.Key]
		if op.Expect == store.ExpectAbsent && exists || op.Expect > 0 && m.kvs[op.Key].ModRevision != op.Expect {
			return 0, store.ErrConflict
		}
	}
	m.rev++
	for _, op := range ops {
		if op.Kind == store.OpPut {
			m.kvs[op.Key] = store.KV{Key: op.Key, Value: op.Value, ModRevision: m.rev}
		} else {
			delete(m.kvs, op.Key)
		}
	}
	return m.rev, nil
}

func (m *memStore) Watch(context.Context, string, int64) (<-chan store.Event, error) {
	return nil, errors.New("not used")
}

// TestRegistryBacksVerifier: a generated credential signs a request the
// verifier accepts through the registry; once deleted it is unrecognized.
func TestRegistryBacksVerifier(t *testing.T) {
	ctx := context.Background()
	reg := credential.NewRegistry(&memStore{kvs: map[string]store.KV{}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	signedAt := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	c, err := credential.Generate(rand.Reader, "ci", false, signedAt)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	v := &sigv4.Verifier{Lookup: reg, Region: "us-east-1", Now: func() time.Time { return signedAt }}
	body := []byte(`{}`)
	sign := func() *http.Request {
		req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:8080/", bytes.NewReader(body))
		req.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.ListClusters")
		sum := sha256.Sum256(body)
		err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey},
			req, hex.EncodeToString(sum[:]), "ecs", "us-east-1", signedAt)
		if err != nil {
			t.Fatal(err)
		}
		return req
	}
	id, err := v.Verify(ctx, sign(), body)
	if err != nil || id.AccessKeyID != c.AccessKeyID {
		t.Fatalf("Verify = %+v, %v", id, err)
	}
	if err := reg.Delete(ctx, c.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, sign(), body); !errors.Is(err, sigv4.ErrUnrecognizedClient) {
		t.Fatalf("after Delete: got %v", err)
	}
}
