package scheduler

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/berth/berth/internal/ecs"
)

// inst builds an ACTIVE, connected instance with the given remaining cpu and
// memory; opts adjust it.
func inst(id string, cpu, mem int64, opts ...func(*Instance)) Instance {
	in := Instance{
		ID: id, ARN: "arn:aws:ecs:us-east-1:123456789012:container-instance/c/" + id,
		Status: "ACTIVE", AgentConnected: true, CPU: cpu, Memory: mem,
		Attributes: map[string]string{},
	}
	for _, o := range opts {
		o(&in)
	}
	return in
}

func withAttr(name, value string) func(*Instance) {
	return func(in *Instance) { in.Attributes[name] = value }
}

func withTasks(group string, n int) func(*Instance) {
	return func(in *Instance) {
		for range n {
			in.Tasks = append(in.Tasks, TaskInfo{Group: group, Status: "RUNNING"})
		}
	}
}

func withPorts(ps ...Port) func(*Instance) {
	return func(in *Instance) {
		if in.UsedPorts == nil {
			in.UsedPorts = map[Port]bool{}
		}
		for _, p := range ps {
			in.UsedPorts[p] = true
		}
	}
}

func placedIDs(r Result) []string {
	ids := make([]string, len(r.Placements))
	for i, p := range r.Placements {
		ids[i] = p.InstanceID
	}
	return ids
}

func countByInstance(r Result) map[string]int {
	m := map[string]int{}
	for _, p := range r.Placements {
		m[p.InstanceID]++
	}
	return m
}

func mustPlace(t *testing.T, instances []Instance, req Request, rng *rand.Rand) Result {
	t.Helper()
	r, err := Place(instances, req, rng)
	if err != nil {
		t.Fatalf("Place: %v", err)
	}
	return r
}

func TestPlaceBinpack(t *testing.T) {
	instances := []Instance{inst("a", 1024, 4096), inst("b", 512, 8192), inst("c", 256, 2048)}
	tests := []struct {
		name  string
		field string
		cpu   int64
		mem   int64
		count int
		want  []string
	}{
		{"cpu fullest that fits", "cpu", 300, 0, 1, []string{"b"}},
		{"cpu refills as it drains", "cpu", 300, 0, 3, []string{"b", "a", "a"}},
		{"cpu smallest instance fits", "cpu", 200, 0, 2, []string{"c", "b"}},
		{"memory fullest that fits", "memory", 0, 3000, 2, []string{"a", "b"}},
		{"memory field is case-insensitive", "MEMORY", 0, 1000, 3, []string{"c", "c", "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustPlace(t, instances, Request{
				Count: tt.count, CPU: tt.cpu, Memory: tt.mem,
				Strategies: []Strategy{{Type: StrategyBinpack, Field: tt.field}},
			}, rand.New(rand.NewPCG(1, 2)))
			if got := placedIDs(r); !slices.Equal(got, tt.want) {
				t.Errorf("placed on %v, want %v", got, tt.want)
			}
			if len(r.Failures) != 0 {
				t.Errorf("failures %v, want none", r.Failures)
			}
		})
	}
}

