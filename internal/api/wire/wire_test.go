package wire

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// decodeStrict decodes data into v, rejecting members v has no field for.
func decodeStrict(t *testing.T, data []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode into %T: %v", v, err)
	}
}

// generic decodes data into maps, slices and float64s.
func generic(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decode generic JSON: %v", err)
	}
	return v
}

// TestRegisterTaskDefinitionRoundTrip decodes realistic request bodies and
// checks that encoding them again loses and changes nothing.
func TestRegisterTaskDefinitionRoundTrip(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "register_task_definition_*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata bodies: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			body, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var req RegisterTaskDefinitionRequest
			decodeStrict(t, body, &req)
			out, err := json.Marshal(&req)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := generic(t, out), generic(t, body); !reflect.DeepEqual(got, want) {
				t.Errorf("round trip changed the body:\n got %s\nwant %s", out, body)
			}
		})
	}
}

// TestRegisterTaskDefinitionFields spot-checks typed values that the
// pointer mapping must keep apart from their zero values.
func TestRegisterTaskDefinitionFields(t *testing.T) {
	body, err := os.ReadFile(filepath.Join("testdata", "register_task_definition_bridge.json"))
	if err != nil {
		t.Fatal(err)
	}
	var req RegisterTaskDefinitionRequest
	decodeStrict(t, body, &req)

	if req.NetworkMode != NetworkModeBridge {
		t.Errorf("networkMode = %q, want %q", req.NetworkMode, NetworkModeBridge)
	}
	if len(req.ContainerDefinitions) != 3 {
		t.Fatalf("got %d container definitions, want 3", len(req.ContainerDefinitions))
	}
	migrate, web, cache := req.ContainerDefinitions[0], req.ContainerDefinitions[1], req.ContainerDefinitions[2]
	if migrate.Essential == nil || *migrate.Essential {
		t.Errorf("migrate essential = %v, want explicit false", migrate.Essential)
	}
	if migrate.Cpu == nil || *migrate.Cpu != 0 {
		t.Errorf("migrate cpu = %v, want explicit 0", migrate.Cpu)
	}
	if web.Cpu != nil && *web.Cpu != 256 || web.Memory == nil || *web.Memory != 512 {
		t.Errorf("web cpu/memory = %v/%v, want 256/512", web.Cpu, web.Memory)
	}
	if cache.Cpu != nil || cache.MemoryReservation != nil {
		t.Errorf("absent cache cpu/memoryReservation decoded as %v/%v, want nil", cache.Cpu, cache.MemoryReservation)
	}
	if got := web.DependsOn; len(got) != 2 || got[1] != (ContainerDependency{ContainerName: "cache", Condition: ContainerConditionHealthy}) {
		t.Errorf("web dependsOn = %+v", got)
	}
	if hc := web.HealthCheck; hc == nil || *hc.Interval != 10 || *hc.StartPeriod != 15 || hc.Command[0] != "CMD-SHELL" {
		t.Errorf("web healthCheck = %+v", hc)
	}
	if hc := cache.HealthCheck; hc == nil || hc.Interval != nil || hc.Retries != nil {
		t.Errorf("cache healthCheck defaults should stay absent: %+v", hc)
	}
	if lc := web.LogConfiguration; lc == nil || lc.LogDriver != LogDriverAwslogs || lc.Options["awslogs-group"] != "/ecs/shop-web" {
		t.Errorf("web logConfiguration = %+v", lc)
	}
	if lc := migrate.LogConfiguration; lc == nil || lc.LogDriver != LogDriverJsonFile {
		t.Errorf("migrate logConfiguration = %+v", lc)
	}
	if pm := web.PortMappings[0]; *pm.ContainerPort != 80 || *pm.HostPort != 8080 || pm.Protocol != TransportProtocolTcp || pm.AppProtocol != ApplicationProtocolHttp {
		t.Errorf("web portMappings[0] = %+v", pm)
	}
	if mp := web.MountPoints[1]; mp.ReadOnly == nil || *mp.ReadOnly {
		t.Errorf("explicit readOnly=false lost: %+v", mp)
	}
	if v := req.Volumes[1].DockerVolumeConfiguration; v == nil || v.Scope != ScopeShared || !*v.Autoprovision {
		t.Errorf("scratch volume = %+v", v)
	}
}

