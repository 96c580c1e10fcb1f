package lifecycle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrInvalid is matched, via errors.Is, by every error Parse returns.
var ErrInvalid = errors.New("invalid lifecycle policy")

// ValidationError is the error Parse returns. Its message reads like the
// InvalidParameterException ECR's PutLifecyclePolicy returns.
type ValidationError struct {
	// Field is a JSON pointer to the offending part of the policy, such as
	// "/rules/1/selection/countNumber", or "" when the whole text is at
	// fault.
	Field string
	// Reason is ECR's wording of the failure, without the location.
	Reason string

	length bool // a length constraint on the text, not a policy failure
}

// Error returns the message ECR would return, with the location added.
func (e *ValidationError) Error() string {
	const prefix = "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: '"
	if e.length {
		return prefix + e.Reason + "'"
	}
	loc := ""
	if e.Field != "" {
		loc = " (at " + e.Field + ")"
	}
	return prefix + "Lifecycle policy validation failure: " + e.Reason + loc + "'"
}

// Is reports whether target is ErrInvalid.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

const couldNotMap = "Could not map policyString into LifecyclePolicy."

// Parse validates a lifecycle policy text as PutLifecyclePolicy does and
// returns the policy it describes. Every error it returns is a
// *ValidationError and matches ErrInvalid.
func Parse(text string) (*Policy, error) {
	n := utf8.RuneCountInString(text)
	switch {
	case n < MinTextLength:
		return nil, &ValidationError{length: true,
			Reason: fmt.Sprintf("Member must have length greater than or equal to %d", MinTextLength)}
	case n > MaxTextLength:
		return nil, &ValidationError{length: true,
			Reason: fmt.Sprintf("Member must have length less than or equal to %d", MaxTextLength)}
	}
	doc, err := decodeJSON(text)
	if err != nil {
		return nil, err
	}
	p, verr := policyFromJSON(doc)
	if verr != nil {
		return nil, verr
	}
	if verr := checkRules(p); verr != nil {
		return nil, verr
	}
	return p, nil
}

// decodeJSON reads exactly one JSON object. Keys repeated within an object
// keep their last value, as Jackson does by default.
func decodeJSON(text string) (map[string]any, error) {
	if !utf8.ValidString(text) {
		return nil, invalid("", couldNotMap)
	}
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, invalid("", couldNotMap)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, invalid("", couldNotMap)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, invalid("", couldNotMap)
	}
	return obj, nil
}

// jsonType names a decoded value's type the way ECR's schema validator does.
func jsonType(v any) string {
	switch v := v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number:
		if isIntegerLiteral(string(v)) {
			return "integer"
		}
		return "number"
	default:
		return "null"
	}
}

func isIntegerLiteral(s string) bool {
	return !strings.ContainsAny(s, ".eE")
}

func typeError(field string, v any, want string) *ValidationError {
	return invalid(field,
		`instance type (%s) does not match any allowed primitive type (allowed: ["%s"])`,
		jsonType(v), want)
}

// quoteList renders names as the validator does: ["a","b"].
func quoteList(names []string) string {
	b, _ := json.Marshal(names)
	return string(b)
}

func jsonValue(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return strings.TrimSuffix(buf.String(), "\n")
}

// checkObject applies the schema's required and additionalProperties
// constraints to one object.
func checkObject(field string, v any, required, optional []string) (map[string]any, *ValidationError) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, typeError(field, v, "object")
	}
	var missing, unknown []string
	for _, k := range required {
		if _, ok := obj[k]; !ok {
			missing = append(missing, k)
		}
	}
	for k := range obj {
		if !slices.Contains(required, k) && !slices.Contains(optional, k) {
			unknown = append(unknown, k)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, invalid(field, "object has missing required properties (%s)", quoteList(missing))
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, invalid(field,
			"object instance has properties which are not allowed by the schema: (%s)", quoteList(unknown))
	}
	return obj, nil
}

// positiveInt reads an integer that must be at least 1 and fit ECR's
// 32-bit integer fields.
func positiveInt(field string, v any) (int, *ValidationError) {
	num, ok := v.(json.Number)
	if !ok || !isIntegerLiteral(string(num)) {
		return 0, typeError(field, v, "integer")
	}
	s := string(num)
	if s == "0" || strings.HasPrefix(s, "-") {
		found := s
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			found = strconv.FormatInt(n, 10)
		}
		return 0, invalid(field, "numeric instance is lower than the required minimum (minimum: 1, found: %s)", found)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > math.MaxInt32 {
		return 0, invalid(field, couldNotMap)
	}
	return int(n), nil
}

func enumString(field string, v any, allowed []string) (string, *ValidationError) {
	s, ok := v.(string)
	if !ok {
		return "", typeError(field, v, "string")
	}
	if !slices.Contains(allowed, s) {
		return "", invalid(field, "instance value (%s) not found in enum (possible values: %s)",
			jsonValue(s), quoteList(allowed))
	}
	return s, nil
}

