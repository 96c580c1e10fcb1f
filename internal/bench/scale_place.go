package bench

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/berth/berth/internal/agent"
	"github.com/berth/berth/internal/scheduler"
)

// PlacementThroughput is the pure placement function's rate on one
// workload: Tasks placed in Calls calls of scheduler.Place, timed around
// the calls only (what the caller does with a result — consuming the
// instance's resources — is not timed).
type PlacementThroughput struct {
	Workload string
	Tasks    int
	Calls    int
	Duration time.Duration
}

// PerSecond is placements per second.
func (p PlacementThroughput) PerSecond() float64 { return Throughput(p.Tasks, p.Duration) }

// scaleServiceBatch is how many tasks one Place call gets in the service
// workload: what one controller pass asks for at most.
const scaleServiceBatch = 500

// measurePlacement times scheduler.Place over instances shaped like the
// simulated ones (same resources, attributes and zones): the service's
// tasks with the service strategies in controller-sized batches, then the
// RunTask tasks one per call with RunTask's default strategy, each on the
// state the previous placements left.
func measurePlacement(instances, serviceTasks, runTasks int) []PlacementThroughput {
	insts := scaleInstances(instances)
	rng := rand.New(rand.NewPCG(1, 2))
	var out []PlacementThroughput
	if serviceTasks > 0 {
		out = append(out, placeAll(insts, rng, fmt.Sprintf("service (spread zone, spread instance; %d per call)", scaleServiceBatch),
			serviceTasks, scaleServiceBatch, scheduler.Request{Group: "service:" + scaleService, CPU: scaleTaskCPU, Memory: scaleTaskMemory,
				Strategies: scheduler.DefaultServiceStrategies()}))
	}
	if runTasks > 0 {
		out = append(out, placeAll(insts, rng, "RunTask (default strategy; 1 per call)", runTasks, 1,
			scheduler.Request{Group: "family:" + scaleFamily, CPU: scaleTaskCPU, Memory: scaleTaskMemory}))
	}
	return out
}

// placeAll places n tasks in calls of at most batch, applying each result.
func placeAll(insts []scheduler.Instance, rng *rand.Rand, workload string, n, batch int, req scheduler.Request) PlacementThroughput {
	p := PlacementThroughput{Workload: workload}
	byID := make(map[string]int, len(insts))
	for i := range insts {
		byID[insts[i].ID] = i
	}
	for p.Tasks < n {
		req.Count = min(batch, n-p.Tasks)
		start := time.Now()
		res, err := scheduler.Place(insts, req, rng)
		p.Duration += time.Since(start)
		p.Calls++
		if err != nil || len(res.Placements) == 0 {
			break // full: report what was placed
		}
		for _, pl := range res.Placements {
			in := &insts[byID[pl.InstanceID]]
			in.CPU -= req.CPU
			in.Memory -= req.Memory
			in.Tasks = append(in.Tasks, scheduler.TaskInfo{Group: req.Group, Family: scaleFamily, Status: "RUNNING"})
		}
		p.Tasks += len(res.Placements)
	}
	return p
}

// scaleInstances builds n connected ACTIVE instances with the simulated
// agents' resources and attributes.
func scaleInstances(n int) []scheduler.Instance {
	out := make([]scheduler.Instance, n)
	now := time.Now()
	for i := range out {
		id := fmt.Sprintf("%032x", i+1)
		attrs := map[string]string{
			"ecs.os-type": "linux", "ecs.os-family": "LINUX", "ecs.cpu-architecture": "x86_64",
			"ecs.availability-zone": scaleZones[i%len(scaleZones)],
		}
		for _, c := range agent.Capabilities {
			attrs[c] = ""
		}
		out[i] = scheduler.Instance{
			ID: id, ARN: "arn:aws:ecs:us-east-1:000000000000:container-instance/" + scaleCluster + "/" + id,
			EC2InstanceID: fmt.Sprintf("i-%016x", i+1), Status: "ACTIVE", AgentConnected: true, AgentVersion: "simulated",
			RegisteredAt: now, Attributes: attrs, CPU: scaleCPUs * 1024, Memory: scaleMemoryMiB,
			UsedPorts: map[scheduler.Port]bool{{Number: 22, Protocol: "tcp"}: true},
		}
	}
	return out
}
