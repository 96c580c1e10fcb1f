package api

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth/berth/internal/ecs/arn"
	"github.com/berth/berth/internal/store/embedded"
)

// FuzzHandler sends arbitrary bodies to every operation. Whatever the
// input, the handler must answer a client error or success — never panic,
// never a ServerException (which would mean Berth itself failed).
func FuzzHandler(f *testing.F) {
	st, err := embedded.Open(filepath.Join(f.TempDir(), "state.db"), embedded.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	h := New(Config{Store: st, Namer: arn.Namer{Region: "us-east-1", Account: "000000000000"},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return time.Unix(1700000000, 0) }})
	names := make([]string, 0, len(h.ops))
	for name := range h.ops {
		names = append(names, name)
	}
	slices.Sort(names)

	seeds := []string{
		`{}`, `{"clusterName":"demo"}`, `{"cluster":"demo","settings":[{"name":"containerInsights","value":"enabled"}]}`,
		`{"family":"web","containerDefinitions":[{"name":"a","image":"busybox","memory":64}]}`,
		`{"family":"web","containerDefinitions":[{"name":"a","image":"busybox","memory":64,"dependsOn":[{"containerName":"a","condition":"START"}]}]}`,
		`{"taskDefinition":"web:1"}`, `{"taskDefinitions":["web:1"]}`, `{"resourceArn":"arn:aws:ecs:us-east-1:000000000000:cluster/demo","tags":[{"key":"a","value":"b"}]}`,
		`{"name":"containerInsights","value":"enabled"}`, `{"cluster":"demo","attributes":[{"name":"a","targetId":"i"}]}`,
		`{"maxResults":0}`, `{"nextToken":"!!"}`, `null`, `[]`, `"x"`, `{"clusters":[""]}`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s))
		f.Add(uint8(i*7+3), []byte(s))
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		name := names[int(which)%len(names)]
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Header.Set("X-Amz-Target", TargetPrefix+name)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 || strings.Contains(rec.Body.String(), "ServerException") {
			t.Fatalf("%s with %q: %d %s", name, body, rec.Code, rec.Body.String())
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s with %q answered invalid JSON: %s", name, body, rec.Body.String())
		}
	})
}
