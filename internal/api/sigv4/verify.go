package sigv4

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/logging"

	"github.com/berth/berth/internal/credential"
)

// Defaults for the Verifier's zero fields.
const (
	DefaultService = "ecs"
	DefaultMaxSkew = 15 * time.Minute
)

const (
	timeFormat      = "20060102T150405Z"
	shortTimeFormat = "20060102"
	scopeTerminator = "aws4_request"
)

// SecretLookup finds the secret access key of an access key ID. For an
// unknown key it returns an error wrapping credential.ErrNotFound; any other
// error is treated as a server failure, not as a bad request.
type SecretLookup interface {
	SecretKey(ctx context.Context, accessKeyID string) (secret string, err error)
}

// Verifier checks SigV4 header signatures. Its zero fields take defaults;
// it is safe for concurrent use.
type Verifier struct {
	// Lookup resolves access keys. Required.
	Lookup SecretLookup
	// Region the credential scope must name; empty accepts any region (the
	// signature is then checked against the region the client signed for).
	Region string
	// Service the credential scope must name; empty means DefaultService.
	Service string
	// MaxSkew is how far X-Amz-Date may be from Now, in either direction;
	// zero means DefaultMaxSkew.
	MaxSkew time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Identity is who signed a verified request.
type Identity struct {
	AccessKeyID string
}

// Verify checks the SigV4 signature of r, whose body the caller has already
// read into body (nil or empty for a GET). It does not read r.Body. On
// failure caused by the request it returns an *Error (see the Err*
// categories); a failing Lookup is returned wrapped, as a server error.
func (v *Verifier) Verify(ctx context.Context, r *http.Request, body []byte) (Identity, error) {
	if v.Lookup == nil {
		return Identity{}, errors.New("sigv4: Verifier.Lookup is nil")
	}
	service := v.Service
	if service == "" {
		service = DefaultService
	}
	skew := v.MaxSkew
	if skew <= 0 {
		skew = DefaultMaxSkew
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}

	authValues := r.Header.Values("Authorization")
	queryAuth := hasQueryAuth(r.URL)
	switch {
	case len(authValues) > 0 && queryAuth:
		return Identity{}, newError(ErrInvalidSignature, msgBothAuth)
	case len(authValues) == 0 && queryAuth:
		return Identity{}, newError(ErrIncompleteSignature, msgPresign)
	case len(authValues) == 0:
		return Identity{}, newError(ErrMissingAuthenticationToken, msgMissingToken)
	case len(authValues) > 1:
		return Identity{}, newError(ErrIncompleteSignature, msgManyAuth)
	}
	raw := authValues[0]
	a, err := parseAuthorization(raw)
	if err != nil {
		return Identity{}, err
	}

	// Missing parameters and a missing date are reported together.
	dates := r.Header.Values("X-Amz-Date")
	var msg strings.Builder
	for _, p := range a.missing() {
		fmt.Fprintf(&msg, "Authorization header requires '%s' parameter. ", p)
	}
	if len(dates) == 0 && r.Header.Get("Date") == "" {
		msg.WriteString(msgNeedDate)
	}
	if msg.Len() > 0 {
		return Identity{}, newError(ErrIncompleteSignature, "%sAuthorization=%s", msg.String(), echo(raw))
	}
	if len(dates) == 0 {
		return Identity{}, newError(ErrIncompleteSignature, msgOnlyDate)
	}
	amzDate := strings.Join(dates, ",")
	signedAt, err := time.Parse(timeFormat, amzDate)
	if err != nil || len(dates) > 1 || signedAt.Format(timeFormat) != amzDate {
		return Identity{}, newError(ErrIncompleteSignature,
			"Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", echo(amzDate))
	}
	current := now().UTC()
	if signedAt.Before(current.Add(-skew)) || signedAt.After(current.Add(skew)) {
		return Identity{}, expiredError(signedAt, current, skew)
	}

	names := a.signedHeaderNames()
	if !slices.Contains(names, "host") {
		return Identity{}, newError(ErrInvalidSignature, msgHostNotSigned)
	}
	if !slices.Contains(names, "x-amz-date") {
		return Identity{}, newError(ErrInvalidSignature, msgDateNotSigned)
	}
	if a.Algorithm != algorithm {
		return Identity{}, newError(ErrIncompleteSignature,
			"Unsupported AWS 'algorithm': '%s' (only %s for now). ", echo(a.Algorithm), algorithm)
	}

	scope := strings.Split(strings.TrimRight(a.Credential, "/"), "/")
	if len(scope) != 5 {
		return Identity{}, newError(ErrIncompleteSignature,
			"Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'",
			echo(a.Credential))
	}
	akid, date, region, scopeService, term := scope[0], scope[1], scope[2], scope[3], scope[4]
	msg.Reset()
	if region == "" || (v.Region != "" && region != v.Region) {
		fmt.Fprintf(&msg, "Credential should be scoped to a valid region, not '%s'. ", echo(region))
	}
	if scopeService != service {
		fmt.Fprintf(&msg, "Credential should be scoped to correct service: '%s'. ", service)
	}
	if term != scopeTerminator {
		fmt.Fprintf(&msg, "Credential should be scoped with a valid terminator: '%s', not '%s'. ", scopeTerminator, echo(term))
	}
	if want := signedAt.Format(shortTimeFormat); date != want {
		fmt.Fprintf(&msg, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
			echo(date), want, amzDate)
	}
	if msg.Len() > 0 {
		return Identity{}, newError(ErrInvalidSignature, "%s", msg.String())
	}

	if r.Header.Get("X-Amz-Security-Token") != "" || slices.Contains(names, "x-amz-security-token") {
		return Identity{}, newError(ErrUnrecognizedClient, msgSecurityToken)
	}
	secret, err := v.Lookup.SecretKey(ctx, akid)
	if errors.Is(err, credential.ErrNotFound) {
		return Identity{}, newError(ErrUnrecognizedClient, msgUnrecognized)
	}
	if err != nil {
		return Identity{}, fmt.Errorf("sigv4: look up access key %q: %w", akid, err)
	}

	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if slices.Contains(names, "x-amz-content-sha256") {
		if got := r.Header.Get("X-Amz-Content-Sha256"); !strings.EqualFold(got, payloadHash) {
			e := newError(ErrInvalidSignature, msgBadSignature)
			e.Detail = fmt.Sprintf("signed X-Amz-Content-Sha256 %q does not match the body's SHA-256 %s", got, payloadHash)
			return Identity{}, e
		}
	}

	s := signing{
		r: r, body: body, names: names, akid: akid, secret: secret,
		service: service, region: region, at: signedAt, payloadHash: payloadHash,
	}
	var detail string
	for _, host := range candidateHosts(requestHost(r)) {
		sig, signedHeaders, err := s.sign(ctx, host, nil)
		if err != nil {
			return Identity{}, fmt.Errorf("sigv4: re-sign request: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(sig), []byte(a.Signature)) == 1 && signedHeaders == a.SignedHeaders {
			return Identity{AccessKeyID: akid}, nil
		}
		if detail == "" {
			detail = s.explain(ctx, host, signedHeaders, a.SignedHeaders)
		}
	}
	e := newError(ErrInvalidSignature, msgBadSignature)
	e.Detail = detail
	return Identity{}, e
}

// sharedSigner re-signs requests. One long-lived signer keeps its cache of
// derived signing keys (per secret, date, region and service), which are
// otherwise recomputed on every request; it is safe for concurrent use.
var sharedSigner = v4.NewSigner()

// signing holds what one re-signing of a request needs.
type signing struct {
	r           *http.Request
	body        []byte
	names       []string // signed header names, lower case
	akid        string
	secret      string
	service     string
	region      string
	at          time.Time
	payloadHash string
}

// sign re-signs a copy of the request that carries only the signed headers,
// with the given host, and returns the signature and the SignedHeaders the
// signer produced. A non-nil logger receives the canonical request.
func (s signing) sign(ctx context.Context, host string, logger logging.Logger) (signature, signedHeaders string, err error) {
	c := &http.Request{
		Method: s.r.Method,
		URL:    &url.URL{Path: s.r.URL.Path, RawPath: s.r.URL.RawPath, RawQuery: s.r.URL.RawQuery},
		Host:   host,
		Header: make(http.Header, len(s.names)),
	}
	for _, name := range s.names {
		switch name {
		case "host", "x-amz-date":
			// The signer signs host from c.Host and x-amz-date from s.at.
		case "content-length":
			// The signer signs content-length exactly when ContentLength > 0.
			c.ContentLength = contentLength(s.r, s.body)
		case "":
			// An empty name ("a;;b") cannot be reproduced; the SignedHeaders
			// comparison rejects the request.
		default:
			// The lower-case key keeps the signer's ignore list (User-Agent,
			// Expect, ...) from dropping a header the client chose to sign.
			c.Header[name] = headerValues(s.r, name)
		}
	}
	signer := sharedSigner
	if logger != nil {
		signer = v4.NewSigner(func(o *v4.SignerOptions) { o.LogSigning, o.Logger = true, logger })
	}
	creds := aws.Credentials{AccessKeyID: s.akid, SecretAccessKey: s.secret}
	if err := signer.SignHTTP(ctx, creds, c, s.payloadHash, s.service, s.region, s.at); err != nil {
		return "", "", err
	}
	got, err := parseAuthorization(c.Header.Get("Authorization"))
	if err != nil {
		return "", "", fmt.Errorf("signer produced an unreadable Authorization header: %w", err)
	}
	return got.Signature, got.SignedHeaders, nil
}

// explain re-signs once more to capture the canonical request for Detail.
func (s signing) explain(ctx context.Context, host, computed, claimed string) string {
	var capture captureLogger
	if _, _, err := s.sign(ctx, host, &capture); err != nil {
		return "re-signing for diagnosis failed: " + err.Error()
	}
	var b strings.Builder
	if computed != claimed {
		fmt.Fprintf(&b, "signed headers differ: client %q, recomputed %q\n", claimed, computed)
	}
	b.WriteString(capture.text)
	return b.String()
}

// captureLogger keeps the signer's debug output (canonical string and
// string to sign).
type captureLogger struct{ text string }

func (l *captureLogger) Logf(_ logging.Classification, format string, v ...any) {
	l.text += fmt.Sprintf(format, v...)
}

// headerValues returns every value of the named header, however its key is
// cased in r.Header; a signed header the request lacks canonicalises as an
// empty value.
func headerValues(r *http.Request, name string) []string {
	var vals []string
	for k, vs := range r.Header {
		if strings.EqualFold(k, name) {
			vals = append(vals, vs...)
		}
	}
	if len(vals) == 0 && name == "transfer-encoding" && len(r.TransferEncoding) > 0 {
		// net/http moves Transfer-Encoding out of the header map.
		vals = []string{strings.Join(r.TransferEncoding, ",")}
	}
	if len(vals) == 0 {
		vals = []string{""}
	}
	return vals
}

// contentLength is the length the client declared, or the body's.
func contentLength(r *http.Request, body []byte) int64 {
	if r.ContentLength > 0 {
		return r.ContentLength
	}
	if n, err := strconv.ParseInt(r.Header.Get("Content-Length"), 10, 64); err == nil && n > 0 {
		return n
	}
	return int64(len(body))
}

// requestHost is the host the client addressed: r.Host on a server request.
func requestHost(r *http.Request) string {
	switch {
	case r.Host != "":
		return r.Host
	case r.URL.Host != "":
		return r.URL.Host
	}
	return r.Header.Get("Host")
}

// candidateHosts is the host as received and, when it names the default
// port of HTTP or HTTPS, also without that port: clients sign the host
// without a default port, and a proxy in front of Berth may add one back.
func candidateHosts(host string) []string {
	out := []string{host}
	if h, port, err := net.SplitHostPort(host); err == nil && (port == "80" || port == "443") {
		if strings.Contains(h, ":") {
			h = "[" + h + "]"
		}
		out = append(out, h)
	}
	return out
}

// hasQueryAuth reports whether the URL carries presigned-URL parameters.
func hasQueryAuth(u *url.URL) bool {
	q, _ := url.ParseQuery(u.RawQuery)
	return q.Has("X-Amz-Algorithm") || q.Has("X-Amz-Signature")
}
