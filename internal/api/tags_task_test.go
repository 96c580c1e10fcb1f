package api_test

import (
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/berth/berth/internal/api"
	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/ecs/arn"
	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
)

// ttStart runs one task, tagged team=ops and with the ECS managed tag, on
// a fake instance of a fresh cluster.
func ttStart(t *testing.T, cluster string) (*tkEnv, string) {
	t.Helper()
	e := tkStart(t, cluster)
	e.instance(t, "a", 4096, 4096)
	e.def(t, "job", "", tkContainer("c", 16, 16))
	out := e.run(t, &sdkecs.RunTaskInput{TaskDefinition: aws.String("job"), EnableECSManagedTags: true,
		Tags: []types.Tag{tag("team", "ops")}})
	return e, aws.ToString(out.Tasks[0].TaskArn)
}

// ttListed returns a resource's tags as ListTagsForResource shows them.
func (e *tkEnv) ttListed(t *testing.T, resourceArn string) map[string]string {
	t.Helper()
	l, err := e.c.ListTagsForResource(e.ctx, &sdkecs.ListTagsForResourceInput{ResourceArn: aws.String(resourceArn)})
	if err != nil {
		t.Fatalf("ListTagsForResource: %v", err)
	}
	return tagMap(l.Tags)
}

// ttDescribed returns a task's tags as DescribeTasks shows them with
// include TAGS, and checks that it shows none without.
func (e *tkEnv) ttDescribed(t *testing.T, taskArn string) map[string]string {
	t.Helper()
	plain, err := e.c.DescribeTasks(e.ctx, &sdkecs.DescribeTasksInput{Cluster: aws.String(e.cluster), Tasks: []string{taskArn}})
	if err != nil || len(plain.Tasks) != 1 {
		t.Fatalf("DescribeTasks: %+v %v", plain, err)
	}
	if len(plain.Tasks[0].Tags) != 0 {
		t.Errorf("DescribeTasks without include TAGS shows tags %v", tagMap(plain.Tasks[0].Tags))
	}
	d, err := e.c.DescribeTasks(e.ctx, &sdkecs.DescribeTasksInput{Cluster: aws.String(e.cluster), Tasks: []string{taskArn},
		Include: []types.TaskField{types.TaskFieldTags}})
	if err != nil || len(d.Tasks) != 1 {
		t.Fatalf("DescribeTasks include TAGS: %+v %v", d, err)
	}
	return tagMap(d.Tasks[0].Tags)
}

func TestTaskTagging(t *testing.T) {
	e, task := ttStart(t, "tt")
	before := e.stored(t, task)
	const managed = "aws:ecs:clusterName"
	var fill []types.Tag
	var fillKeys []string
	for i := range ecs.MaxTagsPerResource - 1 {
		k := fmt.Sprintf("u%02d", i)
		fill, fillKeys = append(fill, tag(k, "v")), append(fillKeys, k)
	}
	full := map[string]string{"team": "dev", managed: "tt"}
	for _, k := range fillKeys {
		full[k] = "v"
	}
	steps := []struct {
		name       string
		tag        []types.Tag // TagResource when set
		untag      []string    // UntagResource when set
		code, frag string      // the error expected, if any
		want       map[string]string
	}{
		{name: "tag adds and overwrites", tag: []types.Tag{tag("b", "2"), tag("team", "dev")},
			want: map[string]string{"team": "dev", "b": "2", managed: "tt"}},
		{name: "untag ignores keys never there", untag: []string{"b", "never-there"},
			want: map[string]string{"team": "dev", managed: "tt"}},
		{name: "reserved key refused", tag: []types.Tag{tag("aws:owner", "x")}, code: "InvalidParameterException", frag: "aws:",
			want: map[string]string{"team": "dev", managed: "tt"}},
		{name: "managed tag cannot be removed", untag: []string{managed}, code: "InvalidParameterException", frag: "aws:",
			want: map[string]string{"team": "dev", managed: "tt"}},
		{name: "managed tag not counted in the 50", tag: fill, want: full},
		{name: "51st user tag refused", tag: []types.Tag{tag("one-more", "x")}, code: "InvalidParameterException", frag: "50", want: full},
		{name: "overwrite at the limit", tag: []types.Tag{tag("u00", "w")}, want: func() map[string]string {
			m := maps.Clone(full)
			m["u00"] = "w"
			return m
		}()},
		{name: "untag many", untag: fillKeys, want: map[string]string{"team": "dev", managed: "tt"}},
		{name: "bad key refused", untag: []string{"bad#key"}, code: "InvalidParameterException", frag: "bad#key",
			want: map[string]string{"team": "dev", managed: "tt"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			var err error
			if st.tag != nil {
				_, err = e.c.TagResource(e.ctx, &sdkecs.TagResourceInput{ResourceArn: aws.String(task), Tags: st.tag})
			} else {
				_, err = e.c.UntagResource(e.ctx, &sdkecs.UntagResourceInput{ResourceArn: aws.String(task), TagKeys: st.untag})
			}
			if st.code != "" {
				wantAPIError(t, err, st.code, st.frag)
			} else if err != nil {
				t.Fatal(err)
			}
			if got := e.ttListed(t, task); !maps.Equal(got, st.want) {
				t.Errorf("ListTagsForResource = %v, want %v", got, st.want)
			}
			if got := e.ttDescribed(t, task); !maps.Equal(got, st.want) {
				t.Errorf("DescribeTasks include TAGS = %v, want %v", got, st.want)
			}
		})
	}
	// Tags are nothing to the agent nor a state change: neither the
	// agent's seq nor the task's version moved.
	if after := e.stored(t, task); after.Seq != before.Seq || after.Version != before.Version || after.LastStatus != before.LastStatus {
		t.Errorf("tagging changed seq/version/status: before %d/%d/%v, after %d/%d/%v",
			before.Seq, before.Version, before.LastStatus, after.Seq, after.Version, after.LastStatus)
	}
}

