package service

import (
	"fmt"
	"testing"

	"github.com/berth/berth/internal/ecs"
)

// BenchmarkComputeRollingUpdate decides one step of a 10,000-task service
// halfway through a rolling update on 1,000 instances.
func BenchmarkComputeRollingUpdate(b *testing.B) {
	var cis []ecs.ContainerInstance
	for i := range 1000 {
		cis = append(cis, instances(fmt.Sprintf("ci-%04d", i))...)
	}
	var tasks []ecs.Task
	for i := range 10000 {
		dep := oldID
		if i%2 == 0 {
			dep = newID
		}
		tasks = append(tasks, running(fmt.Sprintf("t%05d", i), dep, cis[i%1000].ID))
	}
	in := Input{Service: replica(10000, 50, 150, primaryNew, oldActive), Tasks: taskPtrs(tasks), Instances: cis, Now: now}
	b.ReportAllocs()
	for b.Loop() {
		if r := Compute(in); len(r.Stop) == 0 {
			b.Fatal("no stops")
		}
	}
}

// BenchmarkComputeDaemon decides one step of a DAEMON service with a
// memberOf constraint over 1,000 instances.
func BenchmarkComputeDaemon(b *testing.B) {
	var cis []ecs.ContainerInstance
	var tasks []ecs.Task
	for i := range 1000 {
		ci := instances(fmt.Sprintf("ci-%04d", i))[0]
		ci.Attributes = []ecs.Attribute{{Name: "role", Value: []string{"web", "batch"}[i%2]}}
		cis = append(cis, ci)
		if i%4 == 0 { // half of the eligible (web) instances run the task
			tk := running(fmt.Sprintf("t%05d", i), oldID, ci.ID)
			tk.ServiceName = "agent"
			tasks = append(tasks, tk)
		}
	}
	svc := ecs.Service{Name: "agent", Status: ecs.ServiceActive, SchedulingStrategy: ecs.SchedulingDaemon,
		DeploymentConfiguration: ecs.DeploymentConfiguration{MaximumPercent: 100}, Deployments: []ecs.Deployment{primaryOld},
		PlacementConstraints: []ecs.PlacementConstraint{{Type: "memberOf", Expression: "attribute:role == web"}}}
	in := Input{Service: svc, Tasks: taskPtrs(tasks), Instances: cis, Now: now}
	b.ReportAllocs()
	for b.Loop() {
		if r := Compute(in); len(r.Start) == 0 {
			b.Fatal("no starts")
		}
	}
}
