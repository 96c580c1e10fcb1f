package agent

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/berth/berth/internal/ecs"
)

// fakeRegisterAPI answers registration calls; echo decides which of the
// request's attributes the response carries.
type fakeRegisterAPI struct {
	mu        sync.Mutex
	errs      []error // returned by the next RegisterContainerInstance calls, in order
	echo      func([]types.Attribute) []types.Attribute
	requests  []*sdkecs.RegisterContainerInstanceInput
	created   []string
	discovers int
	discErrs  []error
}

func (f *fakeRegisterAPI) RegisterContainerInstance(_ context.Context, in *sdkecs.RegisterContainerInstanceInput, _ ...func(*sdkecs.Options)) (*sdkecs.RegisterContainerInstanceOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, in)
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		if err != nil {
			return nil, err
		}
	}
	attrs := in.Attributes
	if f.echo != nil {
		attrs = f.echo(attrs)
	}
	arn := aws.ToString(in.ContainerInstanceArn)
	if arn == "" {
		arn = testInstance
	}
	return &sdkecs.RegisterContainerInstanceOutput{ContainerInstance: &types.ContainerInstance{
		ContainerInstanceArn: aws.String(arn), Attributes: attrs}}, nil
}

func (f *fakeRegisterAPI) DiscoverPollEndpoint(_ context.Context, in *sdkecs.DiscoverPollEndpointInput, _ ...func(*sdkecs.Options)) (*sdkecs.DiscoverPollEndpointOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.discovers++
	if len(f.discErrs) > 0 {
		err := f.discErrs[0]
		f.discErrs = f.discErrs[1:]
		if err != nil {
			return nil, err
		}
	}
	return &sdkecs.DiscoverPollEndpointOutput{Endpoint: aws.String("http://127.0.0.1:1/"), TelemetryEndpoint: aws.String("http://127.0.0.1:1/tcs/")}, nil
}

func (f *fakeRegisterAPI) CreateCluster(_ context.Context, in *sdkecs.CreateClusterInput, _ ...func(*sdkecs.Options)) (*sdkecs.CreateClusterOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.created = append(f.created, aws.ToString(in.ClusterName))
	return &sdkecs.CreateClusterOutput{}, nil
}

func apiErr(code string) error {
	return &smithy.GenericAPIError{Code: code, Message: code + " message"}
}

func testRegistration(cluster string) *registration {
	return &registration{
		cluster: cluster, region: testRegion,
		machine:     hostInfo{CPUs: 2, MemoryMiB: 4096, Arch: "x86_64", InstanceID: "i-0123456789abcdef", RuntimeName: "containerd 2.1.4"},
		reservedMem: 96, ports: DefaultReservedPorts,
		attributes: buildAttributes(map[string]string{"stack": "blue"}, "zone-a", "10.213.128.0/17", "x86_64"),
		version:    "1.0.0", hash: "abc",
	}
}

func TestRegisterAttributeEcho(t *testing.T) {
	dropOne := func(name string) func([]types.Attribute) []types.Attribute {
		return func(in []types.Attribute) []types.Attribute {
			var out []types.Attribute
			for _, a := range in {
				if aws.ToString(a.Name) != name {
					out = append(out, a)
				}
			}
			return out
		}
	}
	changeValue := func(in []types.Attribute) []types.Attribute {
		out := append([]types.Attribute(nil), in...)
		for i := range out {
			if aws.ToString(out[i].Name) == AttrOSType {
				out[i].Value = aws.String("windows")
			}
		}
		return out
	}
	addExtra := func(in []types.Attribute) []types.Attribute {
		return append(append([]types.Attribute(nil), in...), types.Attribute{Name: aws.String("ecs.instance-type"), Value: aws.String("x")})
	}
	tests := []struct {
		name    string
		echo    func([]types.Attribute) []types.Attribute
		wantErr string
	}{
		{"full echo", nil, ""},
		{"extra attributes are fine", addExtra, ""},
		{"custom attribute missing", dropOne("stack"), "stack=blue"},
		{"capability missing", dropOne("ecs.capability.task-eni"), "ecs.capability.task-eni="},
		{"awsvpc cidr missing", dropOne(AttrAWSVPCCIDR), "berth.awsvpc-cidr=10.213.128.0/17"},
		{"value changed", changeValue, "ecs.os-type=linux"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeRegisterAPI{echo: tt.echo}
			arn, err := register(context.Background(), api, testRegistration("c1"), fastTiming(), testLogger(t))
			if tt.wantErr == "" {
				if err != nil || arn != testInstance {
					t.Fatalf("register = %q, %v; want %s", arn, err, testInstance)
				}
				return
			}
			if !errors.Is(err, ErrRegistration) || !strings.Contains(err.Error(), "attribute validation failed") || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("register error = %v, want attribute validation failure naming %s", err, tt.wantErr)
			}
		})
	}
}

