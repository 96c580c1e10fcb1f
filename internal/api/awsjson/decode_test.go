package awsjson

import (
	"errors"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	type req struct {
		Name  string `json:"name"`
		Count int    `json:"count"`
		Tags  []struct {
			Key string `json:"key"`
		} `json:"tags"`
	}
	tests := []struct {
		body, want string // want: "" for success, else a fragment of the message
	}{
		{``, ""},
		{`  `, ""},
		{`{"name":"x","count":2}`, ""},
		{`{"count":"two"}`, "field 'count': expected a number, got JSON string"},
		{`{"tags":[{"key":1}]}`, "field 'tags.key': expected a string"},
		{`{"name":`, "Malformed JSON"},
		{`[1,2]`, "field '(request)': expected an object"},
	}
	for _, tt := range tests {
		var in req
		err := Decode([]byte(tt.body), &in)
		if tt.want == "" {
			if err != nil {
				t.Errorf("Decode(%q): %v", tt.body, err)
			}
			continue
		}
		var se *SerializationError
		if !errors.As(err, &se) || !strings.Contains(se.Msg, tt.want) || se.WireType() != "SerializationException" || se.WireStatus() != 400 {
			t.Errorf("Decode(%q) = %v, want a SerializationException containing %q", tt.body, err, tt.want)
		}
	}
}
