package wire

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	sdktypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// fakeECS is a 127.0.0.1 endpoint that records the body of each request and
// answers with a canned body per operation.
type fakeECS struct {
	t         *testing.T
	bodies    map[string][]byte
	responses map[string]any
}

func (f *fakeECS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, TargetPrefix+".")
	if !ok {
		f.t.Errorf("unexpected X-Amz-Target %q", target)
		http.Error(w, "bad target", http.StatusBadRequest)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-"+JSONVersion {
		f.t.Errorf("Content-Type = %q", ct)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		f.t.Errorf("read body: %v", err)
	}
	f.bodies[op] = body
	out, err := json.Marshal(f.responses[op])
	if err != nil {
		f.t.Errorf("encode response: %v", err)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-"+JSONVersion)
	_, _ = w.Write(out)
}

func newSDKClient(t *testing.T, f *fakeECS) *sdkecs.Client {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return sdkecs.New(sdkecs.Options{
		Region:           "eu-west-1",
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		BaseEndpoint:     aws.String(srv.URL),
		HTTPClient:       srv.Client(),
		RetryMaxAttempts: 1,
	})
}

// TestSDKRegisterTaskDefinition sends a request with the AWS SDK for Go v2,
// decodes the body the SDK wrote into the generated types (unknown members
// rejected) and answers with generated types the SDK must parse.
func TestSDKRegisterTaskDefinition(t *testing.T) {
	registeredAt := time.Date(2024, 2, 29, 21, 35, 25, 50e6, time.UTC)
	f := &fakeECS{t: t, bodies: map[string][]byte{}, responses: map[string]any{
		"RegisterTaskDefinition": RegisterTaskDefinitionResponse{
			TaskDefinition: &TaskDefinition{
				TaskDefinitionArn: "arn:aws:ecs:eu-west-1:123456789012:task-definition/shop-web:3",
				Family:            "shop-web",
				Revision:          aws.Int32(3),
				Status:            TaskDefinitionStatusActive,
				RegisteredAt:      NewTime(registeredAt),
				ContainerDefinitions: []ContainerDefinition{
					{Name: "web", Essential: aws.Bool(true), Cpu: aws.Int32(0),
						RestartPolicy: &ContainerRestartPolicy{Enabled: aws.Bool(true), IgnoredExitCodes: []int32{}},
						Environment:   []KeyValuePair{}},
					{Name: "init", Essential: aws.Bool(false)},
				},
				EnableFaultInjection: aws.Bool(true),
				DeleteRequestedAt:    NewTime(registeredAt.Add(time.Hour)),
			},
			Tags: []Tag{{Key: "team", Value: "shop"}},
		},
	}}
	client := newSDKClient(t, f)

	in := &sdkecs.RegisterTaskDefinitionInput{
		Family:      aws.String("shop-web"),
		NetworkMode: sdktypes.NetworkModeBridge,
		Memory:      aws.String("512"),
		ContainerDefinitions: []sdktypes.ContainerDefinition{
			{
				Name:         aws.String("web"),
				Image:        aws.String("nginx:1.27"),
				Essential:    aws.Bool(true),
				Memory:       aws.Int32(256),
				PortMappings: []sdktypes.PortMapping{{ContainerPort: aws.Int32(80), HostPort: aws.Int32(0), Protocol: sdktypes.TransportProtocolTcp}},
				DependsOn:    []sdktypes.ContainerDependency{{ContainerName: aws.String("init"), Condition: sdktypes.ContainerConditionSuccess}},
				HealthCheck: &sdktypes.HealthCheck{
					Command:  []string{"CMD-SHELL", "curl -f http://localhost/ || exit 1"},
					Interval: aws.Int32(10),
					Retries:  aws.Int32(3),
				},
				LogConfiguration: &sdktypes.LogConfiguration{
					LogDriver: sdktypes.LogDriverAwslogs,
					Options:   map[string]string{"awslogs-group": "/ecs/shop-web"},
				},
				Environment:  []sdktypes.KeyValuePair{{Name: aws.String("MODE"), Value: aws.String("prod")}},
				DockerLabels: map[string]string{"team": "shop"},
				RestartPolicy: &sdktypes.ContainerRestartPolicy{
					Enabled: aws.Bool(true), IgnoredExitCodes: []int32{0, 143}, RestartAttemptPeriod: aws.Int32(60),
				},
				VersionConsistency: sdktypes.VersionConsistencyDisabled,
				ResourceRequirements: []sdktypes.ResourceRequirement{{
					Type: sdktypes.ResourceTypeGpu, Value: aws.String("1"),
					SharingStrategy: &sdktypes.SharingStrategyMemberNvidiaMps{Value: sdktypes.NvidiaMpsAllocation{Memory: aws.Int32(2048)}},
				}},
			},
			{
				Name:      aws.String("init"),
				Image:     aws.String("busybox"),
				Essential: aws.Bool(false),
				Command:   []string{"true"},
			},
		},
		Volumes:              []sdktypes.Volume{{Name: aws.String("data"), Host: &sdktypes.HostVolumeProperties{SourcePath: aws.String("/srv")}}},
		Tags:                 []sdktypes.Tag{{Key: aws.String("team"), Value: aws.String("shop")}},
		EnableFaultInjection: aws.Bool(false),
	}
	out, err := client.RegisterTaskDefinition(context.Background(), in)
	if err != nil {
		t.Fatalf("RegisterTaskDefinition: %v", err)
	}

	// The request side: nothing the SDK sent is unknown or lost.
	body := f.bodies["RegisterTaskDefinition"]
	var req RegisterTaskDefinitionRequest
	decodeStrict(t, body, &req)
	re, err := json.Marshal(&req)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := generic(t, re), generic(t, body); !reflect.DeepEqual(got, want) {
		t.Errorf("SDK body changed in a round trip:\n got %s\nwant %s", re, body)
	}
	if init := req.ContainerDefinitions[1]; init.Essential == nil || *init.Essential {
		t.Errorf("essential=false from the SDK decoded as %v", init.Essential)
	}
	if web := req.ContainerDefinitions[0]; web.Memory == nil || *web.Memory != 256 || web.PortMappings[0].HostPort == nil {
		t.Errorf("memory/hostPort from the SDK decoded as %v/%+v", web.Memory, web.PortMappings)
	}
	// Members the overlay adds, a union among them.
	web := req.ContainerDefinitions[0]
	if rp := web.RestartPolicy; rp == nil || !*rp.Enabled || len(rp.IgnoredExitCodes) != 2 || *rp.RestartAttemptPeriod != 60 {
		t.Errorf("restartPolicy from the SDK decoded as %+v", rp)
	}
	if web.VersionConsistency != VersionConsistencyDisabled {
		t.Errorf("versionConsistency = %q", web.VersionConsistency)
	}
	if ss := web.ResourceRequirements[0].SharingStrategy; ss == nil || ss.NvidiaMps == nil || *ss.NvidiaMps.Memory != 2048 {
		t.Errorf("sharingStrategy from the SDK decoded as %+v", ss)
	}
	if req.EnableFaultInjection == nil || *req.EnableFaultInjection {
		t.Errorf("enableFaultInjection=false decoded as %v", req.EnableFaultInjection)
	}

	// The response side: the SDK parses what the generated types encode.
	td := out.TaskDefinition
	if td == nil || aws.ToString(td.Family) != "shop-web" || td.Revision != 3 || td.Status != sdktypes.TaskDefinitionStatusActive {
		t.Fatalf("SDK parsed task definition %+v", td)
	}
	if td.RegisteredAt == nil || !td.RegisteredAt.Equal(registeredAt) {
		t.Errorf("SDK parsed registeredAt %v, want %v", td.RegisteredAt, registeredAt)
	}
	if len(td.ContainerDefinitions) != 2 || aws.ToBool(td.ContainerDefinitions[1].Essential) {
		t.Errorf("SDK parsed container definitions %+v", td.ContainerDefinitions)
	}
	if len(out.Tags) != 1 || aws.ToString(out.Tags[0].Value) != "shop" {
		t.Errorf("SDK parsed tags %+v", out.Tags)
	}
	if !aws.ToBool(td.EnableFaultInjection) || td.DeleteRequestedAt == nil || !td.DeleteRequestedAt.Equal(registeredAt.Add(time.Hour)) {
		t.Errorf("SDK parsed enableFaultInjection/deleteRequestedAt %v/%v", td.EnableFaultInjection, td.DeleteRequestedAt)
	}
	sdkWeb := td.ContainerDefinitions[0]
	if sdkWeb.RestartPolicy == nil || !aws.ToBool(sdkWeb.RestartPolicy.Enabled) || sdkWeb.RestartPolicy.IgnoredExitCodes == nil {
		t.Errorf("SDK parsed restartPolicy %+v", sdkWeb.RestartPolicy)
	}
	// An empty list is sent as [] and arrives as an empty list, not as nil.
	if sdkWeb.Environment == nil || len(sdkWeb.Environment) != 0 {
		t.Errorf("SDK parsed environment %#v, want an empty list", sdkWeb.Environment)
	}
}

