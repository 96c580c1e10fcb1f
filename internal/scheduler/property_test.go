package scheduler

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// randomCluster builds n instances with random capacity, ports, attributes,
// tasks and statuses.
func randomCluster(r *rand.Rand, n int) []Instance {
	zones := []string{"az-a", "az-b", "az-c"}
	out := make([]Instance, n)
	for i := range out {
		in := Instance{
			ID:             fmt.Sprintf("ci-%03d", i),
			ARN:            fmt.Sprintf("arn:aws:ecs:r:1:container-instance/c/ci-%03d", i),
			EC2InstanceID:  fmt.Sprintf("i-%08x", r.Uint32()),
			Status:         []string{"ACTIVE", "ACTIVE", "ACTIVE", "DRAINING"}[r.IntN(4)],
			AgentConnected: r.IntN(10) > 0,
			AgentVersion:   fmt.Sprintf("1.%d.%d", r.IntN(90), r.IntN(10)),
			RegisteredAt:   time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.IntN(1000)) * time.Hour),
			CPU:            int64(r.IntN(4097)),
			Memory:         int64(r.IntN(8193)),
			Attributes:     map[string]string{"ecs.availability-zone": zones[r.IntN(len(zones))]},
			UsedPorts:      map[Port]bool{},
		}
		if r.IntN(2) == 0 {
			in.Attributes["ecs.capability.x"] = ""
		}
		if r.IntN(3) == 0 {
			in.Attributes["pool"] = []string{"blue", "green"}[r.IntN(2)]
		}
		for range r.IntN(6) {
			in.UsedPorts[Port{Number: 49150 + r.IntN(20), Protocol: []string{"tcp", "udp"}[r.IntN(2)]}] = true
			in.UsedPorts[Port{Number: 80 + r.IntN(3), Protocol: "tcp"}] = true
		}
		for range r.IntN(4) {
			in.Tasks = append(in.Tasks, TaskInfo{Group: []string{"g1", "g2", "database"}[r.IntN(3)], Status: []string{"RUNNING", "PENDING"}[r.IntN(2)]})
		}
		out[i] = in
	}
	return out
}

func randomRequest(r *rand.Rand) Request {
	req := Request{
		Count:  1 + r.IntN(12),
		CPU:    int64(r.IntN(3)) * int64(r.IntN(1025)),
		Memory: int64(r.IntN(3)) * int64(r.IntN(2049)),
		Group:  []string{"g1", "g2"}[r.IntN(2)],
	}
	if r.IntN(3) == 0 {
		req.StaticPorts = []Port{{Number: 80 + r.IntN(3), Protocol: "tcp"}}
	}
	for range r.IntN(4) {
		req.DynamicPorts = append(req.DynamicPorts, []string{"tcp", "udp"}[r.IntN(2)])
	}
	if r.IntN(2) == 0 {
		req.DynamicPortRange = [2]int{49150, 49150 + r.IntN(25)}
	}
	if r.IntN(3) == 0 {
		req.RequiredAttributes = []string{"ecs.capability.x"}
	}
	exprs := []string{"attribute:pool == blue", "not(task:group == database)", "attribute:ecs.availability-zone != az-c", "agentVersion >= 1.40", "task:group !exists or runningTasksCount < 2"}
	for range r.IntN(3) {
		if r.IntN(3) == 0 {
			req.Constraints = append(req.Constraints, Constraint{Type: ConstraintDistinctInstance})
		} else {
			req.Constraints = append(req.Constraints, Constraint{Type: ConstraintMemberOf, Expression: exprs[r.IntN(len(exprs))]})
		}
	}
	strategies := []Strategy{
		{Type: StrategyBinpack, Field: "cpu"}, {Type: StrategyBinpack, Field: "memory"},
		{Type: StrategySpread, Field: "instanceId"}, {Type: StrategySpread, Field: "attribute:ecs.availability-zone"},
		{Type: StrategyRandom},
	}
	for range r.IntN(4) {
		req.Strategies = append(req.Strategies, strategies[r.IntN(len(strategies))])
	}
	return req
}

// TestPlaceNeverOvercommits places random requests on random clusters and
// checks every placement against the snapshot: capacity, ports, agent,
// attributes and constraints; and that unplaced tasks come with one failure
// per ACTIVE instance.
func TestPlaceNeverOvercommits(t *testing.T) {
	r := rand.New(rand.NewPCG(2024, 6))
	for iter := range 1500 {
		instances := randomCluster(r, 1+r.IntN(8))
		req := randomRequest(r)
		res, err := Place(instances, req, rand.New(rand.NewPCG(uint64(iter), 1)))
		if err == ErrNoContainerInstances {
			continue
		}
		if err != nil {
			t.Fatalf("iter %d: Place: %v", iter, err)
		}
		checkResult(t, fmt.Sprintf("iter %d", iter), instances, req, res)
	}
}

