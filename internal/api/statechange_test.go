package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/servertest"
)

// scEnv is a server with cluster "sc", an instance registered by agent-1
// (client agent, keys keys) and a PENDING task "t1" on it with an ENI
// attachment; intruder is another non-administrator credential.
type scEnv struct {
	srv      *servertest.Server
	admin    *sdkecs.Client
	agent    *sdkecs.Client
	keys     *aws.Credentials
	intruder *sdkecs.Client
	inst     *types.ContainerInstance
	taskARN  string
}

// scSetup builds an scEnv.
func scSetup(t *testing.T) *scEnv {
	t.Helper()
	e := &scEnv{srv: servertest.Start(t)}
	e.admin = e.srv.ECS(t)
	ciCreateCluster(t, e.admin, "sc")
	e.agent, e.keys = ciCred(t, e.srv, "agent-1")
	e.intruder, _ = ciCred(t, e.srv, "agent-2")
	e.inst = ciRegister(t, e.agent, "sc")
	task := ciTask("sc", "t1", e.inst, ecs.TaskPending)
	task.Attachments = []ecs.Attachment{{ID: "0f7a9c52-1111-4222-8333-444455556666", Type: ecs.AttachmentTypeENI, Status: ecs.AttachmentStatusPrecreated}}
	ciPutTask(t, e.srv, task)
	e.taskARN = task.ARN
	return e
}

func TestSubmitTaskStateChange(t *testing.T) {
	e := scSetup(t)
	ctx := testCtx(t)
	running := &sdkecs.SubmitTaskStateChangeInput{Cluster: aws.String("sc"), Task: aws.String(e.taskARN), Status: aws.String("RUNNING"),
		Containers: []types.ContainerStateChange{{ContainerName: aws.String("app"), RuntimeId: aws.String("ctr-app"), Status: aws.String("RUNNING"),
			NetworkBindings: []types.NetworkBinding{{BindIP: aws.String("0.0.0.0"), ContainerPort: aws.Int32(80), HostPort: aws.Int32(49153), Protocol: types.TransportProtocolTcp}}},
			{ContainerName: aws.String("side"), RuntimeId: aws.String("ctr-side"), Status: aws.String("RUNNING")}},
		Attachments: []types.AttachmentStateChange{{AttachmentArn: aws.String("arn:aws:ecs:us-east-1:000000000000:attachment/0f7a9c52-1111-4222-8333-444455556666"),
			Status: aws.String("ATTACHED")}}}

	// Only the credential that registered the instance may report.
	for name, c := range map[string]*sdkecs.Client{"another credential": e.intruder, "an administrator": e.admin} {
		_, err := c.SubmitTaskStateChange(ctx, running)
		wantAPIError(t, err, "AccessDeniedException", aws.ToString(e.inst.ContainerInstanceArn))
		if got := ciGetTask(t, e.srv, "sc", "t1"); got.LastStatus != ecs.TaskPending || got.Version != 1 {
			t.Fatalf("report by %s changed the task: %+v", name, got)
		}
	}

	out, err := e.agent.SubmitTaskStateChange(ctx, running)
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.Acknowledgment) != "true" {
		t.Errorf("acknowledgment %q", aws.ToString(out.Acknowledgment))
	}
	got := ciGetTask(t, e.srv, "sc", "t1")
	if got.LastStatus != ecs.TaskRunning || got.DesiredStatus != ecs.TaskRunning || got.StartedAt.IsZero() || got.ConnectivityAt.IsZero() ||
		got.Version != 2 || got.Seq != 1 || got.Containers[0].RuntimeID != "ctr-app" || got.Containers[0].LastStatus != ecs.ContainerRunning ||
		len(got.Containers[0].NetworkBindings) != 1 || got.Containers[0].NetworkBindings[0].HostPort != 49153 ||
		got.Attachments[0].Status != ecs.AttachmentStatusAttached {
		t.Fatalf("after RUNNING: %+v", got)
	}
	started := got.StartedAt

	// Retries, duplicates and backwards reports succeed and change nothing.
	for _, status := range []string{"RUNNING", "PENDING"} {
		in := *running
		in.Status = aws.String(status)
		if _, err := e.agent.SubmitTaskStateChange(ctx, &in); err != nil {
			t.Fatalf("%s again: %v", status, err)
		}
	}
	if got := ciGetTask(t, e.srv, "sc", "t1"); got.Version != 2 || got.LastStatus != ecs.TaskRunning || !got.StartedAt.Equal(started) {
		t.Fatalf("duplicate or backwards report changed the task: %+v", got)
	}

	// STOPPED exactly as the real agent sends it (epoch seconds with a fraction).
	body := `{"cluster":"sc","task":"` + e.taskARN + `","status":"STOPPED","reason":"","executionStoppedAt":1795926456.275,
	"containers":[{"containerName":"app","runtimeId":"ctr-app","status":"STOPPED","exitCode":2,
	"networkBindings":[{"bindIP":"0.0.0.0","containerPort":80,"hostPort":49153,"protocol":"tcp"}]}]}`
	if r := rawCall(t, e.srv, "POST", target+"SubmitTaskStateChange", []byte(body), e.keys, time.Now()); r.status != 200 || r.body["acknowledgment"] != "true" {
		t.Fatalf("raw STOPPED: %+v", r)
	}
	got = ciGetTask(t, e.srv, "sc", "t1")
	if got.LastStatus != ecs.TaskStopped || got.DesiredStatus != ecs.TaskStopped || got.Seq != 2 || got.Version != 3 ||
		got.StopCode != ecs.StopCodeEssentialContainerExited || got.StoppedReason != "Essential container in task exited" ||
		got.ExecutionStoppedAt.UnixMilli() != 1795926456275 || got.StoppedAt.IsZero() || got.Containers[0].ExitCode == nil ||
		*got.Containers[0].ExitCode != 2 || got.Containers[1].LastStatus != ecs.ContainerStopped {
		t.Fatalf("after STOPPED: %+v", got)
	}
	// A late RUNNING after STOPPED is ignored.
	if _, err := e.agent.SubmitTaskStateChange(ctx, running); err != nil {
		t.Fatal(err)
	}
	if got := ciGetTask(t, e.srv, "sc", "t1"); got.Version != 3 || got.LastStatus != ecs.TaskStopped {
		t.Fatalf("late RUNNING changed the stopped task: %+v", got)
	}
}

