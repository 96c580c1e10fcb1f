package api_test

import (
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth/berth/internal/servertest"
	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
)

func TestClusterLifecycle(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.ECS(t)
	ctx := testCtx(t)

	out, err := c.CreateCluster(ctx, &sdkecs.CreateClusterInput{
		ClusterName: aws.String("demo"),
		Tags:        []types.Tag{{Key: aws.String("env"), Value: aws.String("test")}},
		Settings:    []types.ClusterSetting{{Name: types.ClusterSettingNameContainerInsights, Value: aws.String("enabled")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cl := out.Cluster
	wantARN := "arn:aws:ecs:us-east-1:000000000000:cluster/demo"
	if aws.ToString(cl.ClusterArn) != wantARN || aws.ToString(cl.Status) != "ACTIVE" || aws.ToString(cl.ClusterName) != "demo" {
		t.Fatalf("created cluster %+v", cl)
	}
	if cl.RunningTasksCount != 0 || cl.RegisteredContainerInstancesCount != 0 {
		t.Errorf("counts of a new cluster: %+v", cl)
	}

	// Idempotent by name: same ARN, settings unchanged.
	again, err := c.CreateCluster(ctx, &sdkecs.CreateClusterInput{ClusterName: aws.String("demo")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(again.Cluster.ClusterArn) != wantARN || len(again.Cluster.Settings) != 1 || aws.ToString(again.Cluster.Settings[0].Value) != "enabled" {
		t.Fatalf("second create returned %+v", again.Cluster)
	}

	d, err := c.DescribeClusters(ctx, &sdkecs.DescribeClustersInput{
		Clusters: []string{"demo", wantARN, "nope"},
		Include:  []types.ClusterField{types.ClusterFieldTags, types.ClusterFieldSettings, types.ClusterFieldStatistics},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Clusters) != 2 || len(d.Failures) != 1 {
		t.Fatalf("describe: %d clusters, %d failures", len(d.Clusters), len(d.Failures))
	}
	if f := d.Failures[0]; aws.ToString(f.Reason) != "MISSING" || aws.ToString(f.Arn) != "arn:aws:ecs:us-east-1:000000000000:cluster/nope" {
		t.Errorf("failure %+v", f)
	}
	if got := d.Clusters[0]; len(got.Tags) != 1 || aws.ToString(got.Tags[0].Key) != "env" || len(got.Statistics) == 0 {
		t.Errorf("describe with include: tags %v statistics %v", got.Tags, got.Statistics)
	}
	plain, err := c.DescribeClusters(ctx, &sdkecs.DescribeClustersInput{Clusters: []string{"demo"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(plain.Clusters[0].Tags) != 0 || len(plain.Clusters[0].Statistics) != 0 {
		t.Errorf("describe without include returned tags or statistics")
	}

	upd, err := c.UpdateClusterSettings(ctx, &sdkecs.UpdateClusterSettingsInput{Cluster: aws.String("demo"),
		Settings: []types.ClusterSetting{{Name: types.ClusterSettingNameContainerInsights, Value: aws.String("disabled")}}})
	if err != nil {
		t.Fatal(err)
	}
	if v := aws.ToString(upd.Cluster.Settings[0].Value); v != "disabled" {
		t.Errorf("setting after update = %q", v)
	}
	u2, err := c.UpdateCluster(ctx, &sdkecs.UpdateClusterInput{Cluster: aws.String("demo"),
		Configuration: &types.ClusterConfiguration{ExecuteCommandConfiguration: &types.ExecuteCommandConfiguration{Logging: types.ExecuteCommandLoggingDefault}}})
	if err != nil {
		t.Fatal(err)
	}
	if u2.Cluster.Configuration == nil || u2.Cluster.Configuration.ExecuteCommandConfiguration.Logging != types.ExecuteCommandLoggingDefault {
		t.Errorf("configuration after update: %+v", u2.Cluster.Configuration)
	}
	cp, err := c.PutClusterCapacityProviders(ctx, &sdkecs.PutClusterCapacityProvidersInput{Cluster: aws.String("demo"),
		CapacityProviders:               []string{"FARGATE", "FARGATE_SPOT"},
		DefaultCapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE"), Weight: 1, Base: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(cp.Cluster.CapacityProviders) != 2 || len(cp.Cluster.DefaultCapacityProviderStrategy) != 1 {
		t.Errorf("capacity providers: %+v", cp.Cluster)
	}

	del, err := c.DeleteCluster(ctx, &sdkecs.DeleteClusterInput{Cluster: aws.String("demo")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(del.Cluster.Status) != "INACTIVE" {
		t.Errorf("deleted cluster status %q", aws.ToString(del.Cluster.Status))
	}
	// An INACTIVE cluster is still describable, not listed, and refuses updates.
	d, err = c.DescribeClusters(ctx, &sdkecs.DescribeClustersInput{Clusters: []string{"demo"}})
	if err != nil || len(d.Clusters) != 1 || aws.ToString(d.Clusters[0].Status) != "INACTIVE" {
		t.Fatalf("describe after delete: %+v %v", d, err)
	}
	l, err := c.ListClusters(ctx, &sdkecs.ListClustersInput{})
	if err != nil || len(l.ClusterArns) != 0 {
		t.Fatalf("list after delete: %v %v", l.ClusterArns, err)
	}
	_, err = c.UpdateClusterSettings(ctx, &sdkecs.UpdateClusterSettingsInput{Cluster: aws.String("demo"),
		Settings: []types.ClusterSetting{{Name: types.ClusterSettingNameContainerInsights, Value: aws.String("enabled")}}})
	var cnf *types.ClusterNotFoundException
	if !errors.As(err, &cnf) {
		t.Fatalf("update of inactive cluster: %v", err)
	}
	_, err = c.DeleteCluster(ctx, &sdkecs.DeleteClusterInput{Cluster: aws.String("demo")})
	if !errors.As(err, &cnf) {
		t.Fatalf("second delete: %v", err)
	}
	// Creating it again brings it back ACTIVE, with fresh settings.
	re, err := c.CreateCluster(ctx, &sdkecs.CreateClusterInput{ClusterName: aws.String("demo")})
	if err != nil || aws.ToString(re.Cluster.Status) != "ACTIVE" {
		t.Fatalf("re-create: %+v %v", re, err)
	}
}

func TestDefaultCluster(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.ECS(t)
	ctx := testCtx(t)
	d, err := c.DescribeClusters(ctx, &sdkecs.DescribeClustersInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Failures) != 1 || aws.ToString(d.Failures[0].Arn) != "arn:aws:ecs:us-east-1:000000000000:cluster/default" {
		t.Fatalf("describe with no cluster before create: %+v", d)
	}
	out, err := c.CreateCluster(ctx, &sdkecs.CreateClusterInput{})
	if err != nil || aws.ToString(out.Cluster.ClusterName) != "default" {
		t.Fatalf("create with no name: %+v %v", out, err)
	}
	d, err = c.DescribeClusters(ctx, &sdkecs.DescribeClustersInput{})
	if err != nil || len(d.Clusters) != 1 {
		t.Fatalf("describe default: %+v %v", d, err)
	}
}

func TestDeleteClusterRefusesWhileInUse(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.ECS(t)
	ctx := testCtx(t)
	if _, err := c.CreateCluster(ctx, &sdkecs.CreateClusterInput{ClusterName: aws.String("busy")}); err != nil {
		t.Fatal(err)
	}
	// Records as the agent and scheduler issues will write them.
	tests := []struct {
		key, value string
		check      func(error) bool
	}{
		{state.InstancesPrefix("busy") + "i-1", `{"status":"ACTIVE"}`, func(err error) bool {
			var e *types.ClusterContainsContainerInstancesException
			return errors.As(err, &e)
		}},
		{state.ServicesPrefix("busy") + "web", `{"status":"ACTIVE"}`, func(err error) bool {
			var e *types.ClusterContainsServicesException
			return errors.As(err, &e)
		}},
		{state.TasksPrefix("busy") + "t1", `{"lastStatus":"RUNNING","desiredStatus":"RUNNING"}`, func(err error) bool {
			var e *types.ClusterContainsTasksException
			return errors.As(err, &e)
		}},
	}
	for _, tt := range tests {
		if _, err := srv.Store().Txn(ctx, store.Put(tt.key, []byte(tt.value), store.ExpectAbsent)); err != nil {
			t.Fatal(err)
		}
		_, err := c.DeleteCluster(ctx, &sdkecs.DeleteClusterInput{Cluster: aws.String("busy")})
		if !tt.check(err) {
			t.Fatalf("delete with %s: %v", tt.key, err)
		}
		if _, err := srv.Store().Txn(ctx, store.Delete(tt.key, store.ExpectAny)); err != nil {
			t.Fatal(err)
		}
		// The refused delete left the cluster as it was.
		d, err := c.DescribeClusters(ctx, &sdkecs.DescribeClustersInput{Clusters: []string{"busy"}})
		if err != nil || aws.ToString(d.Clusters[0].Status) != "ACTIVE" {
			t.Fatalf("cluster after refused delete: %+v %v", d, err)
		}
	}
	// A stopped task does not hold the cluster.
	if _, err := srv.Store().Txn(ctx, store.Put(state.TasksPrefix("busy")+"t2", []byte(`{"lastStatus":"STOPPED","desiredStatus":"STOPPED"}`), store.ExpectAbsent)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteCluster(ctx, &sdkecs.DeleteClusterInput{Cluster: aws.String("busy")}); err != nil {
		t.Fatalf("delete with only stopped tasks: %v", err)
	}
}

func TestListClustersPagination(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.ECS(t)
	ctx := testCtx(t)
	want := map[string]bool{}
	for i := 0; i < 23; i++ {
		name := "c" + string(rune('a'+i))
		out, err := c.CreateCluster(ctx, &sdkecs.CreateClusterInput{ClusterName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		want[aws.ToString(out.Cluster.ClusterArn)] = true
	}
	// One deleted cluster must not appear, nor leave a short page behind.
	if _, err := c.DeleteCluster(ctx, &sdkecs.DeleteClusterInput{Cluster: aws.String("cc")}); err != nil {
		t.Fatal(err)
	}
	delete(want, "arn:aws:ecs:us-east-1:000000000000:cluster/cc")
	p := sdkecs.NewListClustersPaginator(c, &sdkecs.ListClustersInput{MaxResults: aws.Int32(5)})
	got := map[string]bool{}
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(out.ClusterArns) > 5 {
			t.Fatalf("page of %d > maxResults", len(out.ClusterArns))
		}
		for _, a := range out.ClusterArns {
			if got[a] {
				t.Fatalf("%s listed twice", a)
			}
			got[a] = true
		}
	}
	if len(got) != len(want) || pages != 5 {
		t.Fatalf("listed %d clusters in %d pages, want %d in 5", len(got), pages, len(want))
	}
	for a := range want {
		if !got[a] {
			t.Errorf("%s not listed", a)
		}
	}
	_, err := c.ListClusters(ctx, &sdkecs.ListClustersInput{MaxResults: aws.Int32(101)})
	wantAPIError(t, err, "InvalidParameterException", "maxResults")
	_, err = c.ListClusters(ctx, &sdkecs.ListClustersInput{NextToken: aws.String("garbage!")})
	wantAPIError(t, err, "InvalidParameterException", "nextToken")
}

func TestClusterValidation(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.ECS(t)
	ctx := testCtx(t)
	long := make([]byte, 256)
	for i := range long {
		long[i] = 'a'
	}
	tests := []struct {
		name string
		call func() error
		typ  string
		frag string
	}{
		{"bad name", func() error {
			_, err := c.CreateCluster(ctx, &sdkecs.CreateClusterInput{ClusterName: aws.String("bad name")})
			return err
		}, "InvalidParameterException", "Cluster name"},
		{"long name", func() error {
			_, err := c.CreateCluster(ctx, &sdkecs.CreateClusterInput{ClusterName: aws.String(string(long))})
			return err
		}, "InvalidParameterException", "Cluster name"},
		{"bad setting", func() error {
			_, err := c.CreateCluster(ctx, &sdkecs.CreateClusterInput{ClusterName: aws.String("x"),
				Settings: []types.ClusterSetting{{Name: "containerInsights", Value: aws.String("maybe")}}})
			return err
		}, "InvalidParameterException", "settings.value"},
		{"aws: tag", func() error {
			_, err := c.CreateCluster(ctx, &sdkecs.CreateClusterInput{ClusterName: aws.String("x"),
				Tags: []types.Tag{{Key: aws.String("aws:owner"), Value: aws.String("me")}}})
			return err
		}, "InvalidParameterException", "aws:"},
		{"unknown capacity provider", func() error {
			_, err := c.CreateCluster(ctx, &sdkecs.CreateClusterInput{ClusterName: aws.String("x"), CapacityProviders: []string{"nope"}})
			return err
		}, "InvalidParameterException", "nope"},
		{"strategy names provider not on cluster", func() error {
			_, err := c.CreateCluster(ctx, &sdkecs.CreateClusterInput{ClusterName: aws.String("x"),
				DefaultCapacityProviderStrategy: []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE")}}})
			return err
		}, "InvalidParameterException", "FARGATE"},
		{"delete unknown", func() error {
			_, err := c.DeleteCluster(ctx, &sdkecs.DeleteClusterInput{Cluster: aws.String("ghost")})
			return err
		}, "ClusterNotFoundException", "not found"},
		{"update unknown", func() error {
			_, err := c.UpdateCluster(ctx, &sdkecs.UpdateClusterInput{Cluster: aws.String("ghost")})
			return err
		}, "ClusterNotFoundException", ""},
		{"cluster ARN of another kind", func() error {
			_, err := c.UpdateCluster(ctx, &sdkecs.UpdateClusterInput{Cluster: aws.String("arn:aws:ecs:us-east-1:000000000000:service/a/b")})
			return err
		}, "InvalidParameterException", "cluster"},
		{"describe include", func() error {
			_, err := c.DescribeClusters(ctx, &sdkecs.DescribeClustersInput{Include: []types.ClusterField{"BOGUS"}})
			return err
		}, "InvalidParameterException", "include"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantAPIError(t, tt.call(), tt.typ, tt.frag)
		})
	}
	// None of the refused creates left a cluster behind.
	l, err := c.ListClusters(ctx, &sdkecs.ListClustersInput{})
	if err != nil || len(l.ClusterArns) != 0 {
		t.Fatalf("clusters after refused creates: %v %v", l.ClusterArns, err)
	}
}

// Deleted clusters between active ones never cut a page short or hide the
// clusters after them.
func TestListClustersSkipsInactive(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.ECS(t)
	ctx := testCtx(t)
	createClusters(t, c, "a", "b", "c", "d", "e", "f", "g")
	for _, n := range []string{"c", "e", "f"} {
		if _, err := c.DeleteCluster(ctx, &sdkecs.DeleteClusterInput{Cluster: aws.String(n)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, size := range []int32{1, 2, 3, 4, 5} {
		if got := clusterNames(t, c, size); !equal(got, []string{"a", "b", "d", "g"}) {
			t.Errorf("maxResults %d: %v", size, got)
		}
	}
}

// The page fills inside a short batch from the store: the clusters after it
// must still be reachable through nextToken.
func TestListClustersPageFillsInShortBatch(t *testing.T) {
	srv := servertest.Start(t)
	c := srv.ECS(t)
	ctx := testCtx(t)
	createClusters(t, c, "a", "b", "c", "d", "e")
	if _, err := c.DeleteCluster(ctx, &sdkecs.DeleteClusterInput{Cluster: aws.String("c")}); err != nil {
		t.Fatal(err)
	}
	if got := clusterNames(t, c, 3); !equal(got, []string{"a", "b", "d", "e"}) {
		t.Fatalf("listed %v", got)
	}
}

func createClusters(t *testing.T, c *sdkecs.Client, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := c.CreateCluster(testCtx(t), &sdkecs.CreateClusterInput{ClusterName: aws.String(n)}); err != nil {
			t.Fatal(err)
		}
	}
}

// clusterNames pages through ListClusters with the SDK's paginator and
// returns the one-letter names of the clusters listed.
func clusterNames(t *testing.T, c *sdkecs.Client, pageSize int32) []string {
	t.Helper()
	var got []string
	p := sdkecs.NewListClustersPaginator(c, &sdkecs.ListClustersInput{MaxResults: aws.Int32(pageSize)})
	for p.HasMorePages() {
		out, err := p.NextPage(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range out.ClusterArns {
			got = append(got, a[len(a)-1:])
		}
	}
	return got
}
