package api_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/servertest"
	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
)

// ciCred creates a non-administrator credential named name (an agent's).
func ciCred(t *testing.T, srv *servertest.Server, name string) (*sdkecs.Client, *aws.Credentials) {
	t.Helper()
	admin := &aws.Credentials{AccessKeyID: srv.Admin.AccessKeyID, SecretAccessKey: srv.Admin.SecretAccessKey}
	r := rawCall(t, srv, "POST", "BerthAdminV1.CreateCredential", []byte(`{"name":"`+name+`"}`), admin, time.Now())
	cred, ok := r.body["credential"].(map[string]any)
	if !ok {
		t.Fatalf("CreateCredential: %+v", r)
	}
	id, secret := cred["accessKeyId"].(string), cred["secretAccessKey"].(string)
	return srv.ECSWith(id, secret), &aws.Credentials{AccessKeyID: id, SecretAccessKey: secret}
}

// ciAgentAttributes is what the real ECS agent registers with (trace in
// ecs-agent-protocol.md §3.2), plus Berth's awsvpc subnet.
func ciAgentAttributes() []types.Attribute {
	var attrs []types.Attribute
	add := func(name, value string) {
		a := types.Attribute{Name: aws.String(name)}
		if value != "" {
			a.Value = aws.String(value)
		}
		attrs = append(attrs, a)
	}
	add("stub.custom", "yes")
	for _, n := range []string{"ecs.capability.private-registry-authentication.secretsmanager", "ecs.capability.secrets.ssm.environment-variables",
		"ecs.capability.secrets.ssm.bootstrap.log-driver", "ecs.capability.ecr-endpoint", "ecs.capability.secrets.asm.environment-variables",
		"ecs.capability.secrets.asm.bootstrap.log-driver", "ecs.capability.container-ordering", "ecs.capability.full-sync",
		"ecs.capability.env-files.s3", "ecs.capability.network.container-port-range", "ecs.capability.container-restart-policy",
		"com.amazonaws.ecs.capability.privileged-container"} {
		add(n, "")
	}
	for v := 17; v <= 32; v++ {
		add(fmt.Sprintf("com.amazonaws.ecs.capability.docker-remote-api.1.%d", v), "")
	}
	for _, n := range []string{"com.amazonaws.ecs.capability.logging-driver.json-file", "com.amazonaws.ecs.capability.logging-driver.none",
		"com.amazonaws.ecs.capability.ecr-auth", "ecs.capability.execution-role-ecr-pull", "ecs.capability.container-health-check",
		"ecs.capability.docker-plugin.local", "ecs.capability.firelens.fluentd", "ecs.capability.firelens.fluentbit",
		"com.amazonaws.ecs.capability.logging-driver.awsfirelens", "ecs.capability.logging-driver.awsfirelens.log-driver-buffer-limit",
		"ecs.capability.firelens.non-root-user", "ecs.capability.efs", "ecs.capability.storage.s3-files",
		"ecs.capability.firelens.options.config.file", "ecs.capability.firelens.options.config.s3", "ecs.capability.external",
		"ecs.capability.ipv6-only", "com.amazonaws.ecs.capability.task-iam-role"} {
		add(n, "")
	}
	add("ecs.os-type", "linux")
	add("ecs.os-family", "LINUX")
	add("ecs.os-type-detailed", "LINUX")
	add("ecs.cpu-architecture", "x86_64")
	add("berth.awsvpc-cidr", "10.213.128.0/17")
	return attrs
}

func ciIntRes(name string, v int32) types.Resource {
	return types.Resource{Name: aws.String(name), Type: aws.String("INTEGER"), IntegerValue: v}
}

func ciSetRes(name string, v ...string) types.Resource {
	return types.Resource{Name: aws.String(name), Type: aws.String("STRINGSET"), StringSetValue: v}
}

// ciAgentResources is the agent's totalResources of a 2-core machine.
func ciAgentResources() []types.Resource {
	return []types.Resource{ciIntRes("CPU", 2048), ciIntRes("MEMORY", 4000),
		ciSetRes("PORTS", "22", "2375", "2376", "51678", "51679"), ciSetRes("PORTS_UDP")}
}