func TestTaskTaggingStoppedTask(t *testing.T) {
	e, task := ttStart(t, "ts")
	stoppedAt := time.Now()
	e.setStatus(t, task, ecs.TaskStopped, stoppedAt)
	version := e.stored(t, task).Version
	if _, err := e.c.TagResource(e.ctx, &sdkecs.TagResourceInput{ResourceArn: aws.String(task), Tags: []types.Tag{tag("post", "mortem")}}); err != nil {
		t.Fatalf("tagging a STOPPED task: %v", err)
	}
	want := map[string]string{"team": "ops", "post": "mortem", "aws:ecs:clusterName": "ts"}
	if got := e.ttDescribed(t, task); !maps.Equal(got, want) {
		t.Errorf("stopped task tags %v, want %v", got, want)
	}
	if got := e.stored(t, task); got.Version != version || got.LastStatus != ecs.TaskStopped {
		t.Errorf("tagging the stopped task changed it: version %d (was %d), status %v", got.Version, version, got.LastStatus)
	}
	// Once the retention sweeper has deleted it, the task is gone for
	// tagging as for DescribeTasks.
	h := api.New(api.Config{Store: e.srv.Store(), Namer: arn.Namer{Region: e.srv.Config.Region, Account: e.srv.Config.Account}})
	if n, err := h.SweepStoppedTasks(e.ctx, stoppedAt.Add(2*time.Hour), time.Hour); err != nil || n != 1 {
		t.Fatalf("sweep deleted %d, err %v", n, err)
	}
	_, err := e.c.ListTagsForResource(e.ctx, &sdkecs.ListTagsForResourceInput{ResourceArn: aws.String(task)})
	wantAPIError(t, err, "ResourceNotFoundException", task)
}