func TestRegisterRequest(t *testing.T) {
	api := &fakeRegisterAPI{}
	r := testRegistration("c1")
	r.previousARN = "arn:aws:ecs:us-east-1:000000000000:container-instance/c1/saved"
	arn, err := register(context.Background(), api, r, fastTiming(), testLogger(t))
	if err != nil || arn != r.previousARN {
		t.Fatalf("register = %q, %v", arn, err)
	}
	in := api.requests[0]
	if aws.ToString(in.ContainerInstanceArn) != r.previousARN || aws.ToString(in.Cluster) != "c1" {
		t.Errorf("request arn/cluster = %q/%q", aws.ToString(in.ContainerInstanceArn), aws.ToString(in.Cluster))
	}
	res := map[string]types.Resource{}
	for _, x := range in.TotalResources {
		res[aws.ToString(x.Name)] = x
	}
	if res["CPU"].IntegerValue != 2048 || res["MEMORY"].IntegerValue != 4000 {
		t.Errorf("CPU/MEMORY = %d/%d, want 2048/4000", res["CPU"].IntegerValue, res["MEMORY"].IntegerValue)
	}
	if got := strings.Join(res["PORTS"].StringSetValue, ","); got != "22,2375,2376,51678,51679" || aws.ToString(res["PORTS"].Type) != "STRINGSET" {
		t.Errorf("PORTS = %s", got)
	}
	if res["PORTS_UDP"].StringSetValue == nil {
		t.Error("PORTS_UDP should be an empty set, not absent")
	}
	var doc map[string]string
	if err := json.Unmarshal([]byte(aws.ToString(in.InstanceIdentityDocument)), &doc); err != nil || doc["instanceId"] != "i-0123456789abcdef" || doc["region"] != testRegion || doc["availabilityZone"] != "" {
		t.Errorf("identity document = %s (%v)", aws.ToString(in.InstanceIdentityDocument), err)
	}
	if v := in.VersionInfo; aws.ToString(v.AgentVersion) != "1.0.0" || aws.ToString(v.DockerVersion) != "DockerVersion: containerd 2.1.4" {
		t.Errorf("versionInfo = %+v", v)
	}
}

func TestRegisterRetriesAndErrors(t *testing.T) {
	tests := []struct {
		name        string
		cluster     string
		errs        []error
		wantErr     string
		wantCalls   int
		wantCreated bool
	}{
		{"server errors are retried", "c1", []error{apiErr("ServerException"), errors.New("connection refused")}, "", 3, false},
		{"access denied is final", "c1", []error{apiErr("AccessDeniedException")}, "AccessDeniedException", 1, false},
		{"missing named cluster is final", "c1", []error{apiErr("ClusterNotFoundException")}, "ClusterNotFoundException", 1, false},
		{"missing default cluster is created", "default", []error{apiErr("ClusterNotFoundException")}, "", 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeRegisterAPI{errs: tt.errs}
			_, err := register(context.Background(), api, testRegistration(tt.cluster), fastTiming(), testLogger(t))
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("register error = %v, want %q", err, tt.wantErr)
			}
			if len(api.requests) != tt.wantCalls {
				t.Errorf("calls = %d, want %d", len(api.requests), tt.wantCalls)
			}
			if (len(api.created) > 0) != tt.wantCreated {
				t.Errorf("created clusters = %v", api.created)
			}
		})
	}
}

