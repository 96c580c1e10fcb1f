// Command gen writes the ECS wire types (zz_generated_types.go in package
// wire) from the official ECS API model shipped in the aws-sdk-go v1 module,
// merged with overlay.json, which adds what current clients (aws-sdk-go-v2,
// botocore) know and the frozen v1 model lacks.
//
// It is run by `go generate` in internal/api/wire. The model directory is
// found with `go mod download -json` for the pinned module version, or given
// with -model. The overlay is embedded in the generator.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"unicode"
)

// Pinned source of the model.
const (
	modelModule  = "github.com/aws/aws-sdk-go"
	modelVersion = "v1.55.8"
	modelSubdir  = "models/apis/ecs/2014-11-13"
)

func main() {
	modelDir := flag.String("model", "", "directory holding api-2.json and paginators-1.json (default: located with go mod download)")
	out := flag.String("out", "zz_generated_types.go", "output file")
	flag.Parse()

	if err := run(context.Background(), *modelDir, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, modelDir, out string) error {
	if modelDir == "" {
		dir, err := locateModel(ctx, nil)
		if err != nil {
			return err
		}
		modelDir = dir
	}
	m, err := loadModel(modelDir)
	if err != nil {
		return err
	}
	if err := applyOverlay(m, overlayJSON); err != nil {
		return err
	}
	src, err := generate(m)
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, src, 0o644); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// locateModel returns the model directory inside the pinned module, asking
// the go command where the module lives (downloading it if needed and
// allowed by env). env is appended to the current environment.
func locateModel(ctx context.Context, env []string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", modelModule+"@"+modelVersion)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var info struct {
		Dir   string
		Error string
	}
	if err := json.Unmarshal(stdout.Bytes(), &info); err != nil {
		if runErr != nil {
			return "", fmt.Errorf("go mod download %s@%s: %w: %s", modelModule, modelVersion, runErr, strings.TrimSpace(stderr.String()))
		}
		return "", fmt.Errorf("go mod download %s@%s: decode output: %w", modelModule, modelVersion, err)
	}
	if info.Error != "" || info.Dir == "" {
		return "", fmt.Errorf("go mod download %s@%s: %s", modelModule, modelVersion, info.Error)
	}
	return filepath.Join(info.Dir, filepath.FromSlash(modelSubdir)), nil
}

// model is the subset of api-2.json and paginators-1.json the generator uses.
type model struct {
	Metadata struct {
		APIVersion   string `json:"apiVersion"`
		JSONVersion  string `json:"jsonVersion"`
		Protocol     string `json:"protocol"`
		ServiceID    string `json:"serviceId"`
		TargetPrefix string `json:"targetPrefix"`
	} `json:"metadata"`
	Operations map[string]operation `json:"operations"`
	Shapes     map[string]*shape    `json:"shapes"`
	Paginators map[string]paginator `json:"-"`
}

type operation struct {
	Input  *shapeRef `json:"input"`
	Output *shapeRef `json:"output"`

	// note is set for operations added by the overlay.
	note string
}

type shapeRef struct {
	Shape string `json:"shape"`
}

type shape struct {
	Type      string              `json:"type"`
	Members   map[string]shapeRef `json:"members"`
	Required  []string            `json:"required"`
	Member    *shapeRef           `json:"member"`
	Key       *shapeRef           `json:"key"`
	Value     *shapeRef           `json:"value"`
	Enum      []string            `json:"enum"`
	Union     bool                `json:"union"`
	Exception bool                `json:"exception"`
	Fault     bool                `json:"fault"`

	// memberOrder is the order of Members in the model file, followed by
	// the members the overlay adds.
	memberOrder []string
	// note is set for shapes created by the overlay.
	note string
	// overlayMembers and overlayEnum mark what the overlay added to a shape
	// of the model.
	overlayMembers map[string]bool
	overlayEnum    map[string]bool
}

type paginator struct {
	InputToken  any `json:"input_token"`
	OutputToken any `json:"output_token"`
	LimitKey    any `json:"limit_key"`
	ResultKey   any `json:"result_key"`
}

