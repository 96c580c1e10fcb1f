package wire

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/document"
	sdktypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// TestSDKUpdateServiceOverlayMembers sends UpdateService with the members the
// overlay adds (deployment strategies, lifecycle hooks with a document,
// circuit breaker thresholds) and decodes them into the generated types.
func TestSDKUpdateServiceOverlayMembers(t *testing.T) {
	f := &fakeECS{t: t, bodies: map[string][]byte{}, responses: map[string]any{
		"UpdateService": UpdateServiceResponse{Service: &Service{ServiceName: "web"}},
	}}
	client := newSDKClient(t, f)
	_, err := client.UpdateService(context.Background(), &sdkecs.UpdateServiceInput{
		Service:                     aws.String("web"),
		AvailabilityZoneRebalancing: sdktypes.AvailabilityZoneRebalancingDisabled,
		DeploymentController:        &sdktypes.DeploymentController{Type: sdktypes.DeploymentControllerTypeEcs},
		DeploymentConfiguration: &sdktypes.DeploymentConfiguration{
			Strategy:          sdktypes.DeploymentStrategyLinear,
			BakeTimeInMinutes: aws.Int32(10),
			LinearConfiguration: &sdktypes.LinearConfiguration{
				StepPercent: aws.Float64(12.5), StepBakeTimeInMinutes: aws.Int32(3),
			},
			LifecycleHooks: []sdktypes.DeploymentLifecycleHook{{
				TargetType:      sdktypes.DeploymentLifecycleHookTargetTypeAwsLambda,
				HookTargetArn:   aws.String("arn:aws:lambda:eu-west-1:123456789012:function:check"),
				LifecycleStages: []sdktypes.DeploymentLifecycleHookStage{sdktypes.DeploymentLifecycleHookStagePostScaleUp},
				HookDetails:     document.NewLazyDocument(map[string]any{"threshold": 3, "checks": []any{"http"}}),
			}},
			DeploymentCircuitBreaker: &sdktypes.DeploymentCircuitBreaker{
				Enable: true, Rollback: true, ResetOnHealthyTask: aws.Bool(true),
				ThresholdConfiguration: &sdktypes.ThresholdConfiguration{Type: sdktypes.ThresholdTypeCount, Value: 4},
			},
		},
	})
	if err != nil {
		t.Fatalf("UpdateService: %v", err)
	}

	body := f.bodies["UpdateService"]
	var req UpdateServiceRequest
	decodeStrict(t, body, &req)
	re, err := json.Marshal(&req)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := generic(t, re), generic(t, body); !reflect.DeepEqual(got, want) {
		t.Errorf("SDK body changed in a round trip:\n got %s\nwant %s", re, body)
	}
	if req.AvailabilityZoneRebalancing != AvailabilityZoneRebalancingDisabled || req.DeploymentController == nil ||
		req.DeploymentController.Type != DeploymentControllerTypeEcs {
		t.Errorf("decoded availabilityZoneRebalancing/deploymentController %q/%+v", req.AvailabilityZoneRebalancing, req.DeploymentController)
	}
	dc := req.DeploymentConfiguration
	if dc == nil || dc.Strategy != DeploymentStrategyLinear || *dc.BakeTimeInMinutes != 10 ||
		dc.LinearConfiguration == nil || *dc.LinearConfiguration.StepPercent != 12.5 {
		t.Fatalf("decoded deployment configuration %+v", dc)
	}
	hook := dc.LifecycleHooks[0]
	if hook.TargetType != DeploymentLifecycleHookTargetTypeAwsLambda || !slices.Equal(hook.LifecycleStages,
		[]DeploymentLifecycleHookStage{DeploymentLifecycleHookStagePostScaleUp}) {
		t.Errorf("decoded lifecycle hook %+v", hook)
	}
	if got := generic(t, hook.HookDetails); !reflect.DeepEqual(got, map[string]any{"threshold": 3.0, "checks": []any{"http"}}) {
		t.Errorf("hookDetails document decoded as %s", hook.HookDetails)
	}
	if cb := dc.DeploymentCircuitBreaker; cb == nil || !*cb.ResetOnHealthyTask || cb.ThresholdConfiguration == nil ||
		cb.ThresholdConfiguration.Type != ThresholdTypeCount || *cb.ThresholdConfiguration.Value != 4 {
		t.Errorf("decoded circuit breaker %+v", cb)
	}
}

