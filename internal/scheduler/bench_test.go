package scheduler

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkPlace places 10 tasks over 1000 instances with a memberOf
// constraint, spread by zone then binpack on memory, and a dynamic port.
func BenchmarkPlace(b *testing.B) {
	zones := []string{"us-east-1a", "us-east-1b", "us-east-1c"}
	types := []string{"t2.small", "m5.large", "c5.xlarge"}
	instances := make([]Instance, 1000)
	for i := range instances {
		instances[i] = Instance{
			ID:             fmt.Sprintf("ci-%04d", i),
			ARN:            fmt.Sprintf("arn:aws:ecs:us-east-1:1:container-instance/c/ci-%04d", i),
			Status:         "ACTIVE",
			AgentConnected: true,
			CPU:            int64(256 + i%16*256),
			Memory:         int64(512 + i%32*256),
			Attributes: map[string]string{
				"ecs.availability-zone": zones[i%3],
				"ecs.instance-type":     types[i%len(types)],
			},
			UsedPorts: map[Port]bool{{Number: 22, Protocol: "tcp"}: true, {Number: 49153, Protocol: "tcp"}: true},
			Tasks:     []TaskInfo{{Group: "service:web", Status: "RUNNING"}, {Group: "service:db", Status: "RUNNING"}},
		}
	}
	req := Request{
		Count: 10, CPU: 256, Memory: 512, Group: "service:web",
		DynamicPorts: []string{"tcp"},
		Constraints:  []Constraint{{Type: ConstraintMemberOf, Expression: "attribute:ecs.instance-type =~ (t2|m5).* and not(task:group == service:cache)"}},
		Strategies:   []Strategy{{Type: StrategySpread, Field: "attribute:ecs.availability-zone"}, {Type: StrategyBinpack, Field: "memory"}},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	for b.Loop() {
		res, err := Place(instances, req, rng)
		if err != nil || len(res.Placements) != 10 {
			b.Fatalf("Place: %v, %d placements", err, len(res.Placements))
		}
	}
}

// BenchmarkPlaceOne places one task (RunTask's default strategy) over 1000
// instances of ten tasks each: the per-call cost of a RunTask.
func BenchmarkPlaceOne(b *testing.B) {
	instances := make([]Instance, 1000)
	for i := range instances {
		tasks := make([]TaskInfo, 10)
		for j := range tasks {
			tasks[j] = TaskInfo{Group: "service:web", Family: "web", Status: "RUNNING"}
		}
		instances[i] = Instance{
			ID:             fmt.Sprintf("%032x", i), // in ID order, as the control plane lists them
			ARN:            fmt.Sprintf("arn:aws:ecs:us-east-1:1:container-instance/c/%032x", i),
			Status:         "ACTIVE",
			AgentConnected: true,
			CPU:            4096 - 640,
			Memory:         8192 - 1280,
			Attributes:     map[string]string{"ecs.availability-zone": fmt.Sprintf("zone-%d", i%3), "ecs.os-type": "linux"},
			UsedPorts:      map[Port]bool{{Number: 22, Protocol: "tcp"}: true},
			Tasks:          tasks,
		}
	}
	req := Request{Count: 1, CPU: 64, Memory: 128, Group: "family:web"}
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	for b.Loop() {
		res, err := Place(instances, req, rng)
		if err != nil || len(res.Placements) != 1 {
			b.Fatalf("Place: %v, %d placements", err, len(res.Placements))
		}
	}
}
