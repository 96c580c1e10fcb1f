package main

import (
	"encoding/json"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"slices"
	"strings"
	"testing"
)

// syntheticOverlay extends the synthetic model: a member on an existing
// shape, a required member, an enum value, new shapes of every kind (a union
// and a document among them) and a new operation.
const syntheticOverlay = `{
  "operations": {
    "PruneNodes": {"note": "test", "input": {"shape": "PruneNodesRequest"}, "output": {"shape": "PruneNodesResponse"}}
  },
  "shapes": {
    "Node": {"note": "newer clients", "members": {"weight": {"shape": "Double"}, "labels": {"shape": "LabelMap"}}},
    "GetNodeRequest": {"note": "newer clients", "required": ["nextToken"], "members": {"policy": {"shape": "Policy"}}},
    "Kind": {"note": "newer clients", "enum": ["MANAGED_INSTANCES"]},
    "LabelMap": {"note": "n", "type": "map", "key": {"shape": "String"}, "value": {"shape": "String"}},
    "Policy": {"note": "n", "type": "structure", "union": true, "members": {"zz": {"shape": "Long"}, "aa": {"shape": "Details"}}},
    "Details": {"note": "n", "type": "document"},
    "PruneNodesRequest": {"note": "n", "type": "structure", "required": ["names"], "members": {"names": {"shape": "NameList"}}},
    "PruneNodesResponse": {"note": "n", "type": "structure", "members": {}},
    "NameList": {"note": "n", "type": "list", "member": {"shape": "String"}},
    "GoneException": {"note": "n", "type": "structure", "members": {"message": {"shape": "String"}}, "exception": true}
  }
}`

func TestApplyOverlaySynthetic(t *testing.T) {
	m, err := loadModel(writeModel(t, synthetic, syntheticPaginators))
	if err != nil {
		t.Fatal(err)
	}
	if err := applyOverlay(m, []byte(syntheticOverlay)); err != nil {
		t.Fatal(err)
	}
	if got := m.Shapes["Node"].memberOrder; !slices.Equal(got[len(got)-2:], []string{"weight", "labels"}) || got[0] != "parent" {
		t.Errorf("Node member order = %v, want the model's members, then weight, labels", got)
	}
	if got := m.Shapes["Policy"].memberOrder; !slices.Equal(got, []string{"zz", "aa"}) {
		t.Errorf("Policy member order = %v, want overlay order", got)
	}
	if got := m.Shapes["GetNodeRequest"].Required; !slices.Equal(got, []string{"name", "nextToken"}) {
		t.Errorf("GetNodeRequest required = %v", got)
	}
	src, err := generate(m)
	if err != nil {
		t.Fatal(err)
	}

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
	if _, err := conf.Check("wire", fset, files, nil); err != nil {
		t.Fatalf("generated code does not type-check: %v\n%s", err, src)
	}

	text := string(src)
	for _, want := range []string{
		"\"encoding/json\"",
		"Weight   *float64          `json:\"weight,omitempty\"` // from the overlay",
		"Labels   map[string]string `json:\"labels,omitzero\"`  // from the overlay",
		"KindManagedInstances Kind = \"MANAGED_INSTANCES\" // from the overlay",
		"return []Kind{KindLeaf, KindJsonFile, KindEc2, KindManagedInstances}",
		"// Policy is the ECS wire shape Policy (a union: exactly one member is set).\n// Not in the v1 model; from the overlay: n.\n",
		"Aa json.RawMessage `json:\"aa,omitempty\"`",
		"Names []string `json:\"names,omitzero\"`",
		"// PruneNodesRequest is the ECS wire shape PruneNodesRequest (input of PruneNodes).",
		`"PruneNodes": {"PruneNodesRequest", "PruneNodesResponse"}`,
		`"PruneNodes", // from the overlay`,
		`"PruneNodesRequest": {"names"}`,
		`"GetNodeRequest":    {"name", "nextToken"}`,
		`var ErrorShapes = []string{"BrokenException", "GoneException", "NotFoundException"}`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("generated code lacks %q", want)
		}
	}
	if strings.Contains(text, "Parent   *Node             `json:\"parent,omitempty\"` // from the overlay") {
		t.Error("a member of the model is marked as coming from the overlay")
	}
}