// ciRegister registers an instance of cluster as agent does.
func ciRegister(t *testing.T, agent *sdkecs.Client, cluster string) *types.ContainerInstance {
	t.Helper()
	out, err := agent.RegisterContainerInstance(testCtx(t), &sdkecs.RegisterContainerInstanceInput{
		Cluster: aws.String(cluster), TotalResources: ciAgentResources(), Attributes: ciAgentAttributes(),
		InstanceIdentityDocument: aws.String(`{"instanceId":"i-0123456789abcdef","availabilityZone":"us-east-1a","region":"us-east-1"}`),
		VersionInfo:              &types.VersionInfo{AgentVersion: aws.String("0.1.0"), AgentHash: aws.String("abc")},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.ContainerInstance
}

func ciCreateCluster(t *testing.T, c *sdkecs.Client, name string) {
	t.Helper()
	if _, err := c.CreateCluster(testCtx(t), &sdkecs.CreateClusterInput{ClusterName: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
}

// ciTask is a task record on instance inst of cluster: container app
// (cpu 256, memory 512) and side (cpu 0, memoryReservation 64).
func ciTask(cluster, id string, inst *types.ContainerInstance, status ecs.TaskStatus, ports ...ecs.PortAssignment) ecs.Task {
	instARN := aws.ToString(inst.ContainerInstanceArn)
	t := ecs.Task{ID: id, ARN: "arn:aws:ecs:us-east-1:000000000000:task/" + cluster + "/" + id, Cluster: cluster,
		ContainerInstanceID: instARN[strings.LastIndexByte(instARN, '/')+1:], ContainerInstanceARN: instARN,
		Definition: ecs.TaskDefinition{Family: "web", Revision: 1, NetworkMode: "bridge", ContainerDefinitions: []ecs.ContainerDefinition{
			{Name: "app", Image: "busybox", CPU: 256, Memory: aws.Int(512), Essential: aws.Bool(true)},
			{Name: "side", Image: "busybox", MemoryReservation: aws.Int(64)}}},
		LaunchType: "EC2", LastStatus: status, DesiredStatus: ecs.TaskRunning, Ports: ports, Group: "family:web",
		Containers: []ecs.TaskContainer{{Name: "app", ARN: "arn:c/app", LastStatus: ecs.ContainerPending},
			{Name: "side", ARN: "arn:c/side", LastStatus: ecs.ContainerPending}},
		CreatedAt: time.Now(), Version: 1, Seq: 1}
	if status >= ecs.TaskStopped {
		t.DesiredStatus = ecs.TaskStopped
	}
	return t
}

// ciPutTask writes a task record as RunTask would.
func ciPutTask(t *testing.T, srv *servertest.Server, task ecs.Task) {
	t.Helper()
	op, err := state.PutOp(state.TaskKey(task.Cluster, task.ID), task, store.ExpectAbsent)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Store().Txn(testCtx(t), op); err != nil {
		t.Fatal(err)
	}
}

func ciGetTask(t *testing.T, srv *servertest.Server, cluster, id string) ecs.Task {
	t.Helper()
	task, _, err := state.Get[ecs.Task](testCtx(t), srv.Store(), state.TaskKey(cluster, id))
	if err != nil {
		t.Fatal(err)
	}
	return task
}

func ciResource(rs []types.Resource, name string) types.Resource {
	for _, r := range rs {
		if aws.ToString(r.Name) == name {
			return r
		}
	}
	return types.Resource{}
}

func TestRegisterContainerInstanceEchoesAgentAttributes(t *testing.T) {
	srv := servertest.Start(t)
	ciCreateCluster(t, srv.ECS(t), "agents")
	agent, _ := ciCred(t, srv, "agent-1")
	before := time.Now().Add(-time.Second)
	inst := ciRegister(t, agent, "agents")

	arnRE := regexp.MustCompile(`^arn:aws:ecs:us-east-1:000000000000:container-instance/agents/[0-9a-f]{32}$`)
	if !arnRE.MatchString(aws.ToString(inst.ContainerInstanceArn)) {
		t.Fatalf("ARN %q", aws.ToString(inst.ContainerInstanceArn))
	}
	// The agent exits unless every pair it sent comes back.
	for _, sent := range ciAgentAttributes() {
		if !slices.ContainsFunc(inst.Attributes, func(a types.Attribute) bool {
			return aws.ToString(a.Name) == aws.ToString(sent.Name) && aws.ToString(a.Value) == aws.ToString(sent.Value)
		}) {
			t.Errorf("attribute %s=%q not echoed", aws.ToString(sent.Name), aws.ToString(sent.Value))
		}
	}
	if aws.ToString(inst.Status) != "ACTIVE" || inst.Version != 1 || aws.ToString(inst.Ec2InstanceId) != "i-0123456789abcdef" ||
		inst.AgentConnected || inst.RunningTasksCount != 0 || inst.RegisteredAt == nil || inst.RegisteredAt.Before(before) ||
		aws.ToString(inst.VersionInfo.AgentVersion) != "0.1.0" {
		t.Errorf("registered instance: %+v", inst)
	}
	if r := ciResource(inst.RegisteredResources, "CPU"); r.IntegerValue != 2048 {
		t.Errorf("registered CPU %+v", r)
	}
	if r := ciResource(inst.RemainingResources, "PORTS"); !slices.Equal(r.StringSetValue, []string{"22", "2375", "2376", "51678", "51679"}) {
		t.Errorf("remaining PORTS %v", r.StringSetValue)
	}

	// The request exactly as the real agent sends it (clientToken, empty
	// identity document), answered as it needs.
	_, agentKeys := ciCred(t, srv, "agent-raw")
	body := `{"cluster":"agents","clientToken":"0b4c6a0e-3f0c-4a53-9bd4-3c7a1d7e1f00","instanceIdentityDocument":"","instanceIdentityDocumentSignature":"",
	"totalResources":[{"name":"CPU","type":"INTEGER","integerValue":2048},{"name":"MEMORY","type":"INTEGER","integerValue":24105},
	{"name":"PORTS","type":"STRINGSET","stringSetValue":["22","2375","2376","51678","51679"]},{"name":"PORTS_UDP","type":"STRINGSET","stringSetValue":[]}],
	"attributes":[{"name":"stub.custom","value":"yes"},{"name":"ecs.capability.external"},{"name":"ecs.os-type","value":"linux"},{"name":"ecs.cpu-architecture","value":"x86_64"}]}`
	r := rawCall(t, srv, "POST", target+"RegisterContainerInstance", []byte(body), agentKeys, time.Now())
	ci, _ := r.body["containerInstance"].(map[string]any)
	if r.status != 200 || ci == nil {
		t.Fatalf("raw registration: %+v", r)
	}
	got := map[string]any{}
	for _, a := range ci["attributes"].([]any) {
		m := a.(map[string]any)
		got[m["name"].(string)] = m["value"]
	}
	if got["stub.custom"] != "yes" || got["ecs.os-type"] != "linux" || got["ecs.cpu-architecture"] != "x86_64" || len(got) != 4 {
		t.Errorf("raw echo: %v", got)
	}
	if _, has := got["ecs.capability.external"]; !has {
		t.Errorf("name-only attribute not echoed: %v", got)
	}
	if _, has := ci["ec2InstanceId"]; has {
		t.Errorf("empty identity document produced an ec2InstanceId: %v", ci["ec2InstanceId"])
	}
}

func TestReRegisterContainerInstance(t *testing.T) {
	srv := servertest.Start(t)
	admin := srv.ECS(t)
	ctx := testCtx(t)
	ciCreateCluster(t, admin, "rereg")
	agent, _ := ciCred(t, srv, "agent-1")
	intruder, _ := ciCred(t, srv, "intruder")
	inst := ciRegister(t, agent, "rereg")
	arn := inst.ContainerInstanceArn
	if _, err := admin.PutAttributes(ctx, &sdkecs.PutAttributesInput{Cluster: aws.String("rereg"),
		Attributes: []types.Attribute{attr("stack", "prod", aws.ToString(arn))}}); err != nil {
		t.Fatal(err)
	}
	// As after an agent restart with a checkpoint: the ARN, no custom
	// attributes, new resources.
	again, err := agent.RegisterContainerInstance(ctx, &sdkecs.RegisterContainerInstanceInput{Cluster: aws.String("rereg"),
		ContainerInstanceArn: arn, TotalResources: []types.Resource{ciIntRes("CPU", 4096), ciIntRes("MEMORY", 8000)},
		Attributes: []types.Attribute{{Name: aws.String("ecs.os-type"), Value: aws.String("linux")}}})
	if err != nil {
		t.Fatal(err)
	}
	ri := again.ContainerInstance
	names := map[string]string{}
	for _, a := range ri.Attributes {
		names[aws.ToString(a.Name)] = aws.ToString(a.Value)
	}
	if aws.ToString(ri.ContainerInstanceArn) != aws.ToString(arn) || ri.Version != 2 || ciResource(ri.RegisteredResources, "CPU").IntegerValue != 4096 ||
		names["stub.custom"] != "yes" || names["stack"] != "prod" || names["ecs.os-type"] != "linux" || len(names) != 3 {
		t.Errorf("re-registered: version %d, attributes %v, resources %+v", ri.Version, names, ri.RegisteredResources)
	}
	if !ri.RegisteredAt.Equal(*inst.RegisteredAt) || aws.ToString(ri.VersionInfo.AgentVersion) != "0.1.0" {
		t.Errorf("re-registration changed registeredAt or dropped versionInfo: %v %+v", ri.RegisteredAt, ri.VersionInfo)
	}
	l, err := admin.ListContainerInstances(ctx, &sdkecs.ListContainerInstancesInput{Cluster: aws.String("rereg")})
	if err != nil || len(l.ContainerInstanceArns) != 1 {
		t.Fatalf("instances after re-registration: %v %v", l, err)
	}

	tests := []struct {
		name   string
		client *sdkecs.Client
		arn    string
		typ    string
		frag   string
	}{
		{"another credential", intruder, aws.ToString(arn), "AccessDeniedException", aws.ToString(arn)},
		{"even an administrator", admin, aws.ToString(arn), "AccessDeniedException", "only the credential that registered it"},
		{"unknown id", agent, "0123456789abcdef0123456789abcdef", "ClientException", "not registered"},
		{"ARN of another cluster", agent, strings.Replace(aws.ToString(arn), "/rereg/", "/other/", 1), "ClientException", "not registered"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.client.RegisterContainerInstance(ctx, &sdkecs.RegisterContainerInstanceInput{Cluster: aws.String("rereg"),
				ContainerInstanceArn: aws.String(tt.arn), TotalResources: ciAgentResources()})
			wantAPIError(t, err, tt.typ, tt.frag)
		})
	}
	// A deregistered instance cannot come back.
	if _, err := agent.DeregisterContainerInstance(ctx, &sdkecs.DeregisterContainerInstanceInput{Cluster: aws.String("rereg"), ContainerInstance: arn}); err != nil {
		t.Fatal(err)
	}
	_, err = agent.RegisterContainerInstance(ctx, &sdkecs.RegisterContainerInstanceInput{Cluster: aws.String("rereg"), ContainerInstanceArn: arn})
	wantAPIError(t, err, "ClientException", "not registered")
}

func TestRegisterContainerInstanceRejectsBadInput(t *testing.T) {
	srv := servertest.Start(t)
	admin := srv.ECS(t)
	ctx := testCtx(t)
	ciCreateCluster(t, admin, "strict")
	ciCreateCluster(t, admin, "gone")
	if _, err := admin.DeleteCluster(ctx, &sdkecs.DeleteClusterInput{Cluster: aws.String("gone")}); err != nil {
		t.Fatal(err)
	}
	agent, _ := ciCred(t, srv, "agent-1")
	base := func(mut func(in *sdkecs.RegisterContainerInstanceInput)) *sdkecs.RegisterContainerInstanceInput {
		in := &sdkecs.RegisterContainerInstanceInput{Cluster: aws.String("strict"), TotalResources: ciAgentResources(), Attributes: ciAgentAttributes()}
		mut(in)
		return in
	}
	elevenCustom := func(in *sdkecs.RegisterContainerInstanceInput) {
		for i := range 10 {
			in.Attributes = append(in.Attributes, types.Attribute{Name: aws.String(fmt.Sprintf("custom-%d", i))})
		}
	}
	tests := []struct {
		name string
		mut  func(in *sdkecs.RegisterContainerInstanceInput)
		typ  string
		frag string
	}{
		{"unknown cluster", func(in *sdkecs.RegisterContainerInstanceInput) { in.Cluster = aws.String("nope") }, "ClusterNotFoundException", ""},
		{"inactive cluster", func(in *sdkecs.RegisterContainerInstanceInput) { in.Cluster = aws.String("gone") }, "ClusterNotFoundException", "inactive"},
		{"negative CPU", func(in *sdkecs.RegisterContainerInstanceInput) { in.TotalResources[0].IntegerValue = -1 }, "InvalidParameterException", "CPU"},
		{"MEMORY as LONG", func(in *sdkecs.RegisterContainerInstanceInput) {
			in.TotalResources[1] = types.Resource{Name: aws.String("MEMORY"), Type: aws.String("LONG"), LongValue: 5}
		}, "InvalidParameterException", "MEMORY must have type INTEGER"},
		{"bad port", func(in *sdkecs.RegisterContainerInstanceInput) {
			in.TotalResources[2].StringSetValue = []string{"70000"}
		}, "InvalidParameterException", "PORTS"},
		{"unknown type", func(in *sdkecs.RegisterContainerInstanceInput) {
			in.TotalResources = append(in.TotalResources, types.Resource{Name: aws.String("GPU"), Type: aws.String("LIST")})
		}, "InvalidParameterException", "totalResources"},
		{"resource twice", func(in *sdkecs.RegisterContainerInstanceInput) {
			in.TotalResources = append(in.TotalResources, ciIntRes("CPU", 1))
		}, "InvalidParameterException", "CPU is given twice"},
		{"identity document not JSON", func(in *sdkecs.RegisterContainerInstanceInput) { in.InstanceIdentityDocument = aws.String("{") }, "InvalidParameterException", "instanceIdentityDocument"},
		{"bad attribute name", func(in *sdkecs.RegisterContainerInstanceInput) {
			in.Attributes = append(in.Attributes, types.Attribute{Name: aws.String("has space")})
		}, "InvalidParameterException", "has space"},
		{"attribute twice, two values", func(in *sdkecs.RegisterContainerInstanceInput) {
			in.Attributes = append(in.Attributes, types.Attribute{Name: aws.String("ecs.os-type"), Value: aws.String("windows")})
		}, "InvalidParameterException", "ecs.os-type"},
		{"eleven custom attributes", elevenCustom, "AttributeLimitExceededException", "10"},
		{"bad tag", func(in *sdkecs.RegisterContainerInstanceInput) { in.Tags = []types.Tag{tag("aws:x", "y")} }, "InvalidParameterException", "aws:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := agent.RegisterContainerInstance(ctx, base(tt.mut))
			wantAPIError(t, err, tt.typ, tt.frag)
		})
	}
	// Types the SDK cannot send wrong, sent raw.
	_, keys := ciCred(t, srv, "agent-raw")
	r := rawCall(t, srv, "POST", target+"RegisterContainerInstance",
		[]byte(`{"cluster":"strict","totalResources":[{"name":"CPU","type":"INTEGER"}]}`), keys, time.Now())
	if r.typ != "InvalidParameterException" || !strings.Contains(r.msg, "integerValue") {
		t.Errorf("INTEGER without integerValue: %+v", r)
	}
	// Nothing above registered anything; berth.* attributes do not count as custom.
	l, err := admin.ListContainerInstances(ctx, &sdkecs.ListContainerInstancesInput{Cluster: aws.String("strict")})
	if err != nil || len(l.ContainerInstanceArns) != 0 {
		t.Fatalf("after refusals: %v %v", l, err)
	}
	nine := base(func(in *sdkecs.RegisterContainerInstanceInput) {
		for i := range 9 {
			in.Attributes = append(in.Attributes, types.Attribute{Name: aws.String(fmt.Sprintf("custom-%d", i))})
		}
		in.Attributes = append(in.Attributes, types.Attribute{Name: aws.String("berth.extra"), Value: aws.String("1")})
	})
	if _, err := agent.RegisterContainerInstance(ctx, nine); err != nil {
		t.Errorf("ten custom attributes plus berth.*: %v", err)
	}
}

func TestDeregisterContainerInstance(t *testing.T) {
	srv := servertest.Start(t)
	admin := srv.ECS(t)
	ctx := testCtx(t)
	ciCreateCluster(t, admin, "dereg")
	agent, _ := ciCred(t, srv, "agent-1")
	inst := ciRegister(t, agent, "dereg")
	arn := inst.ContainerInstanceArn
	ciPutTask(t, srv, ciTask("dereg", "run1", inst, ecs.TaskRunning))
	ciPutTask(t, srv, ciTask("dereg", "done1", inst, ecs.TaskStopped))

	_, err := admin.DeregisterContainerInstance(ctx, &sdkecs.DeregisterContainerInstanceInput{Cluster: aws.String("dereg"), ContainerInstance: arn})
	wantAPIError(t, err, "InvalidParameterException", "Found running tasks on the instance.")
	if got := ciGetTask(t, srv, "dereg", "run1"); got.LastStatus != ecs.TaskRunning || got.Version != 1 {
		t.Fatalf("refused deregistration changed the task: %+v", got)
	}
	// The cluster cannot go while the instance is registered.
	_, err = admin.DeleteCluster(ctx, &sdkecs.DeleteClusterInput{Cluster: aws.String("dereg")})
	wantAPIError(t, err, "ClusterContainsContainerInstancesException", "")

	out, err := admin.DeregisterContainerInstance(ctx, &sdkecs.DeregisterContainerInstanceInput{Cluster: aws.String("dereg"),
		ContainerInstance: arn, Force: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if ci := out.ContainerInstance; aws.ToString(ci.Status) != "INACTIVE" || ci.Version != 2 || ci.RunningTasksCount != 0 ||
		ciResource(ci.RemainingResources, "CPU").IntegerValue != 2048 {
		t.Errorf("deregistered: %+v", ci)
	}
	got := ciGetTask(t, srv, "dereg", "run1")
	if got.LastStatus != ecs.TaskStopped || got.DesiredStatus != ecs.TaskStopped || got.StoppedReason != "Container instance deregistered" ||
		got.Seq != 2 || got.Version != 2 || got.StoppedAt.IsZero() || got.Containers[0].LastStatus != ecs.ContainerStopped {
		t.Errorf("orphaned task: %+v", got)
	}
	if done := ciGetTask(t, srv, "dereg", "done1"); done.Version != 1 {
		t.Errorf("an already stopped task was rewritten: %+v", done)
	}
	// INACTIVE instances are still described, listed only when asked for,
	// and deregistering again is harmless.
	d, err := admin.DescribeContainerInstances(ctx, &sdkecs.DescribeContainerInstancesInput{Cluster: aws.String("dereg"), ContainerInstances: []string{aws.ToString(arn)}})
	if err != nil || len(d.ContainerInstances) != 1 || aws.ToString(d.ContainerInstances[0].Status) != "INACTIVE" {
		t.Fatalf("describe after deregistration: %+v %v", d, err)
	}
	for status, want := range map[types.ContainerInstanceStatus]int{"": 0, "INACTIVE": 1, "ACTIVE": 0} {
		l, err := admin.ListContainerInstances(ctx, &sdkecs.ListContainerInstancesInput{Cluster: aws.String("dereg"), Status: status})
		if err != nil || len(l.ContainerInstanceArns) != want {
			t.Errorf("list status %q: %v %v, want %d", status, l.ContainerInstanceArns, err, want)
		}
	}
	again, err := admin.DeregisterContainerInstance(ctx, &sdkecs.DeregisterContainerInstanceInput{Cluster: aws.String("dereg"), ContainerInstance: arn})
	if err != nil || again.ContainerInstance.Version != 2 {
		t.Fatalf("second deregistration: %+v %v", again, err)
	}
	if _, err := admin.DeleteCluster(ctx, &sdkecs.DeleteClusterInput{Cluster: aws.String("dereg")}); err != nil {
		t.Errorf("delete cluster after deregistration: %v", err)
	}

	tests := []struct {
		name, cluster, ref, typ, frag string
	}{
		{"unknown instance", "other", "0123456789abcdef0123456789abcdef", "ClientException", "0123456789abcdef0123456789abcdef"},
		{"ARN of another cluster", "other", strings.Replace(aws.ToString(arn), "/dereg/", "/elsewhere/", 1), "ClientException", "not found"},
		{"unknown cluster", "ghost", "x", "ClusterNotFoundException", ""},
	}
	ciCreateCluster(t, admin, "other")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := admin.DeregisterContainerInstance(ctx, &sdkecs.DeregisterContainerInstanceInput{Cluster: aws.String(tt.cluster), ContainerInstance: aws.String(tt.ref)})
			wantAPIError(t, err, tt.typ, tt.frag)
		})
	}
	adminKeys := &aws.Credentials{AccessKeyID: srv.Admin.AccessKeyID, SecretAccessKey: srv.Admin.SecretAccessKey}
	if r := rawCall(t, srv, "POST", target+"DeregisterContainerInstance", []byte(`{"cluster":"other"}`), adminKeys, time.Now()); r.typ != "InvalidParameterException" || !strings.Contains(r.msg, "containerInstance") {
		t.Errorf("without containerInstance: %+v", r)
	}
}

func TestDescribeContainerInstancesResources(t *testing.T) {
	srv := servertest.Start(t)
	admin := srv.ECS(t)
	ctx := testCtx(t)
	ciCreateCluster(t, admin, "res")
	agent, _ := ciCred(t, srv, "agent-1")
	inst := ciRegister(t, agent, "res")
	other := ciRegister(t, agent, "res")
	arn := aws.ToString(inst.ContainerInstanceArn)
	id := arn[strings.LastIndexByte(arn, '/')+1:]
	// app+side reserve cpu 256 and 512+64 MiB each.
	ciPutTask(t, srv, ciTask("res", "running", inst, ecs.TaskRunning, ecs.PortAssignment{Container: "app", ContainerPort: 80, HostPort: 49153, Protocol: "tcp"}))
	ciPutTask(t, srv, ciTask("res", "pending", inst, ecs.TaskPending, ecs.PortAssignment{Container: "app", ContainerPort: 53, HostPort: 53, Protocol: "udp"}))
	ciPutTask(t, srv, ciTask("res", "stopping", inst, ecs.TaskDeactivating))
	ciPutTask(t, srv, ciTask("res", "stopped", inst, ecs.TaskStopped, ecs.PortAssignment{Container: "app", ContainerPort: 80, HostPort: 8080, Protocol: "tcp"}))
	ciPutTask(t, srv, ciTask("res", "elsewhere", other, ecs.TaskRunning))

	d, err := admin.DescribeContainerInstances(ctx, &sdkecs.DescribeContainerInstancesInput{Cluster: aws.String("res"),
		ContainerInstances: []string{id, "0123456789abcdef0123456789abcdef", strings.Replace(arn, "/res/", "/other/", 1)},
		Include:            []types.ContainerInstanceField{types.ContainerInstanceFieldTags, types.ContainerInstanceFieldContainerInstanceHealth}})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.ContainerInstances) != 1 || len(d.Failures) != 2 {
		t.Fatalf("describe: %d instances, failures %+v", len(d.ContainerInstances), d.Failures)
	}
	if f := d.Failures[0]; aws.ToString(f.Reason) != "MISSING" || aws.ToString(f.Arn) != "arn:aws:ecs:us-east-1:000000000000:container-instance/res/0123456789abcdef0123456789abcdef" {
		t.Errorf("failure %+v", f)
	}
	ci := d.ContainerInstances[0]
	if cpu := ciResource(ci.RemainingResources, "CPU").IntegerValue; cpu != 2048-3*256 {
		t.Errorf("remaining CPU %d", cpu)
	}
	if mem := ciResource(ci.RemainingResources, "MEMORY").IntegerValue; mem != 4000-3*576 {
		t.Errorf("remaining MEMORY %d", mem)
	}
	if p := ciResource(ci.RemainingResources, "PORTS").StringSetValue; !slices.Equal(p, []string{"22", "2375", "2376", "49153", "51678", "51679"}) {
		t.Errorf("remaining PORTS %v", p)
	}
	if p := ciResource(ci.RemainingResources, "PORTS_UDP").StringSetValue; !slices.Equal(p, []string{"53"}) {
		t.Errorf("remaining PORTS_UDP %v", p)
	}
	if r := ciResource(ci.RegisteredResources, "MEMORY"); r.IntegerValue != 4000 || aws.ToString(r.Type) != "INTEGER" {
		t.Errorf("registered MEMORY %+v", r)
	}
	if ci.RunningTasksCount != 1 || ci.PendingTasksCount != 1 || ci.AgentConnected {
		t.Errorf("counts: running %d pending %d connected %v", ci.RunningTasksCount, ci.PendingTasksCount, ci.AgentConnected)
	}

	// agentConnected: an open channel heard from within 90 s.
	setSeen := func(connected bool, seen time.Time) {
		t.Helper()
		_, err := state.Update(ctx, srv.Store(), state.InstanceKey("res", id), func(ci *ecs.ContainerInstance, _ bool) ([]store.Op, error) {
			ci.AgentConnected, ci.AgentSeenAt = connected, seen
			return nil, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		connected bool
		seen      time.Time
		want      bool
	}{{true, time.Now(), true}, {true, time.Now().Add(-2 * time.Minute), false}, {false, time.Now(), false}} {
		setSeen(tt.connected, tt.seen)
		d, err := admin.DescribeContainerInstances(ctx, &sdkecs.DescribeContainerInstancesInput{Cluster: aws.String("res"), ContainerInstances: []string{arn}})
		if err != nil || d.ContainerInstances[0].AgentConnected != tt.want {
			t.Errorf("connected=%v seen %v ago: agentConnected %v, want %v (%v)", tt.connected, time.Since(tt.seen).Round(time.Second),
				d.ContainerInstances[0].AgentConnected, tt.want, err)
		}
	}

	tests := []struct {
		name string
		in   *sdkecs.DescribeContainerInstancesInput
		typ  string
		frag string
	}{
		{"bad include", &sdkecs.DescribeContainerInstancesInput{Cluster: aws.String("res"), ContainerInstances: []string{id},
			Include: []types.ContainerInstanceField{"EVERYTHING"}}, "InvalidParameterException", "include"},
		{"too many", &sdkecs.DescribeContainerInstancesInput{Cluster: aws.String("res"), ContainerInstances: make([]string, 101)}, "InvalidParameterException", "100"},
		{"unknown cluster", &sdkecs.DescribeContainerInstancesInput{Cluster: aws.String("ghost"), ContainerInstances: []string{id}}, "ClusterNotFoundException", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := admin.DescribeContainerInstances(ctx, tt.in)
			wantAPIError(t, err, tt.typ, tt.frag)
		})
	}
}

func TestContainerInstanceTags(t *testing.T) {
	srv := servertest.Start(t)
	admin := srv.ECS(t)
	ctx := testCtx(t)
	ciCreateCluster(t, admin, "tags")
	agent, _ := ciCred(t, srv, "agent-1")
	out, err := agent.RegisterContainerInstance(ctx, &sdkecs.RegisterContainerInstanceInput{Cluster: aws.String("tags"),
		TotalResources: ciAgentResources(), Tags: []types.Tag{tag("rack", "r1")}})
	if err != nil {
		t.Fatal(err)
	}
	arn := out.ContainerInstance.ContainerInstanceArn
	if got := tagMap(out.ContainerInstance.Tags); got["rack"] != "r1" {
		t.Errorf("registration tags %v", got)
	}
	if _, err := admin.TagResource(ctx, &sdkecs.TagResourceInput{ResourceArn: arn, Tags: []types.Tag{tag("team", "infra")}}); err != nil {
		t.Fatal(err)
	}
	l, err := admin.ListTagsForResource(ctx, &sdkecs.ListTagsForResourceInput{ResourceArn: arn})
	if got := tagMap(l.Tags); err != nil || got["rack"] != "r1" || got["team"] != "infra" {
		t.Fatalf("tags %v %v", got, err)
	}
	plain, err := admin.DescribeContainerInstances(ctx, &sdkecs.DescribeContainerInstancesInput{Cluster: aws.String("tags"), ContainerInstances: []string{aws.ToString(arn)}})
	if err != nil || len(plain.ContainerInstances[0].Tags) != 0 {
		t.Errorf("describe without include shows tags: %+v %v", plain, err)
	}
	d, err := admin.DescribeContainerInstances(ctx, &sdkecs.DescribeContainerInstancesInput{Cluster: aws.String("tags"),
		ContainerInstances: []string{aws.ToString(arn)}, Include: []types.ContainerInstanceField{types.ContainerInstanceFieldTags}})
	if got := tagMap(d.ContainerInstances[0].Tags); err != nil || len(got) != 2 {
		t.Errorf("describe with TAGS: %v %v", got, err)
	}
	// Tagging kept the rest of the record.
	if ci := d.ContainerInstances[0]; ciResource(ci.RegisteredResources, "CPU").IntegerValue != 2048 || ci.Version != 1 {
		t.Errorf("record after tagging: %+v", ci)
	}
}

func TestListAndDrainContainerInstances(t *testing.T) {
	srv := servertest.Start(t)
	admin := srv.ECS(t)
	ctx := testCtx(t)
	ciCreateCluster(t, admin, "fleet")
	ciCreateCluster(t, admin, "empty")
	agent, _ := ciCred(t, srv, "agent-1")
	var arns []string
	for range 5 {
		arns = append(arns, aws.ToString(ciRegister(t, agent, "fleet").ContainerInstanceArn))
	}
	slices.Sort(arns) // ids are random; listings go in id order
	list := func(in *sdkecs.ListContainerInstancesInput) []string {
		t.Helper()
		in.Cluster = aws.String("fleet")
		var got []string
		p := sdkecs.NewListContainerInstancesPaginator(admin, in)
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, out.ContainerInstanceArns...)
		}
		return got
	}
	if got := list(&sdkecs.ListContainerInstancesInput{MaxResults: aws.Int32(2)}); !slices.Equal(got, arns) {
		t.Fatalf("pages of 2: %v, want %v", got, arns)
	}

	up, err := admin.UpdateContainerInstancesState(ctx, &sdkecs.UpdateContainerInstancesStateInput{Cluster: aws.String("fleet"),
		ContainerInstances: []string{arns[1], arns[3], arns[3], "0123456789abcdef0123456789abcdef"}, Status: types.ContainerInstanceStatusDraining})
	if err != nil {
		t.Fatal(err)
	}
	if len(up.ContainerInstances) != 2 || aws.ToString(up.ContainerInstances[0].Status) != "DRAINING" || up.ContainerInstances[0].Version != 2 ||
		len(up.Failures) != 1 || aws.ToString(up.Failures[0].Reason) != "MISSING" {
		t.Fatalf("drain: %+v", up)
	}
	same, err := admin.UpdateContainerInstancesState(ctx, &sdkecs.UpdateContainerInstancesStateInput{Cluster: aws.String("fleet"),
		ContainerInstances: []string{arns[1]}, Status: types.ContainerInstanceStatusDraining})
	if err != nil || same.ContainerInstances[0].Version != 2 {
		t.Errorf("draining a draining instance bumped its version: %+v %v", same, err)
	}
	if got := list(&sdkecs.ListContainerInstancesInput{Status: types.ContainerInstanceStatusDraining}); !slices.Equal(got, []string{arns[1], arns[3]}) {
		t.Errorf("DRAINING: %v", got)
	}
	if got := list(&sdkecs.ListContainerInstancesInput{Status: types.ContainerInstanceStatusActive, MaxResults: aws.Int32(1)}); !slices.Equal(got, []string{arns[0], arns[2], arns[4]}) {
		t.Errorf("ACTIVE: %v", got)
	}
	if got := list(&sdkecs.ListContainerInstancesInput{}); len(got) != 5 {
		t.Errorf("default lists ACTIVE and DRAINING: %v", got)
	}

	// filter: the cluster query language.
	if _, err := admin.PutAttributes(ctx, &sdkecs.PutAttributesInput{Cluster: aws.String("fleet"),
		Attributes: []types.Attribute{attr("zone", "a", arns[0]), attr("zone", "b", arns[2])}}); err != nil {
		t.Fatal(err)
	}
	inst0 := &types.ContainerInstance{ContainerInstanceArn: aws.String(arns[4])}
	ciPutTask(t, srv, ciTask("fleet", "t1", inst0, ecs.TaskRunning))
	for _, tt := range []struct {
		filter string
		want   []string
	}{
		{"attribute:zone == a", []string{arns[0]}},
		{"attribute:zone in [a, b] and attribute:ecs.os-type == linux", []string{arns[0], arns[2]}},
		{"runningTasksCount > 0", []string{arns[4]}},
		{"task:group == family:web", []string{arns[4]}},
		{"agentConnected == true", nil},
		{"ec2InstanceId == i-0123456789abcdef and attribute:berth.awsvpc-cidr exists", arns},
	} {
		if got := list(&sdkecs.ListContainerInstancesInput{Filter: aws.String(tt.filter), MaxResults: aws.Int32(1)}); !slices.Equal(got, tt.want) {
			t.Errorf("filter %q: %v, want %v", tt.filter, got, tt.want)
		}
	}
	if got := list(&sdkecs.ListContainerInstancesInput{Filter: aws.String("attribute:zone exists"), Status: types.ContainerInstanceStatusActive}); len(got) != 2 {
		t.Errorf("filter with status: %v", got)
	}

	first, err := admin.ListContainerInstances(ctx, &sdkecs.ListContainerInstancesInput{Cluster: aws.String("fleet"), MaxResults: aws.Int32(1)})
	if err != nil || first.NextToken == nil {
		t.Fatalf("first page: %+v %v", first, err)
	}
	listTests := []struct {
		name string
		in   *sdkecs.ListContainerInstancesInput
		typ  string
		frag string
	}{
		{"bad status", &sdkecs.ListContainerInstancesInput{Cluster: aws.String("fleet"), Status: "GONE"}, "InvalidParameterException", "status"},
		{"bad filter", &sdkecs.ListContainerInstancesInput{Cluster: aws.String("fleet"), Filter: aws.String("attribute:zone ==")}, "InvalidParameterException", "filter"},
		{"maxResults", &sdkecs.ListContainerInstancesInput{Cluster: aws.String("fleet"), MaxResults: aws.Int32(101)}, "InvalidParameterException", "maxResults"},
		{"token of another cluster", &sdkecs.ListContainerInstancesInput{Cluster: aws.String("empty"), NextToken: first.NextToken}, "InvalidParameterException", "nextToken"},
		{"unknown cluster", &sdkecs.ListContainerInstancesInput{Cluster: aws.String("ghost")}, "ClusterNotFoundException", ""},
	}
	for _, tt := range listTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := admin.ListContainerInstances(ctx, tt.in)
			wantAPIError(t, err, tt.typ, tt.frag)
		})
	}
	updateTests := []struct {
		name   string
		status types.ContainerInstanceStatus
		refs   []string
		typ    string
		frag   string
	}{
		{"INACTIVE is not settable", "INACTIVE", arns[:1], "InvalidParameterException", "ACTIVE or DRAINING"},
		{"REGISTERING is not settable", types.ContainerInstanceStatusRegistering, arns[:1], "InvalidParameterException", "status"},
		{"more than 10", types.ContainerInstanceStatusActive, make([]string, 11), "InvalidParameterException", "10"},
	}
	for _, tt := range updateTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := admin.UpdateContainerInstancesState(ctx, &sdkecs.UpdateContainerInstancesStateInput{Cluster: aws.String("fleet"), ContainerInstances: tt.refs, Status: tt.status})
			wantAPIError(t, err, tt.typ, tt.frag)
		})
	}
}

