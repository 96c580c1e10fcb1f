package sigv4

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseAuthorization(t *testing.T) {
	const cred = "BKIATESTAAAAAAAAAAAA/20240101/us-east-1/ecs/aws4_request"
	tests := []struct {
		name     string
		in       string
		want     authorization // has is checked through missing()
		missing  []string
		wantKind error
	}{
		{name: "sdk form", in: "AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=host;x-amz-date, Signature=abc",
			want: authorization{Algorithm: "AWS4-HMAC-SHA256", Credential: cred, SignedHeaders: "host;x-amz-date", Signature: "abc"}},
		{name: "no spaces after commas", in: "AWS4-HMAC-SHA256 Credential=" + cred + ",SignedHeaders=host,Signature=abc",
			want: authorization{Algorithm: "AWS4-HMAC-SHA256", Credential: cred, SignedHeaders: "host", Signature: "abc"}},
		{name: "spaces only, tab, surrounding blanks", in: "  AWS4-HMAC-SHA256\tCredential=" + cred + " SignedHeaders=host Signature=abc  ",
			want: authorization{Algorithm: "AWS4-HMAC-SHA256", Credential: cred, SignedHeaders: "host", Signature: "abc"}},
		{name: "unknown parameter ignored", in: "AWS4-HMAC-SHA256 Credential=" + cred + ", Foo=bar, SignedHeaders=host, Signature=abc",
			want: authorization{Algorithm: "AWS4-HMAC-SHA256", Credential: cred, SignedHeaders: "host", Signature: "abc"}},
		{name: "other algorithm parses", in: "AWS4-ECDSA-P256-SHA256 Credential=a, SignedHeaders=host, Signature=abc",
			want: authorization{Algorithm: "AWS4-ECDSA-P256-SHA256", Credential: "a", SignedHeaders: "host", Signature: "abc"}},
		{name: "algorithm only", in: "AWS4-HMAC-SHA256", want: authorization{Algorithm: "AWS4-HMAC-SHA256"},
			missing: []string{"Credential", "Signature", "SignedHeaders"}},
		{name: "empty SignedHeaders is present", in: "AWS4-HMAC-SHA256 Credential=a, SignedHeaders=, Signature=",
			want: authorization{Algorithm: "AWS4-HMAC-SHA256", Credential: "a"}, missing: []string{"Signature"}},
		{name: "value containing equal signs", in: "AWS4-HMAC-SHA256 Credential=a=b, SignedHeaders=host, Signature=c",
			want: authorization{Algorithm: "AWS4-HMAC-SHA256", Credential: "a=b", SignedHeaders: "host", Signature: "c"}},
		{name: "empty", in: "", wantKind: ErrMissingAuthenticationToken},
		{name: "bearer", in: "Bearer eyJ0eXAi", wantKind: ErrMissingAuthenticationToken},
		{name: "sigv2", in: "AWS AKID:signature", wantKind: ErrMissingAuthenticationToken},
		{name: "lower-case algorithm", in: "aws4-hmac-sha256 Credential=a", wantKind: ErrMissingAuthenticationToken},
		{name: "missing equal sign", in: "AWS4-HMAC-SHA256 Credential", wantKind: ErrIncompleteSignature},
		{name: "duplicate parameter", in: "AWS4-HMAC-SHA256 Signature=a, Signature=b", wantKind: ErrIncompleteSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseAuthorization(tt.in)
			if tt.wantKind != nil {
				if !errors.Is(err, tt.wantKind) {
					t.Fatalf("got %v, want %v", err, tt.wantKind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Algorithm != tt.want.Algorithm || got.Credential != tt.want.Credential ||
				got.SignedHeaders != tt.want.SignedHeaders || got.Signature != tt.want.Signature {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			if m := got.missing(); !slices.Equal(m, tt.missing) {
				t.Fatalf("missing %v, want %v", m, tt.missing)
			}
		})
	}
}

func TestSignedHeaderNames(t *testing.T) {
	a := authorization{SignedHeaders: "Content-Type;host; X-Amz-Date"}
	if got := a.signedHeaderNames(); !slices.Equal(got, []string{"content-type", "host", "x-amz-date"}) {
		t.Fatalf("got %q", got)
	}
	if got := (authorization{}).signedHeaderNames(); got != nil {
		t.Fatalf("empty SignedHeaders gave %q", got)
	}
}

// FuzzParseAuthorization: any input either fails with one of the two
// parse error kinds or yields fields free of separators that survive a
// render-and-parse round trip.
func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{
		"AWS4-HMAC-SHA256 Credential=BKIATESTAAAAAAAAAAAA/20240101/us-east-1/ecs/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=0123abcd",
		"AWS4-HMAC-SHA256 Credential=a,SignedHeaders=b,Signature=c",
		"AWS4-HMAC-SHA256",
		"AWS4-",
		"AWS4-X Credential",
		"AWS4-X Signature=a, Signature=b",
		"Bearer x",
		"",
		"AWS4-HMAC-SHA256 Credential==, SignedHeaders=;;, Signature=\x00",
		"AWS4-HMAC-SHA256\tCredential=a\nSignedHeaders=b\rSignature=c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		a, err := parseAuthorization(in)
		if err != nil {
			if !errors.Is(err, ErrMissingAuthenticationToken) && !errors.Is(err, ErrIncompleteSignature) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			var verr *Error
			if !errors.As(err, &verr) || verr.Msg == "" {
				t.Fatalf("error without client message: %v", err)
			}
			if len(verr.Msg) > 4*maxEcho {
				t.Fatalf("message of %d bytes: echo is not bounded", len(verr.Msg))
			}
			return
		}
		if !strings.HasPrefix(a.Algorithm, "AWS4-") {
			t.Fatalf("algorithm %q", a.Algorithm)
		}
		for _, field := range []string{a.Algorithm, a.Credential, a.SignedHeaders, a.Signature} {
			if strings.ContainsFunc(field, isSeparator) {
				t.Fatalf("field %q contains a separator (input %q)", field, in)
			}
		}
		_ = a.missing()
		_ = a.signedHeaderNames()
		if len(a.missing()) > 0 {
			return
		}
		rendered := a.Algorithm + " Credential=" + a.Credential + ", SignedHeaders=" + a.SignedHeaders + ", Signature=" + a.Signature
		b, err := parseAuthorization(rendered)
		if err != nil {
			t.Fatalf("re-parse of %q: %v", rendered, err)
		}
		if b.Algorithm != a.Algorithm || b.Credential != a.Credential || b.SignedHeaders != a.SignedHeaders || b.Signature != a.Signature {
			t.Fatalf("round trip changed %+v to %+v", a, b)
		}
	})
}
