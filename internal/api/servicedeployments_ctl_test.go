package api

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth/berth/internal/ecs"
)

// settle runs controller passes, with the simulated agents acting between
// them, until the service has one COMPLETED deployment (at most 20 passes).
func (e *scEnv) settle(t *testing.T, name string) types.Service {
	t.Helper()
	for range 20 {
		e.pass(t)
		s := e.describe(t, name)
		if len(s.Deployments) == 1 && s.Deployments[0].RolloutState == types.DeploymentRolloutStateCompleted {
			return s
		}
		e.agents(t)
	}
	s := e.describe(t, name)
	t.Fatalf("service %s did not settle: deployments %+v, events %v", name, s.Deployments, eventTexts(s))
	return s
}

// TestStopServiceDeploymentControllerRollsBack stops a rollout half way
// and follows the controller as it returns the service to the last
// completed revision; the retired deployments are then read from the
// controller's history.
func TestStopServiceDeploymentControllerRollsBack(t *testing.T) {
	e := scStart(t)
	e.instance(t, "a", 4096, 4096)
	def1 := e.def(t, 256, 256)
	e.def(t, 256, 256)
	if _, err := e.c.CreateService(e.ctx, &sdkecs.CreateServiceInput{Cluster: aws.String(scCluster), ServiceName: aws.String("web"),
		TaskDefinition: aws.String("web:1"), DesiredCount: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	d1 := aws.ToString(e.settle(t, "web").Deployments[0].Id)
	e.advance(time.Second) // deployments are ordered by creation time
	u, err := e.c.UpdateService(e.ctx, &sdkecs.UpdateServiceInput{Cluster: aws.String(scCluster), Service: aws.String("web"), TaskDefinition: aws.String("web:2")})
	if err != nil {
		t.Fatal(err)
	}
	d2 := aws.ToString(u.Service.Deployments[0].Id)
	e.pass(t) // web:2 tasks start (PENDING)
	e.advance(time.Second)
	d2Arn := e.h.serviceDeploymentARN(scCluster, "web", d2)
	if _, err := e.c.StopServiceDeployment(e.ctx, &sdkecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String(d2Arn),
		StopType: types.StopServiceDeploymentStopTypeRollback}); err != nil {
		t.Fatal(err)
	}
	s := e.settle(t, "web")
	d3 := aws.ToString(s.Deployments[0].Id)
	if d3 == d1 || d3 == d2 || aws.ToString(s.TaskDefinition) != def1 || aws.ToString(s.Deployments[0].TaskDefinition) != def1 {
		t.Fatalf("after the rollback: %+v", s.Deployments)
	}
	for _, task := range e.tasks(t) {
		if !task.Stopped() && (task.Definition.ARN != def1 || task.StartedBy != d3) {
			t.Errorf("live task %s runs %s for %s, want %s for %s", task.ID, task.Definition.ARN, task.StartedBy, def1, d3)
		}
	}

	// The history: d1 and d2 left the service; all three are listed.
	out, err := e.c.ListServiceDeployments(e.ctx, &sdkecs.ListServiceDeploymentsInput{Cluster: aws.String(scCluster), Service: aws.String("web")})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range out.ServiceDeployments {
		a := aws.ToString(b.ServiceDeploymentArn)
		got = append(got, ecs.DeploymentIDPrefix+a[strings.LastIndex(a, "/")+1:]+"="+string(b.Status))
	}
	if want := []string{d3 + "=SUCCESSFUL", d2 + "=ROLLBACK_SUCCESSFUL", d1 + "=SUCCESSFUL"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("deployments = %v, want %v", got, want)
	}
	dd, err := e.c.DescribeServiceDeployments(e.ctx, &sdkecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{d2Arn}})
	if err != nil || len(dd.ServiceDeployments) != 1 {
		t.Fatalf("describe: %+v, %v", dd, err)
	}
	sd := dd.ServiceDeployments[0]
	if sd.Rollback == nil || aws.ToString(sd.Rollback.ServiceRevisionArn) != e.h.serviceRevisionARN(scCluster, "web", d3) || sd.FinishedAt == nil ||
		len(sd.SourceServiceRevisions) != 1 || aws.ToString(sd.SourceServiceRevisions[0].Arn) != e.h.serviceRevisionARN(scCluster, "web", d1) {
		t.Errorf("stopped deployment = %+v", sd)
	}
	_, err = e.c.StopServiceDeployment(e.ctx, &sdkecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String(e.h.serviceDeploymentARN(scCluster, "web", d1))})
	if err == nil || !strings.Contains(err.Error(), "ConflictException") || !strings.Contains(err.Error(), "already finished") {
		t.Errorf("stopping a retired deployment: %v", err)
	}
}
