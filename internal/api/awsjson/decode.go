// Package awsjson decodes AWS JSON 1.1 request bodies as AWS services do:
// an empty body is an empty request, and malformed JSON or a value of the
// wrong type is a SerializationException whose message names the field.
// The ECS and ECR APIs share it.
package awsjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// SerializationError is a request body that could not be decoded. It
// names its wire error itself (the front door's WireError).
type SerializationError struct{ Msg string }

func (e *SerializationError) Error() string    { return e.Msg }
func (e *SerializationError) WireType() string { return "SerializationException" }
func (e *SerializationError) WireStatus() int  { return http.StatusBadRequest }

// Decode reads body into in.
func Decode(body []byte, in any) error {
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	err := json.Unmarshal(body, in)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "(request)"
		}
		return &SerializationError{fmt.Sprintf("Cannot deserialize value of field '%s': expected %s, got JSON %s.", field, kind(te.Type.Kind().String()), te.Value)}
	case errors.As(err, &se):
		return &SerializationError{fmt.Sprintf("Malformed JSON at byte %d: %s.", se.Offset, se.Error())}
	default:
		return &SerializationError{"Malformed request: " + err.Error()}
	}
}

// kind names a Go kind as a JSON reader would.
func kind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int32", "int64", "float64", "float32":
		return "a number"
	case "slice":
		return "a list"
	case "map", "struct":
		return "an object"
	case "ptr":
		return "a value"
	}
	return goKind
}