// TestSDKUpdateServiceResponse checks that the SDK parses the overlay's
// service members as the generated types encode them.
func TestSDKUpdateServiceResponse(t *testing.T) {
	f := &fakeECS{t: t, bodies: map[string][]byte{}, responses: map[string]any{
		"UpdateService": UpdateServiceResponse{Service: &Service{
			ServiceName:                 "web",
			AvailabilityZoneRebalancing: AvailabilityZoneRebalancingEnabled,
			ResourceManagementType:      ResourceManagementTypeCustomer,
			CurrentServiceDeployment:    "arn:aws:ecs:eu-west-1:123456789012:service-deployment/default/web/abc",
			CurrentServiceRevisions: []ServiceCurrentRevisionSummary{{
				Arn: "arn:aws:ecs:eu-west-1:123456789012:service-revision/default/web/1", RequestedTaskCount: aws.Int32(2),
				RunningTaskCount: aws.Int32(0), PendingTaskCount: aws.Int32(2),
			}},
			DeploymentConfiguration: &DeploymentConfiguration{
				Strategy: DeploymentStrategyCanary, BakeTimeInMinutes: aws.Int32(5),
				CanaryConfiguration: &CanaryConfiguration{CanaryPercent: aws.Float64(10), CanaryBakeTimeInMinutes: aws.Int32(2)},
				DeploymentCircuitBreaker: &DeploymentCircuitBreaker{Enable: aws.Bool(true), Rollback: aws.Bool(true),
					ResetOnHealthyTask: aws.Bool(false)},
			},
			Deployments: []Deployment{},
		}},
	}}
	out, err := newSDKClient(t, f).UpdateService(context.Background(), &sdkecs.UpdateServiceInput{Service: aws.String("web")})
	if err != nil {
		t.Fatalf("UpdateService: %v", err)
	}
	s := out.Service
	if s == nil || s.AvailabilityZoneRebalancing != sdktypes.AvailabilityZoneRebalancingEnabled ||
		s.ResourceManagementType != sdktypes.ResourceManagementTypeCustomer || aws.ToString(s.CurrentServiceDeployment) == "" {
		t.Fatalf("SDK parsed service %+v", s)
	}
	if len(s.CurrentServiceRevisions) != 1 || s.CurrentServiceRevisions[0].RequestedTaskCount != 2 || s.CurrentServiceRevisions[0].RunningTaskCount != 0 {
		t.Errorf("SDK parsed currentServiceRevisions %+v", s.CurrentServiceRevisions)
	}
	dc := s.DeploymentConfiguration
	if dc == nil || dc.Strategy != sdktypes.DeploymentStrategyCanary || aws.ToInt32(dc.BakeTimeInMinutes) != 5 ||
		dc.CanaryConfiguration == nil || aws.ToFloat64(dc.CanaryConfiguration.CanaryPercent) != 10 {
		t.Errorf("SDK parsed deployment configuration %+v", dc)
	}
	if cb := dc.DeploymentCircuitBreaker; cb == nil || cb.ResetOnHealthyTask == nil || *cb.ResetOnHealthyTask {
		t.Errorf("SDK parsed circuit breaker %+v", cb)
	}
	if s.Deployments == nil {
		t.Error("deployments: [] parsed as nil")
	}
}