// TestOperationShapes checks that every operation's input and output shape
// exists as a Go type of the same name.
func TestOperationShapes(t *testing.T) {
	if len(Operations) < 50 {
		t.Fatalf("only %d operations", len(Operations))
	}
	if len(OperationShapes) != len(Operations) {
		t.Errorf("OperationShapes has %d entries for %d operations", len(OperationShapes), len(Operations))
	}
	if !slices.IsSorted(Operations) {
		t.Error("Operations is not sorted")
	}
	for _, op := range Operations {
		shapes, ok := OperationShapes[op]
		if !ok {
			t.Errorf("operation %s has no entry in OperationShapes", op)
			continue
		}
		for i, name := range shapes {
			if name == "" {
				continue
			}
			if want := op + [2]string{"Request", "Response"}[i]; name != want {
				t.Errorf("%s shape %d is %s, want %s", op, i, name, want)
			}
			typ, ok := ShapeType(name)
			if !ok {
				t.Errorf("operation %s: no Go type for shape %s", op, name)
				continue
			}
			if typ.Name() != name || typ.Kind() != reflect.Struct {
				t.Errorf("shape %s maps to %v", name, typ)
			}
			v, ok := NewShape(name)
			if !ok || reflect.TypeOf(v) != reflect.PointerTo(typ) {
				t.Errorf("NewShape(%s) = %T, %v", name, v, ok)
				continue
			}
			if err := json.Unmarshal([]byte(`{}`), v); err != nil {
				t.Errorf("decode {} into %s: %v", name, err)
			}
		}
	}
	for _, op := range []string{"CreateCluster", "RegisterTaskDefinition", "RunTask", "CreateService",
		"RegisterContainerInstance", "SubmitTaskStateChange", "DiscoverPollEndpoint"} {
		if !slices.Contains(Operations, op) {
			t.Errorf("Operations lacks %s", op)
		}
	}
	if _, ok := NewShape("NoSuchShape"); ok {
		t.Error("NewShape of an unknown shape succeeded")
	}
	if _, ok := ShapeType("String"); ok {
		t.Error("ShapeType of a scalar shape succeeded")
	}
}

func TestErrorShapes(t *testing.T) {
	for _, name := range ErrorShapes {
		if !strings.HasSuffix(name, "Exception") {
			t.Errorf("error shape %s does not end in Exception", name)
		}
		if _, ok := ShapeType(name); !ok {
			t.Errorf("error shape %s has no Go type", name)
		}
	}
	for _, want := range []string{"ClusterNotFoundException", "ClientException", "InvalidParameterException", "ServerException"} {
		if !slices.Contains(ErrorShapes, want) {
			t.Errorf("ErrorShapes lacks %s", want)
		}
	}
	if !slices.Equal(FaultShapes, []string{"ServerException"}) {
		t.Errorf("FaultShapes = %v, want [ServerException]", FaultShapes)
	}
}

// jsonFields returns the wire names of the fields of struct type typ.
func jsonFields(typ reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for f := range typ.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		out[name] = f
	}
	return out
}