// TestSDKDescribeServices checks a response with nested deployments, events,
// zero counts, timestamps and failures.
func TestSDKDescribeServices(t *testing.T) {
	created := time.Date(2024, 3, 1, 8, 0, 0, 123e6, time.UTC)
	f := &fakeECS{t: t, bodies: map[string][]byte{}, responses: map[string]any{
		"DescribeServices": DescribeServicesResponse{
			Services: []Service{{
				ServiceName:  "web",
				Status:       "ACTIVE",
				DesiredCount: aws.Int32(2),
				RunningCount: aws.Int32(0),
				PendingCount: aws.Int32(2),
				LaunchType:   LaunchTypeEc2,
				CreatedAt:    NewTime(created),
				Deployments: []Deployment{{
					Id: "ecs-svc/1234567890123456789", Status: "PRIMARY", DesiredCount: aws.Int32(2),
					RunningCount: aws.Int32(0), RolloutState: DeploymentRolloutStateInProgress, CreatedAt: NewTime(created),
				}},
				Events: []ServiceEvent{{Id: "e1", Message: "(service web) has started 2 tasks.", CreatedAt: NewTime(created.Add(time.Second))}},
				DeploymentConfiguration: &DeploymentConfiguration{
					MaximumPercent:           aws.Int32(200),
					MinimumHealthyPercent:    aws.Int32(100),
					DeploymentCircuitBreaker: &DeploymentCircuitBreaker{Enable: aws.Bool(true), Rollback: aws.Bool(false)},
				},
			}},
			Failures: []Failure{{Arn: "arn:aws:ecs:eu-west-1:123456789012:service/default/gone", Reason: "MISSING"}},
		},
	}}
	client := newSDKClient(t, f)
	out, err := client.DescribeServices(context.Background(), &sdkecs.DescribeServicesInput{
		Cluster:  aws.String("default"),
		Services: []string{"web", "gone"},
		Include:  []sdktypes.ServiceField{sdktypes.ServiceFieldTags},
	})
	if err != nil {
		t.Fatalf("DescribeServices: %v", err)
	}
	var req DescribeServicesRequest
	decodeStrict(t, f.bodies["DescribeServices"], &req)
	if req.Cluster != "default" || len(req.Services) != 2 || len(req.Include) != 1 || req.Include[0] != ServiceFieldTags {
		t.Errorf("decoded request %+v", req)
	}

	if len(out.Services) != 1 || len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "MISSING" {
		t.Fatalf("SDK parsed %+v", out)
	}
	s := out.Services[0]
	if s.RunningCount != 0 || s.DesiredCount != 2 || s.PendingCount != 2 || s.LaunchType != sdktypes.LaunchTypeEc2 {
		t.Errorf("SDK parsed counts/launch type %+v", s)
	}
	if s.CreatedAt == nil || !s.CreatedAt.Equal(created) {
		t.Errorf("SDK parsed createdAt %v, want %v", s.CreatedAt, created)
	}
	if len(s.Deployments) != 1 || s.Deployments[0].RolloutState != sdktypes.DeploymentRolloutStateInProgress {
		t.Errorf("SDK parsed deployments %+v", s.Deployments)
	}
	if len(s.Events) != 1 || !s.Events[0].CreatedAt.Equal(created.Add(time.Second)) {
		t.Errorf("SDK parsed events %+v", s.Events)
	}
	dc := s.DeploymentConfiguration
	if dc == nil || aws.ToInt32(dc.MaximumPercent) != 200 || dc.DeploymentCircuitBreaker == nil ||
		!dc.DeploymentCircuitBreaker.Enable || dc.DeploymentCircuitBreaker.Rollback {
		t.Errorf("SDK parsed deployment configuration %+v", dc)
	}
}