func TestTaskTaggingErrors(t *testing.T) {
	e, task := ttStart(t, "te")
	id := task[strings.LastIndex(task, "/")+1:]
	for _, name := range []string{"other", "gone"} {
		if _, err := e.c.CreateCluster(e.ctx, &sdkecs.CreateClusterInput{ClusterName: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
	}
	// A stopped task left in a cluster that was then deleted: DescribeTasks
	// no longer shows it (the cluster is not found), nor does tagging.
	gone := ecs.Task{ID: id, ARN: e.arnPrefix() + "task/gone/" + id, Cluster: "gone", LastStatus: ecs.TaskStopped,
		DesiredStatus: ecs.TaskStopped, CreatedAt: time.Now(), Version: 1, Seq: 1, Tags: []ecs.Tag{{Key: "k", Value: "v"}}}
	put, err := state.PutOp(state.TaskKey("gone", id), gone, store.ExpectAbsent)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.Store().Txn(e.ctx, put); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.DeleteCluster(e.ctx, &sdkecs.DeleteClusterInput{Cluster: aws.String("gone")}); err != nil {
		t.Fatal(err)
	}
	unknown := e.arnPrefix() + "task/te/0123456789abcdef0123456789abcdef"
	tests := []struct {
		name, arn, code, frag string
	}{
		{"unknown task", unknown, "ResourceNotFoundException", unknown},
		{"task id in another cluster", e.arnPrefix() + "task/other/" + id, "ResourceNotFoundException", "task/other/" + id},
		{"unknown cluster", e.arnPrefix() + "task/ghost/" + id, "ClusterNotFoundException", ""},
		{"deleted cluster", gone.ARN, "ClusterNotFoundException", ""},
		{"legacy short ARN", e.arnPrefix() + "task/" + id, "InvalidParameterException", "long ARN"},
		{"extra path part", task + "/x", "InvalidParameterException", "resourceArn"},
		{"other region", "arn:aws:ecs:eu-west-1:" + e.srv.Config.Account + ":task/te/" + id, "ResourceNotFoundException", ""},
		{"other service", "arn:aws:s3:" + e.srv.Config.Region + ":" + e.srv.Config.Account + ":task/te/" + id, "InvalidParameterException", "resourceArn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.c.TagResource(e.ctx, &sdkecs.TagResourceInput{ResourceArn: aws.String(tt.arn), Tags: []types.Tag{tag("a", "1")}})
			wantAPIError(t, err, tt.code, tt.frag)
			_, err = e.c.UntagResource(e.ctx, &sdkecs.UntagResourceInput{ResourceArn: aws.String(tt.arn), TagKeys: []string{"team"}})
			wantAPIError(t, err, tt.code, tt.frag)
			_, err = e.c.ListTagsForResource(e.ctx, &sdkecs.ListTagsForResourceInput{ResourceArn: aws.String(tt.arn)})
			wantAPIError(t, err, tt.code, tt.frag)
		})
	}
	// Nothing above touched the real task.
	want := map[string]string{"team": "ops", "aws:ecs:clusterName": "te"}
	if got := e.ttListed(t, task); !maps.Equal(got, want) {
		t.Errorf("task tags %v, want %v", got, want)
	}
}

// TestTaskTagsAndAgentStateChange interleaves tagging with the state
// changes a real agent credential reports.
func TestTaskTagsAndAgentStateChange(t *testing.T) {
	e := scSetup(t)
	ctx := testCtx(t)
	if _, err := e.admin.TagResource(ctx, &sdkecs.TagResourceInput{ResourceArn: aws.String(e.taskARN), Tags: []types.Tag{tag("a", "1")}}); err != nil {
		t.Fatal(err)
	}
	if got := ciGetTask(t, e.srv, "sc", "t1"); got.Version != 1 || got.Seq != 1 {
		t.Fatalf("tagging moved version/seq: %d/%d", got.Version, got.Seq)
	}
	if _, err := e.agent.SubmitTaskStateChange(ctx, &sdkecs.SubmitTaskStateChangeInput{Cluster: aws.String("sc"), Task: aws.String(e.taskARN),
		Status: aws.String("RUNNING")}); err != nil {
		t.Fatal(err)
	}
	got := ciGetTask(t, e.srv, "sc", "t1")
	if got.LastStatus != ecs.TaskRunning || got.Version != 2 || len(got.Tags) != 1 || got.Tags[0] != (ecs.Tag{Key: "a", Value: "1"}) {
		t.Fatalf("after RUNNING: status %v version %d tags %v", got.LastStatus, got.Version, got.Tags)
	}
	if _, err := e.admin.UntagResource(ctx, &sdkecs.UntagResourceInput{ResourceArn: aws.String(e.taskARN), TagKeys: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	got = ciGetTask(t, e.srv, "sc", "t1")
	if got.LastStatus != ecs.TaskRunning || got.Version != 2 || got.Seq != 1 || len(got.Tags) != 0 {
		t.Fatalf("after untag: status %v version %d seq %d tags %v", got.LastStatus, got.Version, got.Seq, got.Tags)
	}
}

// TestTaskTagsConcurrentWithStateChanges races TagResource calls against
// state changes written as SubmitAttachmentStateChanges writes tasks: a
// compare-and-swap outside state.Update's per-key lock, so that the two
// kinds of writers really do fail each other's swaps. Neither may lose
// the other's change.
func TestTaskTagsConcurrentWithStateChanges(t *testing.T) {
	e, task := ttStart(t, "tc")
	before := e.stored(t, task)
	key := state.TaskKey("tc", before.ID)
	const taggers, writers = 12, 4
	start, tagged := make(chan struct{}), make(chan struct{})
	errs := make(chan error, taggers+writers)
	var wrote atomic.Int64
	var tg, wg sync.WaitGroup
	for i := range taggers {
		tg.Go(func() {
			<-start
			_, err := e.c.TagResource(e.ctx, &sdkecs.TagResourceInput{ResourceArn: aws.String(task),
				Tags: []types.Tag{tag(fmt.Sprintf("k%02d", i), "v")}})
			errs <- err
		})
	}
	// The state writers keep going until every TagResource has returned,
	// so that the two overlap throughout.
	for range writers {
		wg.Go(func() {
			<-start
			for {
				select {
				case <-tagged:
					return
				default:
				}
				err := state.Retry(e.ctx, func() error {
					cur, rev, err := state.Get[ecs.Task](e.ctx, e.srv.Store(), key)
					if err != nil {
						return err
					}
					cur.Version++
					op, err := state.PutOp(key, cur, rev)
					if err != nil {
						return err
					}
					_, err = e.srv.Store().Txn(e.ctx, op)
					return err
				})
				if err != nil {
					errs <- err
					return
				}
				wrote.Add(1)
			}
		})
	}
	close(start)
	tg.Wait()
	close(tagged)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	after := e.stored(t, task)
	if want := before.Version + wrote.Load(); after.Version != want {
		t.Errorf("version %d, want %d: a state change was lost", after.Version, want)
	}
	got := tagMap(nil)
	for _, kv := range after.Tags {
		got[kv.Key] = kv.Value
	}
	for i := range taggers {
		if k := fmt.Sprintf("k%02d", i); got[k] != "v" {
			t.Errorf("tag %s lost; tags %v", k, got)
		}
	}
	if after.Seq != before.Seq {
		t.Errorf("seq %d, want %d", after.Seq, before.Seq)
	}
}