func TestSubmitTaskStateChangeNeverRan(t *testing.T) {
	e := scSetup(t)
	_, err := e.agent.SubmitTaskStateChange(testCtx(t), &sdkecs.SubmitTaskStateChangeInput{Cluster: aws.String("sc"), Task: aws.String("t1"),
		Status: aws.String("STOPPED"), Reason: aws.String("CannotPullContainerError: pull access denied")})
	if err != nil {
		t.Fatal(err)
	}
	got := ciGetTask(t, e.srv, "sc", "t1")
	if got.StopCode != ecs.StopCodeTaskFailedToStart || got.StoppedReason != "CannotPullContainerError: pull access denied" ||
		!got.StartedAt.IsZero() || got.ExecutionStoppedAt.IsZero() {
		t.Fatalf("task stopped before running: %+v", got)
	}
}

func TestSubmitTaskStateChangeRejects(t *testing.T) {
	e := scSetup(t)
	ctx := testCtx(t)
	ciCreateCluster(t, e.admin, "sc2")
	orphan := ciTask("sc", "nohost", e.inst, ecs.TaskPending)
	orphan.ContainerInstanceID = ""
	ciPutTask(t, e.srv, orphan)
	in := func(mut func(*sdkecs.SubmitTaskStateChangeInput)) *sdkecs.SubmitTaskStateChangeInput {
		v := &sdkecs.SubmitTaskStateChangeInput{Cluster: aws.String("sc"), Task: aws.String(e.taskARN), Status: aws.String("RUNNING")}
		mut(v)
		return v
	}
	tests := []struct {
		name string
		in   *sdkecs.SubmitTaskStateChangeInput
		typ  string
		frag string
	}{
		{"unknown cluster", in(func(v *sdkecs.SubmitTaskStateChangeInput) { v.Cluster = aws.String("ghost") }), "ClusterNotFoundException", ""},
		{"unknown task", in(func(v *sdkecs.SubmitTaskStateChangeInput) { v.Task = aws.String("nope") }), "InvalidParameterException", "nope"},
		{"task of another cluster", in(func(v *sdkecs.SubmitTaskStateChangeInput) { v.Cluster = aws.String("sc2") }), "InvalidParameterException", "not found in cluster sc2"},
		{"not a task ARN", in(func(v *sdkecs.SubmitTaskStateChangeInput) {
			v.Task = aws.String("arn:aws:ecs:us-east-1:000000000000:cluster/sc")
		}), "InvalidParameterException", "task"},
		{"bad status", in(func(v *sdkecs.SubmitTaskStateChangeInput) { v.Status = aws.String("EXPLODED") }), "InvalidParameterException", "status"},
		{"status only the control plane sets", in(func(v *sdkecs.SubmitTaskStateChangeInput) { v.Status = aws.String("PROVISIONING") }), "InvalidParameterException", "status"},
		{"unknown container", in(func(v *sdkecs.SubmitTaskStateChangeInput) {
			v.Containers = []types.ContainerStateChange{{ContainerName: aws.String("ghost"), Status: aws.String("RUNNING")}}
		}), "InvalidParameterException", "containerName"},
		{"container status", in(func(v *sdkecs.SubmitTaskStateChangeInput) {
			v.Containers = []types.ContainerStateChange{{ContainerName: aws.String("app"), Status: aws.String("CREATED")}}
		}), "InvalidParameterException", "containers[0].status"},
		{"unknown attachment", in(func(v *sdkecs.SubmitTaskStateChangeInput) {
			v.Attachments = []types.AttachmentStateChange{{AttachmentArn: aws.String("att-x"), Status: aws.String("ATTACHED")}}
		}), "InvalidParameterException", "attachmentArn"},
		{"task on no instance", in(func(v *sdkecs.SubmitTaskStateChangeInput) { v.Task = aws.String("nohost") }), "AccessDeniedException", "not placed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.agent.SubmitTaskStateChange(ctx, tt.in)
			wantAPIError(t, err, tt.typ, tt.frag)
		})
	}
	if got := ciGetTask(t, e.srv, "sc", "t1"); got.Version != 1 {
		t.Errorf("a refused report changed the task: %+v", got)
	}
	if r := rawCall(t, e.srv, "POST", target+"SubmitTaskStateChange", []byte(`{"cluster":"sc","status":"RUNNING"}`), e.keys, time.Now()); r.typ != "InvalidParameterException" || !strings.Contains(r.msg, "task") {
		t.Errorf("without task: %+v", r)
	}
}