// loadModel reads api-2.json and paginators-1.json from dir.
func loadModel(dir string) (*model, error) {
	api, err := os.ReadFile(filepath.Join(dir, "api-2.json"))
	if err != nil {
		return nil, fmt.Errorf("read model: %w", err)
	}
	var m model
	if err := json.Unmarshal(api, &m); err != nil {
		return nil, fmt.Errorf("decode api-2.json: %w", err)
	}
	// Member order is lost in a Go map; read it back from the raw shapes.
	var raw struct {
		Shapes map[string]struct {
			Members json.RawMessage `json:"members"`
		} `json:"shapes"`
	}
	if err := json.Unmarshal(api, &raw); err != nil {
		return nil, fmt.Errorf("decode api-2.json: %w", err)
	}
	for name, s := range m.Shapes {
		if s.Type != "structure" {
			continue
		}
		order, err := objectKeys(raw.Shapes[name].Members)
		if err != nil {
			return nil, fmt.Errorf("shape %s members: %w", name, err)
		}
		s.memberOrder = order
	}

	pag, err := os.ReadFile(filepath.Join(dir, "paginators-1.json"))
	if err != nil {
		return nil, fmt.Errorf("read paginators: %w", err)
	}
	var p struct {
		Pagination map[string]paginator `json:"pagination"`
	}
	if err := json.Unmarshal(pag, &p); err != nil {
		return nil, fmt.Errorf("decode paginators-1.json: %w", err)
	}
	m.Paginators = p.Pagination
	return &m, nil
}

// objectKeys returns the keys of a JSON object in document order.
func objectKeys(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not an object")
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, errors.New("object key is not a string")
		}
		keys = append(keys, key)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// handWritten lists identifiers package wire defines outside the generated
// file; no shape may be named after one of them.
var handWritten = []string{"Time", "NewTime", "Paginator", "ShapeType", "NewShape"}

// generator accumulates the output and the identifiers it declares.
type generator struct {
	m     *model
	buf   bytes.Buffer
	names map[string]string // Go identifier -> what declared it
	// usesJSON records that a member needs package encoding/json.
	usesJSON bool
}

func (g *generator) printf(format string, args ...any) { fmt.Fprintf(&g.buf, format, args...) }

func (g *generator) declare(ident, what string) error {
	if prev, ok := g.names[ident]; ok {
		return fmt.Errorf("identifier %s declared by both %s and %s", ident, prev, what)
	}
	g.names[ident] = what
	return nil
}

