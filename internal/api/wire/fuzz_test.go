package wire

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzDecodeRegisterTaskDefinition feeds arbitrary bodies to the decoder. A
// body that decodes must encode, and its encoding must decode to the same
// value (empty lists and maps included: omitzero keeps them) and encode to
// the same bytes.
func FuzzDecodeRegisterTaskDefinition(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "register_task_definition_*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		body, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
	}
	for _, seed := range []string{
		`{"family":"a","containerDefinitions":[{"name":"c","image":"busybox","essential":false,"memory":0}]}`,
		`{"family":"a","containerDefinitions":[],"volumes":[],"tags":[{}],"proxyConfiguration":{}}`,
		`{"containerDefinitions":[{"dockerLabels":{},"healthCheck":{"command":[]},"portMappings":[{"hostPort":-1}]}]}`,
		`{"Family":"case-insensitive match","networkMode":"not-an-enum","cpu":"0.25 vCPU"}`,
		`{"containerDefinitions":[{"memory":2147483648}]}`,
		`{"family":null,"containerDefinitions":null}`,
		`{"family":"\u00e9\ud800"}`,
		`[]`,
		`null`,
	} {
		f.Add([]byte(seed))
	}

	f.Fuzz(func(t *testing.T, body []byte) {
		var first RegisterTaskDefinitionRequest
		if err := json.Unmarshal(body, &first); err != nil {
			return
		}
		enc1, err := json.Marshal(&first)
		if err != nil {
			t.Fatalf("encode decoded value: %v", err)
		}
		var second RegisterTaskDefinitionRequest
		if err := json.Unmarshal(enc1, &second); err != nil {
			t.Fatalf("decode own encoding %s: %v", enc1, err)
		}
		if !reflect.DeepEqual(first, second) {
			t.Fatalf("value changed across encode/decode:\nfirst  %+v\nsecond %+v\nencoding %s", first, second, enc1)
		}
		enc2, err := json.Marshal(&second)
		if err != nil {
			t.Fatalf("encode again: %v", err)
		}
		if !bytes.Equal(enc1, enc2) {
			t.Fatalf("encoding not stable:\n%s\n%s", enc1, enc2)
		}
	})
}

// FuzzTimeUnmarshal checks that every timestamp Time accepts encodes and
// decodes back to itself.
func FuzzTimeUnmarshal(f *testing.F) {
	for _, seed := range []string{"1709242525.05", "1.709242525053E9", "0", "-1.5", `"2024-02-29T21:35:25.05Z"`,
		`"1709242525"`, "253402300799.999", "-62135596800", "1e-400", `"2024-02-29"`, "null"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var first Time
		if err := first.UnmarshalJSON(data); err != nil {
			return
		}
		enc, err := first.MarshalJSON()
		if err != nil {
			t.Fatalf("encode %v: %v", first.Time, err)
		}
		var second Time
		if err := second.UnmarshalJSON(enc); err != nil {
			t.Fatalf("decode own encoding %s of %v: %v", enc, first.Time, err)
		}
		if first != second {
			t.Fatalf("%s decoded as %v, re-encoded as %s, decoded as %v", data, first.Time, enc, second.Time)
		}
	})
}
