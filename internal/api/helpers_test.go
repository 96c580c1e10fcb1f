package api_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wantAPIError checks that err is the ECS error typ and that its message
// mentions every fragment (typically the offending field).
func wantAPIError(t *testing.T, err error, typ string, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", typ)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an API error", err)
	}
	if ae.ErrorCode() != typ {
		t.Fatalf("error code %q (%s), want %s", ae.ErrorCode(), ae.ErrorMessage(), typ)
	}
	for _, f := range fragments {
		if !strings.Contains(ae.ErrorMessage(), f) {
			t.Errorf("%s message %q does not mention %q", typ, ae.ErrorMessage(), f)
		}
	}
}
