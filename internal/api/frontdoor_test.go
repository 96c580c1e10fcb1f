package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berth/berth/internal/ecs"
)

// fakeService is a Service that answers with its operation's name, or
// with its error.
type fakeService struct{ err error }

func (f fakeService) Call(_ context.Context, op string, body []byte) (any, error) {
	if f.err != nil {
		return nil, f.err
	}
	return map[string]string{"op": op, "body": string(body)}, nil
}

type fakeWireError struct{}

func (fakeWireError) Error() string    { return "no such repository" }
func (fakeWireError) WireType() string { return "RepositoryNotFoundException" }
func (fakeWireError) WireStatus() int  { return http.StatusBadRequest }

// Requests whose target has a Service's prefix go to the Service; its
// errors keep their own wire type, others go through the error table.
func TestFrontDoorServices(t *testing.T) {
	h := New(Config{Services: map[string]Service{
		"Fake_1.":  fakeService{},
		"Wired_1.": fakeService{err: fakeWireError{}},
		"Plain_1.": fakeService{err: ecs.Errorf(ecs.ErrInvalidParameter, "name is bad")},
	}})
	srv := httptest.NewServer(h)
	defer srv.Close()
	tests := []struct {
		target     string
		status     int
		typ, field string // the error type, or the op answered
	}{
		{"Fake_1.DoThing", 200, "", "DoThing"},
		{"Wired_1.DoThing", 400, "RepositoryNotFoundException", "no such repository"},
		{"Plain_1.DoThing", 400, "InvalidParameterException", "name is bad"},
		{"Other_1.DoThing", 400, "UnknownOperationException", ""},
		{TargetPrefix + "NoSuchOp", 400, "UnknownOperationException", ""},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(`{"a":1}`))
			req.Header.Set("X-Amz-Target", tt.target)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got map[string]string
			json.NewDecoder(resp.Body).Decode(&got)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (%v)", resp.StatusCode, tt.status, got)
			}
			if tt.typ == "" {
				if got["op"] != tt.field || got["body"] != `{"a":1}` {
					t.Errorf("answer %v, want op %s with the body", got, tt.field)
				}
				return
			}
			if got["__type"] != tt.typ || (tt.field != "" && got["message"] != tt.field) {
				t.Errorf("error %v, want %s %q", got, tt.typ, tt.field)
			}
		})
	}
}