func checkResult(t *testing.T, name string, instances []Instance, req Request, res Result) {
	t.Helper()
	byID := map[string]*Instance{}
	active := 0
	for i := range instances {
		byID[instances[i].ID] = &instances[i]
		if instances[i].Status == "ACTIVE" {
			active++
		}
	}
	lo, hi := req.DynamicPortRange[0], req.DynamicPortRange[1]
	if lo == 0 && hi == 0 {
		lo, hi = DefaultDynamicPortRange[0], DefaultDynamicPortRange[1]
	}
	var exprs []*Expression
	distinct := false
	for _, c := range req.Constraints {
		if c.Type == ConstraintDistinctInstance {
			distinct = true
			continue
		}
		e, err := ParseExpression(c.Expression)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		exprs = append(exprs, e)
	}

	perInstance := map[string]int{}
	taken := map[string]map[Port]bool{}
	for _, p := range res.Placements {
		in := byID[p.InstanceID]
		if in == nil || in.Status != "ACTIVE" || !in.AgentConnected {
			t.Fatalf("%s: placed on unusable instance %+v", name, in)
		}
		perInstance[p.InstanceID]++
		for _, a := range req.RequiredAttributes {
			if _, ok := in.Attributes[a]; !ok {
				t.Fatalf("%s: placed on %s without required attribute %s", name, in.ID, a)
			}
		}
		if taken[in.ID] == nil {
			taken[in.ID] = map[Port]bool{}
		}
		ports := append([]Port(nil), req.StaticPorts...)
		if len(p.HostPorts) != len(req.DynamicPorts) {
			t.Fatalf("%s: %d host ports for %d dynamic ports", name, len(p.HostPorts), len(req.DynamicPorts))
		}
		for k, hp := range p.HostPorts {
			if hp < lo || hp > hi {
				t.Fatalf("%s: dynamic port %d outside %d-%d", name, hp, lo, hi)
			}
			ports = append(ports, Port{Number: hp, Protocol: req.DynamicPorts[k]})
		}
		for _, port := range ports {
			if in.UsedPorts[port] || taken[in.ID][port] {
				t.Fatalf("%s: port %v on %s given twice", name, port, in.ID)
			}
			taken[in.ID][port] = true
		}
	}
	for id, n := range perInstance {
		in := byID[id]
		if req.CPU > 0 && int64(n)*req.CPU > in.CPU {
			t.Fatalf("%s: %d tasks of cpu %d on %s with %d cpu", name, n, req.CPU, id, in.CPU)
		}
		if req.Memory > 0 && int64(n)*req.Memory > in.Memory {
			t.Fatalf("%s: %d tasks of memory %d on %s with %d memory", name, n, req.Memory, id, in.Memory)
		}
		if distinct {
			existing := 0
			for _, task := range in.Tasks {
				if task.Group == req.Group {
					existing++
				}
			}
			if n+existing > 1 {
				t.Fatalf("%s: distinctInstance broken on %s: %d placed, %d existing", name, id, n, existing)
			}
		}
		// Constraints hold for the first task on the instance (later ones
		// see more tasks, which only task:group expressions look at).
		for _, e := range exprs {
			if !e.usesTasks() && !e.Match(in) {
				t.Fatalf("%s: %s placed on %s which fails %q", name, req.Group, id, e)
			}
		}
	}
	if len(res.Placements) < req.Count {
		if len(res.Failures) != active {
			t.Fatalf("%s: %d of %d placed, %d failures for %d active instances", name, len(res.Placements), req.Count, len(res.Failures), active)
		}
		for _, f := range res.Failures {
			if f.Reason == "" {
				t.Fatalf("%s: failure without reason: %+v", name, f)
			}
		}
	} else if len(res.Failures) != 0 || len(res.Placements) != req.Count {
		t.Fatalf("%s: %d placed of %d with failures %v", name, len(res.Placements), req.Count, res.Failures)
	}
}

// TestPlaceDeterministic checks that a seeded rng (or none) fixes the result.
func TestPlaceDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for iter := range 200 {
		instances := randomCluster(r, 1+r.IntN(8))
		req := randomRequest(r)
		a, errA := Place(instances, req, rand.New(rand.NewPCG(uint64(iter), 3)))
		b, errB := Place(instances, req, rand.New(rand.NewPCG(uint64(iter), 3)))
		c, _ := Place(instances, req, nil)
		d, _ := Place(instances, req, nil)
		if errA != errB || fmt.Sprint(a) != fmt.Sprint(b) || fmt.Sprint(c) != fmt.Sprint(d) {
			t.Fatalf("iter %d: results differ: %v / %v, %v / %v", iter, a, b, c, d)
		}
	}
}
