package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// diffJSON lists every difference between two decoded JSON values, one
// "path: ..." line each, in a stable order. Numbers are compared by value.
func diffJSON(path string, want, got any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want object %s, got %s", orRoot(path), show(w), show(got))}
		}
		var out []string
		for _, k := range slices.Sorted(maps.Keys(w)) {
			gv, ok := g[k]
			if !ok {
				out = append(out, fmt.Sprintf("%s.%s: missing; ECS returns %s", path, k, show(w[k])))
				continue
			}
			out = append(out, diffJSON(path+"."+k, w[k], gv)...)
		}
		for _, k := range slices.Sorted(maps.Keys(g)) {
			if _, ok := w[k]; !ok {
				out = append(out, fmt.Sprintf("%s.%s: unexpected member %s (ECS does not return it)", path, k, show(g[k])))
			}
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want array %s, got %s", orRoot(path), show(w), show(got))}
		}
		if len(w) != len(g) {
			missing, extra := multisetDiff(w, g)
			return []string{fmt.Sprintf("%s: %d elements, want %d; missing %s, unexpected %s", orRoot(path), len(g), len(w), show(missing), show(extra))}
		}
		var out []string
		for i := range w {
			out = append(out, diffJSON(fmt.Sprintf("%s[%d]", path, i), w[i], g[i])...)
		}
		return out
	case json.Number:
		g, ok := got.(json.Number)
		if !ok {
			return []string{fmt.Sprintf("%s: want number %s, got %s", orRoot(path), w, show(got))}
		}
		wf, err1 := w.Float64()
		gf, err2 := g.Float64()
		if err1 != nil || err2 != nil || wf != gf {
			return []string{fmt.Sprintf("%s: got %s, want %s", orRoot(path), g, w)}
		}
		return nil
	default:
		if want != got {
			return []string{fmt.Sprintf("%s: got %s, want %s", orRoot(path), show(got), show(want))}
		}
		return nil
	}
}

// multisetDiff returns the elements of want that got lacks and those of got
// that want lacks, compared by their JSON encoding.
func multisetDiff(want, got []any) (missing, extra []any) {
	count := map[string]int{}
	for _, e := range got {
		count[show(e)]++
	}
	missing, extra = []any{}, []any{}
	for _, e := range want {
		if k := show(e); count[k] > 0 {
			count[k]--
		} else {
			missing = append(missing, e)
		}
	}
	for _, e := range got {
		if k := show(e); count[k] > 0 {
			count[k]--
			extra = append(extra, e)
		}
	}
	return missing, extra
}

func orRoot(path string) string {
	if path == "" {
		return "(root)"
	}
	return path
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return string(b)
}

// readGolden decodes testdata/name.
func readGolden(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	m, err := decodeObject(string(b))
	if err != nil {
		t.Fatalf("testdata/%s: %v", name, err)
	}
	return m
}

// sortSetMembers sorts the members of a task definition whose order ECS
// does not define (compatibilities, requiresAttributes), so a comparison
// checks their contents only.
func sortSetMembers(td map[string]any) {
	if cs, ok := td["compatibilities"].([]any); ok {
		slices.SortFunc(cs, func(a, b any) int { return strings.Compare(show(a), show(b)) })
	}
	if as, ok := td["requiresAttributes"].([]any); ok {
		slices.SortFunc(as, func(a, b any) int { return strings.Compare(show(a), show(b)) })
	}
}

// object returns m[key] as an object or fails the test.
func object(t *testing.T, m map[string]any, key string) map[string]any {
	t.Helper()
	v, ok := m[key].(map[string]any)
	if !ok {
		t.Fatalf("%q is not an object in %s", key, show(m))
	}
	return v
}

// strs returns m[key] as a list of strings (nil when absent) or fails.
func strs(t *testing.T, m map[string]any, key string) []string {
	t.Helper()
	v, ok := m[key]
	if !ok {
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		t.Fatalf("%q is not a list in %s", key, show(m))
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		s, ok := e.(string)
		if !ok {
			t.Fatalf("%q holds a non-string %s", key, show(e))
		}
		out = append(out, s)
	}
	return out
}

// wantJSON compares m[key] with the JSON text want.
func wantJSON(t *testing.T, m map[string]any, key, want string) {
	t.Helper()
	w, err := decodeObject(`{"v":` + want + `}`)
	if err != nil {
		t.Fatalf("bad expectation %s: %v", want, err)
	}
	got, ok := m[key]
	if !ok {
		t.Errorf("%s: missing, want %s", key, want)
		return
	}
	for _, d := range diffJSON(key, w["v"], got) {
		t.Error(d)
	}
}

func TestDiffJSON(t *testing.T) {
	tests := []struct {
		name, want, got string
		diffs           []string
	}{
		{"equal", `{"a":[1,{"b":"x"}],"n":2.50}`, `{"n":2.5,"a":[1,{"b":"x"}]}`, nil},
		{"missing empty list", `{"c":{"l":[]}}`, `{"c":{}}`, []string{".c.l: missing; ECS returns []"}},
		{"unexpected member", `{}`, `{"x":true}`, []string{".x: unexpected member true (ECS does not return it)"}},
		{"value", `{"s":"a","n":1}`, `{"s":"b","n":2}`, []string{".n: got 2, want 1", `.s: got "b", want "a"`}},
		{"length", `{"l":[1,2,2]}`, `{"l":[2,3]}`, []string{".l: 2 elements, want 3; missing [1,2], unexpected [3]"}},
		{"type", `{"l":[]}`, `{"l":{}}`, []string{".l: want array [], got {}"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := decodeObject(tt.want)
			if err != nil {
				t.Fatal(err)
			}
			g, err := decodeObject(tt.got)
			if err != nil {
				t.Fatal(err)
			}
			if got := diffJSON("", w, g); !slices.Equal(got, tt.diffs) {
				t.Errorf("diffJSON = %q, want %q", got, tt.diffs)
			}
		})
	}
}
