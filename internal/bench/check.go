package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The checks both clients apply to answers, and the targeted JSON scans
// the raw client reads answers with.

// arnTaskDefinition separates an ARN's account from its resource.
const arnTaskDefinition = ":task-definition/"

// checkTaskDefARN checks that arn names revision rev of family
// ("arn:PARTITION:ecs:REGION:ACCOUNT:task-definition/FAMILY:REV"), or any
// revision of it when rev is 0.
func checkTaskDefARN(arn, family string, rev int) error {
	i := strings.LastIndex(arn, arnTaskDefinition)
	if !strings.HasPrefix(arn, "arn:") || i < 0 {
		return fmt.Errorf("%q is not a task-definition ARN", arn)
	}
	fam, num, ok := strings.Cut(arn[i+len(arnTaskDefinition):], ":")
	if !ok || fam != family {
		return fmt.Errorf("ARN %q is not of family %q", arn, family)
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || num[0] == '+' {
		return fmt.Errorf("ARN %q has no valid revision", arn)
	}
	if rev > 0 && n != rev {
		return fmt.Errorf("ARN %q is not of revision %d", arn, rev)
	}
	return nil
}

// checkListedARN checks that arn looks like a task-definition ARN. It
// takes bytes so that the raw client checks the ARNs of a listing where
// they lie in the answer, without copying them.
func checkListedARN(arn []byte) error {
	if !bytes.HasPrefix(arn, []byte("arn:")) || !bytes.Contains(arn, []byte(arnTaskDefinition)) {
		return fmt.Errorf("%q is not a task-definition ARN", arn)
	}
	return nil
}

// checkListCount checks that a first page of a listing holds n ARNs, at
// least atLeast and at most a page.
func checkListCount(n, atLeast int) error {
	if n < atLeast || n > listPageSize {
		return fmt.Errorf("%d task definitions listed, want %d..%d", n, atLeast, listPageSize)
	}
	return nil
}

// minListed is the fewest ARNs a first page may hold once the data set of
// cfg is registered: the data set, up to a page.
func minListed(cfg Config) int { return min(listPageSize, cfg.Families*cfg.Revisions) }

// errNoField is returned by the scans when the document lacks the field.
var errNoField = errors.New("field not found")

// findValue returns the offset in doc of the value of the first member
// named key ("key": value), skipping occurrences of "key" that are not a
// member name (a string value, say). It is a targeted scan for the
// compact JSON of AWS answers, not a parser: it does not validate the
// document, and the first such member wins whatever its depth.
func findValue(doc []byte, key string) (int, error) {
	needle := make([]byte, 0, len(key)+2)
	needle = append(append(append(needle, '"'), key...), '"')
	for from := 0; ; {
		i := bytes.Index(doc[from:], needle)
		if i < 0 {
			return 0, fmt.Errorf("%w: %q", errNoField, key)
		}
		at := from + i
		from = at + len(needle)
		// A backslash before the opening quote makes it an escaped quote
		// inside a string ({"x\"key": ...}); a value ("name":"key") is not
		// followed by a colon.
		if at > 0 && doc[at-1] == '\\' {
			continue
		}
		j := skipSpace(doc, from)
		if j < len(doc) && doc[j] == ':' {
			return skipSpace(doc, j+1), nil
		}
	}
}

// skipSpace returns the first offset from i that is not JSON whitespace.
func skipSpace(doc []byte, i int) int {
	for i < len(doc) {
		switch doc[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanString reads the JSON string starting at doc[i] (its opening quote)
// and returns its value and the offset after its closing quote. The value
// aliases doc unless it holds escapes.
func scanString(doc []byte, i int) ([]byte, int, error) {
	if i >= len(doc) || doc[i] != '"' {
		return nil, 0, fmt.Errorf("no string at offset %d", i)
	}
	// The common case, no escapes: the first quote ends the string.
	end := bytes.IndexByte(doc[i+1:], '"')
	if end < 0 {
		return nil, 0, fmt.Errorf("unterminated string at offset %d", i)
	}
	end += i + 1
	if bytes.IndexByte(doc[i+1:end], '\\') < 0 {
		return doc[i+1 : end], end + 1, nil
	}
	for j := i + 1; j < len(doc); j++ {
		switch doc[j] {
		case '\\':
			j++ // skip the escaped character
		case '"':
			var s string
			if err := json.Unmarshal(doc[i:j+1], &s); err != nil {
				return nil, 0, fmt.Errorf("string at offset %d: %w", i, err)
			}
			return []byte(s), j + 1, nil
		}
	}
	return nil, 0, fmt.Errorf("unterminated string at offset %d", i)
}

// stringField returns the string value of the first member named key.
func stringField(doc []byte, key string) ([]byte, error) {
	i, err := findValue(doc, key)
	if err != nil {
		return nil, err
	}
	s, _, err := scanString(doc, i)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", key, err)
	}
	return s, nil
}

// eachString calls visit with every element of the first member named
// key, which must be an array of strings, and returns how many there are.
func eachString(doc []byte, key string, visit func([]byte) error) (int, error) {
	i, err := findValue(doc, key)
	if err != nil {
		return 0, err
	}
	if i >= len(doc) || doc[i] != '[' {
		return 0, fmt.Errorf("%q is not an array", key)
	}
	n := 0
	i = skipSpace(doc, i+1)
	if i < len(doc) && doc[i] == ']' {
		return 0, nil
	}
	for {
		s, next, err := scanString(doc, i)
		if err != nil {
			return n, fmt.Errorf("%q[%d]: %w", key, n, err)
		}
		if err := visit(s); err != nil {
			return n, fmt.Errorf("%q[%d]: %w", key, n, err)
		}
		n++
		i = skipSpace(doc, next)
		if i >= len(doc) {
			return n, fmt.Errorf("%q: unterminated array", key)
		}
		switch doc[i] {
		case ',':
			i = skipSpace(doc, i+1)
		case ']':
			return n, nil
		default:
			return n, fmt.Errorf("%q: unexpected %q after element %d", key, doc[i], n-1)
		}
	}
}

// answerError describes a failed answer: its status and, when the body is
// an AWS JSON error, its type and message.
func answerError(status int, body []byte) error {
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil && e.Type != "" {
		return fmt.Errorf("HTTP %d: %s: %s", status, e.Type, e.Message)
	}
	const maxShown = 200
	if len(body) > maxShown {
		body = append(body[:maxShown:maxShown], "..."...)
	}
	return fmt.Errorf("HTTP %d: %q", status, body)
}