// generate returns the gofmt'ed source of zz_generated_types.go.
func generate(m *model) ([]byte, error) {
	g := &generator{m: m, names: map[string]string{}}
	for _, n := range handWritten {
		if err := g.declare(n, "hand-written code"); err != nil {
			return nil, err
		}
	}
	for _, n := range []string{"APIVersion", "TargetPrefix", "JSONVersion", "ModelSource", "Operations",
		"OperationShapes", "ErrorShapes", "FaultShapes", "RequiredMembers", "Paginators", "shapeTypes"} {
		if err := g.declare(n, "generated table"); err != nil {
			return nil, err
		}
	}

	g.printf("// Facts from the model's metadata.\nconst (\n")
	g.printf("// APIVersion is the ECS API version.\nAPIVersion = %q\n", m.Metadata.APIVersion)
	g.printf("// TargetPrefix is the prefix of X-Amz-Target: <TargetPrefix>.<Operation>.\nTargetPrefix = %q\n", m.Metadata.TargetPrefix)
	g.printf("// JSONVersion is the AWS JSON protocol version (Content-Type application/x-amz-json-<JSONVersion>).\nJSONVersion = %q\n", m.Metadata.JSONVersion)
	g.printf("// ModelSource names the module version the types were generated from.\nModelSource = %q\n", modelModule+"@"+modelVersion)
	g.printf(")\n\n")

	names := sortedKeys(m.Shapes)
	for _, name := range names {
		s := m.Shapes[name]
		var err error
		switch {
		case s.Type == "structure":
			err = g.structure(name, s)
		case s.Type == "string" && len(s.Enum) > 0:
			err = g.enum(name, s)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := g.tables(names); err != nil {
		return nil, err
	}

	var head bytes.Buffer
	fmt.Fprintf(&head, "// Code generated by internal/api/wire/gen from the ECS API model; DO NOT EDIT.\n")
	fmt.Fprintf(&head, "// Source: %s@%s %s (api-2.json, paginators-1.json),\n", modelModule, modelVersion, modelSubdir)
	fmt.Fprintf(&head, "// merged with gen/overlay.json (what current clients know and that model lacks).\n\n")
	fmt.Fprintf(&head, "package wire\n\nimport (\n")
	if g.usesJSON {
		fmt.Fprintf(&head, "\"encoding/json\"\n")
	}
	fmt.Fprintf(&head, "\"reflect\"\n)\n\n")
	src, err := format.Source(append(head.Bytes(), g.buf.Bytes()...))
	if err != nil {
		return nil, fmt.Errorf("gofmt generated code: %w", err)
	}
	return src, nil
}

// comment returns the one-line doc comment for shape name.
func (g *generator) comment(name string, s *shape) string {
	var roles []string
	for _, op := range sortedKeys(g.m.Operations) {
		o := g.m.Operations[op]
		if o.Input != nil && o.Input.Shape == name {
			roles = append(roles, "input of "+op)
		}
		if o.Output != nil && o.Output.Shape == name {
			roles = append(roles, "output of "+op)
		}
	}
	switch {
	case s.Fault:
		roles = append(roles, "a server fault")
	case s.Exception:
		roles = append(roles, "a client error")
	}
	if s.Union {
		roles = append(roles, "a union: exactly one member is set")
	}
	id := goName(name)
	var text string
	if len(roles) == 0 {
		text = fmt.Sprintf("// %s is the ECS wire shape %s.\n", id, name)
	} else {
		text = fmt.Sprintf("// %s is the ECS wire shape %s (%s).\n", id, name, strings.Join(roles, ", "))
	}
	if s.note != "" {
		text += fmt.Sprintf("// Not in the v1 model; from the overlay: %s.\n", strings.TrimSuffix(s.note, "."))
	}
	return text
}

func (g *generator) structure(name string, s *shape) error {
	id := goName(name)
	if err := g.declare(id, "shape "+name); err != nil {
		return err
	}
	if len(s.memberOrder) == 0 {
		g.printf("%stype %s struct{}\n\n", g.comment(name, s), id)
		return nil
	}
	g.printf("%stype %s struct {\n", g.comment(name, s), id)
	fields := map[string]string{}
	for _, wireName := range s.memberOrder {
		ref := s.Members[wireName]
		field := goName(wireName)
		if prev, ok := fields[field]; ok {
			return fmt.Errorf("shape %s: members %s and %s both map to field %s", name, prev, wireName, field)
		}
		fields[field] = wireName
		typ, err := g.goType(ref.Shape, true)
		if err != nil {
			return fmt.Errorf("shape %s member %s: %w", name, wireName, err)
		}
		comment := ""
		if s.overlayMembers[wireName] {
			comment = " // from the overlay"
		}
		g.printf("%s %s `json:\"%s,%s\"`%s\n", field, typ, wireName, g.jsonOption(ref.Shape), comment)
	}
	g.printf("}\n\n")
	return nil
}

func (g *generator) enum(name string, s *shape) error {
	id := goName(name)
	if err := g.declare(id, "enum "+name); err != nil {
		return err
	}
	g.printf("%stype %s string\n\n", g.comment(name, s), id)
	g.printf("// %s values.\nconst (\n", id)
	consts := make([]string, 0, len(s.Enum))
	for _, v := range s.Enum {
		c := id + enumSuffix(v)
		if err := g.declare(c, fmt.Sprintf("enum %s value %q", name, v)); err != nil {
			return err
		}
		consts = append(consts, c)
		comment := ""
		if s.overlayEnum[v] {
			comment = " // from the overlay"
		}
		g.printf("%s %s = %q%s\n", c, id, v, comment)
	}
	g.printf(")\n\n")
	g.printf("// Values returns every %s value the model defines.\n", id)
	g.printf("func (%s) Values() []%s {\nreturn []%s{%s}\n}\n\n", id, id, id, strings.Join(consts, ", "))
	return nil
}

// jsonOption returns the json tag option of a member of shape name: lists
// and maps use omitzero, so that a nil value is left out and an empty one is
// encoded as [] or {} (ECS answers "failures": [] and the like); every other
// member uses omitempty.
func (g *generator) jsonOption(name string) string {
	if s := g.m.Shapes[name]; s != nil && (s.Type == "list" || s.Type == "map") {
		return "omitzero"
	}
	return "omitempty"
}

// goType returns the Go type for a reference to shape name. asMember selects
// the pointer form used for structure members (absent differs from zero);
// list elements and map values use the plain form.
func (g *generator) goType(name string, asMember bool) (string, error) {
	s, ok := g.m.Shapes[name]
	if !ok {
		return "", fmt.Errorf("unknown shape %s", name)
	}
	ptr := ""
	if asMember {
		ptr = "*"
	}
	switch s.Type {
	case "structure":
		return ptr + goName(name), nil
	case "string":
		if len(s.Enum) > 0 {
			return goName(name), nil
		}
		return "string", nil
	case "integer":
		return ptr + "int32", nil
	case "long":
		return ptr + "int64", nil
	case "double":
		return ptr + "float64", nil
	case "float":
		return ptr + "float32", nil
	case "boolean":
		return ptr + "bool", nil
	case "timestamp":
		return ptr + "Time", nil
	case "blob":
		return "[]byte", nil
	case "document":
		g.usesJSON = true
		return "json.RawMessage", nil
	case "list":
		if s.Member == nil {
			return "", fmt.Errorf("list shape %s has no member", name)
		}
		elem, err := g.goType(s.Member.Shape, false)
		if err != nil {
			return "", err
		}
		return "[]" + elem, nil
	case "map":
		if s.Key == nil || s.Value == nil {
			return "", fmt.Errorf("map shape %s lacks key or value", name)
		}
		if k := g.m.Shapes[s.Key.Shape]; k == nil || k.Type != "string" {
			return "", fmt.Errorf("map shape %s: key shape %s is not a string", name, s.Key.Shape)
		}
		key, err := g.goType(s.Key.Shape, false)
		if err != nil {
			return "", err
		}
		val, err := g.goType(s.Value.Shape, false)
		if err != nil {
			return "", err
		}
		return "map[" + key + "]" + val, nil
	}
	return "", fmt.Errorf("shape %s has unsupported type %q", name, s.Type)
}

// tables writes the operation, error, pagination and registry tables.
func (g *generator) tables(names []string) error {
	m := g.m
	ops := sortedKeys(m.Operations)

	g.printf("// Operations lists every operation in the model.\nvar Operations = []string{\n")
	for _, op := range ops {
		comment := ""
		if m.Operations[op].note != "" {
			comment = " // from the overlay"
		}
		g.printf("%q,%s\n", op, comment)
	}
	g.printf("}\n\n")

	g.printf("// OperationShapes maps each operation to its input and output shape names\n")
	g.printf("// (\"\" where the operation has none).\nvar OperationShapes = map[string][2]string{\n")
	for _, op := range ops {
		o := m.Operations[op]
		var in, out string
		if o.Input != nil {
			in = o.Input.Shape
		}
		if o.Output != nil {
			out = o.Output.Shape
		}
		for _, sh := range []string{in, out} {
			if sh != "" && (m.Shapes[sh] == nil || m.Shapes[sh].Type != "structure") {
				return fmt.Errorf("operation %s: shape %s is not a structure", op, sh)
			}
		}
		g.printf("%q: {%q, %q},\n", op, in, out)
	}
	g.printf("}\n\n")

	var errs, faults []string
	for _, n := range names {
		if m.Shapes[n].Exception {
			errs = append(errs, n)
			if m.Shapes[n].Fault {
				faults = append(faults, n)
			}
		}
	}
	g.printf("// ErrorShapes lists the exception shapes (the __type values of error responses).\n")
	g.printf("var ErrorShapes = %s\n\n", stringSlice(errs))
	g.printf("// FaultShapes lists the exception shapes the model marks as server faults\n")
	g.printf("// (HTTP 5xx); every other error shape is a client error.\n")
	g.printf("var FaultShapes = %s\n\n", stringSlice(faults))

	g.printf("// RequiredMembers maps each structure shape that has required members to their wire names.\n")
	g.printf("var RequiredMembers = map[string][]string{\n")
	for _, n := range names {
		s := m.Shapes[n]
		if s.Type != "structure" || len(s.Required) == 0 {
			continue
		}
		for _, r := range s.Required {
			if _, ok := s.Members[r]; !ok {
				return fmt.Errorf("shape %s: required member %s does not exist", n, r)
			}
		}
		g.printf("%q: %s,\n", n, stringList(s.Required))
	}
	g.printf("}\n\n")

	g.printf("// Paginators holds the pagination facts of paginated operations.\n")
	g.printf("var Paginators = map[string]Paginator{\n")
	for _, op := range sortedKeys(m.Paginators) {
		if _, ok := m.Operations[op]; !ok {
			return fmt.Errorf("paginator for unknown operation %s", op)
		}
		p := m.Paginators[op]
		var fields [4]string
		for i, v := range []any{p.InputToken, p.OutputToken, p.LimitKey, p.ResultKey} {
			switch v := v.(type) {
			case nil:
			case string:
				fields[i] = v
			default:
				return fmt.Errorf("paginator %s: only single-key paginators are supported, got %v", op, v)
			}
		}
		g.printf("%q: {InputToken: %q, OutputToken: %q, LimitKey: %q, ResultKey: %q},\n",
			op, fields[0], fields[1], fields[2], fields[3])
	}
	g.printf("}\n\n")

	g.printf("// shapeTypes maps every structure shape name to its Go type.\n")
	g.printf("var shapeTypes = map[string]reflect.Type{\n")
	for _, n := range names {
		if m.Shapes[n].Type == "structure" {
			g.printf("%q: reflect.TypeFor[%s](),\n", n, goName(n))
		}
	}
	g.printf("}\n")
	return nil
}

func stringSlice(ss []string) string { return "[]string" + stringList(ss) }

// stringList returns a composite literal body {"a", "b"} for ss.
func stringList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	if len(q) <= 4 {
		return "{" + strings.Join(q, ", ") + "}"
	}
	return "{\n" + strings.Join(q, ",\n") + ",\n}"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// goName turns a shape or member name into an exported Go identifier: the
// first letter is upper-cased and characters that cannot appear in an
// identifier are dropped, upper-casing the letter that follows them.
func goName(s string) string {
	var b strings.Builder
	upper := true
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			upper = true
			continue
		}
		if upper {
			r = unicode.ToUpper(r)
			upper = false
		}
		b.WriteRune(r)
	}
	out := b.String()
	if out == "" || unicode.IsDigit(rune(out[0])) {
		out = "X" + out
	}
	return out
}

// enumSuffix turns an enum value into the suffix of its constant name:
// "bridge" -> "Bridge", "json-file" -> "JsonFile", "EC2" -> "Ec2",
// "WINDOWS_SERVER_2019_FULL" -> "WindowsServer2019Full", "awsvpc" -> "Awsvpc".
func enumSuffix(v string) string {
	parts := strings.FieldsFunc(v, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	var b strings.Builder
	for _, p := range parts {
		if !slices.ContainsFunc([]rune(p), unicode.IsLower) {
			p = strings.ToLower(p)
		}
		rs := []rune(p)
		rs[0] = unicode.ToUpper(rs[0])
		b.WriteString(string(rs))
	}
	if b.Len() == 0 {
		return "Empty"
	}
	return b.String()
}