func TestPlaceSpreadAcrossZones(t *testing.T) {
	az := func(z string) func(*Instance) { return withAttr("ecs.availability-zone", z) }
	instances := []Instance{
		inst("a1", 4096, 4096, az("us-east-1a")), inst("a2", 4096, 4096, az("us-east-1a")),
		inst("b1", 4096, 4096, az("us-east-1b")), inst("b2", 4096, 4096, az("us-east-1b")),
		inst("c1", 4096, 4096, az("us-east-1c")), inst("c2", 4096, 4096, az("us-east-1c")),
	}
	zoneCounts := func(r Result) map[string]int {
		m := map[string]int{}
		for _, p := range r.Placements {
			m[p.InstanceID[:1]]++
		}
		return m
	}

	t.Run("9 tasks over 3 zones", func(t *testing.T) {
		for seed := range uint64(20) {
			r := mustPlace(t, instances, Request{Count: 9, CPU: 10, Group: "service:web",
				Strategies: []Strategy{{Type: StrategySpread, Field: "attribute:ecs.availability-zone"}}},
				rand.New(rand.NewPCG(seed, 0)))
			if got, want := zoneCounts(r), map[string]int{"a": 3, "b": 3, "c": 3}; !reflect.DeepEqual(got, want) {
				t.Fatalf("seed %d: zones %v, want %v", seed, got, want)
			}
		}
	})

	t.Run("default service strategies balance zones then instances", func(t *testing.T) {
		r := mustPlace(t, instances, Request{Count: 12, Group: "service:web", Strategies: DefaultServiceStrategies()}, rand.New(rand.NewPCG(7, 7)))
		for id, n := range countByInstance(r) {
			if n != 2 {
				t.Errorf("instance %s got %d tasks, want 2 (%v)", id, n, countByInstance(r))
			}
		}
	})

	t.Run("existing tasks of the group count, others do not", func(t *testing.T) {
		in := slices.Clone(instances)
		in[0] = inst("a1", 4096, 4096, az("us-east-1a"), withTasks("service:web", 3))
		in[2] = inst("b1", 4096, 4096, az("us-east-1b"), withTasks("service:other", 5))
		r := mustPlace(t, in, Request{Count: 6, Group: "service:web",
			Strategies: []Strategy{{Type: StrategySpread, Field: "attribute:ecs.availability-zone"}}}, nil)
		if got, want := zoneCounts(r), map[string]int{"b": 3, "c": 3}; !reflect.DeepEqual(got, want) {
			t.Errorf("zones %v, want %v", got, want)
		}
	})

	t.Run("instances without the attribute form their own value", func(t *testing.T) {
		in := []Instance{inst("x", 100, 100, az("z1")), inst("y", 100, 100), inst("z", 100, 100)}
		r := mustPlace(t, in, Request{Count: 4, Group: "g",
			Strategies: []Strategy{{Type: StrategySpread, Field: "attribute:ecs.availability-zone"}, {Type: StrategySpread, Field: "host"}}}, nil)
		if got, want := countByInstance(r), map[string]int{"x": 2, "y": 1, "z": 1}; !reflect.DeepEqual(got, want) {
			t.Errorf("placements %v, want %v", got, want)
		}
	})

	t.Run("spread instanceId round-robins in ID order without rng", func(t *testing.T) {
		in := []Instance{inst("c", 100, 100), inst("a", 100, 100), inst("b", 100, 100)}
		r := mustPlace(t, in, Request{Count: 5, Group: "g", Strategies: []Strategy{{Type: StrategySpread, Field: "instanceId"}}}, nil)
		if got, want := placedIDs(r), []string{"a", "b", "c", "a", "b"}; !slices.Equal(got, want) {
			t.Errorf("placed on %v, want %v", got, want)
		}
	})

	t.Run("spread zone then binpack memory", func(t *testing.T) {
		in := []Instance{
			inst("a1", 100, 1000, az("a")), inst("a2", 100, 600, az("a")),
			inst("b1", 100, 900, az("b")), inst("b2", 100, 700, az("b")),
		}
		r := mustPlace(t, in, Request{Count: 4, Memory: 300, Group: "g", Strategies: []Strategy{
			{Type: StrategySpread, Field: "attribute:ecs.availability-zone"}, {Type: StrategyBinpack, Field: "memory"},
		}}, nil)
		// a2 (600) then b2 (700); a2 now 300 still fullest in a; b2 now 400 in b.
		if got, want := placedIDs(r), []string{"a2", "b2", "a2", "b2"}; !slices.Equal(got, want) {
			t.Errorf("placed on %v, want %v", got, want)
		}
	})
}