// TestSDKServiceDeploymentOperations drives the five operations the overlay
// adds through the SDK: request bodies must decode strictly into the
// generated request types (and carry their required members), responses
// built from the generated types must parse.
func TestSDKServiceDeploymentOperations(t *testing.T) {
	const (
		depArn = "arn:aws:ecs:eu-west-1:123456789012:service-deployment/default/web/abc"
		revArn = "arn:aws:ecs:eu-west-1:123456789012:service-revision/default/web/1"
	)
	created := time.Date(2025, 6, 1, 10, 0, 0, 250e6, time.UTC)
	f := &fakeECS{t: t, bodies: map[string][]byte{}, responses: map[string]any{
		"ListServiceDeployments": ListServiceDeploymentsResponse{ServiceDeployments: []ServiceDeploymentBrief{{
			ServiceDeploymentArn: depArn, Status: ServiceDeploymentStatusInProgress, CreatedAt: NewTime(created),
			TargetServiceRevisionArn: revArn,
		}}},
		"DescribeServiceDeployments": DescribeServiceDeploymentsResponse{
			ServiceDeployments: []ServiceDeployment{{
				ServiceDeploymentArn:   depArn,
				Status:                 ServiceDeploymentStatusInProgress,
				LifecycleStage:         ServiceDeploymentLifecycleStageBakeTime,
				StartedAt:              NewTime(created),
				SourceServiceRevisions: []ServiceRevisionSummary{},
				TargetServiceRevision:  &ServiceRevisionSummary{Arn: revArn, RequestedTaskCount: aws.Int32(2), RunningTaskCount: aws.Int32(1)},
				LifecycleHookDetails: []DeploymentLifecycleHookDetail{{
					HookId: "h1", Status: DeploymentLifecycleHookStatusAwaitingAction, TargetType: DeploymentLifecycleHookTargetTypePause,
					ExpiresAt: NewTime(created.Add(time.Hour)), TimeoutAction: DeploymentLifecycleHookActionRollback,
				}},
				DeploymentCircuitBreaker: &ServiceDeploymentCircuitBreaker{Status: ServiceDeploymentRollbackMonitorsStatusMonitoring,
					FailureCount: aws.Int32(0), Threshold: aws.Int32(3)},
				Rollback: &Rollback{Reason: "none yet"},
			}},
			Failures: []Failure{},
		},
		"DescribeServiceRevisions": DescribeServiceRevisionsResponse{
			ServiceRevisions: []ServiceRevision{{
				ServiceRevisionArn: revArn, TaskDefinition: "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:3",
				LaunchType: LaunchTypeManagedInstances, CreatedAt: NewTime(created),
				ContainerImages: []ContainerImage{{ContainerName: "web", Image: "nginx:1.27", ImageDigest: "sha256:0123"}},
			}},
			Failures: []Failure{{Arn: "arn:aws:ecs:eu-west-1:123456789012:service-revision/default/web/9", Reason: "MISSING"}},
		},
		"StopServiceDeployment":     StopServiceDeploymentResponse{ServiceDeploymentArn: depArn},
		"ContinueServiceDeployment": ContinueServiceDeploymentResponse{ServiceDeploymentArn: depArn},
	}}
	client := newSDKClient(t, f)
	ctx := context.Background()

	list, err := client.ListServiceDeployments(ctx, &sdkecs.ListServiceDeploymentsInput{
		Service: aws.String("web"), Cluster: aws.String("default"),
		Status:    []sdktypes.ServiceDeploymentStatus{sdktypes.ServiceDeploymentStatusInProgress, sdktypes.ServiceDeploymentStatusPending},
		CreatedAt: &sdktypes.CreatedAt{After: aws.Time(created.Add(-time.Hour))},
	})
	if err != nil {
		t.Fatalf("ListServiceDeployments: %v", err)
	}
	if len(list.ServiceDeployments) != 1 || list.ServiceDeployments[0].Status != sdktypes.ServiceDeploymentStatusInProgress ||
		!list.ServiceDeployments[0].CreatedAt.Equal(created) {
		t.Errorf("SDK parsed %+v", list.ServiceDeployments)
	}

	desc, err := client.DescribeServiceDeployments(ctx, &sdkecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{depArn}})
	if err != nil {
		t.Fatalf("DescribeServiceDeployments: %v", err)
	}
	if len(desc.ServiceDeployments) != 1 || desc.Failures == nil || len(desc.Failures) != 0 {
		t.Fatalf("SDK parsed %+v", desc)
	}
	sd := desc.ServiceDeployments[0]
	if sd.LifecycleStage != sdktypes.ServiceDeploymentLifecycleStageBakeTime || sd.TargetServiceRevision == nil ||
		sd.TargetServiceRevision.RunningTaskCount != 1 || sd.SourceServiceRevisions == nil {
		t.Errorf("SDK parsed service deployment %+v", sd)
	}
	if len(sd.LifecycleHookDetails) != 1 || sd.LifecycleHookDetails[0].Status != sdktypes.DeploymentLifecycleHookStatusAwaitingAction ||
		!sd.LifecycleHookDetails[0].ExpiresAt.Equal(created.Add(time.Hour)) {
		t.Errorf("SDK parsed lifecycle hook details %+v", sd.LifecycleHookDetails)
	}
	if sd.DeploymentCircuitBreaker == nil || sd.DeploymentCircuitBreaker.Threshold != 3 || sd.Rollback == nil {
		t.Errorf("SDK parsed circuit breaker/rollback %+v/%+v", sd.DeploymentCircuitBreaker, sd.Rollback)
	}

	revs, err := client.DescribeServiceRevisions(ctx, &sdkecs.DescribeServiceRevisionsInput{ServiceRevisionArns: []string{revArn}})
	if err != nil {
		t.Fatalf("DescribeServiceRevisions: %v", err)
	}
	if len(revs.ServiceRevisions) != 1 || revs.ServiceRevisions[0].LaunchType != sdktypes.LaunchTypeManagedInstances ||
		len(revs.ServiceRevisions[0].ContainerImages) != 1 || len(revs.Failures) != 1 {
		t.Errorf("SDK parsed %+v", revs)
	}

	stop, err := client.StopServiceDeployment(ctx, &sdkecs.StopServiceDeploymentInput{
		ServiceDeploymentArn: aws.String(depArn), StopType: sdktypes.StopServiceDeploymentStopTypeRollback,
	})
	if err != nil || aws.ToString(stop.ServiceDeploymentArn) != depArn {
		t.Errorf("StopServiceDeployment: %+v, %v", stop, err)
	}
	cont, err := client.ContinueServiceDeployment(ctx, &sdkecs.ContinueServiceDeploymentInput{
		ServiceDeploymentArn: aws.String(depArn), HookId: aws.String("h1"), Action: sdktypes.DeploymentLifecycleHookActionContinue,
	})
	if err != nil || aws.ToString(cont.ServiceDeploymentArn) != depArn {
		t.Errorf("ContinueServiceDeployment: %+v, %v", cont, err)
	}

	// Every request decodes strictly, round-trips, and has its required members.
	for _, op := range []string{"ListServiceDeployments", "DescribeServiceDeployments", "DescribeServiceRevisions",
		"StopServiceDeployment", "ContinueServiceDeployment"} {
		body, ok := f.bodies[op]
		if !ok {
			t.Errorf("%s: no request seen", op)
			continue
		}
		shapes, ok := OperationShapes[op]
		if !ok {
			t.Errorf("%s is not in OperationShapes", op)
			continue
		}
		v, ok := NewShape(shapes[0])
		if !ok {
			t.Errorf("%s: no type for %s", op, shapes[0])
			continue
		}
		decodeStrict(t, body, v)
		re, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got := generic(t, re)
		if want := generic(t, body); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: body changed in a round trip:\n got %s\nwant %s", op, re, body)
		}
		required := RequiredMembers[shapes[0]]
		if len(required) == 0 {
			t.Errorf("%s has no required members", shapes[0])
		}
		for _, m := range required {
			if _, ok := got.(map[string]any)[m]; !ok {
				t.Errorf("%s: required member %s not in the SDK's body %s", op, m, body)
			}
		}
	}
	var cr ContinueServiceDeploymentRequest
	decodeStrict(t, f.bodies["ContinueServiceDeployment"], &cr)
	if cr.HookId != "h1" || cr.Action != DeploymentLifecycleHookActionContinue {
		t.Errorf("decoded %+v", cr)
	}
	var lr ListServiceDeploymentsRequest
	decodeStrict(t, f.bodies["ListServiceDeployments"], &lr)
	if lr.CreatedAt == nil || lr.CreatedAt.After == nil || !lr.CreatedAt.After.Equal(created.Add(-time.Hour)) || len(lr.Status) != 2 {
		t.Errorf("decoded %+v", lr)
	}
}
