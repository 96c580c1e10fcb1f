package wire

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	sdktypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// driftRoots are the shapes compared with the AWS SDK for Go v2 (the version
// in go.mod), each with the SDK type of the same shape. Nested structures
// reachable from them are compared too.
var driftRoots = []struct {
	shape string
	sdk   reflect.Type
}{
	{"ContainerDefinition", reflect.TypeFor[sdktypes.ContainerDefinition]()},
	{"TaskDefinition", reflect.TypeFor[sdktypes.TaskDefinition]()},
	{"RegisterTaskDefinitionRequest", reflect.TypeFor[sdkecs.RegisterTaskDefinitionInput]()},
	{"Cluster", reflect.TypeFor[sdktypes.Cluster]()},
	{"Service", reflect.TypeFor[sdktypes.Service]()},
	{"Deployment", reflect.TypeFor[sdktypes.Deployment]()},
	{"DeploymentConfiguration", reflect.TypeFor[sdktypes.DeploymentConfiguration]()},
	{"Task", reflect.TypeFor[sdktypes.Task]()},
	{"Container", reflect.TypeFor[sdktypes.Container]()},
	{"ContainerInstance", reflect.TypeFor[sdktypes.ContainerInstance]()},
	{"CreateServiceRequest", reflect.TypeFor[sdkecs.CreateServiceInput]()},
	{"UpdateServiceRequest", reflect.TypeFor[sdkecs.UpdateServiceInput]()},
	{"RunTaskRequest", reflect.TypeFor[sdkecs.RunTaskInput]()},
	{"ListServicesRequest", reflect.TypeFor[sdkecs.ListServicesInput]()},
	{"ListServiceDeploymentsRequest", reflect.TypeFor[sdkecs.ListServiceDeploymentsInput]()},
	{"ListServiceDeploymentsResponse", reflect.TypeFor[sdkecs.ListServiceDeploymentsOutput]()},
	{"DescribeServiceDeploymentsRequest", reflect.TypeFor[sdkecs.DescribeServiceDeploymentsInput]()},
	{"DescribeServiceDeploymentsResponse", reflect.TypeFor[sdkecs.DescribeServiceDeploymentsOutput]()},
	{"DescribeServiceRevisionsRequest", reflect.TypeFor[sdkecs.DescribeServiceRevisionsInput]()},
	{"DescribeServiceRevisionsResponse", reflect.TypeFor[sdkecs.DescribeServiceRevisionsOutput]()},
	{"StopServiceDeploymentRequest", reflect.TypeFor[sdkecs.StopServiceDeploymentInput]()},
	{"StopServiceDeploymentResponse", reflect.TypeFor[sdkecs.StopServiceDeploymentOutput]()},
	{"ContinueServiceDeploymentRequest", reflect.TypeFor[sdkecs.ContinueServiceDeploymentInput]()},
	{"ContinueServiceDeploymentResponse", reflect.TypeFor[sdkecs.ContinueServiceDeploymentOutput]()},
}

// TestDriftAgainstSDK fails for every member, and every enum value, that the
// SDK knows and the generated types lack: the v1 model they come from is
// frozen, and gen/overlay.json must make up the difference.
func TestDriftAgainstSDK(t *testing.T) {
	d := newDrift()
	for _, r := range driftRoots {
		ours, ok := ShapeType(r.shape)
		if !ok {
			t.Errorf("no generated type for shape %s", r.shape)
			continue
		}
		d.structure(r.shape, ours, r.sdk)
	}
	for _, p := range d.problems {
		t.Error(p)
	}
	if len(d.problems) > 0 {
		t.Log("add what is missing to internal/api/wire/gen/overlay.json and run go generate ./internal/api/wire")
	}
	// The walk must reach deep into the shapes, or it checks little.
	for _, name := range []string{"ContainerRestartPolicy", "DeploymentCircuitBreaker", "ServiceRevision", "LogConfiguration", "NetworkBinding"} {
		if !d.visited[name] {
			t.Errorf("the comparison never reached shape %s", name)
		}
	}
}