func TestPlaceRandom(t *testing.T) {
	var instances []Instance
	for i := range 10 {
		instances = append(instances, inst(fmt.Sprintf("i%02d", i), 10000, 10000))
	}
	req := Request{Count: 10, CPU: 1}
	run := func(seed uint64) []string {
		return placedIDs(mustPlace(t, instances, req, rand.New(rand.NewPCG(seed, 99))))
	}
	if a, b := run(42), run(42); !slices.Equal(a, b) {
		t.Fatalf("same seed, different placements: %v vs %v", a, b)
	}
	distinct := map[string]bool{}
	used := map[string]bool{}
	for seed := range uint64(20) {
		ids := run(seed)
		distinct[strings.Join(ids, ",")] = true
		for _, id := range ids {
			used[id] = true
		}
	}
	if len(distinct) < 2 {
		t.Errorf("20 seeds gave %d distinct placements; random does not depend on the rng", len(distinct))
	}
	if len(used) != len(instances) {
		t.Errorf("random over 200 tasks used %d of %d instances", len(used), len(instances))
	}
	// No strategy means random; nil rng makes it deterministic (lowest ID).
	r := mustPlace(t, instances, Request{Count: 3, CPU: 1}, nil)
	if got := placedIDs(r); !slices.Equal(got, []string{"i00", "i00", "i00"}) {
		t.Errorf("nil rng placed on %v, want i00 three times", got)
	}
}

func TestPlaceFailureReasons(t *testing.T) {
	instances := []Instance{
		inst("a-agent", 4096, 4096, func(in *Instance) { in.AgentConnected = false; in.CPU = 0 }),
		inst("b-attr", 4096, 4096),
		inst("c-cpu", 100, 4096, withAttr("ecs.capability.x", "")),
		inst("d-mem", 4096, 100, withAttr("ecs.capability.x", "")),
		inst("e-tcp", 4096, 4096, withAttr("ecs.capability.x", ""), withPorts(Port{80, "tcp"})),
		inst("f-udp", 4096, 4096, withAttr("ecs.capability.x", ""), withPorts(Port{53, "udp"})),
		inst("g-member", 4096, 4096, withAttr("ecs.capability.x", "")),
		inst("h-distinct", 4096, 4096, withAttr("ecs.capability.x", ""), withAttr("pool", "blue"), withTasks("family:web", 1)),
		inst("i-draining", 4096, 4096, withAttr("ecs.capability.x", ""), withAttr("pool", "blue"), func(in *Instance) { in.Status = "DRAINING" }),
		inst("j-dyn", 4096, 4096, withAttr("ecs.capability.x", ""), withAttr("pool", "blue"),
			withPorts(Port{80, "tcp"}, Port{53, "udp"})),
	}
	req := Request{
		Count: 1, CPU: 512, Memory: 512, Group: "family:web",
		StaticPorts:        []Port{{80, "tcp"}, {53, "udp"}},
		RequiredAttributes: []string{"ecs.capability.x"},
		Constraints: []Constraint{
			{Type: ConstraintDistinctInstance},
			{Type: ConstraintMemberOf, Expression: "attribute:pool == blue"},
		},
	}
	r := mustPlace(t, instances, req, rand.New(rand.NewPCG(1, 1)))
	if len(r.Placements) != 0 {
		t.Fatalf("placements %v, want none", r.Placements)
	}
	want := map[string]string{
		"a-agent":    ReasonAgent,
		"b-attr":     ReasonAttribute,
		"c-cpu":      ReasonCPU,
		"d-mem":      ReasonMemory,
		"e-tcp":      ReasonPorts,
		"f-udp":      ReasonPortsUDP,
		"g-member":   ReasonMemberOf,
		"h-distinct": ReasonDistinctInstance,
		"j-dyn":      ReasonPorts,
	}
	if len(r.Failures) != len(want) {
		t.Errorf("%d failures, want %d (DRAINING gets none): %v", len(r.Failures), len(want), r.Failures)
	}
	for _, f := range r.Failures {
		id := f.InstanceARN[strings.LastIndex(f.InstanceARN, "/")+1:]
		if want[id] != f.Reason {
			t.Errorf("%s: reason %q, want %q", id, f.Reason, want[id])
		}
		wantDetail := ""
		if f.Reason == ReasonAttribute {
			wantDetail = "The instance lacks the attribute ecs.capability.x that the task definition requires."
		}
		if f.Detail != wantDetail {
			t.Errorf("%s: detail %q, want %q", id, f.Detail, wantDetail)
		}
	}
	if !slices.IsSortedFunc(r.Failures, func(a, b Failure) int { return strings.Compare(a.InstanceARN, b.InstanceARN) }) {
		t.Errorf("failures not in instance ID order: %v", r.Failures)
	}
}

