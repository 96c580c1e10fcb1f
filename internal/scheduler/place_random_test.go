package scheduler

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// TestPlaceRandomIsUniformOverFits draws one task many times over clusters
// where only some instances can run it, and checks that the random path
// picks only those, each about equally often: as placeScan's uniform pick
// from the full candidate list does. The sparse cases make every draw miss
// and take the full look.
func TestPlaceRandomIsUniformOverFits(t *testing.T) {
	unfit := []func(i int) Instance{
		func(i int) Instance { return inst(fmt.Sprintf("cpu-%04d", i), 10, 10000) },
		func(i int) Instance { return inst(fmt.Sprintf("mem-%04d", i), 10000, 10) },
		func(i int) Instance {
			in := inst(fmt.Sprintf("drain-%04d", i), 10000, 10000)
			in.Status = "DRAINING"
			return in
		},
		func(i int) Instance {
			in := inst(fmt.Sprintf("agent-%04d", i), 10000, 10000)
			in.AgentConnected = false
			return in
		},
		func(i int) Instance { return inst(fmt.Sprintf("pool-%04d", i), 10000, 10000, withAttr("pool", "red")) },
		func(i int) Instance { return inst(fmt.Sprintf("dist-%04d", i), 10000, 10000, withTasks("g", 1)) },
	}
	cases := []struct {
		name       string
		fits, rest int
	}{
		{"most fit", 6, 3},
		{"half fit", 5, 5},
		{"sparse: draws miss", 3, 600},
		{"one fits", 1, 300},
	}
	req := Request{Count: 1, CPU: 100, Memory: 100, Group: "g", Constraints: []Constraint{
		{Type: ConstraintDistinctInstance},
		{Type: ConstraintMemberOf, Expression: "attribute:pool == blue"},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var instances []Instance
			fit := map[string]bool{}
			for i := range tc.fits {
				in := inst(fmt.Sprintf("fit-%04d", i), 10000, 10000, withAttr("pool", "blue"))
				fit[in.ID] = true
				instances = append(instances, in)
			}
			for i := range tc.rest {
				in := unfit[i%len(unfit)](i)
				if _, ok := in.Attributes["pool"]; !ok {
					in.Attributes["pool"] = "blue"
				}
				instances = append(instances, in)
			}
			rand.New(rand.NewPCG(5, 5)).Shuffle(len(instances), func(i, j int) { instances[i], instances[j] = instances[j], instances[i] })
			const draws = 3000
			got := map[string]int{}
			for seed := range uint64(draws) {
				res := mustPlace(t, instances, req, rand.New(rand.NewPCG(seed, 17)))
				if len(res.Placements) != 1 {
					t.Fatalf("seed %d: %d placements, %d failures", seed, len(res.Placements), len(res.Failures))
				}
				got[res.Placements[0].InstanceID]++
			}
			want := float64(draws) / float64(tc.fits)
			for id, n := range got {
				if !fit[id] {
					t.Fatalf("placed on %s, which cannot run the task", id)
				}
				if float64(n) < 0.8*want || float64(n) > 1.2*want {
					t.Errorf("%s chosen %d times of %d, want about %.0f: %v", id, n, draws, want, got)
				}
			}
			if len(got) != tc.fits {
				t.Errorf("%d of %d instances that fit were ever chosen", len(got), tc.fits)
			}
		})
	}
}

// TestPlaceRandomMatchesScan compares the random path with placeScan on
// random clusters and random-first requests: every placement must hold up
// (checkResult), and when the tasks need only resources and ports the
// two place as many tasks; when nothing fits, the failures are placeScan's.
func TestPlaceRandomMatchesScan(t *testing.T) {
	r := rand.New(rand.NewPCG(77, 78))
	fast := 0
	for iter := range 2000 {
		instances := randomCluster(r, 1+r.IntN(80))
		req := randomRequest(r)
		req.Strategies = append([]Strategy{{Type: StrategyRandom}}, req.Strategies...)
		if len(req.Strategies) > MaxStrategies {
			req.Strategies = req.Strategies[:MaxStrategies]
		}
		name := fmt.Sprintf("iter %d", iter)
		res, err := Place(instances, req, rand.New(rand.NewPCG(uint64(iter), 9)))
		if err == ErrNoContainerInstances {
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkResult(t, name, instances, req, res)

		pl, err := compile(req)
		if err != nil {
			t.Fatalf("%s: compile: %v", name, err)
		}
		ptrs := make([]*Instance, len(instances))
		for i := range instances {
			ptrs[i] = &instances[i]
		}
		scan, err := pl.placeScan(ptrs, rand.New(rand.NewPCG(uint64(iter), 9)))
		if err != nil {
			t.Fatalf("%s: placeScan: %v", name, err)
		}
		if _, ok := pl.placeRandom(ptrs, rand.New(rand.NewPCG(uint64(iter), 9))); ok {
			fast++
		}
		if len(req.Constraints) == 0 && len(res.Placements) != len(scan.Placements) {
			t.Fatalf("%s: random path placed %d, placeScan %d", name, len(res.Placements), len(scan.Placements))
		}
		if len(scan.Placements) == 0 && !reflect.DeepEqual(res, scan) {
			t.Fatalf("%s: nothing fits, but the results differ:\n%+v\n%+v", name, res, scan)
		}
	}
	if fast < 500 {
		t.Errorf("the random path answered %d of 2000 calls; the test no longer exercises it", fast)
	}
}

// TestPlaceRandomLeavesNoState checks that the pooled scratch a random
// placement used does not leak into the next call: the same call on a
// fresh and on a reused scratch gives the same answer.
func TestPlaceRandomLeavesNoState(t *testing.T) {
	big := make([]Instance, 500)
	for i := range big {
		big[i] = inst(fmt.Sprintf("b%04d", i), 10000, 10000, withPorts(Port{Number: 80, Protocol: "tcp"}))
	}
	small := []Instance{inst("s1", 10000, 10000), inst("s2", 10000, 10000)}
	req := Request{Count: 3, CPU: 1, StaticPorts: []Port{{Number: 80, Protocol: "tcp"}}}
	want := mustPlace(t, small, req, rand.New(rand.NewPCG(1, 1)))
	mustPlace(t, big, req, rand.New(rand.NewPCG(2, 2))) // nothing fits: the scratch held 500 states
	if got := mustPlace(t, small, req, rand.New(rand.NewPCG(1, 1))); !reflect.DeepEqual(got, want) {
		t.Fatalf("after a large call: %+v, want %+v", got, want)
	}
}
