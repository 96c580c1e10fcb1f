package main

import (
	"bytes"
	"context"
	"encoding/json"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedFileUpToDate regenerates the types from the pinned model and
// compares them with the checked-in file.
func TestGeneratedFileUpToDate(t *testing.T) {
	ctx := context.Background()
	// Never reach for the network from a test: use the module cache or skip.
	dir, err := locateModel(ctx, []string{"GOPROXY=off"})
	if err != nil {
		t.Skipf("model module not available: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "api-2.json")); err != nil {
		t.Skipf("model not available: %v", err)
	}
	m, err := loadModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := applyOverlay(m, overlayJSON); err != nil {
		t.Fatal(err)
	}
	want, err := generate(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join("..", "zz_generated_types.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("zz_generated_types.go is stale (run go generate ./internal/api/wire); first difference at line %d:\nchecked in: %q\ngenerated:  %q", i+1, g, w)
			}
		}
	}
}

func TestEnumSuffix(t *testing.T) {
	tests := []struct{ in, want string }{
		{"bridge", "Bridge"},
		{"awsvpc", "Awsvpc"},
		{"json-file", "JsonFile"},
		{"EC2", "Ec2"},
		{"FARGATE_SPOT", "FargateSpot"},
		{"WINDOWS_SERVER_2019_FULL", "WindowsServer2019Full"},
		{"containerInstanceLongArnFormat", "ContainerInstanceLongArnFormat"},
		{"InferenceAccelerator", "InferenceAccelerator"},
		{"", "Empty"},
		{"--", "Empty"},
	}
	for _, tt := range tests {
		if got := enumSuffix(tt.in); got != tt.want {
			t.Errorf("enumSuffix(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestGoName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"containerDefinitions", "ContainerDefinitions"},
		{"CreateClusterRequest", "CreateClusterRequest"},
		{"ec2InstanceId", "Ec2InstanceId"},
		{"weird-name.x", "WeirdNameX"},
		{"2fast", "X2fast"},
	}
	for _, tt := range tests {
		if got := goName(tt.in); got != tt.want {
			t.Errorf("goName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// synthetic is a small model exercising every shape kind, recursion and
// pagination.
const synthetic = `{
  "metadata": {"apiVersion": "2000-01-01", "jsonVersion": "1.1", "protocol": "json", "targetPrefix": "Svc"},
  "operations": {
    "GetNode": {"input": {"shape": "GetNodeRequest"}, "output": {"shape": "GetNodeResponse"}},
    "Ping": {}
  },
  "shapes": {
    "GetNodeRequest": {"type": "structure", "required": ["name"], "members": {
      "name": {"shape": "String"}, "nextToken": {"shape": "String"}, "maxResults": {"shape": "BoxedInteger"}}},
    "GetNodeResponse": {"type": "structure", "members": {
      "zeta": {"shape": "Node"}, "nodes": {"shape": "NodeList"}, "nextToken": {"shape": "String"}}},
    "Node": {"type": "structure", "members": {
      "parent": {"shape": "Node"}, "children": {"shape": "NodeList"}, "byName": {"shape": "NodeMap"},
      "kind": {"shape": "Kind"}, "kinds": {"shape": "KindList"}, "grid": {"shape": "Grid"},
      "size": {"shape": "Long"}, "ratio": {"shape": "Double"}, "ok": {"shape": "Boolean"},
      "at": {"shape": "Timestamp"}, "stamps": {"shape": "TimestampList"}, "raw": {"shape": "Blob"}}},
    "NotFoundException": {"type": "structure", "members": {"message": {"shape": "String"}}, "exception": true},
    "BrokenException": {"type": "structure", "members": {}, "exception": true, "fault": true},
    "NodeList": {"type": "list", "member": {"shape": "Node"}},
    "NodeMap": {"type": "map", "key": {"shape": "Kind"}, "value": {"shape": "Node"}},
    "KindList": {"type": "list", "member": {"shape": "Kind"}},
    "Grid": {"type": "list", "member": {"shape": "IntList"}},
    "IntList": {"type": "list", "member": {"shape": "Integer"}},
    "TimestampList": {"type": "list", "member": {"shape": "Timestamp"}},
    "Kind": {"type": "string", "enum": ["leaf", "json-file", "EC2"]},
    "String": {"type": "string"},
    "Integer": {"type": "integer"},
    "BoxedInteger": {"type": "integer", "box": true},
    "Long": {"type": "long"},
    "Double": {"type": "double"},
    "Boolean": {"type": "boolean"},
    "Timestamp": {"type": "timestamp"},
    "Blob": {"type": "blob"}
  }
}`

const syntheticPaginators = `{"pagination": {"GetNode": {"input_token": "nextToken", "output_token": "nextToken",
  "limit_key": "maxResults", "result_key": "nodes"}}}`

func writeModel(t *testing.T, api, pag string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "api-2.json"), []byte(api), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "paginators-1.json"), []byte(pag), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// handWrittenStub stands in for the hand-written part of package wire so that
// generated code can be type-checked alone.
const handWrittenStub = `package wire

import "time"

type Time struct{ time.Time }

type Paginator struct{ InputToken, OutputToken, LimitKey, ResultKey string }
`

func TestGenerateSynthetic(t *testing.T) {
	m, err := loadModel(writeModel(t, synthetic, syntheticPaginators))
	if err != nil {
		t.Fatal(err)
	}
	src, err := generate(m)
	if err != nil {
		t.Fatal(err)
	}

	// The output, recursive shapes included, must type-check.
	fset := token.NewFileSet()
	var files []*ast.File
	for name, text := range map[string]string{"gen.go": string(src), "stub.go": handWrittenStub} {
		f, err := parser.ParseFile(fset, name, text, parser.ParseComments)
		if err != nil {
			t.Fatalf("parse %s: %v\n%s", name, err, text)
		}
		files = append(files, f)
	}
	conf := types.Config{Importer: importer.Default()}
	pkg, err := conf.Check("wire", fset, files, nil)
	if err != nil {
		t.Fatalf("generated code does not type-check: %v\n%s", err, src)
	}

	fieldType := func(structName, field string) string {
		t.Helper()
		obj := pkg.Scope().Lookup(structName)
		if obj == nil {
			t.Fatalf("type %s not generated", structName)
		}
		st := obj.Type().Underlying().(*types.Struct)
		for i := range st.NumFields() {
			if st.Field(i).Name() == field {
				return types.TypeString(st.Field(i).Type(), types.RelativeTo(pkg))
			}
		}
		t.Fatalf("%s has no field %s", structName, field)
		return ""
	}
	wantFields := []struct{ typ, field, want string }{
		{"Node", "Parent", "*Node"},
		{"Node", "Children", "[]Node"},
		{"Node", "ByName", "map[Kind]Node"},
		{"Node", "Kind", "Kind"},
		{"Node", "Kinds", "[]Kind"},
		{"Node", "Grid", "[][]int32"},
		{"Node", "Size", "*int64"},
		{"Node", "Ratio", "*float64"},
		{"Node", "Ok", "*bool"},
		{"Node", "At", "*Time"},
		{"Node", "Stamps", "[]Time"},
		{"Node", "Raw", "[]byte"},
		{"GetNodeRequest", "MaxResults", "*int32"},
		{"GetNodeRequest", "Name", "string"},
	}
	for _, w := range wantFields {
		if got := fieldType(w.typ, w.field); got != w.want {
			t.Errorf("%s.%s has type %s, want %s", w.typ, w.field, got, w.want)
		}
	}

	text := string(src)
	for _, want := range []string{
		"// Code generated by internal/api/wire/gen from the ECS API model; DO NOT EDIT.\n",
		"KindJsonFile Kind = \"json-file\"",
		"KindEc2      Kind = \"EC2\"",
		"Parent   *Node         `json:\"parent,omitempty\"`",
		"Children []Node        `json:\"children,omitzero\"`",
		"ByName   map[Kind]Node `json:\"byName,omitzero\"`",
		"Raw      []byte        `json:\"raw,omitempty\"`",
		`"GetNode": {"GetNodeRequest", "GetNodeResponse"}`,
		`"Ping":    {"", ""}`,
		`var ErrorShapes = []string{"BrokenException", "NotFoundException"}`,
		`var FaultShapes = []string{"BrokenException"}`,
		`"GetNodeRequest": {"name"}`,
		`"GetNode": {InputToken: "nextToken", OutputToken: "nextToken", LimitKey: "maxResults", ResultKey: "nodes"}`,
		`"Node":              reflect.TypeFor[Node]()`,
		"type BrokenException struct{}",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("generated code lacks %q", want)
		}
	}
	// Members keep model order, not alphabetical order.
	if strings.Index(text, "Zeta  *Node") > strings.Index(text, "Nodes []Node") {
		t.Errorf("members of GetNodeResponse are not in model order:\n%s", text)
	}
}

func TestGenerateRejectsBadModels(t *testing.T) {
	var base map[string]any
	if err := json.Unmarshal([]byte(synthetic), &base); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		shape string
		def   string
		pag   string
	}{
		{"unknown member shape", "Bad", `{"type": "structure", "members": {"x": {"shape": "Nope"}}}`, ""},
		{"unsupported type", "Bad", `{"type": "structure", "members": {"x": {"shape": "Big"}}}`, ""},
		{"field collision", "Bad", `{"type": "structure", "members": {"name": {"shape": "String"}, "Name": {"shape": "String"}}}`, ""},
		{"enum constant collision", "Bad", `{"type": "string", "enum": ["a-b", "a_b"]}`, ""},
		{"shape named like a hand-written type", "Time", `{"type": "structure", "members": {}}`, ""},
		{"missing required member", "Bad", `{"type": "structure", "required": ["y"], "members": {"x": {"shape": "String"}}}`, ""},
		{"paginator for unknown operation", "", "", `{"pagination": {"Nope": {"input_token": "a"}}}`},
		{"multi-key paginator", "", "", `{"pagination": {"GetNode": {"input_token": ["a", "b"]}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var api map[string]any
			raw, _ := json.Marshal(base)
			if err := json.Unmarshal(raw, &api); err != nil {
				t.Fatal(err)
			}
			shapes := api["shapes"].(map[string]any)
			shapes["Big"] = map[string]any{"type": "bigInteger"}
			if tt.shape != "" {
				var def any
				if err := json.Unmarshal([]byte(tt.def), &def); err != nil {
					t.Fatal(err)
				}
				shapes[tt.shape] = def
			}
			apiJSON, _ := json.Marshal(api)
			pag := tt.pag
			if pag == "" {
				pag = syntheticPaginators
			}
			m, err := loadModel(writeModel(t, string(apiJSON), pag))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := generate(m); err == nil {
				t.Fatal("generate succeeded, want an error")
			}
		})
	}
}

func TestLoadModelErrors(t *testing.T) {
	if _, err := loadModel(t.TempDir()); err == nil {
		t.Error("loadModel of an empty directory succeeded")
	}
	if _, err := loadModel(writeModel(t, "{", syntheticPaginators)); err == nil {
		t.Error("loadModel of broken api-2.json succeeded")
	}
	if _, err := loadModel(writeModel(t, synthetic, "[")); err == nil {
		t.Error("loadModel of broken paginators-1.json succeeded")
	}
}