func TestPlaceConstraints(t *testing.T) {
	t.Run("distinctInstance spans the call", func(t *testing.T) {
		instances := []Instance{inst("a", 4096, 4096), inst("b", 4096, 4096)}
		r := mustPlace(t, instances, Request{Count: 3, Group: "g", Constraints: []Constraint{{Type: ConstraintDistinctInstance}}}, rand.New(rand.NewPCG(3, 3)))
		if got := countByInstance(r); !reflect.DeepEqual(got, map[string]int{"a": 1, "b": 1}) {
			t.Errorf("placements %v, want one on each", got)
		}
		if len(r.Failures) != 2 || r.Failures[0].Reason != ReasonDistinctInstance || r.Failures[1].Reason != ReasonDistinctInstance {
			t.Errorf("failures %v, want DistinctInstance on both", r.Failures)
		}
	})
	t.Run("distinctInstance ignores other groups", func(t *testing.T) {
		instances := []Instance{inst("a", 4096, 4096, withTasks("other", 2))}
		r := mustPlace(t, instances, Request{Count: 1, Group: "g", Constraints: []Constraint{{Type: ConstraintDistinctInstance}}}, nil)
		if len(r.Placements) != 1 {
			t.Errorf("placements %v, want 1", r.Placements)
		}
	})
	t.Run("memberOf task group affinity and anti-affinity", func(t *testing.T) {
		instances := []Instance{inst("a", 4096, 4096, withTasks("database", 1)), inst("b", 4096, 4096), inst("c", 4096, 4096)}
		r := mustPlace(t, instances, Request{Count: 2, Group: "cache",
			Constraints: []Constraint{{Type: ConstraintMemberOf, Expression: "task:group == database"}}}, nil)
		if got := placedIDs(r); !slices.Equal(got, []string{"a", "a"}) {
			t.Errorf("affinity placed on %v, want a twice", got)
		}
		// Anti-affinity against the request's own group sees this call's placements.
		r = mustPlace(t, instances, Request{Count: 3, Group: "web",
			Constraints: []Constraint{{Type: ConstraintMemberOf, Expression: "not(task:group == web)"}}}, nil)
		if got := placedIDs(r); !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Errorf("anti-affinity placed on %v, want a, b, c", got)
		}
	})
	t.Run("required attribute with value", func(t *testing.T) {
		instances := []Instance{inst("a", 4096, 4096, withAttr("ecs.os-type", "windows")), inst("b", 4096, 4096, withAttr("ecs.os-type", "linux"))}
		r := mustPlace(t, instances, Request{Count: 1, RequiredAttributes: []string{"ecs.os-type=linux"}}, nil)
		if got := placedIDs(r); !slices.Equal(got, []string{"b"}) {
			t.Errorf("placed on %v, want b", got)
		}
	})
}