func TestSubmitContainerStateChange(t *testing.T) {
	e := scSetup(t)
	ctx := testCtx(t)
	in := &sdkecs.SubmitContainerStateChangeInput{Cluster: aws.String("sc"), Task: aws.String(e.taskARN), ContainerName: aws.String("side"),
		RuntimeId: aws.String("ctr-side"), Status: aws.String("STOPPED"), ExitCode: aws.Int32(137), Reason: aws.String("OutOfMemoryError")}
	_, err := e.intruder.SubmitContainerStateChange(ctx, in)
	wantAPIError(t, err, "AccessDeniedException", aws.ToString(e.inst.ContainerInstanceArn))
	out, err := e.agent.SubmitContainerStateChange(ctx, in)
	if err != nil || aws.ToString(out.Acknowledgment) != "true" {
		t.Fatalf("%+v %v", out, err)
	}
	got := ciGetTask(t, e.srv, "sc", "t1")
	side := got.Containers[1]
	if got.LastStatus != ecs.TaskPending || side.LastStatus != ecs.ContainerStopped || side.ExitCode == nil || *side.ExitCode != 137 ||
		side.Reason != "OutOfMemoryError" || side.RuntimeID != "ctr-side" || got.Containers[0].LastStatus != ecs.ContainerPending || got.Version != 2 {
		t.Fatalf("after container report: %+v", got)
	}
	// Repeated: success, no change; backwards: ignored.
	if _, err := e.agent.SubmitContainerStateChange(ctx, in); err != nil {
		t.Fatal(err)
	}
	back := *in
	back.Status, back.ExitCode = aws.String("RUNNING"), nil
	if _, err := e.agent.SubmitContainerStateChange(ctx, &back); err != nil {
		t.Fatal(err)
	}
	if got := ciGetTask(t, e.srv, "sc", "t1"); got.Version != 2 || got.Containers[1].LastStatus != ecs.ContainerStopped {
		t.Fatalf("repeat or backwards container report changed the task: %+v", got)
	}
	for _, tt := range []struct {
		name, container, status, frag string
	}{
		{"unknown container", "ghost", "RUNNING", "containerName"},
		{"bad status", "app", "EXITED", "status"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.agent.SubmitContainerStateChange(ctx, &sdkecs.SubmitContainerStateChangeInput{Cluster: aws.String("sc"), Task: aws.String("t1"),
				ContainerName: aws.String(tt.container), Status: aws.String(tt.status)})
			wantAPIError(t, err, "InvalidParameterException", tt.frag)
		})
	}
	if r := rawCall(t, e.srv, "POST", target+"SubmitContainerStateChange", []byte(`{"cluster":"sc","task":"t1","status":"RUNNING"}`), e.keys, time.Now()); r.typ != "InvalidParameterException" || !strings.Contains(r.msg, "containerName") {
		t.Errorf("without containerName: %+v", r)
	}
}

