package ecs

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// reportedTask is a task as RunTask leaves it: PENDING, desired RUNNING,
// two containers and an awsvpc attachment.
func reportedTask() Task {
	return Task{ID: "t1", ARN: "arn:aws:ecs:r:a:task/c/t1", Cluster: "c", ContainerInstanceID: "i1",
		LastStatus: TaskPending, DesiredStatus: TaskRunning, Version: 1, Seq: 1,
		Containers:  []TaskContainer{{Name: "app", LastStatus: ContainerPending}, {Name: "side", LastStatus: ContainerPending}},
		Attachments: []Attachment{{ID: "att-1", Type: AttachmentTypeENI, Status: AttachmentStatusPrecreated}}}
}

func TestApplyTaskReport(t *testing.T) {
	t0 := time.Unix(1700000000, 0).UTC()
	now := t0.Add(time.Minute)
	exec := t0.Add(30 * time.Second)
	running := func() Task {
		tk := reportedTask()
		tk.LastStatus, tk.StartedAt, tk.ConnectivityAt = TaskRunning, t0, t0
		tk.Containers[0].LastStatus, tk.Containers[1].LastStatus = ContainerRunning, ContainerRunning
		return tk
	}
	tests := []struct {
		name    string
		task    func() Task
		report  TaskReport
		changed bool
		check   func(t *testing.T, tk *Task)
		errFrag string
	}{
		{"first RUNNING sets startedAt", reportedTask, TaskReport{Status: TaskRunning, PullStartedAt: t0, PullStoppedAt: t0.Add(time.Second),
			Containers: []ContainerReport{{Name: "app", Status: "RUNNING", RuntimeID: "ctr-1",
				NetworkBindings: []NetworkBinding{{BindIP: "0.0.0.0", ContainerPort: 80, HostPort: 49153, Protocol: "tcp"}}}}}, true,
			func(t *testing.T, tk *Task) {
				if tk.LastStatus != TaskRunning || !tk.StartedAt.Equal(now) || !tk.ConnectivityAt.Equal(now) || tk.Version != 2 ||
					!tk.PullStartedAt.Equal(t0) || tk.Containers[0].LastStatus != ContainerRunning || tk.Containers[0].RuntimeID != "ctr-1" ||
					len(tk.Containers[0].NetworkBindings) != 1 || tk.Containers[1].LastStatus != ContainerPending || tk.Seq != 1 {
					t.Errorf("%+v", tk)
				}
			}, ""},
		{"duplicate RUNNING changes nothing", running, TaskReport{Status: TaskRunning,
			Containers: []ContainerReport{{Name: "app", Status: "RUNNING"}}}, false, nil, ""},
		{"backwards PENDING ignored", running, TaskReport{Status: TaskPending,
			Containers: []ContainerReport{{Name: "app", Status: "PENDING", RuntimeID: "stale"}}}, false,
			func(t *testing.T, tk *Task) {
				if tk.LastStatus != TaskRunning || tk.Containers[0].RuntimeID != "" {
					t.Errorf("%+v", tk)
				}
			}, ""},
		{"STOPPED after RUNNING: essential container exited", running, TaskReport{Status: TaskStopped, ExecutionStoppedAt: exec,
			Containers: []ContainerReport{{Name: "app", Status: "STOPPED", ExitCode: ptr(2)}}}, true,
			func(t *testing.T, tk *Task) {
				if tk.LastStatus != TaskStopped || tk.DesiredStatus != TaskStopped || tk.Seq != 2 || !tk.StoppedAt.Equal(now) ||
					!tk.ExecutionStoppedAt.Equal(exec) || !tk.StoppingAt.Equal(now) || tk.StopCode != StopCodeEssentialContainerExited ||
					tk.StoppedReason != StoppedReasonEssentialExited || *tk.Containers[0].ExitCode != 2 ||
					tk.Containers[1].LastStatus != ContainerStopped || !tk.StartedAt.Equal(t0) {
					t.Errorf("%+v", tk)
				}
			}, ""},
		{"STOPPED before RUNNING: failed to start", reportedTask, TaskReport{Status: TaskStopped, Reason: "CannotPullContainerError: no such image"}, true,
			func(t *testing.T, tk *Task) {
				if tk.StopCode != StopCodeTaskFailedToStart || tk.StoppedReason != "CannotPullContainerError: no such image" ||
					!tk.ExecutionStoppedAt.Equal(now) || !tk.StartedAt.IsZero() {
					t.Errorf("%+v", tk)
				}
			}, ""},
		{"STOPPED straight from PENDING with an exit code: it ran", reportedTask, TaskReport{Status: TaskStopped,
			Containers: []ContainerReport{{Name: "app", Status: "STOPPED", ExitCode: ptr(0)}}}, true,
			func(t *testing.T, tk *Task) {
				if tk.StopCode != StopCodeEssentialContainerExited {
					t.Errorf("stopCode %q", tk.StopCode)
				}
			}, ""},
		{"user stop keeps its code, reason and desired seq", func() Task {
			tk := running()
			tk.DesiredStatus, tk.StopCode, tk.StoppedReason, tk.StoppingAt, tk.Seq = TaskStopped, StopCodeUserInitiated, "bye", t0, 2
			return tk
		}, TaskReport{Status: TaskStopped, Reason: "exited"}, true,
			func(t *testing.T, tk *Task) {
				if tk.StopCode != StopCodeUserInitiated || tk.StoppedReason != "bye" || tk.Seq != 2 || !tk.StoppingAt.Equal(t0) {
					t.Errorf("%+v", tk)
				}
			}, ""},
		{"report after STOPPED ignored", func() Task {
			tk := running()
			tk.LastStatus, tk.DesiredStatus = TaskStopped, TaskStopped
			tk.Containers[0].LastStatus, tk.Containers[1].LastStatus = ContainerStopped, ContainerStopped
			return tk
		}, TaskReport{Status: TaskRunning, Containers: []ContainerReport{{Name: "app", Status: "RUNNING", ExitCode: ptr(1)}}}, false, nil, ""},
		{"container-only report", running, TaskReport{Containers: []ContainerReport{{Name: "side", Status: "STOPPED", ExitCode: ptr(137), Reason: "OOM"}}}, true,
			func(t *testing.T, tk *Task) {
				if tk.LastStatus != TaskRunning || tk.Containers[1].LastStatus != ContainerStopped || *tk.Containers[1].ExitCode != 137 ||
					tk.Containers[1].Reason != "OOM" || tk.Version != 2 {
					t.Errorf("%+v", tk)
				}
			}, ""},
		{"same status, new exit code applies", func() Task {
			tk := running()
			tk.Containers[1].LastStatus = ContainerStopped
			return tk
		}, TaskReport{Containers: []ContainerReport{{Name: "side", Status: "STOPPED", ExitCode: ptr(3)}}}, true, nil, ""},
		{"attachment forwards", reportedTask, TaskReport{Attachments: []AttachmentReport{{ID: "att-1", Status: "ATTACHED"}}}, true,
			func(t *testing.T, tk *Task) {
				if tk.Attachments[0].Status != AttachmentStatusAttached {
					t.Errorf("%+v", tk.Attachments)
				}
			}, ""},
		{"attachment backwards ignored", func() Task {
			tk := reportedTask()
			tk.Attachments[0].Status = "DETACHED"
			return tk
		}, TaskReport{Attachments: []AttachmentReport{{ID: "att-1", Status: "ATTACHED"}}}, false, nil, ""},
		{"pull times set once", func() Task {
			tk := reportedTask()
			tk.PullStartedAt = t0
			return tk
		}, TaskReport{PullStartedAt: now}, false, nil, ""},
		{"unknown container", reportedTask, TaskReport{Containers: []ContainerReport{{Name: "ghost", Status: "RUNNING"}}}, false, nil, `containers[0].containerName "ghost"`},
		{"container without name", reportedTask, TaskReport{Containers: []ContainerReport{{Status: "RUNNING"}}}, false, nil, "containers[0].containerName is required"},
		{"bad container status", reportedTask, TaskReport{Containers: []ContainerReport{{Name: "app", Status: "EXITED"}}}, false, nil, `containers[0].status "EXITED"`},
		{"unknown attachment", reportedTask, TaskReport{Attachments: []AttachmentReport{{ID: "att-9", Status: "ATTACHED"}}}, false, nil, `attachments[0].attachmentArn "att-9"`},
		{"bad attachment status", reportedTask, TaskReport{Attachments: []AttachmentReport{{ID: "att-1", Status: "GLUED"}}}, false, nil, `attachments[0].status "GLUED"`},
		{"PROVISIONING not reportable", reportedTask, TaskReport{Status: TaskProvisioning}, false, nil, "status PROVISIONING"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tk := tt.task()
			before := tk.Version
			changed, err := ApplyTaskReport(&tk, tt.report, now)
			if tt.errFrag != "" {
				if !errors.Is(err, ErrInvalidParameter) || !strings.Contains(err.Error(), tt.errFrag) {
					t.Fatalf("error %v, want InvalidParameter with %q", err, tt.errFrag)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if changed != tt.changed {
				t.Fatalf("changed = %v, want %v", changed, tt.changed)
			}
			if wantV := before + map[bool]int64{true: 1}[changed]; tk.Version != wantV {
				t.Errorf("version %d, want %d", tk.Version, wantV)
			}
			if tt.check != nil {
				tt.check(t, &tk)
			}
		})
	}
}

func TestApplyAttachmentStatus(t *testing.T) {
	tests := []struct {
		from, to string
		ok       bool
	}{
		{"PRECREATED", "ATTACHED", true},
		{"ATTACHED", "ATTACHED", false},
		{"ATTACHED", "ATTACHING", false},
		{"ATTACHED", "DELETED", true},
		{"ATTACHING", "FAILED", true},
		{"FAILED", "ATTACHED", false},
	}
	for _, tt := range tests {
		a := Attachment{Status: tt.from}
		if got := ApplyAttachmentStatus(&a, tt.to); got != tt.ok || (got && a.Status != tt.to) {
			t.Errorf("%s→%s: %v (%s)", tt.from, tt.to, got, a.Status)
		}
	}
}