func TestPlaceDynamicPorts(t *testing.T) {
	t.Run("lowest free, unique, per protocol", func(t *testing.T) {
		instances := []Instance{inst("a", 4096, 4096, withPorts(Port{49153, "tcp"}, Port{49155, "tcp"}, Port{49154, "udp"}))}
		r := mustPlace(t, instances, Request{Count: 2, DynamicPorts: []string{"tcp", "udp", "tcp"}}, nil)
		want := [][]int{{49154, 49153, 49156}, {49157, 49155, 49158}}
		for i, p := range r.Placements {
			if !slices.Equal(p.HostPorts, want[i]) {
				t.Errorf("task %d host ports %v, want %v", i, p.HostPorts, want[i])
			}
		}
	})
	t.Run("range exhaustion gives the protocol's reason", func(t *testing.T) {
		for _, tt := range []struct {
			proto, reason string
		}{{"tcp", ReasonPorts}, {"udp", ReasonPortsUDP}, {"", ReasonPorts}} {
			instances := []Instance{inst("a", 4096, 4096)}
			r := mustPlace(t, instances, Request{Count: 3, DynamicPorts: []string{tt.proto, tt.proto}, DynamicPortRange: [2]int{50000, 50004}}, nil)
			if len(r.Placements) != 2 || len(r.Failures) != 1 || r.Failures[0].Reason != tt.reason {
				t.Errorf("%q: placements %v failures %v, want 2 placed and %s", tt.proto, r.Placements, r.Failures, tt.reason)
			}
		}
	})
	t.Run("static ports in the range use dynamic slots", func(t *testing.T) {
		instances := []Instance{inst("a", 4096, 4096)}
		r := mustPlace(t, instances, Request{Count: 1, StaticPorts: []Port{{50000, "tcp"}, {50002, "tcp"}},
			DynamicPorts: []string{"tcp", "tcp"}, DynamicPortRange: [2]int{50000, 50003}}, nil)
		if len(r.Placements) != 1 || !slices.Equal(r.Placements[0].HostPorts, []int{50001, 50003}) {
			t.Errorf("placements %+v, want ports 50001, 50003", r.Placements)
		}
		r = mustPlace(t, instances, Request{Count: 1, StaticPorts: []Port{{50000, "tcp"}, {50001, "tcp"}},
			DynamicPorts: []string{"tcp", "tcp", "tcp"}, DynamicPortRange: [2]int{50000, 50003}}, nil)
		if len(r.Placements) != 0 || len(r.Failures) != 1 || r.Failures[0].Reason != ReasonPorts {
			t.Errorf("placements %v failures %v, want RESOURCE:PORTS", r.Placements, r.Failures)
		}
	})
	t.Run("protocol spelling in UsedPorts is normalised", func(t *testing.T) {
		instances := []Instance{inst("a", 4096, 4096, withPorts(Port{80, "TCP"}, Port{50000, ""}))}
		r := mustPlace(t, instances, Request{Count: 1, StaticPorts: []Port{{80, "tcp"}}}, nil)
		if len(r.Failures) != 1 || r.Failures[0].Reason != ReasonPorts {
			t.Errorf("static 80/tcp over used 80/TCP: %+v", r)
		}
		r = mustPlace(t, instances, Request{Count: 1, DynamicPorts: []string{"tcp"}, DynamicPortRange: [2]int{50000, 50001}}, nil)
		if len(r.Placements) != 1 || !slices.Equal(r.Placements[0].HostPorts, []int{50001}) {
			t.Errorf("dynamic over used 50000/\"\": %+v", r)
		}
	})
}

func TestPlaceCountTenOverThreeInstances(t *testing.T) {
	instances := []Instance{inst("a", 4096, 1000), inst("b", 4096, 500), inst("c", 4096, 300)}
	capacity := map[string]int{"a": 5, "b": 2, "c": 1}
	for _, strat := range [][]Strategy{nil, {{Type: StrategyBinpack, Field: "memory"}}, {{Type: StrategySpread, Field: "instanceId"}}} {
		r := mustPlace(t, instances, Request{Count: 10, Memory: 200, Group: "g", Strategies: strat}, rand.New(rand.NewPCG(5, 5)))
		if got, want := countByInstance(r), capacity; !reflect.DeepEqual(got, want) {
			t.Errorf("%v: per instance %v, want %v", strat, got, want)
		}
		if len(r.Failures) != 3 {
			t.Errorf("%v: failures %v, want 3", strat, r.Failures)
		}
		for _, f := range r.Failures {
			if f.Reason != ReasonMemory {
				t.Errorf("%v: failure %v, want RESOURCE:MEMORY", strat, f)
			}
		}
	}
	// With room for all ten there are no failures.
	r := mustPlace(t, instances, Request{Count: 10, Memory: 50, Group: "g"}, rand.New(rand.NewPCG(5, 5)))
	if len(r.Placements) != 10 || len(r.Failures) != 0 {
		t.Errorf("placements %d failures %v, want 10 and none", len(r.Placements), r.Failures)
	}
}

