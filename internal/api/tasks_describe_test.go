package api_test

import (
	"slices"
	"sort"
	"strings"
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

func TestDescribeTasks(t *testing.T) {
	e := tkStart(t, "d")
	e.instance(t, "a", 4096, 4096)
	e.def(t, "job", "", tkContainer("c", 16, 16))
	out := e.run(t, &sdkecs.RunTaskInput{TaskDefinition: aws.String("job"), Count: aws.Int32(2)})
	a1, a2 := aws.ToString(out.Tasks[0].TaskArn), aws.ToString(out.Tasks[1].TaskArn)
	id2 := a2[strings.LastIndex(a2, "/")+1:]
	missingID := strings.Repeat("0", 32)
	otherCluster := e.arnPrefix() + "task/elsewhere/" + id2
	d, err := e.c.DescribeTasks(e.ctx, &sdkecs.DescribeTasksInput{Cluster: aws.String("d"),
		Tasks: []string{a1, id2, a2, missingID, otherCluster, "arn:aws:ecs:eu-west-1:1:task/d/" + id2}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, task := range d.Tasks {
		got = append(got, aws.ToString(task.TaskArn))
	}
	if !slices.Equal(got, []string{a1, a2}) {
		t.Errorf("described %v, want %v (a task named twice is described once)", got, []string{a1, a2})
	}
	var missing []string
	for _, f := range d.Failures {
		if aws.ToString(f.Reason) != "MISSING" {
			t.Errorf("failure %+v", f)
		}
		missing = append(missing, aws.ToString(f.Arn))
	}
	want := []string{e.arnPrefix() + "task/d/" + missingID, otherCluster, "arn:aws:ecs:eu-west-1:1:task/d/" + id2}
	if !slices.Equal(missing, want) {
		t.Errorf("missing %v, want %v", missing, want)
	}
	tests := []struct {
		name string
		in   sdkecs.DescribeTasksInput
		code string
		frag string
	}{
		{"no tasks", sdkecs.DescribeTasksInput{Tasks: []string{}}, "InvalidParameterException", "Tasks cannot be empty."},
		{"too many", sdkecs.DescribeTasksInput{Tasks: slices.Repeat([]string{"x"}, 101)}, "InvalidParameterException", "100"},
		{"unknown cluster", sdkecs.DescribeTasksInput{Cluster: aws.String("nope"), Tasks: []string{"x"}}, "ClusterNotFoundException", ""},
	}
	for _, tt := range tests {
		in := tt.in
		if in.Cluster == nil {
			in.Cluster = aws.String("d")
		}
		_, err := e.c.DescribeTasks(e.ctx, &in)
		wantAPIError(t, err, tt.code, tt.frag)
	}
}

func TestTaskWaiters(t *testing.T) {
	e := tkStart(t, "w")
	e.instance(t, "a", 4096, 4096)
	e.def(t, "job", "", tkContainer("c", 16, 16))
	out := e.run(t, &sdkecs.RunTaskInput{TaskDefinition: aws.String("job")})
	taskArn := aws.ToString(out.Tasks[0].TaskArn)
	in := &sdkecs.DescribeTasksInput{Cluster: aws.String("w"), Tasks: []string{taskArn}}
	fast := func(o *sdkecs.TasksRunningWaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 50*time.Millisecond
	}
	// The waiters read lastStatus and failures[].reason as ECS's do.
	e.setStatus(t, taskArn, ecs.TaskRunning, time.Now())
	if err := sdkecs.NewTasksRunningWaiter(e.c, fast).Wait(e.ctx, in, 10*time.Second); err != nil {
		t.Fatalf("tasks-running: %v", err)
	}
	if _, err := e.c.StopTask(e.ctx, &sdkecs.StopTaskInput{Cluster: aws.String("w"), Task: aws.String(taskArn)}); err != nil {
		t.Fatal(err)
	}
	e.setStatus(t, taskArn, ecs.TaskStopped, time.Now())
	stopFast := func(o *sdkecs.TasksStoppedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 50*time.Millisecond
	}
	if err := sdkecs.NewTasksStoppedWaiter(e.c, stopFast).Wait(e.ctx, in, 10*time.Second); err != nil {
		t.Fatalf("tasks-stopped: %v", err)
	}
	// tasks-running gives up on a task that does not exist (MISSING).
	missing := &sdkecs.DescribeTasksInput{Cluster: aws.String("w"), Tasks: []string{strings.Repeat("f", 32)}}
	if err := sdkecs.NewTasksRunningWaiter(e.c, fast).Wait(e.ctx, missing, 5*time.Second); err == nil || !strings.Contains(err.Error(), "Failure") {
		t.Errorf("tasks-running on a missing task: %v", err)
	}
}

func TestListTasksFiltersAndPages(t *testing.T) {
	e := tkStart(t, "l")
	a := e.instance(t, "a", 8192, 8192)
	e.instance(t, "b", 8192, 8192)
	e.def(t, "web", "", tkContainer("c", 16, 16))
	e.def(t, "batch", "", tkContainer("c", 16, 16))
	arns := func(o *sdkecs.RunTaskOutput) []string {
		var out []string
		for _, task := range o.Tasks {
			out = append(out, aws.ToString(task.TaskArn))
		}
		return out
	}
	web := arns(e.run(t, &sdkecs.RunTaskInput{TaskDefinition: aws.String("web"), Count: aws.Int32(5), StartedBy: aws.String("deployer")}))
	batch := arns(e.run(t, &sdkecs.RunTaskInput{TaskDefinition: aws.String("batch"), Count: aws.Int32(2)}))
	onA, err := e.c.StartTask(e.ctx, &sdkecs.StartTaskInput{Cluster: aws.String("l"), TaskDefinition: aws.String("batch"), ContainerInstances: []string{a.ARN}})
	if err != nil {
		t.Fatal(err)
	}
	stopped := batch[0]
	if _, err := e.c.StopTask(e.ctx, &sdkecs.StopTaskInput{Cluster: aws.String("l"), Task: aws.String(stopped)}); err != nil {
		t.Fatal(err)
	}
	all := append(append(slices.Clone(web), batch...), aws.ToString(onA.Tasks[0].TaskArn))
	running := slices.DeleteFunc(slices.Clone(all), func(s string) bool { return s == stopped })
	var runningOnA []string
	for _, arn := range running {
		if e.stored(t, arn).ContainerInstanceID == "a" {
			runningOnA = append(runningOnA, arn)
		}
	}
	tests := []struct {
		name string
		in   sdkecs.ListTasksInput
		want []string
	}{
		{"default RUNNING", sdkecs.ListTasksInput{}, running},
		{"family", sdkecs.ListTasksInput{Family: aws.String("web")}, web},
		{"startedBy", sdkecs.ListTasksInput{StartedBy: aws.String("deployer")}, web},
		{"STOPPED", sdkecs.ListTasksInput{DesiredStatus: types.DesiredStatusStopped}, []string{stopped}},
		{"PENDING is never desired", sdkecs.ListTasksInput{DesiredStatus: types.DesiredStatusPending}, nil},
		{"container instance by id", sdkecs.ListTasksInput{ContainerInstance: aws.String("a")}, runningOnA},
		{"container instance by ARN", sdkecs.ListTasksInput{ContainerInstance: aws.String(a.ARN)}, runningOnA},
		{"launch type", sdkecs.ListTasksInput{LaunchType: types.LaunchTypeEc2}, running},
		{"other launch type", sdkecs.ListTasksInput{LaunchType: types.LaunchTypeExternal}, nil},
		{"service", sdkecs.ListTasksInput{ServiceName: aws.String("svc")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.Cluster = aws.String("l")
			var got []string
			p := sdkecs.NewListTasksPaginator(e.c, &in, func(o *sdkecs.ListTasksPaginatorOptions) { o.Limit = 2 })
			pages := 0
			for p.HasMorePages() {
				page, err := p.NextPage(e.ctx)
				if err != nil {
					t.Fatal(err)
				}
				if len(page.TaskArns) > 2 {
					t.Fatalf("page of %d with maxResults 2", len(page.TaskArns))
				}
				got = append(got, page.TaskArns...)
				pages++
			}
			sort.Strings(got)
			want := slices.Clone(tt.want)
			sort.Strings(want)
			if !slices.Equal(got, want) {
				t.Errorf("listed %v, want %v", got, want)
			}
			if wantPages := max(1, (len(want)+1)/2); pages != wantPages {
				t.Errorf("%d pages for %d tasks", pages, len(want))
			}
		})
	}
	bad := []struct {
		name string
		in   sdkecs.ListTasksInput
		code string
		frag string
	}{
		{"maxResults", sdkecs.ListTasksInput{MaxResults: aws.Int32(101)}, "InvalidParameterException", "maxResults"},
		{"token of another listing", sdkecs.ListTasksInput{NextToken: aws.String("L2NsdXN0ZXJzLw")}, "InvalidParameterException", "nextToken"},
		{"desiredStatus", sdkecs.ListTasksInput{DesiredStatus: "DONE"}, "InvalidParameterException", "desiredStatus"},
		{"launchType", sdkecs.ListTasksInput{LaunchType: "MOON"}, "InvalidParameterException", "launchType"},
		{"instance of another cluster", sdkecs.ListTasksInput{ContainerInstance: aws.String(e.arnPrefix() + "container-instance/x/a")}, "InvalidParameterException", "containerInstance"},
		{"unknown cluster", sdkecs.ListTasksInput{Cluster: aws.String("nope")}, "ClusterNotFoundException", ""},
	}
	for _, tt := range bad {
		in := tt.in
		if in.Cluster == nil {
			in.Cluster = aws.String("l")
		}
		_, err := e.c.ListTasks(e.ctx, &in)
		wantAPIError(t, err, tt.code, tt.frag)
	}
}

func TestStopTask(t *testing.T) {
	e := tkStart(t, "s")
	e.instance(t, "a", 4096, 4096)
	e.def(t, "job", "", tkContainer("c", 16, 16))
	out := e.run(t, &sdkecs.RunTaskInput{TaskDefinition: aws.String("job"), Count: aws.Int32(3)})
	t1, t2, t3 := aws.ToString(out.Tasks[0].TaskArn), aws.ToString(out.Tasks[1].TaskArn), aws.ToString(out.Tasks[2].TaskArn)
	e.setStatus(t, t1, ecs.TaskRunning, time.Now())

	s, err := e.c.StopTask(e.ctx, &sdkecs.StopTaskInput{Cluster: aws.String("s"), Task: aws.String(t1)})
	if err != nil {
		t.Fatal(err)
	}
	task := s.Task
	if aws.ToString(task.DesiredStatus) != "STOPPED" || aws.ToString(task.LastStatus) != "RUNNING" || task.StopCode != types.TaskStopCodeUserInitiated ||
		aws.ToString(task.StoppedReason) != "Task stopped by user" || task.StoppingAt == nil || task.Version != 3 {
		t.Errorf("stopped task %+v", task)
	}
	if rec := e.stored(t, t1); rec.Seq != 2 {
		t.Errorf("seq after stop = %d, want 2 (the agent channel pushes on it)", rec.Seq)
	}
	// Stopping again changes nothing.
	again, err := e.c.StopTask(e.ctx, &sdkecs.StopTaskInput{Cluster: aws.String("s"), Task: aws.String(t1), Reason: aws.String("other")})
	if err != nil || again.Task.Version != 3 || aws.ToString(again.Task.StoppedReason) != "Task stopped by user" {
		t.Errorf("second stop: %+v %v", again, err)
	}
	// A reason given is kept; the task may be named by id.
	id2 := t2[strings.LastIndex(t2, "/")+1:]
	s2, err := e.c.StopTask(e.ctx, &sdkecs.StopTaskInput{Cluster: aws.String("s"), Task: aws.String(id2), Reason: aws.String("maintenance")})
	if err != nil || aws.ToString(s2.Task.StoppedReason) != "maintenance" {
		t.Errorf("stop with reason: %+v %v", s2, err)
	}
	// A stopped task is returned as it is.
	e.setStatus(t, t3, ecs.TaskStopped, time.Now())
	s3, err := e.c.StopTask(e.ctx, &sdkecs.StopTaskInput{Cluster: aws.String("s"), Task: aws.String(t3)})
	if err != nil || aws.ToString(s3.Task.LastStatus) != "STOPPED" || s3.Task.StopCode != "" {
		t.Errorf("stop of a stopped task: %+v %v", s3, err)
	}
	tests := []struct {
		name string
		in   sdkecs.StopTaskInput
		code string
		frag string
	}{
		{"unknown task", sdkecs.StopTaskInput{Task: aws.String(strings.Repeat("a", 32))}, "InvalidParameterException", "The referenced task was not found"},
		{"task of another cluster", sdkecs.StopTaskInput{Task: aws.String(e.arnPrefix() + "task/x/" + id2)}, "InvalidParameterException", "The referenced task was not found"},
		{"reason too long", sdkecs.StopTaskInput{Task: aws.String(t2), Reason: aws.String(strings.Repeat("r", 256))}, "InvalidParameterException", "reason"},
		{"unknown cluster", sdkecs.StopTaskInput{Cluster: aws.String("nope"), Task: aws.String(t2)}, "ClusterNotFoundException", ""},
	}
	for _, tt := range tests {
		in := tt.in
		if in.Cluster == nil {
			in.Cluster = aws.String("s")
		}
		_, err := e.c.StopTask(e.ctx, &in)
		wantAPIError(t, err, tt.code, tt.frag)
	}
}

func TestSweepStoppedTasks(t *testing.T) {
	e := tkStart(t, "sw")
	e.instance(t, "a", 4096, 4096)
	e.def(t, "job", "", tkContainer("c", 16, 16))
	out := e.run(t, &sdkecs.RunTaskInput{TaskDefinition: aws.String("job"), Count: aws.Int32(4), ClientToken: aws.String("tok")})
	old, recent, stopping := aws.ToString(out.Tasks[0].TaskArn), aws.ToString(out.Tasks[1].TaskArn), aws.ToString(out.Tasks[2].TaskArn)
	now := time.Now()
	e.setStatus(t, old, ecs.TaskStopped, now.Add(-2*time.Hour))
	e.setStatus(t, recent, ecs.TaskStopped, now.Add(-10*time.Minute))
	if _, err := e.c.StopTask(e.ctx, &sdkecs.StopTaskInput{Cluster: aws.String("sw"), Task: aws.String(stopping)}); err != nil {
		t.Fatal(err)
	}
	h := api.New(api.Config{Store: e.srv.Store(), Namer: arn.Namer{Region: e.srv.Config.Region, Account: e.srv.Config.Account}})
	n, err := h.SweepStoppedTasks(e.ctx, now, time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("sweep deleted %d, err %v; want the one task stopped two hours ago", n, err)
	}
	d, err := e.c.DescribeTasks(e.ctx, &sdkecs.DescribeTasksInput{Cluster: aws.String("sw"), Tasks: []string{old, recent, stopping}})
	if err != nil || len(d.Tasks) != 2 || len(d.Failures) != 1 || aws.ToString(d.Failures[0].Arn) != old {
		t.Fatalf("after the sweep: %+v %v", d, err)
	}
	// Two hours on, the other stopped task goes too, and so does the
	// expired clientToken; the task still stopping (last status not
	// STOPPED) stays.
	if n, err := h.SweepStoppedTasks(e.ctx, now.Add(2*time.Hour), time.Hour); err != nil || n != 1 {
		t.Fatalf("second sweep deleted %d, err %v", n, err)
	}
	kvs, _, err := e.srv.Store().List(e.ctx, "/task-tokens/", store.ListOptions{})
	if err != nil || len(kvs) != 0 {
		t.Errorf("client tokens after expiry: %d %v", len(kvs), err)
	}
	recs, err := state.List[ecs.Task](e.ctx, e.srv.Store(), state.TasksPrefix("sw"), store.ListOptions{})
	if err != nil || len(recs) != 2 {
		t.Errorf("tasks left: %d %v", len(recs), err)
	}
}