func stringList(field string, v any) ([]string, *ValidationError) {
	arr, ok := v.([]any)
	if !ok {
		return nil, typeError(field, v, "array")
	}
	if len(arr) == 0 {
		return nil, invalid(field, "array is too short: must have at least 1 elements but instance has 0 elements")
	}
	out := make([]string, 0, len(arr))
	for i, e := range arr {
		f := field + "/" + strconv.Itoa(i)
		s, ok := e.(string)
		if !ok {
			return nil, typeError(f, e, "string")
		}
		if s == "" {
			return nil, invalid(f, `string "" is too short (length: 0, required minimum: 1)`)
		}
		out = append(out, s)
	}
	return out, nil
}

// policyFromJSON applies the policy's JSON schema and builds the Policy.
func policyFromJSON(doc map[string]any) (*Policy, *ValidationError) {
	top, verr := checkObject("", doc, []string{"rules"}, nil)
	if verr != nil {
		return nil, verr
	}
	arr, ok := top["rules"].([]any)
	if !ok {
		return nil, typeError("/rules", top["rules"], "array")
	}
	if len(arr) == 0 {
		return nil, invalid("/rules", "array is too short: must have at least 1 elements but instance has 0 elements")
	}
	p := &Policy{Rules: make([]Rule, 0, len(arr))}
	for i, v := range arr {
		r, verr := ruleFromJSON("/rules/"+strconv.Itoa(i), v)
		if verr != nil {
			return nil, verr
		}
		p.Rules = append(p.Rules, r)
	}
	return p, nil
}

func ruleFromJSON(field string, v any) (Rule, *ValidationError) {
	var r Rule
	obj, verr := checkObject(field, v, []string{"action", "rulePriority", "selection"}, []string{"description"})
	if verr != nil {
		return r, verr
	}
	if r.RulePriority, verr = positiveInt(field+"/rulePriority", obj["rulePriority"]); verr != nil {
		return r, verr
	}
	if d, ok := obj["description"]; ok {
		s, ok := d.(string)
		if !ok {
			return r, typeError(field+"/description", d, "string")
		}
		r.Description = s
	}
	if r.Selection, verr = selectionFromJSON(field+"/selection", obj["selection"]); verr != nil {
		return r, verr
	}
	act, verr := checkObject(field+"/action", obj["action"], []string{"type"}, nil)
	if verr != nil {
		return r, verr
	}
	if r.Action.Type, verr = enumString(field+"/action/type", act["type"], []string{ActionExpire}); verr != nil {
		return r, verr
	}
	return r, nil
}

// oneOfFailure is ECR's message when a selection fits neither of its two
// schemas (count by number, count by age); the detail says why.
func oneOfFailure(field, detail string) *ValidationError {
	return invalid(field, "instance failed to match exactly one schema (matched 0 out of 2): %s", detail)
}

func selectionFromJSON(field string, v any) (Selection, *ValidationError) {
	var s Selection
	obj, verr := checkObject(field, v,
		[]string{"countNumber", "countType", "tagStatus"},
		[]string{"countUnit", "tagPatternList", "tagPrefixList"})
	if verr != nil {
		return s, verr
	}
	status, verr := enumString(field+"/tagStatus", obj["tagStatus"],
		[]string{string(TagStatusTagged), string(TagStatusUntagged), string(TagStatusAny)})
	if verr != nil {
		return s, verr
	}
	s.TagStatus = TagStatus(status)
	if l, ok := obj["tagPrefixList"]; ok {
		if s.TagPrefixList, verr = stringList(field+"/tagPrefixList", l); verr != nil {
			return s, verr
		}
	}
	if l, ok := obj["tagPatternList"]; ok {
		if s.TagPatternList, verr = stringList(field+"/tagPatternList", l); verr != nil {
			return s, verr
		}
	}

	ct, ok := obj["countType"].(string)
	if !ok || (CountType(ct) != CountImageCountMoreThan && CountType(ct) != CountSinceImagePushed) {
		return s, oneOfFailure(field+"/countType",
			fmt.Sprintf("countType must be %q or %q, found %s",
				CountImageCountMoreThan, CountSinceImagePushed, jsonValue(obj["countType"])))
	}
	s.CountType = CountType(ct)
	unit, hasUnit := obj["countUnit"]
	switch {
	case s.CountType == CountSinceImagePushed && !hasUnit:
		return s, oneOfFailure(field+"/countUnit",
			"countUnit is required when countType is sinceImagePushed")
	case s.CountType == CountImageCountMoreThan && hasUnit:
		return s, oneOfFailure(field+"/countUnit",
			"countUnit is not allowed when countType is imageCountMoreThan")
	case hasUnit:
		if s.CountUnit, verr = enumString(field+"/countUnit", unit, []string{CountUnitDays}); verr != nil {
			return s, verr
		}
	}
	if s.CountNumber, verr = positiveInt(field+"/countNumber", obj["countNumber"]); verr != nil {
		return s, verr
	}
	return s, nil
}