func TestPlaceNoActiveInstances(t *testing.T) {
	for _, instances := range [][]Instance{nil, {inst("a", 1, 1, func(in *Instance) { in.Status = "DRAINING" })}} {
		// With an rng, the default (random) strategy takes the random path.
		for _, rng := range []*rand.Rand{nil, rand.New(rand.NewPCG(1, 2))} {
			_, err := Place(instances, Request{Count: 1}, rng)
			if err != ErrNoContainerInstances || !errors.Is(err, ecs.ErrInvalidParameter) {
				t.Errorf("%d instances, rng %v: err = %v, want ErrNoContainerInstances as an InvalidParameter", len(instances), rng != nil, err)
			}
		}
	}
	r, err := Place(nil, Request{Count: 0}, nil)
	if err != nil || len(r.Placements) != 0 || len(r.Failures) != 0 {
		t.Errorf("Count 0: %+v, %v; want empty result and no error", r, err)
	}
}

func TestPlaceDoesNotModifyInput(t *testing.T) {
	tasks := make([]TaskInfo, 1, 4)
	tasks[0] = TaskInfo{Group: "g", Status: "RUNNING"}
	a := inst("a", 1000, 1000, withPorts(Port{80, "tcp"}), withAttr("x", "1"))
	a.Tasks = tasks
	instances := []Instance{a, inst("b", 1000, 1000)}
	before := fmt.Sprintf("%+v", instances)
	mustPlace(t, instances, Request{Count: 4, CPU: 100, Memory: 100, Group: "g", DynamicPorts: []string{"tcp"},
		Constraints: []Constraint{{Type: ConstraintMemberOf, Expression: "task:group exists or attribute:x !exists"}}}, nil)
	if after := fmt.Sprintf("%+v", instances); after != before {
		t.Errorf("instances changed:\n%s\n%s", before, after)
	}
	if spare := tasks[:2][1]; spare != (TaskInfo{}) {
		t.Errorf("Place wrote %+v into the caller's Tasks array", spare)
	}
}