// TestCapabilitiesCoverBerthTaskDefinitions: every attribute Berth's
// RegisterTaskDefinition can require for features the agent runs is one
// it registers.
func TestCapabilitiesCoverBerthTaskDefinitions(t *testing.T) {
	yes := true
	mem := 64
	td := &ecs.TaskDefinition{
		NetworkMode: ecs.NetworkModeAwsvpc,
		ContainerDefinitions: []ecs.ContainerDefinition{{
			Name: "a", Image: "busybox", MemoryReservation: &mem, Privileged: &yes,
			DockerLabels:     map[string]string{"k": "v"},
			LogConfiguration: &ecs.LogConfiguration{LogDriver: "json-file", Options: map[string]string{"max-size": "1m"}},
			HealthCheck:      &ecs.HealthCheck{Command: []string{"CMD", "true"}, StartPeriod: new(int)},
			DependsOn:        []ecs.ContainerDependency{{ContainerName: "b", Condition: "START"}},
			LinuxParameters:  &ecs.LinuxParameters{InitProcessEnabled: &yes},
		}, {
			Name: "b", Image: "busybox", LogConfiguration: &ecs.LogConfiguration{LogDriver: "none"},
		}},
	}
	have := map[string]bool{}
	for _, a := range buildAttributes(nil, "", "", "x86_64") {
		have[aws.ToString(a.Name)] = true
	}
	for _, req := range ecs.RequiredAttributes(td) {
		if !have[req.Name] {
			t.Errorf("required attribute %s is not registered", req.Name)
		}
	}
}

func TestBuildAttributesOrder(t *testing.T) {
	attrs := buildAttributes(map[string]string{"b": "2", "a": "1"}, "z1", "10.0.0.0/24", "arm64")
	if aws.ToString(attrs[0].Name) != "a" || aws.ToString(attrs[1].Name) != "b" {
		t.Errorf("custom attributes not first and sorted: %v %v", aws.ToString(attrs[0].Name), aws.ToString(attrs[1].Name))
	}
	last := attrs[len(attrs)-5:]
	want := [][2]string{{AttrOSType, "linux"}, {AttrOSFamily, "LINUX"}, {AttrCPUArchitecture, "arm64"}, {AttrAvailabilityZone, "z1"}, {AttrAWSVPCCIDR, "10.0.0.0/24"}}
	for i, w := range want {
		if aws.ToString(last[i].Name) != w[0] || aws.ToString(last[i].Value) != w[1] {
			t.Errorf("attribute %d = %s=%s, want %s=%s", i, aws.ToString(last[i].Name), aws.ToString(last[i].Value), w[0], w[1])
		}
	}
}

func TestParseMemTotal(t *testing.T) {
	got, err := parseMemTotal(strings.NewReader("MemFree:  100 kB\nMemTotal:       8048576 kB\n"))
	if err != nil || got != 7859 {
		t.Errorf("parseMemTotal = %d, %v; want 7859", got, err)
	}
	if _, err := parseMemTotal(strings.NewReader("MemFree: 1 kB\n")); err == nil {
		t.Error("meminfo without MemTotal accepted")
	}
}

func TestEndpointCache(t *testing.T) {
	api := &fakeRegisterAPI{discErrs: []error{apiErr("ServerException")}}
	timing := fastTiming()
	e := &endpointCache{api: api, cluster: "c1", instanceARN: testInstance, ttl: timing.EndpointCacheTTL, timing: timing, log: testLogger(t)}
	for range 3 {
		acs, tcs, err := e.Endpoints(context.Background())
		if err != nil || acs != "http://127.0.0.1:1/" || tcs != "http://127.0.0.1:1/tcs/" {
			t.Fatalf("Endpoints = %q %q %v", acs, tcs, err)
		}
	}
	if api.discovers != 2 {
		t.Errorf("DiscoverPollEndpoint calls = %d, want 2 (one retry, then cached)", api.discovers)
	}
	// Expired and failing: the old answer is used.
	e.ttl = 0
	api.discErrs = []error{apiErr("AccessDeniedException")}
	if acs, _, err := e.Endpoints(context.Background()); err != nil || acs == "" {
		t.Errorf("expired endpoint not reused: %q %v", acs, err)
	}
}
