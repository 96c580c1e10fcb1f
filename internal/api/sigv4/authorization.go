package sigv4

import (
	"strings"
)

// algorithm is the only signing algorithm SigV4 header auth defines.
const algorithm = "AWS4-HMAC-SHA256"

// authorization is a parsed "Authorization: AWS4-HMAC-SHA256 Credential=...,
// SignedHeaders=..., Signature=..." header. Fields the header lacks are
// empty; has records which of the three parameters appeared at all (an
// empty SignedHeaders is present but names nothing).
type authorization struct {
	Algorithm     string
	Credential    string
	SignedHeaders string
	Signature     string
	has           map[string]bool
}

// The parameter names, in the order AWS reports missing ones.
const (
	paramCredential    = "Credential"
	paramSignature     = "Signature"
	paramSignedHeaders = "SignedHeaders"
)

var requiredParams = []string{paramCredential, paramSignature, paramSignedHeaders}

// parseAuthorization splits an Authorization header value. It fails with
// ErrMissingAuthenticationToken when the value is not SigV4 at all (it does
// not start with "AWS4-"), and with ErrIncompleteSignature when a parameter
// is not a key=value pair or appears twice. Missing parameters are not an
// error here: Verify reports them together with a missing X-Amz-Date, as
// AWS does. Parameters are separated by commas and/or white space; unknown
// parameters are ignored.
func parseAuthorization(value string) (authorization, error) {
	v := strings.TrimSpace(value)
	if !strings.HasPrefix(v, "AWS4-") {
		return authorization{}, newError(ErrMissingAuthenticationToken, msgMissingToken)
	}
	a := authorization{has: make(map[string]bool, 3)}
	fields := strings.FieldsFunc(v, isSeparator) // v starts with "AWS4-": fields[0] exists
	a.Algorithm = fields[0]
	for _, field := range fields[1:] {
		key, val, ok := strings.Cut(field, "=")
		if !ok {
			return authorization{}, newError(ErrIncompleteSignature,
				"'%s' not a valid key=value pair (missing equal-sign) in Authorization header: '%s'.", echo(field), echo(v))
		}
		var dst *string
		switch key {
		case paramCredential:
			dst = &a.Credential
		case paramSignedHeaders:
			dst = &a.SignedHeaders
		case paramSignature:
			dst = &a.Signature
		default:
			continue
		}
		if a.has[key] {
			return authorization{}, newError(ErrIncompleteSignature,
				"Authorization header has more than one '%s' parameter. Authorization=%s", key, echo(v))
		}
		a.has[key] = true
		*dst = val
	}
	return a, nil
}

// missing lists, in AWS's order, the parameters that are absent or empty
// (SignedHeaders may be present and empty).
func (a authorization) missing() []string {
	var out []string
	for _, p := range requiredParams {
		switch {
		case !a.has[p]:
			out = append(out, p)
		case p == paramCredential && a.Credential == "", p == paramSignature && a.Signature == "":
			out = append(out, p)
		}
	}
	return out
}

// signedHeaderNames splits SignedHeaders into lower-case names.
func (a authorization) signedHeaderNames() []string {
	if a.SignedHeaders == "" {
		return nil
	}
	names := strings.Split(a.SignedHeaders, ";")
	for i, n := range names {
		names[i] = strings.ToLower(strings.TrimSpace(n))
	}
	return names
}

func isSeparator(r rune) bool {
	switch r {
	case ',', ' ', '\t', '\n', '\r', '\v', '\f':
		return true
	}
	return false
}