func TestApplyOverlayRejects(t *testing.T) {
	tests := []struct{ name, overlay string }{
		{"not JSON", `{`},
		{"unknown key", `{"shapes": {"X": {"note": "n", "type": "string", "pattern": "x"}}}`},
		{"shape without note", `{"shapes": {"X": {"type": "string"}}}`},
		{"operation without note", `{"operations": {"X": {}}}`},
		{"new shape without type", `{"shapes": {"X": {"note": "n", "members": {"a": {"shape": "String"}}}}}`},
		{"members on a new list", `{"shapes": {"X": {"note": "n", "type": "list", "member": {"shape": "String"}, "members": {"a": {"shape": "String"}}}}}`},
		{"duplicate enum value in a new enum", `{"shapes": {"X": {"note": "n", "type": "string", "enum": ["a", "a"]}}}`},
		{"existing member", `{"shapes": {"Node": {"note": "n", "members": {"parent": {"shape": "Node"}}}}}`},
		{"existing enum value", `{"shapes": {"Kind": {"note": "n", "enum": ["leaf"]}}}`},
		{"enum values on a structure", `{"shapes": {"Node": {"note": "n", "enum": ["x"]}}}`},
		{"members on a list", `{"shapes": {"NodeList": {"note": "n", "members": {"x": {"shape": "String"}}}}}`},
		{"type change", `{"shapes": {"Node": {"note": "n", "type": "list", "members": {"x": {"shape": "String"}}}}}`},
		{"list member change", `{"shapes": {"NodeList": {"note": "n", "member": {"shape": "String"}}}}`},
		{"exception flag change", `{"shapes": {"Node": {"note": "n", "exception": true, "members": {"x": {"shape": "String"}}}}}`},
		{"nothing added", `{"shapes": {"Node": {"note": "n"}}}`},
		{"already required", `{"shapes": {"GetNodeRequest": {"note": "n", "required": ["name"]}}}`},
		{"existing operation", `{"operations": {"GetNode": {"note": "n"}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := loadModel(writeModel(t, synthetic, syntheticPaginators))
			if err != nil {
				t.Fatal(err)
			}
			if err := applyOverlay(m, []byte(tt.overlay)); err == nil {
				t.Fatal("applyOverlay succeeded, want an error")
			}
		})
	}
	// Mistakes the generator catches after merging.
	for name, overlay := range map[string]string{
		"unknown member shape":     `{"shapes": {"Node": {"note": "n", "members": {"x": {"shape": "Nope"}}}}}`,
		"required member missing":  `{"shapes": {"GetNodeRequest": {"note": "n", "required": ["nope"]}}}`,
		"operation shape missing":  `{"operations": {"Op": {"note": "n", "input": {"shape": "Nope"}}}}`,
		"field collision":          `{"shapes": {"Node": {"note": "n", "members": {"Parent": {"shape": "Node"}}}}}`,
		"enum constant collision":  `{"shapes": {"Kind": {"note": "n", "enum": ["json_file"]}}}`,
		"shape named like a table": `{"shapes": {"Operations": {"note": "n", "type": "structure", "members": {}}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			m, err := loadModel(writeModel(t, synthetic, syntheticPaginators))
			if err != nil {
				t.Fatal(err)
			}
			if err := applyOverlay(m, []byte(overlay)); err != nil {
				t.Fatalf("applyOverlay: %v", err)
			}
			if _, err := generate(m); err == nil {
				t.Fatal("generate succeeded, want an error")
			}
		})
	}
}

// TestOverlayFile checks the checked-in overlay on its own: every entry has a
// note naming its source, and the shapes it adds are referenced (nothing
// dangles) or are operation shapes or errors.
func TestOverlayFile(t *testing.T) {
	var ov overlayFile
	if err := json.Unmarshal(overlayJSON, &ov); err != nil {
		t.Fatal(err)
	}
	refs := map[string]bool{}
	addRef := func(r *shapeRef) {
		if r != nil {
			refs[r.Shape] = true
		}
	}
	for name, o := range ov.Operations {
		if !strings.Contains(o.Note, "aws-sdk-go-v2") && !strings.Contains(o.Note, "botocore") {
			t.Errorf("operation %s: note %q names no source", name, o.Note)
		}
		addRef(o.Input)
		addRef(o.Output)
	}
	for name, s := range ov.Shapes {
		if !strings.Contains(s.Note, "aws-sdk-go-v2") && !strings.Contains(s.Note, "botocore") {
			t.Errorf("shape %s: note %q names no source", name, s.Note)
		}
		for _, r := range s.Members {
			addRef(&r)
		}
		addRef(s.Member)
		addRef(s.Key)
		addRef(s.Value)
	}
	for name, s := range ov.Shapes {
		if s.Type != "" && !s.Exception && !refs[name] {
			t.Errorf("overlay shape %s is referenced by nothing", name)
		}
	}
	for _, op := range []string{"ListServiceDeployments", "DescribeServiceDeployments", "DescribeServiceRevisions",
		"StopServiceDeployment", "ContinueServiceDeployment"} {
		if _, ok := ov.Operations[op]; !ok {
			t.Errorf("overlay lacks operation %s", op)
		}
	}
}