func TestPaginators(t *testing.T) {
	if _, ok := Paginators["ListClusters"]; !ok {
		t.Fatal("ListClusters is not paginated")
	}
	for op, p := range Paginators {
		shapes, ok := OperationShapes[op]
		if !ok {
			t.Errorf("paginator for unknown operation %s", op)
			continue
		}
		in, _ := ShapeType(shapes[0])
		out, _ := ShapeType(shapes[1])
		inFields, outFields := jsonFields(in), jsonFields(out)
		for _, key := range []string{p.InputToken, p.LimitKey} {
			if _, ok := inFields[key]; !ok {
				t.Errorf("%s: input %s has no member %q", op, shapes[0], key)
			}
		}
		for _, key := range []string{p.OutputToken, p.ResultKey} {
			if _, ok := outFields[key]; !ok {
				t.Errorf("%s: output %s has no member %q", op, shapes[1], key)
			}
		}
		if f := outFields[p.ResultKey]; f.Type.Kind() != reflect.Slice {
			t.Errorf("%s: result key %s is %v, want a list", op, p.ResultKey, f.Type)
		}
	}
}

func TestRequiredMembers(t *testing.T) {
	if got := RequiredMembers["RegisterTaskDefinitionRequest"]; !slices.Equal(got, []string{"family", "containerDefinitions"}) {
		t.Errorf("RegisterTaskDefinitionRequest required = %v", got)
	}
	for shape, members := range RequiredMembers {
		typ, ok := ShapeType(shape)
		if !ok {
			t.Errorf("required members for unknown shape %s", shape)
			continue
		}
		fields := jsonFields(typ)
		for _, m := range members {
			if _, ok := fields[m]; !ok {
				t.Errorf("%s: required member %s has no field", shape, m)
			}
		}
	}
}

// TestMappingRules checks every generated field against the mapping rules:
// wire name in the tag, omitzero for lists and maps and omitempty for the
// rest, scalars other than strings and nested structures as pointers, list
// elements and map values as values, documents as raw JSON.
func TestMappingRules(t *testing.T) {
	timeType := reflect.TypeFor[Time]()
	rawType := reflect.TypeFor[json.RawMessage]()
	for shape, typ := range shapeTypes {
		for f := range typ.Fields() {
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			wantOpts := "omitempty"
			if k := f.Type.Kind(); (k == reflect.Slice || k == reflect.Map) && f.Type != rawType {
				wantOpts = "omitzero"
			}
			if name == "" || opts != wantOpts {
				t.Errorf("%s.%s has json tag %q, want option %s", shape, f.Name, f.Tag.Get("json"), wantOpts)
			}
			if !strings.EqualFold(name[:1], f.Name[:1]) || name[1:] != f.Name[1:] {
				t.Errorf("%s.%s does not match its wire name %s", shape, f.Name, name)
			}
			switch ft := f.Type; ft.Kind() {
			case reflect.Bool, reflect.Int32, reflect.Int64, reflect.Float32, reflect.Float64, reflect.Struct:
				t.Errorf("%s.%s is %v, want a pointer", shape, f.Name, ft)
			case reflect.Pointer:
				if k := ft.Elem().Kind(); k != reflect.Struct && k != reflect.Bool && k != reflect.Int32 &&
					k != reflect.Int64 && k != reflect.Float64 {
					t.Errorf("%s.%s is %v", shape, f.Name, ft)
				}
				if ft.Elem().Kind() == reflect.Struct && ft.Elem() != timeType {
					if _, ok := shapeTypes[ft.Elem().Name()]; !ok {
						t.Errorf("%s.%s points to unregistered %v", shape, f.Name, ft.Elem())
					}
				}
			case reflect.Slice, reflect.Map:
				if ft == rawType {
					continue
				}
				if ft.Elem().Kind() == reflect.Pointer {
					t.Errorf("%s.%s is %v, want values, not pointers", shape, f.Name, ft)
				}
			case reflect.String:
			default:
				t.Errorf("%s.%s has unexpected type %v", shape, f.Name, ft)
			}
		}
	}
}

