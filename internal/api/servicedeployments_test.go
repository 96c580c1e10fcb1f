package api_test

import (
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

// completeDeployment marks a deployment COMPLETED, as the controller
// would once it is steady.
func (e *tkEnv) completeDeployment(t *testing.T, svc, id string) {
	t.Helper()
	_, err := state.Update(e.ctx, e.srv.Store(), state.ServiceKey(e.cluster, svc), func(s *ecs.Service, exists bool) ([]store.Op, error) {
		for i := range s.Deployments {
			if s.Deployments[i].ID == id {
				s.Deployments[i].RolloutState, s.Deployments[i].RolloutStateReason = ecs.RolloutCompleted, ecs.RolloutReasonCompleted(id)
			}
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (e *tkEnv) listDeployments(t *testing.T, in *sdkecs.ListServiceDeploymentsInput) *sdkecs.ListServiceDeploymentsOutput {
	t.Helper()
	if in.Cluster == nil {
		in.Cluster = aws.String(e.cluster)
	}
	out, err := e.c.ListServiceDeployments(e.ctx, in)
	if err != nil {
		t.Fatalf("ListServiceDeployments: %v", err)
	}
	return out
}

func briefSummary(bs []types.ServiceDeploymentBrief) []string {
	var out []string
	for _, b := range bs {
		a := aws.ToString(b.ServiceDeploymentArn)
		out = append(out, a[strings.LastIndex(a, "/")+1:]+"="+string(b.Status))
	}
	return out
}

func depNumber(id string) string { return strings.TrimPrefix(id, ecs.DeploymentIDPrefix) }

func TestServiceDeployments(t *testing.T) {
	e := tkStart(t, "sd")
	def1 := e.def(t, "web", types.NetworkModeBridge, tkContainer("c", 128, 128))
	def2 := e.def(t, "web", types.NetworkModeBridge, tkContainer("c", 128, 256))
	s := e.createService(t, &sdkecs.CreateServiceInput{ServiceName: aws.String("web"), TaskDefinition: aws.String("web:1"), DesiredCount: aws.Int32(2)})
	d1 := aws.ToString(s.Deployments[0].Id)
	prefix := e.arnPrefix()
	d1Arn, d1Rev := prefix+"service-deployment/sd/web/"+depNumber(d1), prefix+"service-revision/sd/web/"+depNumber(d1)

	l := e.listDeployments(t, &sdkecs.ListServiceDeploymentsInput{Service: aws.String("web")})
	if len(l.ServiceDeployments) != 1 || l.NextToken != nil {
		t.Fatalf("list = %+v", l)
	}
	b := l.ServiceDeployments[0]
	if aws.ToString(b.ServiceDeploymentArn) != d1Arn || aws.ToString(b.TargetServiceRevisionArn) != d1Rev || b.Status != types.ServiceDeploymentStatusInProgress ||
		aws.ToString(b.ServiceArn) != aws.ToString(s.ServiceArn) || aws.ToString(b.ClusterArn) != prefix+"cluster/sd" || b.StartedAt == nil || b.FinishedAt != nil {
		t.Errorf("brief = %+v", b)
	}

	// Nothing to roll back to yet.
	_, err := e.c.StopServiceDeployment(e.ctx, &sdkecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String(d1Arn), StopType: types.StopServiceDeploymentStopTypeRollback})
	wantAPIError(t, err, "ConflictException", "no previous successful service revision")
	e.completeDeployment(t, "web", d1)
	_, err = e.c.StopServiceDeployment(e.ctx, &sdkecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String(d1Arn)})
	wantAPIError(t, err, "ConflictException", "not in progress")

	u, err := e.c.UpdateService(e.ctx, &sdkecs.UpdateServiceInput{Cluster: aws.String("sd"), Service: aws.String("web"), TaskDefinition: aws.String("web:2")})
	if err != nil {
		t.Fatal(err)
	}
	d2 := aws.ToString(u.Service.Deployments[0].Id)
	d2Arn, d2Rev := prefix+"service-deployment/sd/web/"+depNumber(d2), prefix+"service-revision/sd/web/"+depNumber(d2)

	// Newest first, with the status filter and paging.
	l = e.listDeployments(t, &sdkecs.ListServiceDeploymentsInput{Service: s.ServiceArn})
	if got, want := strings.Join(briefSummary(l.ServiceDeployments), " "), depNumber(d2)+"=IN_PROGRESS "+depNumber(d1)+"=SUCCESSFUL"; got != want {
		t.Errorf("list = %s, want %s", got, want)
	}
	if l.ServiceDeployments[1].FinishedAt == nil {
		t.Errorf("a successful deployment has no finishedAt")
	}
	l = e.listDeployments(t, &sdkecs.ListServiceDeploymentsInput{Service: aws.String("web"), Status: []types.ServiceDeploymentStatus{types.ServiceDeploymentStatusSuccessful}})
	if got := briefSummary(l.ServiceDeployments); len(got) != 1 || got[0] != depNumber(d1)+"=SUCCESSFUL" {
		t.Errorf("status filter: %v", got)
	}
	var pages []string
	in := &sdkecs.ListServiceDeploymentsInput{Service: aws.String("web"), MaxResults: aws.Int32(1)}
	for range 3 {
		l = e.listDeployments(t, in)
		pages = append(pages, briefSummary(l.ServiceDeployments)...)
		if l.NextToken == nil {
			break
		}
		in.NextToken = l.NextToken
	}
	if len(pages) != 2 || l.NextToken != nil || !strings.HasPrefix(pages[0], depNumber(d2)) || !strings.HasPrefix(pages[1], depNumber(d1)) {
		t.Errorf("pages = %v (last token %v)", pages, l.NextToken)
	}
	past, future := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	for _, tc := range []struct {
		name string
		f    *types.CreatedAt
		want int
	}{
		{"after the past", &types.CreatedAt{After: &past}, 2},
		{"before the past", &types.CreatedAt{Before: &past}, 0},
		{"after the future", &types.CreatedAt{After: &future}, 0},
		{"between", &types.CreatedAt{After: &past, Before: &future}, 2},
	} {
		l = e.listDeployments(t, &sdkecs.ListServiceDeploymentsInput{Service: aws.String("web"), CreatedAt: tc.f})
		if len(l.ServiceDeployments) != tc.want {
			t.Errorf("createdAt %s: %d deployments, want %d", tc.name, len(l.ServiceDeployments), tc.want)
		}
	}

	// Describe: known ones, and MISSING for the others.
	ghost := prefix + "service-deployment/sd/web/1234567890123456789"
	dd, err := e.c.DescribeServiceDeployments(e.ctx, &sdkecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{d2Arn, d1Arn, ghost, "not-an-arn"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(dd.ServiceDeployments) != 2 || len(dd.Failures) != 2 {
		t.Fatalf("describe = %+v", dd)
	}
	for i, f := range dd.Failures {
		if aws.ToString(f.Reason) != "MISSING" || aws.ToString(f.Arn) != []string{ghost, "not-an-arn"}[i] {
			t.Errorf("failure %d = %+v", i, f)
		}
	}
	sd2 := dd.ServiceDeployments[0]
	if aws.ToString(sd2.ServiceDeploymentArn) != d2Arn || sd2.Status != types.ServiceDeploymentStatusInProgress || sd2.TargetServiceRevision == nil ||
		aws.ToString(sd2.TargetServiceRevision.Arn) != d2Rev || sd2.TargetServiceRevision.RequestedTaskCount != 2 ||
		len(sd2.SourceServiceRevisions) != 1 || aws.ToString(sd2.SourceServiceRevisions[0].Arn) != d1Rev ||
		sd2.DeploymentCircuitBreaker == nil || sd2.DeploymentCircuitBreaker.Status != types.ServiceDeploymentRollbackMonitorsStatusDisabled ||
		sd2.DeploymentConfiguration == nil || aws.ToInt32(sd2.DeploymentConfiguration.MaximumPercent) != 200 || sd2.Rollback != nil || sd2.FinishedAt != nil {
		t.Errorf("deployment 2 = %+v", sd2)
	}
	if sd1 := dd.ServiceDeployments[1]; sd1.Status != types.ServiceDeploymentStatusSuccessful || sd1.FinishedAt == nil || len(sd1.SourceServiceRevisions) != 0 {
		t.Errorf("deployment 1 = %+v", sd1)
	}

	rv, err := e.c.DescribeServiceRevisions(e.ctx, &sdkecs.DescribeServiceRevisionsInput{ServiceRevisionArns: []string{d1Rev, d2Rev, d1Arn}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rv.ServiceRevisions) != 2 || len(rv.Failures) != 1 || aws.ToString(rv.Failures[0].Arn) != d1Arn {
		t.Fatalf("revisions = %+v", rv)
	}
	for i, want := range []string{def1, def2} {
		r := rv.ServiceRevisions[i]
		if aws.ToString(r.TaskDefinition) != want || r.LaunchType != types.LaunchTypeEc2 || aws.ToString(r.ServiceArn) != aws.ToString(s.ServiceArn) ||
			len(r.ContainerImages) != 1 || aws.ToString(r.ContainerImages[0].Image) != "busybox:1.36" || aws.ToString(r.ContainerImages[0].ContainerName) != "c" || r.CreatedAt == nil {
			t.Errorf("revision %d = %+v", i, r)
		}
	}

	// Stop with rollback: the deployment fails, a new PRIMARY runs web:1 again.
	st, err := e.c.StopServiceDeployment(e.ctx, &sdkecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String(d2Arn)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(st.ServiceDeploymentArn) != d2Arn {
		t.Errorf("stopped %s", aws.ToString(st.ServiceDeploymentArn))
	}
	got := e.describeService(t, "web")
	deps := got.Deployments
	if aws.ToString(got.TaskDefinition) != def1 || len(deps) != 3 || aws.ToString(deps[0].Status) != "PRIMARY" || aws.ToString(deps[0].TaskDefinition) != def1 ||
		deps[0].RolloutState != types.DeploymentRolloutStateInProgress || aws.ToString(deps[1].Id) != d2 || aws.ToString(deps[1].Status) != "ACTIVE" ||
		deps[1].RolloutState != types.DeploymentRolloutStateFailed || !strings.Contains(aws.ToString(deps[1].RolloutStateReason), "rolling back to deployment "+d1) {
		t.Errorf("after stop: %+v", deps)
	}
	if !strings.Contains(aws.ToString(got.Events[0].Message), "rolling back to deployment "+d1) {
		t.Errorf("events = %+v", got.Events)
	}
	d3 := aws.ToString(deps[0].Id)
	dd, err = e.c.DescribeServiceDeployments(e.ctx, &sdkecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{d2Arn}})
	if err != nil || len(dd.ServiceDeployments) != 1 {
		t.Fatalf("describe after stop: %+v, %v", dd, err)
	}
	sd2 = dd.ServiceDeployments[0]
	if sd2.Status != types.ServiceDeploymentStatusRollbackInProgress || sd2.Rollback == nil || sd2.StoppedAt == nil ||
		aws.ToString(sd2.Rollback.ServiceRevisionArn) != prefix+"service-revision/sd/web/"+depNumber(d3) || sd2.Rollback.StartedAt == nil {
		t.Errorf("stopped deployment = %+v", sd2)
	}
	_, err = e.c.StopServiceDeployment(e.ctx, &sdkecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String(d2Arn)})
	wantAPIError(t, err, "ConflictException", "not in progress")
	rv, err = e.c.DescribeServiceRevisions(e.ctx, &sdkecs.DescribeServiceRevisionsInput{ServiceRevisionArns: []string{prefix + "service-revision/sd/web/" + depNumber(d3)}})
	if err != nil || len(rv.ServiceRevisions) != 1 || aws.ToString(rv.ServiceRevisions[0].TaskDefinition) != def1 {
		t.Errorf("rollback revision = %+v, %v", rv, err)
	}
}

func TestServiceDeploymentsRejections(t *testing.T) {
	e := tkStart(t, "sd")
	e.def(t, "web", types.NetworkModeBridge, tkContainer("c", 128, 128))
	e.createService(t, &sdkecs.CreateServiceInput{ServiceName: aws.String("web"), TaskDefinition: aws.String("web:1"), DesiredCount: aws.Int32(1)})
	prefix := e.arnPrefix()
	many := make([]string, 21)
	for i := range many {
		many[i] = prefix + "service-deployment/sd/web/1"
	}
	cases := []struct {
		name   string
		call   func() error
		code   string
		phrase string
	}{
		{"list without service", func() error {
			_, err := e.c.ListServiceDeployments(e.ctx, &sdkecs.ListServiceDeploymentsInput{Cluster: aws.String("sd"), Service: aws.String("")})
			return err
		}, "InvalidParameterException", "service"},
		{"list unknown service", func() error {
			_, err := e.c.ListServiceDeployments(e.ctx, &sdkecs.ListServiceDeploymentsInput{Cluster: aws.String("sd"), Service: aws.String("ghost")})
			return err
		}, "ServiceNotFoundException", ""},
		{"list unknown cluster", func() error {
			_, err := e.c.ListServiceDeployments(e.ctx, &sdkecs.ListServiceDeploymentsInput{Cluster: aws.String("nope"), Service: aws.String("web")})
			return err
		}, "ClusterNotFoundException", ""},
		{"list bad status", func() error {
			_, err := e.c.ListServiceDeployments(e.ctx, &sdkecs.ListServiceDeploymentsInput{Cluster: aws.String("sd"), Service: aws.String("web"),
				Status: []types.ServiceDeploymentStatus{"DONE"}})
			return err
		}, "InvalidParameterException", "status"},
		{"list maxResults 0", func() error {
			_, err := e.c.ListServiceDeployments(e.ctx, &sdkecs.ListServiceDeploymentsInput{Cluster: aws.String("sd"), Service: aws.String("web"), MaxResults: aws.Int32(0)})
			return err
		}, "InvalidParameterException", "maxResults"},
		{"list foreign token", func() error {
			_, err := e.c.ListServiceDeployments(e.ctx, &sdkecs.ListServiceDeploymentsInput{Cluster: aws.String("sd"), Service: aws.String("web"), NextToken: aws.String("Zm9v")})
			return err
		}, "InvalidParameterException", "nextToken"},
		{"list inverted createdAt", func() error {
			now := time.Now()
			before := now.Add(-time.Hour)
			_, err := e.c.ListServiceDeployments(e.ctx, &sdkecs.ListServiceDeploymentsInput{Cluster: aws.String("sd"), Service: aws.String("web"),
				CreatedAt: &types.CreatedAt{After: &now, Before: &before}})
			return err
		}, "InvalidParameterException", "createdAt"},
		{"describe none", func() error {
			_, err := e.c.DescribeServiceDeployments(e.ctx, &sdkecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{}})
			return err
		}, "InvalidParameterException", "serviceDeploymentArns"},
		{"describe 21", func() error {
			_, err := e.c.DescribeServiceDeployments(e.ctx, &sdkecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: many})
			return err
		}, "InvalidParameterException", "20"},
		{"revisions none", func() error {
			_, err := e.c.DescribeServiceRevisions(e.ctx, &sdkecs.DescribeServiceRevisionsInput{ServiceRevisionArns: []string{}})
			return err
		}, "InvalidParameterException", "serviceRevisionArns"},
		{"revisions 21", func() error {
			_, err := e.c.DescribeServiceRevisions(e.ctx, &sdkecs.DescribeServiceRevisionsInput{ServiceRevisionArns: many})
			return err
		}, "InvalidParameterException", "20"},
		{"stop ABORT", func() error {
			_, err := e.c.StopServiceDeployment(e.ctx, &sdkecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String(many[0]), StopType: types.StopServiceDeploymentStopTypeAbort})
			return err
		}, "InvalidParameterException", "ABORT"},
		{"stop bad ARN", func() error {
			_, err := e.c.StopServiceDeployment(e.ctx, &sdkecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String(prefix + "service/sd/web")})
			return err
		}, "InvalidParameterException", "serviceDeploymentArn"},
		{"stop unknown deployment", func() error {
			_, err := e.c.StopServiceDeployment(e.ctx, &sdkecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String(many[0])})
			return err
		}, "ServiceDeploymentNotFoundException", ""},
		{"stop unknown service", func() error {
			_, err := e.c.StopServiceDeployment(e.ctx, &sdkecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String(prefix + "service-deployment/sd/ghost/1")})
			return err
		}, "ServiceDeploymentNotFoundException", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var frag []string
			if tc.phrase != "" {
				frag = append(frag, tc.phrase)
			}
			wantAPIError(t, tc.call(), tc.code, frag...)
		})
	}
}