func TestDiscoverPollEndpoint(t *testing.T) {
	srv := servertest.Start(t)
	admin := srv.ECS(t)
	ctx := testCtx(t)
	ciCreateCluster(t, admin, "poll")
	agent, _ := ciCred(t, srv, "agent-1")
	intruder, _ := ciCred(t, srv, "intruder")
	arn := ciRegister(t, agent, "poll").ContainerInstanceArn
	out, err := agent.DiscoverPollEndpoint(ctx, &sdkecs.DiscoverPollEndpointInput{Cluster: aws.String("poll"), ContainerInstance: arn})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.Endpoint) != srv.Endpoint()+"/" || aws.ToString(out.TelemetryEndpoint) != srv.Endpoint()+"/tcs/" {
		t.Errorf("endpoints %q %q for server %q", aws.ToString(out.Endpoint), aws.ToString(out.TelemetryEndpoint), srv.Endpoint())
	}
	tests := []struct {
		name            string
		client          *sdkecs.Client
		cluster, ref    string
		typ, frag       string
		withoutInstance bool
	}{
		{"another credential", intruder, "poll", aws.ToString(arn), "AccessDeniedException", aws.ToString(arn), false},
		{"an administrator", admin, "poll", aws.ToString(arn), "AccessDeniedException", aws.ToString(arn), false},
		{"unknown instance", agent, "poll", "0123456789abcdef0123456789abcdef", "ClientException", "not found", false},
		{"unknown cluster", agent, "ghost", aws.ToString(arn), "ClusterNotFoundException", "", false},
		{"no instance", agent, "poll", "", "InvalidParameterException", "containerInstance", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &sdkecs.DiscoverPollEndpointInput{Cluster: aws.String(tt.cluster), ContainerInstance: aws.String(tt.ref)}
			if tt.withoutInstance {
				in.ContainerInstance = nil
			}
			_, err := tt.client.DiscoverPollEndpoint(ctx, in)
			wantAPIError(t, err, tt.typ, tt.frag)
		})
	}
}
