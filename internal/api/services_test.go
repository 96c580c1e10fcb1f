package api_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
)

func (e *tkEnv) createService(t *testing.T, in *sdkecs.CreateServiceInput) *types.Service {
	t.Helper()
	if in.Cluster == nil {
		in.Cluster = aws.String(e.cluster)
	}
	out, err := e.c.CreateService(e.ctx, in)
	if err != nil {
		t.Fatalf("CreateService: %v", err)
	}
	return out.Service
}

func (e *tkEnv) describeService(t *testing.T, name string) types.Service {
	t.Helper()
	out, err := e.c.DescribeServices(e.ctx, &sdkecs.DescribeServicesInput{Cluster: aws.String(e.cluster), Services: []string{name},
		Include: []types.ServiceField{types.ServiceFieldTags}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Services) != 1 {
		t.Fatalf("DescribeServices(%s): %d services, failures %v", name, len(out.Services), out.Failures)
	}
	return out.Services[0]
}

func TestServiceLifecycle(t *testing.T) {
	e := tkStart(t, "svc")
	def1 := e.def(t, "web", types.NetworkModeBridge, tkContainer("c", 128, 128))
	def2 := e.def(t, "web", types.NetworkModeBridge, tkContainer("c", 128, 256))
	s := e.createService(t, &sdkecs.CreateServiceInput{ServiceName: aws.String("web"), TaskDefinition: aws.String("web:1"),
		DesiredCount: aws.Int32(3), Tags: []types.Tag{tag("team", "core")}, PropagateTags: types.PropagateTagsService,
		HealthCheckGracePeriodSeconds: aws.Int32(30),
		PlacementStrategy:             []types.PlacementStrategy{{Type: types.PlacementStrategyTypeSpread, Field: aws.String("attribute:ecs.availability-zone")}},
		PlacementConstraints:          []types.PlacementConstraint{{Type: types.PlacementConstraintTypeDistinctInstance}}})
	if got, want := aws.ToString(s.ServiceArn), e.arnPrefix()+"service/svc/web"; got != want {
		t.Errorf("serviceArn %s, want %s", got, want)
	}
	if aws.ToString(s.Status) != "ACTIVE" || s.DesiredCount != 3 || s.RunningCount != 0 || s.PendingCount != 0 ||
		aws.ToString(s.TaskDefinition) != def1 || s.LaunchType != types.LaunchTypeEc2 || s.SchedulingStrategy != types.SchedulingStrategyReplica ||
		aws.ToString(s.ClusterArn) != e.arnPrefix()+"cluster/svc" || aws.ToInt32(s.HealthCheckGracePeriodSeconds) != 30 || s.CreatedAt == nil {
		t.Errorf("created service = %+v", s)
	}
	dc := s.DeploymentConfiguration
	if dc == nil || aws.ToInt32(dc.MinimumHealthyPercent) != 100 || aws.ToInt32(dc.MaximumPercent) != 200 ||
		dc.DeploymentCircuitBreaker == nil || dc.DeploymentCircuitBreaker.Enable {
		t.Errorf("deploymentConfiguration = %+v", dc)
	}
	if len(s.Deployments) != 1 || len(s.Events) != 0 {
		t.Fatalf("deployments %d, events %d", len(s.Deployments), len(s.Events))
	}
	d := s.Deployments[0]
	if aws.ToString(d.Status) != "PRIMARY" || d.RolloutState != types.DeploymentRolloutStateInProgress || d.DesiredCount != 3 ||
		!ecs.ValidDeploymentID(aws.ToString(d.Id)) || aws.ToString(d.TaskDefinition) != def1 ||
		aws.ToString(d.RolloutStateReason) != "ECS deployment "+aws.ToString(d.Id)+" in progress." {
		t.Errorf("deployment = %+v", d)
	}
	firstID := aws.ToString(d.Id)

	got := e.describeService(t, "web")
	if tagMap(got.Tags)["team"] != "core" || got.PropagateTags != types.PropagateTagsService || len(got.PlacementStrategy) != 1 || len(got.PlacementConstraints) != 1 {
		t.Errorf("described = %+v", got)
	}
	l, err := e.c.ListServices(e.ctx, &sdkecs.ListServicesInput{Cluster: aws.String("svc")})
	if err != nil || len(l.ServiceArns) != 1 || l.ServiceArns[0] != aws.ToString(s.ServiceArn) {
		t.Fatalf("ListServices = %v, %v", l, err)
	}

	// desiredCount alone changes no deployment.
	u, err := e.c.UpdateService(e.ctx, &sdkecs.UpdateServiceInput{Cluster: aws.String("svc"), Service: s.ServiceArn, DesiredCount: aws.Int32(5)})
	if err != nil {
		t.Fatal(err)
	}
	if u.Service.DesiredCount != 5 || len(u.Service.Deployments) != 1 || u.Service.Deployments[0].DesiredCount != 5 {
		t.Errorf("after scaling: %+v", u.Service)
	}
	// A new revision: a new PRIMARY, the old one ACTIVE.
	u, err = e.c.UpdateService(e.ctx, &sdkecs.UpdateServiceInput{Cluster: aws.String("svc"), Service: aws.String("web"), TaskDefinition: aws.String("web:2"),
		DeploymentConfiguration: &types.DeploymentConfiguration{MinimumHealthyPercent: aws.Int32(50),
			DeploymentCircuitBreaker: &types.DeploymentCircuitBreaker{Enable: true, Rollback: true}}})
	if err != nil {
		t.Fatal(err)
	}
	deps := u.Service.Deployments
	if aws.ToString(u.Service.TaskDefinition) != def2 || len(deps) != 2 || aws.ToString(deps[0].Status) != "PRIMARY" ||
		aws.ToString(deps[0].TaskDefinition) != def2 || aws.ToString(deps[1].Id) != firstID || aws.ToString(deps[1].Status) != "ACTIVE" {
		t.Errorf("after new revision: %+v", deps)
	}
	if c := u.Service.DeploymentConfiguration; aws.ToInt32(c.MinimumHealthyPercent) != 50 || aws.ToInt32(c.MaximumPercent) != 200 || !c.DeploymentCircuitBreaker.Rollback {
		t.Errorf("merged deploymentConfiguration = %+v", c)
	}
	// forceNewDeployment: another deployment of the same revision.
	u, err = e.c.UpdateService(e.ctx, &sdkecs.UpdateServiceInput{Cluster: aws.String("svc"), Service: aws.String("web"), ForceNewDeployment: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Service.Deployments) != 3 || aws.ToString(u.Service.Deployments[0].TaskDefinition) != def2 {
		t.Errorf("after forceNewDeployment: %+v", u.Service.Deployments)
	}

	// Deletion: refused while scaled above 0, then DRAINING.
	_, err = e.c.DeleteService(e.ctx, &sdkecs.DeleteServiceInput{Cluster: aws.String("svc"), Service: aws.String("web")})
	wantAPIError(t, err, "InvalidParameterException", "The service cannot be stopped while it is scaled above 0.")
	if _, err := e.c.UpdateService(e.ctx, &sdkecs.UpdateServiceInput{Cluster: aws.String("svc"), Service: aws.String("web"), DesiredCount: aws.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	del, err := e.c.DeleteService(e.ctx, &sdkecs.DeleteServiceInput{Cluster: aws.String("svc"), Service: aws.String("web")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(del.Service.Status) != "DRAINING" {
		t.Errorf("deleted service status %s", aws.ToString(del.Service.Status))
	}
	_, err = e.c.UpdateService(e.ctx, &sdkecs.UpdateServiceInput{Cluster: aws.String("svc"), Service: aws.String("web"), DesiredCount: aws.Int32(1)})
	wantAPIError(t, err, "ServiceNotActiveException")
	_, err = e.c.DeleteService(e.ctx, &sdkecs.DeleteServiceInput{Cluster: aws.String("svc"), Service: aws.String("web")})
	wantAPIError(t, err, "ServiceNotActiveException")
	_, err = e.c.CreateService(e.ctx, &sdkecs.CreateServiceInput{Cluster: aws.String("svc"), ServiceName: aws.String("web"), TaskDefinition: aws.String("web:1"), DesiredCount: aws.Int32(1)})
	wantAPIError(t, err, "InvalidParameterException", "Draining")
	// DeleteCluster sees the draining service.
	_, err = e.c.DeleteCluster(e.ctx, &sdkecs.DeleteClusterInput{Cluster: aws.String("svc")})
	wantAPIError(t, err, "ClusterContainsServicesException")

	// Once the controller made it INACTIVE, the name is free again.
	e.setServiceStatus(t, "web", ecs.ServiceInactive)
	l, err = e.c.ListServices(e.ctx, &sdkecs.ListServicesInput{Cluster: aws.String("svc")})
	if err != nil || len(l.ServiceArns) != 0 {
		t.Fatalf("ListServices after INACTIVE = %v, %v", l.ServiceArns, err)
	}
	again := e.createService(t, &sdkecs.CreateServiceInput{ServiceName: aws.String("web"), TaskDefinition: aws.String("web:2"), DesiredCount: aws.Int32(1)})
	if aws.ToString(again.Status) != "ACTIVE" || len(again.Deployments) != 1 {
		t.Errorf("recreated = %+v", again)
	}
}

func (e *tkEnv) setServiceStatus(t *testing.T, name string, status ecs.ServiceStatus) {
	t.Helper()
	_, err := state.Update(e.ctx, e.srv.Store(), state.ServiceKey(e.cluster, name), func(s *ecs.Service, exists bool) ([]store.Op, error) {
		if !exists {
			t.Fatalf("service %s not stored", name)
		}
		s.Status = status
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDeleteServiceForce(t *testing.T) {
	e := tkStart(t, "svc")
	e.def(t, "web", types.NetworkModeBridge, tkContainer("c", 128, 128))
	e.createService(t, &sdkecs.CreateServiceInput{ServiceName: aws.String("web"), TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(2)})
	del, err := e.c.DeleteService(e.ctx, &sdkecs.DeleteServiceInput{Cluster: aws.String("svc"), Service: aws.String("web"), Force: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(del.Service.Status) != "DRAINING" || del.Service.DesiredCount != 0 || del.Service.Deployments[0].DesiredCount != 0 {
		t.Errorf("forced delete = %+v", del.Service)
	}
	_, err = e.c.DeleteService(e.ctx, &sdkecs.DeleteServiceInput{Cluster: aws.String("svc"), Service: aws.String("ghost")})
	wantAPIError(t, err, "ServiceNotFoundException")
}

func TestCreateServiceIdempotency(t *testing.T) {
	e := tkStart(t, "svc")
	e.def(t, "web", types.NetworkModeBridge, tkContainer("c", 128, 128))
	in := func(n int32, token string) *sdkecs.CreateServiceInput {
		return &sdkecs.CreateServiceInput{Cluster: aws.String("svc"), ServiceName: aws.String("web"), TaskDefinition: aws.String("web"),
			DesiredCount: aws.Int32(n), ClientToken: aws.String(token)}
	}
	first := e.createService(t, in(2, "tok-1"))
	again := e.createService(t, in(2, "tok-1"))
	if aws.ToString(again.Deployments[0].Id) != aws.ToString(first.Deployments[0].Id) {
		t.Errorf("repeated request made a new deployment: %s vs %s", aws.ToString(again.Deployments[0].Id), aws.ToString(first.Deployments[0].Id))
	}
	_, err := e.c.CreateService(e.ctx, in(3, "tok-2"))
	wantAPIError(t, err, "InvalidParameterException", "Creation of service was not idempotent.")
}

func TestCreateServiceDaemonDefaults(t *testing.T) {
	e := tkStart(t, "svc")
	e.def(t, "agent", types.NetworkModeHost, tkContainer("c", 128, 128))
	s := e.createService(t, &sdkecs.CreateServiceInput{ServiceName: aws.String("agent"), TaskDefinition: aws.String("agent"),
		SchedulingStrategy: types.SchedulingStrategyDaemon})
	if c := s.DeploymentConfiguration; aws.ToInt32(c.MinimumHealthyPercent) != 0 || aws.ToInt32(c.MaximumPercent) != 100 || s.SchedulingStrategy != types.SchedulingStrategyDaemon {
		t.Errorf("DAEMON service = %+v %+v", s, c)
	}
	_, err := e.c.UpdateService(e.ctx, &sdkecs.UpdateServiceInput{Cluster: aws.String("svc"), Service: aws.String("agent"), DesiredCount: aws.Int32(2)})
	wantAPIError(t, err, "InvalidParameterException", "desiredCount", "DAEMON")
	e.createService(t, &sdkecs.CreateServiceInput{ServiceName: aws.String("rep"), TaskDefinition: aws.String("agent"), DesiredCount: aws.Int32(1)})
	for _, tt := range []struct {
		strategy types.SchedulingStrategy
		want     int
	}{{"", 2}, {types.SchedulingStrategyDaemon, 1}, {types.SchedulingStrategyReplica, 1}} {
		l, err := e.c.ListServices(e.ctx, &sdkecs.ListServicesInput{Cluster: aws.String("svc"), SchedulingStrategy: tt.strategy})
		if err != nil || len(l.ServiceArns) != tt.want {
			t.Errorf("ListServices(%q) = %v, %v; want %d", tt.strategy, l.ServiceArns, err, tt.want)
		}
	}
}

func TestCreateServiceRejections(t *testing.T) {
	e := tkStart(t, "svc")
	e.def(t, "web", types.NetworkModeBridge, tkContainer("c", 128, 128))
	e.def(t, "vpc", types.NetworkModeAwsvpc, tkContainer("c", 128, 128))
	base := func(f func(in *sdkecs.CreateServiceInput)) *sdkecs.CreateServiceInput {
		in := &sdkecs.CreateServiceInput{Cluster: aws.String("svc"), ServiceName: aws.String("web"), TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(1)}
		f(in)
		return in
	}
	tests := []struct {
		name  string
		in    *sdkecs.CreateServiceInput
		typ   string
		frags []string
	}{
		{"no name", base(func(in *sdkecs.CreateServiceInput) { in.ServiceName = aws.String("") }), "InvalidParameterException", []string{"serviceName"}},
		{"bad name", base(func(in *sdkecs.CreateServiceInput) { in.ServiceName = aws.String("we b") }), "InvalidParameterException", []string{"serviceName"}},
		{"long name", base(func(in *sdkecs.CreateServiceInput) { in.ServiceName = aws.String(strings.Repeat("a", 256)) }), "InvalidParameterException", []string{"serviceName", "255"}},
		{"no task definition", base(func(in *sdkecs.CreateServiceInput) { in.TaskDefinition = nil }), "InvalidParameterException", []string{"taskDefinition"}},
		{"unknown task definition", base(func(in *sdkecs.CreateServiceInput) { in.TaskDefinition = aws.String("ghost") }), "ClientException", nil},
		{"negative count", base(func(in *sdkecs.CreateServiceInput) { in.DesiredCount = aws.Int32(-1) }), "InvalidParameterException", []string{"desiredCount"}},
		{"fargate", base(func(in *sdkecs.CreateServiceInput) { in.LaunchType = types.LaunchTypeFargate }), "InvalidParameterException", []string{"launchType FARGATE"}},
		{"capacity providers", base(func(in *sdkecs.CreateServiceInput) {
			in.CapacityProviderStrategy = []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE")}}
		}), "InvalidParameterException", []string{"capacityProviderStrategy"}},
		{"minimum above 100", base(func(in *sdkecs.CreateServiceInput) {
			in.DeploymentConfiguration = &types.DeploymentConfiguration{MinimumHealthyPercent: aws.Int32(101)}
		}), "InvalidParameterException", []string{"minimumHealthyPercent"}},
		{"maximum below 100", base(func(in *sdkecs.CreateServiceInput) {
			in.DeploymentConfiguration = &types.DeploymentConfiguration{MaximumPercent: aws.Int32(90)}
		}), "InvalidParameterException", []string{"maximumPercent"}},
		{"bad strategy", base(func(in *sdkecs.CreateServiceInput) {
			in.PlacementStrategy = []types.PlacementStrategy{{Type: types.PlacementStrategyTypeBinpack, Field: aws.String("disk")}}
		}), "InvalidParameterException", []string{"binpack"}},
		{"bad constraint", base(func(in *sdkecs.CreateServiceInput) {
			in.PlacementConstraints = []types.PlacementConstraint{{Type: types.PlacementConstraintTypeMemberOf, Expression: aws.String("attribute:x ==")}}
		}), "InvalidParameterException", nil},
		{"daemon with count", base(func(in *sdkecs.CreateServiceInput) { in.SchedulingStrategy = types.SchedulingStrategyDaemon }), "InvalidParameterException", []string{"desiredCount"}},
		{"daemon with strategy", base(func(in *sdkecs.CreateServiceInput) {
			in.SchedulingStrategy, in.DesiredCount = types.SchedulingStrategyDaemon, nil
			in.PlacementStrategy = []types.PlacementStrategy{{Type: types.PlacementStrategyTypeRandom}}
		}), "InvalidParameterException", []string{"placementStrategy"}},
		{"awsvpc without network", base(func(in *sdkecs.CreateServiceInput) { in.TaskDefinition = aws.String("vpc") }), "InvalidParameterException",
			[]string{"Network Configuration must be provided"}},
		{"network for bridge", base(func(in *sdkecs.CreateServiceInput) {
			in.NetworkConfiguration = &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"subnet-1"}}}
		}), "InvalidParameterException", []string{"Network Configuration is not valid"}},
		{"load balancers", base(func(in *sdkecs.CreateServiceInput) {
			in.LoadBalancers = []types.LoadBalancer{{TargetGroupArn: aws.String("tg")}}
		}), "InvalidParameterException", []string{"loadBalancers"}},
		{"propagate tags", base(func(in *sdkecs.CreateServiceInput) { in.PropagateTags = "ALL" }), "InvalidParameterException", []string{"propagateTags"}},
		{"negative grace", base(func(in *sdkecs.CreateServiceInput) { in.HealthCheckGracePeriodSeconds = aws.Int32(-1) }), "InvalidParameterException", []string{"healthCheckGracePeriodSeconds"}},
		{"reserved tag", base(func(in *sdkecs.CreateServiceInput) { in.Tags = []types.Tag{tag("aws:x", "y")} }), "InvalidParameterException", []string{"aws:"}},
		{"unknown cluster", base(func(in *sdkecs.CreateServiceInput) { in.Cluster = aws.String("ghost") }), "ClusterNotFoundException", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.c.CreateService(e.ctx, tt.in)
			wantAPIError(t, err, tt.typ, tt.frags...)
		})
	}
	// The awsvpc service with a network configuration is accepted and keeps it.
	s := e.createService(t, &sdkecs.CreateServiceInput{ServiceName: aws.String("vpc"), TaskDefinition: aws.String("vpc"), DesiredCount: aws.Int32(1),
		NetworkConfiguration: &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"subnet-1"}}}})
	if s.NetworkConfiguration == nil || s.Deployments[0].NetworkConfiguration == nil {
		t.Errorf("network configuration lost: %+v", s)
	}
	l, err := e.c.ListServices(e.ctx, &sdkecs.ListServicesInput{Cluster: aws.String("svc")})
	if err != nil || len(l.ServiceArns) != 1 {
		t.Errorf("a rejected request left a service: %v %v", l.ServiceArns, err)
	}
}

func TestUpdateServiceRejections(t *testing.T) {
	e := tkStart(t, "svc")
	e.def(t, "web", types.NetworkModeBridge, tkContainer("c", 128, 128))
	e.createService(t, &sdkecs.CreateServiceInput{ServiceName: aws.String("web"), TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(1)})
	tests := []struct {
		name  string
		in    sdkecs.UpdateServiceInput
		typ   string
		frags []string
	}{
		{"unknown service", sdkecs.UpdateServiceInput{Service: aws.String("ghost")}, "ServiceNotFoundException", nil},
		{"service of another cluster", sdkecs.UpdateServiceInput{Service: aws.String(e.arnPrefix() + "service/other/web")}, "ServiceNotFoundException", nil},
		{"negative count", sdkecs.UpdateServiceInput{Service: aws.String("web"), DesiredCount: aws.Int32(-2)}, "InvalidParameterException", []string{"desiredCount"}},
		{"bad placement strategy", sdkecs.UpdateServiceInput{Service: aws.String("web"),
			DeploymentConfiguration: &types.DeploymentConfiguration{MaximumPercent: aws.Int32(100), MinimumHealthyPercent: aws.Int32(100)},
			PlacementStrategy:       []types.PlacementStrategy{{Type: "sideways"}}}, "InvalidParameterException", []string{"sideways"}},
		{"unknown revision", sdkecs.UpdateServiceInput{Service: aws.String("web"), TaskDefinition: aws.String("web:9")}, "ClientException", nil},
		{"threshold", sdkecs.UpdateServiceInput{Service: aws.String("web"), DeploymentConfiguration: &types.DeploymentConfiguration{
			DeploymentCircuitBreaker: &types.DeploymentCircuitBreaker{Enable: true, ThresholdConfiguration: &types.ThresholdConfiguration{Type: types.ThresholdTypeCount, Value: 0}}}},
			"InvalidParameterException", []string{"thresholdConfiguration.value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.Cluster = aws.String("svc")
			_, err := e.c.UpdateService(e.ctx, &in)
			wantAPIError(t, err, tt.typ, tt.frags...)
		})
	}
	if s := e.describeService(t, "web"); len(s.Deployments) != 1 || s.DesiredCount != 1 {
		t.Errorf("rejected updates changed the service: %+v", s)
	}
}

func TestDescribeServicesCountsAndFailures(t *testing.T) {
	e := tkStart(t, "svc")
	e.instance(t, "a", 4096, 4096)
	e.def(t, "web", types.NetworkModeBridge, tkContainer("c", 128, 128))
	s := e.createService(t, &sdkecs.CreateServiceInput{ServiceName: aws.String("web"), TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(3)})
	depID := aws.ToString(s.Deployments[0].Id)
	// Three tasks of the service as the controller would start them: one
	// RUNNING, one PENDING, one STOPPED; and one standalone task.
	run := e.run(t, &sdkecs.RunTaskInput{TaskDefinition: aws.String("web"), Count: aws.Int32(4)})
	statuses := []ecs.TaskStatus{ecs.TaskRunning, ecs.TaskPending, ecs.TaskStopped}
	for i, task := range run.Tasks[:3] {
		id := aws.ToString(task.TaskArn)[strings.LastIndex(aws.ToString(task.TaskArn), "/")+1:]
		_, err := state.Update(e.ctx, e.srv.Store(), state.TaskKey("svc", id), func(tk *ecs.Task, _ bool) ([]store.Op, error) {
			tk.ServiceName, tk.StartedBy = "web", depID
			return nil, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		e.setStatus(t, aws.ToString(task.TaskArn), statuses[i], time.Now())
	}
	out, err := e.c.DescribeServices(e.ctx, &sdkecs.DescribeServicesInput{Cluster: aws.String("svc"),
		Services: []string{"web", "ghost", aws.ToString(s.ServiceArn), e.arnPrefix() + "service/other/web"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Services) != 1 || len(out.Failures) != 2 {
		t.Fatalf("services %d, failures %+v", len(out.Services), out.Failures)
	}
	got := out.Services[0]
	if got.RunningCount != 1 || got.PendingCount != 1 || got.Deployments[0].RunningCount != 1 || got.Deployments[0].PendingCount != 1 {
		t.Errorf("counts: service %d/%d, deployment %d/%d", got.RunningCount, got.PendingCount, got.Deployments[0].RunningCount, got.Deployments[0].PendingCount)
	}
	if got.Tags != nil {
		t.Errorf("tags without include TAGS: %v", got.Tags)
	}
	for _, f := range out.Failures {
		if aws.ToString(f.Reason) != "MISSING" {
			t.Errorf("failure %+v", f)
		}
	}
	if aws.ToString(out.Failures[0].Arn) != e.arnPrefix()+"service/svc/ghost" {
		t.Errorf("failure arn %s", aws.ToString(out.Failures[0].Arn))
	}
	var eleven []string
	for i := 0; i < 11; i++ {
		eleven = append(eleven, fmt.Sprintf("s%d", i))
	}
	_, err = e.c.DescribeServices(e.ctx, &sdkecs.DescribeServicesInput{Cluster: aws.String("svc"), Services: eleven})
	wantAPIError(t, err, "InvalidParameterException", "services", "10")
	_, err = e.c.DescribeServices(e.ctx, &sdkecs.DescribeServicesInput{Cluster: aws.String("svc"), Services: []string{"web"}, Include: []types.ServiceField{"EVERYTHING"}})
	wantAPIError(t, err, "InvalidParameterException", "include")
}

func TestListServicesPaging(t *testing.T) {
	e := tkStart(t, "svc")
	e.def(t, "web", types.NetworkModeBridge, tkContainer("c", 128, 128))
	want := map[string]bool{}
	for i := 0; i < 25; i++ {
		s := e.createService(t, &sdkecs.CreateServiceInput{ServiceName: aws.String(fmt.Sprintf("s%02d", i)), TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(0)})
		want[aws.ToString(s.ServiceArn)] = true
	}
	got := map[string]bool{}
	pages := 0
	p := sdkecs.NewListServicesPaginator(e.c, &sdkecs.ListServicesInput{Cluster: aws.String("svc")})
	for p.HasMorePages() {
		out, err := p.NextPage(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, a := range out.ServiceArns {
			if got[a] {
				t.Errorf("%s listed twice", a)
			}
			got[a] = true
		}
	}
	if len(got) != len(want) || pages != 3 {
		t.Errorf("listed %d services in %d pages (default page 10), want %d in 3", len(got), pages, len(want))
	}
	l, err := e.c.ListServices(e.ctx, &sdkecs.ListServicesInput{Cluster: aws.String("svc"), LaunchType: types.LaunchTypeExternal})
	if err != nil || len(l.ServiceArns) != 0 {
		t.Errorf("EXTERNAL services: %v %v", l.ServiceArns, err)
	}
	_, err = e.c.ListServices(e.ctx, &sdkecs.ListServicesInput{Cluster: aws.String("svc"), MaxResults: aws.Int32(101)})
	wantAPIError(t, err, "InvalidParameterException", "maxResults")
	_, err = e.c.ListServicesByNamespace(e.ctx, &sdkecs.ListServicesByNamespaceInput{Namespace: aws.String("ns")})
	wantAPIError(t, err, "NamespaceNotFoundException", "ns")
}

func TestServiceTags(t *testing.T) {
	e := tkStart(t, "svc")
	e.def(t, "web", types.NetworkModeBridge, tkContainer("c", 128, 128))
	s := e.createService(t, &sdkecs.CreateServiceInput{ServiceName: aws.String("web"), TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(0),
		Tags: []types.Tag{tag("a", "1")}})
	if _, err := e.c.TagResource(e.ctx, &sdkecs.TagResourceInput{ResourceArn: s.ServiceArn, Tags: []types.Tag{tag("b", "2")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.UntagResource(e.ctx, &sdkecs.UntagResourceInput{ResourceArn: s.ServiceArn, TagKeys: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	l, err := e.c.ListTagsForResource(e.ctx, &sdkecs.ListTagsForResourceInput{ResourceArn: s.ServiceArn})
	if err != nil {
		t.Fatal(err)
	}
	if got := tagMap(l.Tags); len(got) != 1 || got["b"] != "2" {
		t.Errorf("tags = %v", got)
	}
	if got := tagMap(e.describeService(t, "web").Tags); len(got) != 1 || got["b"] != "2" {
		t.Errorf("described tags = %v", got)
	}
	_, err = e.c.ListTagsForResource(e.ctx, &sdkecs.ListTagsForResourceInput{ResourceArn: aws.String(e.arnPrefix() + "service/svc/ghost")})
	wantAPIError(t, err, "ServiceNotFoundException")
}