// TestEmptyListsAndMaps checks the omitzero rule: a nil list or map is left
// out, an empty one is encoded as [] or {} (ECS answers "failures": [] and
// the like), and both survive a decode and encode unchanged.
func TestEmptyListsAndMaps(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"nil list", DescribeServicesResponse{}, `{}`},
		{"empty list", DescribeServicesResponse{Failures: []Failure{}}, `{"failures":[]}`},
		{"empty and nil lists", DescribeServicesResponse{Services: []Service{}, Failures: nil}, `{"services":[]}`},
		{"nested empty lists and map", ContainerDefinition{Name: "web", Environment: []KeyValuePair{},
			MountPoints: []MountPoint{}, DockerLabels: map[string]string{}, Links: nil},
			`{"name":"web","environment":[],"mountPoints":[],"dockerLabels":{}}`},
		{"empty list of enums", DescribeServicesRequest{Include: []ServiceField{}}, `{"include":[]}`},
		{"empty strings and nil pointers stay omitted", ContainerDefinition{Image: "", Cpu: nil, Environment: []KeyValuePair{}},
			`{"environment":[]}`},
		{"zero pointers stay present", ContainerDefinition{Cpu: new(int32), Essential: new(bool)}, `{"cpu":0,"essential":false}`},
		{"empty list inside a list", Service{Deployments: []Deployment{{Id: "d", VpcLatticeConfigurations: nil, ServiceConnectResources: []ServiceConnectServiceResource{}}}},
			`{"deployments":[{"id":"d","serviceConnectResources":[]}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.want {
				t.Fatalf("encoded %s, want %s", out, tt.want)
			}
			// Decoding gives the same shape back: [] as an empty, non-nil slice.
			back := reflect.New(reflect.TypeOf(tt.v))
			decodeStrict(t, out, back.Interface())
			if !reflect.DeepEqual(back.Elem().Interface(), tt.v) {
				t.Errorf("decoded %+v, want %+v", back.Elem().Interface(), tt.v)
			}
		})
	}
}

func TestEnums(t *testing.T) {
	if NetworkModeBridge != "bridge" || NetworkModeAwsvpc != "awsvpc" || LaunchTypeEc2 != "EC2" || LogDriverJsonFile != "json-file" {
		t.Error("enum constants do not carry their wire values")
	}
	if got := NetworkMode("").Values(); !slices.Equal(got, []NetworkMode{NetworkModeBridge, NetworkModeHost, NetworkModeAwsvpc, NetworkModeNone}) {
		t.Errorf("NetworkMode values = %v", got)
	}
	out, err := json.Marshal(Deployment{LaunchType: LaunchTypeFargate, RolloutState: DeploymentRolloutStateCompleted})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"launchType":"FARGATE","rolloutState":"COMPLETED"}`; string(out) != want {
		t.Errorf("encoded %s, want %s", out, want)
	}
	// Values outside the model decode as they are; validation is the caller's.
	var d Deployment
	if err := json.Unmarshal([]byte(`{"launchType":"SPACESHIP"}`), &d); err != nil || d.LaunchType != "SPACESHIP" {
		t.Errorf("unknown enum value: %v, %q", err, d.LaunchType)
	}
	// Values the overlay adds to the model's enums.
	for _, tt := range []struct{ got, want string }{
		{string(LaunchTypeManagedInstances), "MANAGED_INSTANCES"},
		{string(CompatibilityManagedInstances), "MANAGED_INSTANCES"},
		{string(SettingNameDefaultLogDriverMode), "defaultLogDriverMode"},
		{string(SettingNameFargateEventWindows), "fargateEventWindows"},
		{string(TaskStopCodeInfrastructureHealth), "InfrastructureHealth"},
		{string(OSFamilyWindowsServer2025Core), "WINDOWS_SERVER_2025_CORE"},
		{string(OSFamilyWindowsServer2025Full), "WINDOWS_SERVER_2025_FULL"},
	} {
		if tt.got != tt.want {
			t.Errorf("overlay enum constant = %q, want %q", tt.got, tt.want)
		}
	}
	if !slices.Contains(LaunchType("").Values(), LaunchTypeManagedInstances) || !slices.Contains(SettingName("").Values(), SettingNameFargateEventWindows) {
		t.Error("Values lacks the overlay's enum values")
	}
}
