package api_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth/berth/internal/servertest"
)

// webInput loads testdata/web-taskdef.json as the SDK's input type.
func webInput(t *testing.T) *sdkecs.RegisterTaskDefinitionInput {
	t.Helper()
	b, err := os.ReadFile("testdata/web-taskdef.json")
	if err != nil {
		t.Fatal(err)
	}
	// The SDK's input types decode from ECS's JSON member names.
	var raw struct {
		Family                  string                        `json:"family"`
		NetworkMode             types.NetworkMode             `json:"networkMode"`
		ContainerDefinitions    []json.RawMessage             `json:"containerDefinitions"`
		RequiresCompatibilities []types.Compatibility         `json:"requiresCompatibilities"`
		Tags                    []struct{ Key, Value string } `json:"tags"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	in := &sdkecs.RegisterTaskDefinitionInput{
		Family:                  aws.String(raw.Family),
		NetworkMode:             raw.NetworkMode,
		RequiresCompatibilities: raw.RequiresCompatibilities,
		Volumes:                 []types.Volume{{Name: aws.String("cache"), Host: &types.HostVolumeProperties{SourcePath: aws.String("/var/lib/berth-cache")}}},
		PlacementConstraints: []types.TaskDefinitionPlacementConstraint{{Type: types.TaskDefinitionPlacementConstraintTypeMemberOf,
			Expression: aws.String("attribute:ecs.os-type == linux")}},
	}
	for _, tg := range raw.Tags {
		in.Tags = append(in.Tags, types.Tag{Key: aws.String(tg.Key), Value: aws.String(tg.Value)})
	}
	in.ContainerDefinitions = []types.ContainerDefinition{
		{
			Name: aws.String("app"), Image: aws.String("127.0.0.1:5000/demo/app:1.4"), Cpu: 256,
			Memory: aws.Int32(512), MemoryReservation: aws.Int32(256), Essential: aws.Bool(true),
			PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(8080), HostPort: aws.Int32(0), Protocol: types.TransportProtocolTcp, Name: aws.String("http")}},
			Environment:  []types.KeyValuePair{{Name: aws.String("MODE"), Value: aws.String("production")}},
			Command:      []string{"/bin/app", "--listen", ":8080"},
			HealthCheck: &types.HealthCheck{Command: []string{"CMD-SHELL", "wget -q -O- http://127.0.0.1:8080/healthz || exit 1"},
				Interval: aws.Int32(10), Timeout: aws.Int32(3), Retries: aws.Int32(3), StartPeriod: aws.Int32(5)},
			DependsOn:        []types.ContainerDependency{{ContainerName: aws.String("migrate"), Condition: types.ContainerConditionSuccess}},
			LogConfiguration: &types.LogConfiguration{LogDriver: types.LogDriverAwslogs, Options: map[string]string{"awslogs-group": "/berth/web", "awslogs-stream-prefix": "app"}},
			Ulimits:          []types.Ulimit{{Name: types.UlimitNameNofile, SoftLimit: 4096, HardLimit: 8192}},
			MountPoints:      []types.MountPoint{{SourceVolume: aws.String("cache"), ContainerPath: aws.String("/var/cache/app"), ReadOnly: aws.Bool(false)}},
			DockerLabels:     map[string]string{"team": "web"},
		},
		{Name: aws.String("migrate"), Image: aws.String("127.0.0.1:5000/demo/app:1.4"), Memory: aws.Int32(128), Essential: aws.Bool(false), Command: []string{"/bin/app", "migrate"}},
		{Name: aws.String("sidecar"), Image: aws.String("busybox:latest"), MemoryReservation: aws.Int32(64), Essential: aws.Bool(false),
			EntryPoint: []string{"sh", "-c"}, Command: []string{"while true; do sleep 60; done"},
			VolumesFrom: []types.VolumeFrom{{SourceContainer: aws.String("app"), ReadOnly: aws.Bool(true)}},
			DependsOn:   []types.ContainerDependency{{ContainerName: aws.String("app"), Condition: types.ContainerConditionStart}}},
	}
	return in
}

func TestTaskDefinitionLifecycle(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.ECS(t)
	ctx := testCtx(t)

	reg, err := c.RegisterTaskDefinition(ctx, webInput(t))
	if err != nil {
		t.Fatal(err)
	}
	td := reg.TaskDefinition
	if aws.ToString(td.TaskDefinitionArn) != "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1" || td.Revision != 1 || td.Status != types.TaskDefinitionStatusActive {
		t.Fatalf("registered %s rev %d status %s", aws.ToString(td.TaskDefinitionArn), td.Revision, td.Status)
	}
	if len(reg.Tags) != 1 || td.RegisteredAt == nil || aws.ToString(td.RegisteredBy) == "" {
		t.Errorf("tags %v registeredAt %v registeredBy %q", reg.Tags, td.RegisteredAt, aws.ToString(td.RegisteredBy))
	}
	if len(td.ContainerDefinitions) != 3 || len(td.Compatibilities) == 0 || len(td.RequiresAttributes) == 0 {
		t.Fatalf("containers %d compatibilities %v requiresAttributes %v", len(td.ContainerDefinitions), td.Compatibilities, td.RequiresAttributes)
	}
	app := td.ContainerDefinitions[0]
	if aws.ToBool(app.Essential) != true || app.HealthCheck == nil || aws.ToInt32(app.HealthCheck.Retries) != 3 ||
		len(app.PortMappings) != 1 || app.PortMappings[0].Protocol != types.TransportProtocolTcp || app.DockerLabels["team"] != "web" {
		t.Errorf("app container came back as %+v", app)
	}
	if side := td.ContainerDefinitions[2]; aws.ToBool(side.Essential) || side.Cpu != 0 || len(side.VolumesFrom) != 1 {
		t.Errorf("sidecar came back as %+v", side)
	}

	for i := 2; i <= 3; i++ {
		r, err := c.RegisterTaskDefinition(ctx, webInput(t))
		if err != nil || r.TaskDefinition.Revision != int32(i) {
			t.Fatalf("register #%d: %v %v", i, r, err)
		}
	}
	// Describe by family = latest ACTIVE; by family:revision; by ARN.
	for ref, want := range map[string]int32{"web": 3, "web:2": 2, "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1": 1} {
		d, err := c.DescribeTaskDefinition(ctx, &sdkecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(ref), Include: []types.TaskDefinitionField{types.TaskDefinitionFieldTags}})
		if err != nil {
			t.Fatalf("describe %s: %v", ref, err)
		}
		if d.TaskDefinition.Revision != want || len(d.Tags) != 1 {
			t.Errorf("describe %s: revision %d tags %v", ref, d.TaskDefinition.Revision, d.Tags)
		}
	}
	// Tags only with include=TAGS.
	d, err := c.DescribeTaskDefinition(ctx, &sdkecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("web")})
	if err != nil || len(d.Tags) != 0 {
		t.Fatalf("describe without include: tags %v err %v", d.Tags, err)
	}

	// Deregister the latest: describing the family now gives revision 2.
	dr, err := c.DeregisterTaskDefinition(ctx, &sdkecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("web:3")})
	if err != nil || dr.TaskDefinition.Status != types.TaskDefinitionStatusInactive || dr.TaskDefinition.DeregisteredAt == nil {
		t.Fatalf("deregister: %+v %v", dr, err)
	}
	d, err = c.DescribeTaskDefinition(ctx, &sdkecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("web")})
	if err != nil || d.TaskDefinition.Revision != 2 {
		t.Fatalf("latest ACTIVE after deregistering 3: %v %v", d, err)
	}

	// Delete: only INACTIVE revisions; the ACTIVE one is a failure, not an error.
	del, err := c.DeleteTaskDefinitions(ctx, &sdkecs.DeleteTaskDefinitionsInput{TaskDefinitions: []string{"web:3", "web:2", "web:99"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(del.TaskDefinitions) != 1 || del.TaskDefinitions[0].Status != types.TaskDefinitionStatusDeleteInProgress || len(del.Failures) != 2 {
		t.Fatalf("delete: %+v", del)
	}
	if del.TaskDefinitions[0].DeleteRequestedAt == nil {
		t.Errorf("deleteRequestedAt missing")
	}
	// Revisions stay monotonic: the next registration is 4.
	r4, err := c.RegisterTaskDefinition(ctx, webInput(t))
	if err != nil || r4.TaskDefinition.Revision != 4 {
		t.Fatalf("register after delete: %v %v", r4, err)
	}

	// Listings.
	list := func(in *sdkecs.ListTaskDefinitionsInput) []string {
		t.Helper()
		var all []string
		p := sdkecs.NewListTaskDefinitionsPaginator(c, in)
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, out.TaskDefinitionArns...)
		}
		return all
	}
	arn := func(n int) string {
		return "arn:aws:ecs:us-east-1:000000000000:task-definition/web:" + string(rune('0'+n))
	}
	if got := list(&sdkecs.ListTaskDefinitionsInput{MaxResults: aws.Int32(1)}); !equal(got, []string{arn(1), arn(2), arn(4)}) {
		t.Errorf("ACTIVE ascending = %v", got)
	}
	if got := list(&sdkecs.ListTaskDefinitionsInput{Sort: types.SortOrderDesc, MaxResults: aws.Int32(2)}); !equal(got, []string{arn(4), arn(2), arn(1)}) {
		t.Errorf("ACTIVE descending = %v", got)
	}
	if got := list(&sdkecs.ListTaskDefinitionsInput{Status: types.TaskDefinitionStatusDeleteInProgress}); !equal(got, []string{arn(3)}) {
		t.Errorf("DELETE_IN_PROGRESS = %v", got)
	}
	if got := list(&sdkecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String("nomatch")}); len(got) != 0 {
		t.Errorf("other prefix = %v", got)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestListTaskDefinitionFamilies(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.ECS(t)
	ctx := testCtx(t)
	for _, fam := range []string{"api", "api-worker", "web"} {
		in := webInput(t)
		in.Family = aws.String(fam)
		if _, err := c.RegisterTaskDefinition(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.DeregisterTaskDefinition(ctx, &sdkecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("web:1")}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		prefix string
		status types.TaskDefinitionFamilyStatus
		want   []string
	}{
		{"", "", []string{"api", "api-worker", "web"}},
		{"", types.TaskDefinitionFamilyStatusAll, []string{"api", "api-worker", "web"}},
		{"", types.TaskDefinitionFamilyStatusActive, []string{"api", "api-worker"}},
		{"", types.TaskDefinitionFamilyStatusInactive, []string{"web"}},
		{"api", "", []string{"api", "api-worker"}},
	}
	// ListTaskDefinitions: familyPrefix names one whole family; without it,
	// definitions come sorted by family name.
	arns := func(in *sdkecs.ListTaskDefinitionsInput) []string {
		out, err := c.ListTaskDefinitions(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, a := range out.TaskDefinitionArns {
			names = append(names, a[strings.LastIndex(a, "/")+1:])
		}
		return names
	}
	if got := arns(&sdkecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String("api")}); !equal(got, []string{"api:1"}) {
		t.Errorf("familyPrefix api: %v", got)
	}
	if got := arns(&sdkecs.ListTaskDefinitionsInput{Status: types.TaskDefinitionStatusInactive}); !equal(got, []string{"web:1"}) {
		t.Errorf("INACTIVE: %v", got)
	}
	in := webInput(t)
	in.Family = aws.String("web")
	if _, err := c.RegisterTaskDefinition(ctx, in); err != nil {
		t.Fatal(err)
	}
	if got := arns(&sdkecs.ListTaskDefinitionsInput{}); !equal(got, []string{"api:1", "api-worker:1", "web:2"}) {
		t.Errorf("ACTIVE: %v", got)
	}
	if _, err := c.DeregisterTaskDefinition(ctx, &sdkecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("web:2")}); err != nil {
		t.Fatal(err)
	}

	for _, tt := range tests {
		var got []string
		p := sdkecs.NewListTaskDefinitionFamiliesPaginator(c, &sdkecs.ListTaskDefinitionFamiliesInput{
			FamilyPrefix: aws.String(tt.prefix), Status: tt.status, MaxResults: aws.Int32(1)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, out.Families...)
		}
		if !equal(got, tt.want) {
			t.Errorf("prefix %q status %q: %v, want %v", tt.prefix, tt.status, got, tt.want)
		}
	}
}

func TestRegisterTaskDefinitionRejectsBadInput(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.ECS(t)
	ctx := testCtx(t)
	tests := []struct {
		name   string
		mutate func(in *sdkecs.RegisterTaskDefinitionInput)
		typ    string
		frag   string
	}{
		{"no image", func(in *sdkecs.RegisterTaskDefinitionInput) { in.ContainerDefinitions[1].Image = nil }, "ClientException", "image"},
		{"duplicate names", func(in *sdkecs.RegisterTaskDefinitionInput) { in.ContainerDefinitions[1].Name = aws.String("app") }, "ClientException", "app"},
		{"unknown dependsOn", func(in *sdkecs.RegisterTaskDefinitionInput) {
			in.ContainerDefinitions[0].DependsOn[0].ContainerName = aws.String("ghost")
		}, "ClientException", "ghost"},
		{"dependency cycle", func(in *sdkecs.RegisterTaskDefinitionInput) {
			in.ContainerDefinitions[1].DependsOn = []types.ContainerDependency{{ContainerName: aws.String("sidecar"), Condition: types.ContainerConditionStart}}
			in.ContainerDefinitions[0].DependsOn = []types.ContainerDependency{{ContainerName: aws.String("migrate"), Condition: types.ContainerConditionStart}}
		}, "ClientException", "cycle"},
		{"reservation above memory", func(in *sdkecs.RegisterTaskDefinitionInput) {
			in.ContainerDefinitions[0].MemoryReservation = aws.Int32(1024)
		}, "ClientException", "memory"},
		{"no memory anywhere", func(in *sdkecs.RegisterTaskDefinitionInput) {
			in.ContainerDefinitions[1].Memory = nil
		}, "ClientException", "memory"},
		{"fargate without awsvpc", func(in *sdkecs.RegisterTaskDefinitionInput) {
			in.RequiresCompatibilities = []types.Compatibility{types.CompatibilityFargate}
			in.Cpu, in.Memory = aws.String("256"), aws.String("512")
		}, "ClientException", "awsvpc"},
		{"bad family", func(in *sdkecs.RegisterTaskDefinitionInput) { in.Family = aws.String("no spaces") }, "ClientException", "amily"},
		{"aws: tag", func(in *sdkecs.RegisterTaskDefinitionInput) {
			in.Tags = []types.Tag{{Key: aws.String("aws:x"), Value: aws.String("y")}}
		}, "InvalidParameterException", "aws:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := webInput(t)
			tt.mutate(in)
			_, err := c.RegisterTaskDefinition(ctx, in)
			wantAPIError(t, err, tt.typ, tt.frag)
		})
	}
	// Nothing was half-written: no family, no revision.
	f, err := c.ListTaskDefinitionFamilies(ctx, &sdkecs.ListTaskDefinitionFamiliesInput{})
	if err != nil || len(f.Families) != 0 {
		t.Fatalf("families after rejected registrations: %v %v", f.Families, err)
	}
	r, err := c.RegisterTaskDefinition(ctx, webInput(t))
	if err != nil || r.TaskDefinition.Revision != 1 {
		t.Fatalf("first good registration: %v %v", r, err)
	}
	_, err = c.DescribeTaskDefinition(ctx, &sdkecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("ghost")})
	wantAPIError(t, err, "ClientException", "Unable to describe task definition")
	_, err = c.DescribeTaskDefinition(ctx, &sdkecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("web:x")})
	wantAPIError(t, err, "ClientException", "web:x")
}

// Many clients registering revisions of one family at once all succeed and
// get distinct, gap-free revisions.
func TestConcurrentRegistrationsOfOneFamily(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.ECS(t)
	ctx := testCtx(t)
	const n = 80
	errs := make(chan error, n)
	revs := make(chan int32, n)
	for i := 0; i < n; i++ {
		go func() {
			out, err := c.RegisterTaskDefinition(ctx, &sdkecs.RegisterTaskDefinitionInput{Family: aws.String("hot"),
				ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("c"), Image: aws.String("busybox"), Memory: aws.Int32(64)}}})
			if err == nil {
				revs <- out.TaskDefinition.Revision
			}
			errs <- err
		}()
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	close(revs)
	seen := map[int32]bool{}
	for r := range revs {
		if seen[r] || r < 1 || r > n {
			t.Errorf("revision %d duplicated or out of range", r)
		}
		seen[r] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct revisions, want %d", len(seen), n)
	}
}

func TestDeleteTaskDefinitionsEdgeCases(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.ECS(t)
	ctx := testCtx(t)
	if _, err := c.RegisterTaskDefinition(ctx, webInput(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeregisterTaskDefinition(ctx, &sdkecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("web:1")}); err != nil {
		t.Fatal(err)
	}
	// An ARN of another account names nothing here, and a revision named
	// twice is answered once.
	out, err := c.DeleteTaskDefinitions(ctx, &sdkecs.DeleteTaskDefinitionsInput{TaskDefinitions: []string{
		"arn:aws:ecs:eu-west-9:999999999999:task-definition/web:1", "web:1", "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Failures) != 1 || len(out.TaskDefinitions) != 1 {
		t.Fatalf("answer: %d definitions, %d failures", len(out.TaskDefinitions), len(out.Failures))
	}
}

func TestRegisterTaskDefinitionSizeLimit(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.ECS(t)
	ctx := testCtx(t)
	in := webInput(t)
	big := strings.Repeat("x", 70<<10)
	in.ContainerDefinitions[0].Environment = append(in.ContainerDefinitions[0].Environment, types.KeyValuePair{Name: aws.String("BIG"), Value: aws.String(big)})
	_, err := c.RegisterTaskDefinition(ctx, in)
	wantAPIError(t, err, "ClientException", "64 KiB")
}
