package sigv4

import (
	"errors"
	"fmt"
	"time"
)

// Error categories. Each maps to exactly one AWS wire error in the API
// layer's error table (the AWS JSON type is given beside each); this package
// never writes responses itself. Every error Verify returns because of the
// request (as opposed to a failing SecretLookup) is an *Error whose Kind is
// one of these, so errors.Is works and Error() is the client-facing message.
var (
	// ErrMissingAuthenticationToken: the request carries no SigV4
	// authentication at all. Wire: MissingAuthenticationTokenException.
	ErrMissingAuthenticationToken = errors.New("missing authentication token")
	// ErrIncompleteSignature: the Authorization header or X-Amz-Date is
	// missing parts or malformed. Wire: IncompleteSignatureException.
	ErrIncompleteSignature = errors.New("incomplete signature")
	// ErrUnrecognizedClient: the access key is unknown (or a security token
	// was sent, which Berth does not support). Wire: UnrecognizedClientException.
	ErrUnrecognizedClient = errors.New("unrecognized client")
	// ErrInvalidSignature: the signature, its scope or its signed headers are
	// wrong. Wire: InvalidSignatureException.
	ErrInvalidSignature = errors.New("invalid signature")
	// ErrSignatureExpired: X-Amz-Date is further than MaxSkew from now.
	// Wire: InvalidSignatureException (AWS uses the same type).
	ErrSignatureExpired = errors.New("signature expired")
)

// Error is a categorised verification failure.
type Error struct {
	// Kind is one of the Err* categories above.
	Kind error
	// Msg is the message the client sees, in AWS's wording.
	Msg string
	// Detail is a diagnostic for server logs only (for a signature mismatch:
	// the canonical request Berth computed). It may name request headers
	// and must never be sent to the client.
	Detail string
}

func (e *Error) Error() string { return e.Msg }

// Unwrap lets errors.Is(err, ErrInvalidSignature) and friends work.
func (e *Error) Unwrap() error { return e.Kind }

func newError(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Client-facing messages, worded as AWS's coral front end words them.
const (
	msgMissingToken = "Missing Authentication Token"
	msgUnrecognized = "The security token included in the request is invalid."
	msgBadSignature = "The request signature we calculated does not match the signature you provided. " +
		"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgBothAuth = "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header."
	msgPresign  = "Berth does not accept query-string (presigned) authentication: " +
		"sign the request with an Authorization header."
	msgSecurityToken = msgUnrecognized + " Berth does not support temporary credentials " +
		"(X-Amz-Security-Token): sign with an access key Berth issued."
	msgHostNotSigned = "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
	msgDateNotSigned = "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization."
	msgNeedDate      = "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
	msgOnlyDate      = "Berth requires the 'X-Amz-Date' header: a signature dated only by the 'Date' header is not supported."
	msgManyAuth      = "The request carries more than one Authorization header."
)

// maxEcho caps how much of a client's Authorization header an error message
// repeats back (AWS echoes it whole; a cap keeps responses small).
const maxEcho = 512

func echo(s string) string {
	if len(s) > maxEcho {
		return s[:maxEcho] + "..."
	}
	return s
}

// expiredError builds AWS's clock-skew message, e.g.
// "Signature expired: 20240101T000000Z is now earlier than 20240101T001600Z (20240101T003100Z - 15 min.)"
// or, for a date in the future,
// "Signature not yet current: 20240101T010000Z is still later than 20240101T004600Z (20240101T003100Z + 15 min.)".
func expiredError(signed, now time.Time, skew time.Duration) *Error {
	if signed.Before(now) {
		return newError(ErrSignatureExpired, "Signature expired: %s is now earlier than %s (%s - %s)",
			signed.Format(timeFormat), now.Add(-skew).Format(timeFormat), now.Format(timeFormat), skewText(skew))
	}
	return newError(ErrSignatureExpired, "Signature not yet current: %s is still later than %s (%s + %s)",
		signed.Format(timeFormat), now.Add(skew).Format(timeFormat), now.Format(timeFormat), skewText(skew))
}

// skewText renders the window as AWS does ("15 min."), falling back to Go's
// duration syntax for windows that are not whole minutes.
func skewText(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%d min.", d/time.Minute)
	}
	return d.String()
}