func TestSubmitAttachmentStateChanges(t *testing.T) {
	e := scSetup(t)
	ctx := testCtx(t)
	attARN := "arn:aws:ecs:us-east-1:000000000000:attachment/0f7a9c52-1111-4222-8333-444455556666"
	in := &sdkecs.SubmitAttachmentStateChangesInput{Cluster: aws.String("sc"),
		Attachments: []types.AttachmentStateChange{{AttachmentArn: aws.String(attARN), Status: aws.String("ATTACHED")}}}
	_, err := e.intruder.SubmitAttachmentStateChanges(ctx, in)
	wantAPIError(t, err, "AccessDeniedException", aws.ToString(e.inst.ContainerInstanceArn))
	out, err := e.agent.SubmitAttachmentStateChanges(ctx, in)
	if err != nil || aws.ToString(out.Acknowledgment) != "true" {
		t.Fatalf("%+v %v", out, err)
	}
	if got := ciGetTask(t, e.srv, "sc", "t1"); got.Attachments[0].Status != ecs.AttachmentStatusAttached || got.Version != 2 {
		t.Fatalf("after ATTACHED: %+v", got)
	}
	back := &sdkecs.SubmitAttachmentStateChangesInput{Cluster: aws.String("sc"),
		Attachments: []types.AttachmentStateChange{{AttachmentArn: aws.String(attARN), Status: aws.String("PRECREATED")}}}
	if _, err := e.agent.SubmitAttachmentStateChanges(ctx, back); err != nil {
		t.Fatal(err)
	}
	if got := ciGetTask(t, e.srv, "sc", "t1"); got.Attachments[0].Status != ecs.AttachmentStatusAttached || got.Version != 2 {
		t.Fatalf("backwards attachment report changed the task: %+v", got)
	}
	tests := []struct {
		name, arn, status, typ, frag string
	}{
		{"unknown attachment", "arn:aws:ecs:us-east-1:000000000000:attachment/nope", "ATTACHED", "InvalidParameterException", "attachmentArn"},
		{"bad status", attARN, "GLUED", "InvalidParameterException", "status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.agent.SubmitAttachmentStateChanges(ctx, &sdkecs.SubmitAttachmentStateChangesInput{Cluster: aws.String("sc"),
				Attachments: []types.AttachmentStateChange{{AttachmentArn: aws.String(tt.arn), Status: aws.String(tt.status)}}})
			wantAPIError(t, err, tt.typ, tt.frag)
		})
	}
	_, err = e.agent.SubmitAttachmentStateChanges(ctx, &sdkecs.SubmitAttachmentStateChangesInput{Cluster: aws.String("ghost"),
		Attachments: []types.AttachmentStateChange{{AttachmentArn: aws.String(attARN), Status: aws.String("ATTACHED")}}})
	wantAPIError(t, err, "ClusterNotFoundException", "")
}