// TestDriftDetects checks that the comparison notices what it is meant to.
func TestDriftDetects(t *testing.T) {
	type sdkInner struct {
		Mode    *string
		Missing *int32
	}
	type sdkOuter struct {
		Name           *string
		Inner          *sdkInner
		Count          int32
		Items          []sdkInner
		When           *time.Time
		noSerde        struct{} // like the SDK's unexported noSmithyDocumentSerde
		ResultMetadata struct{}
	}
	type ourInner struct {
		Mode string
	}
	type ourOuter struct {
		Name  string
		Inner *ourInner
		Count *int64
		Items []ourInner
		When  *Time
	}
	d := newDrift()
	d.structure("Outer", reflect.TypeFor[ourOuter](), reflect.TypeFor[sdkOuter]())
	got := strings.Join(d.problems, "\n")
	for _, want := range []string{
		"Outer.Count: ours is int64, the SDK's int32",
		"ourInner lacks member Missing",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
	if len(d.problems) != 2 {
		t.Errorf("got %d problems, want 2 (the missing member is reported once although two paths reach it):\n%s", len(d.problems), got)
	}

	// Enum values: the SDK's LaunchType against a type with fewer values.
	d = newDrift()
	d.enum("X", reflect.TypeFor[shortLaunchType](), reflect.TypeFor[sdktypes.LaunchType]())
	if got := strings.Join(d.problems, "\n"); !strings.Contains(got, `enum X lacks value "FARGATE"`) {
		t.Errorf("missing enum values not reported:\n%s", got)
	}
}

type shortLaunchType string

func (shortLaunchType) Values() []shortLaunchType { return []shortLaunchType{"EC2"} }

// drift walks a generated type and the SDK type of the same shape side by
// side and records what the SDK has and the generated type lacks.
type drift struct {
	problems []string
	seen     map[[2]reflect.Type]bool
	visited  map[string]bool
}

func newDrift() *drift {
	return &drift{seen: map[[2]reflect.Type]bool{}, visited: map[string]bool{}}
}

func (d *drift) addf(format string, args ...any) {
	p := fmt.Sprintf(format, args...)
	if !slices.Contains(d.problems, p) {
		d.problems = append(d.problems, p)
	}
}

// structure compares the members of two structure types.
func (d *drift) structure(path string, ours, sdk reflect.Type) {
	key := [2]reflect.Type{ours, sdk}
	if d.seen[key] {
		return
	}
	d.seen[key] = true
	d.visited[ours.Name()] = true
	fields := map[string]reflect.StructField{}
	for f := range ours.Fields() {
		fields[strings.ToLower(f.Name)] = f
	}
	for f := range sdk.Fields() {
		if !f.IsExported() || f.Name == "ResultMetadata" || f.Name == "noSmithyDocumentSerde" {
			continue
		}
		of, ok := fields[strings.ToLower(f.Name)]
		if !ok {
			d.addf("%s lacks member %s (SDK %v.%s)", ours.Name(), f.Name, sdk, f.Name)
			continue
		}
		d.value(path+"."+of.Name, of.Type, f.Type)
	}
}

var (
	timeType = reflect.TypeFor[time.Time]()
	rawType  = reflect.TypeFor[json.RawMessage]()
)

// value compares the types of two members.
func (d *drift) value(path string, ours, sdk reflect.Type) {
	if ours.Kind() == reflect.Pointer {
		ours = ours.Elem()
	}
	if sdk.Kind() == reflect.Pointer {
		sdk = sdk.Elem()
	}
	mismatch := func() { d.addf("%s: ours is %v, the SDK's %v", path, ours, sdk) }
	switch sdk.Kind() {
	case reflect.String:
		if ours.Kind() != reflect.String {
			mismatch()
			return
		}
		// An enum on both sides: compare the values.
		if _, ok := sdk.MethodByName("Values"); ok {
			if _, ok := ours.MethodByName("Values"); ok {
				d.enum(ours.Name(), ours, sdk)
			}
		}
	case reflect.Bool, reflect.Int32, reflect.Int64, reflect.Float32, reflect.Float64:
		if ours.Kind() != sdk.Kind() {
			mismatch()
		}
	case reflect.Struct:
		switch {
		case sdk == timeType:
			if ours != reflect.TypeFor[Time]() {
				mismatch()
			}
		case ours.Kind() != reflect.Struct:
			mismatch()
		default:
			d.structure(ours.Name(), ours, sdk)
		}
	case reflect.Slice:
		if ours.Kind() != reflect.Slice {
			mismatch()
			return
		}
		d.value(path+"[]", ours.Elem(), sdk.Elem())
	case reflect.Map:
		if ours.Kind() != reflect.Map || ours.Key().Kind() != reflect.String {
			mismatch()
			return
		}
		d.value(path+"{}", ours.Elem(), sdk.Elem())
	case reflect.Interface:
		// A union (one member of several) or a document (free JSON): the
		// SDK hides the members behind an interface.
		if ours.Kind() != reflect.Struct && ours != rawType {
			mismatch()
		}
		if ours.Kind() == reflect.Struct {
			d.visited[ours.Name()] = true
		}
	default:
		d.addf("%s: the SDK's %v is of an unexpected kind", path, sdk)
	}
}

// enum records the values of the SDK enum type sdk that ours lacks.
func (d *drift) enum(name string, ours, sdk reflect.Type) {
	values := func(t reflect.Type) []string {
		out := reflect.Zero(t).MethodByName("Values").Call(nil)[0]
		s := make([]string, out.Len())
		for i := range s {
			s[i] = out.Index(i).String()
		}
		return s
	}
	have := values(ours)
	for _, v := range values(sdk) {
		if !slices.Contains(have, v) {
			d.addf("enum %s lacks value %q (SDK %v)", name, v, sdk)
		}
	}
}