func TestPlaceInvalidRequest(t *testing.T) {
	ok := []Instance{inst("a", 1, 1)}
	tests := []struct {
		name string
		req  Request
		msg  string
	}{
		{"negative count", Request{Count: -1}, "count must not be negative"},
		{"negative cpu", Request{Count: 1, CPU: -5}, "cpu and memory"},
		{"six strategies", Request{Count: 1, Strategies: slices.Repeat([]Strategy{{Type: StrategyRandom}}, 6)}, "placementStrategy can contain at most 5"},
		{"eleven constraints", Request{Count: 1, Constraints: slices.Repeat([]Constraint{{Type: ConstraintDistinctInstance}}, 11)}, "placementConstraints can contain at most 10"},
		{"bad strategy type", Request{Count: 1, Strategies: []Strategy{{Type: "pack"}}}, `placementStrategy[0].type "pack" is not valid`},
		{"binpack field", Request{Count: 1, Strategies: []Strategy{{Type: StrategyRandom}, {Type: StrategyBinpack, Field: "disk"}}}, `placementStrategy[1].field "disk" is not valid for binpack`},
		{"spread field", Request{Count: 1, Strategies: []Strategy{{Type: StrategySpread, Field: "zone"}}}, `placementStrategy[0].field "zone" is not valid for spread`},
		{"spread empty attribute", Request{Count: 1, Strategies: []Strategy{{Type: StrategySpread, Field: "attribute:"}}}, "not valid for spread"},
		{"random field", Request{Count: 1, Strategies: []Strategy{{Type: StrategyRandom, Field: "cpu"}}}, "placementStrategy[0].field must not be set for random"},
		{"bad constraint type", Request{Count: 1, Constraints: []Constraint{{Type: "sameZone"}}}, `placementConstraints[0].type "sameZone" is not valid`},
		{"distinct with expression", Request{Count: 1, Constraints: []Constraint{{Type: ConstraintDistinctInstance, Expression: "x"}}}, "distinctInstance expression should not be specified."},
		{"memberOf without expression", Request{Count: 1, Constraints: []Constraint{{Type: ConstraintMemberOf}}}, "placementConstraints[0].expression must be specified"},
		{"memberOf too long", Request{Count: 1, Constraints: []Constraint{{Type: ConstraintMemberOf, Expression: "attribute:a == " + strings.Repeat("x", 2000)}}}, "at most 2000 characters"},
		{"memberOf syntax", Request{Count: 1, Constraints: []Constraint{{Type: ConstraintDistinctInstance}, {Type: ConstraintMemberOf, Expression: "attribute:a === b"}}},
			`placementConstraints[1].expression "attribute:a === b" is invalid`},
		{"port range", Request{Count: 1, DynamicPortRange: [2]int{60000, 50000}}, "dynamic host port range 60000-50000"},
		{"port protocol", Request{Count: 1, DynamicPorts: []string{"sctp"}}, `protocol "sctp" is not valid`},
		{"static port number", Request{Count: 1, StaticPorts: []Port{{0, "tcp"}}}, "not between 1 and 65535"},
		{"duplicate static port", Request{Count: 1, StaticPorts: []Port{{80, "tcp"}, {80, ""}}}, "host port 80/tcp is requested more than once"},
		{"required attribute", Request{Count: 1, RequiredAttributes: []string{"=x"}}, "has no attribute name"},
	}
	for _, tt := range tests {
		_, err := Place(ok, tt.req, nil)
		if err == nil || !errors.Is(err, ecs.ErrInvalidParameter) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: err = %v, want InvalidParameter containing %q", tt.name, err, tt.msg)
		}
	}
	// ValidatePlacement is the same check without a request.
	if err := ValidatePlacement(nil, DefaultServiceStrategies()); err != nil {
		t.Errorf("ValidatePlacement(default service strategies) = %v", err)
	}
	if err := ValidatePlacement([]Constraint{{Type: ConstraintMemberOf, Expression: "attribute:a exists"}}, []Strategy{{Type: StrategySpread, Field: "host"}, {Type: StrategyBinpack, Field: "cpu"}}); err != nil {
		t.Errorf("ValidatePlacement(valid) = %v", err)
	}
}

func TestPlaceCapacityBoundary(t *testing.T) {
	tests := []struct {
		name             string
		instCPU, instMem int64
		cpu, mem         int64
		placed           int
		reason           string
	}{
		{"cpu exactly fits once", 512, 4096, 512, 0, 1, ReasonCPU},
		{"cpu one short", 511, 4096, 512, 0, 0, ReasonCPU},
		{"memory exactly fits twice", 4096, 1024, 0, 512, 2, ReasonMemory},
		{"memory one short", 4096, 511, 0, 512, 0, ReasonMemory},
		{"cpu checked before memory", 100, 100, 512, 512, 0, ReasonCPU},
		{"no reservation fits an overcommitted instance", -5, -5, 0, 0, 3, ""},
	}
	for _, tt := range tests {
		r := mustPlace(t, []Instance{inst("a", tt.instCPU, tt.instMem)}, Request{Count: 3, CPU: tt.cpu, Memory: tt.mem}, nil)
		if len(r.Placements) != tt.placed {
			t.Errorf("%s: placed %d, want %d", tt.name, len(r.Placements), tt.placed)
		}
		if tt.reason == "" && len(r.Failures) != 0 || tt.reason != "" && (len(r.Failures) != 1 || r.Failures[0].Reason != tt.reason) {
			t.Errorf("%s: failures %v, want %q", tt.name, r.Failures, tt.reason)
		}
	}
}
