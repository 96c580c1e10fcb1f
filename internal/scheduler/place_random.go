package scheduler

import "math/rand/v2"

// randomProbes is how many instances placeRandom draws for a task before it
// looks at every instance.
const randomProbes = 32

// randomFirst reports whether the plan's first strategy is random, which
// decides alone (RunTask's default), and no strategy needs the cluster-wide
// spread counts.
func (pl *plan) randomFirst() bool {
	return len(pl.strategies) > 0 && pl.strategies[0].kind == random && pl.numBuckets == 0
}

// placeRandom places the tasks of a random-first plan without looking at
// every instance: for each task it draws instances at random (with
// replacement) and takes the first that can run it. A draw is uniform over
// all instances, so the one it takes is uniform over those that can run the
// task: the distribution placeScan gives, which picks uniformly from the
// full list. After randomProbes misses it checks every instance and picks
// uniformly among those that fit, so a sparse fit costs what placeScan
// does. It returns false when some task fits nowhere: placeScan then
// answers the whole call, with every instance's reason.
//
// On a large cluster most RunTasks land on the first draw, and only the
// drawn instances are read: the call no longer touches every instance.
func (pl *plan) placeRandom(instances []*Instance, rng *rand.Rand) (Result, bool) {
	n := len(instances)
	if n == 0 {
		return Result{}, false
	}
	sc := scratchPool.Get().(*scratch)
	// slot[i] is 1 + the position in states of instance i's state; 0: not
	// set up yet. states grows as instances are drawn, in sc's array.
	slot := sc.slot.get(n)
	states := sc.states.get(0)
	defer func() {
		sc.states.a = states // what release clears
		sc.release()
	}()
	nc := len(pl.constraints)
	memberOK := sc.memberOK.get(n * nc)
	// state returns instance i's state, setting it up on first use, or nil
	// when the instance is not ACTIVE.
	state := func(i int) *instState {
		if k := slot[i]; k > 0 {
			return &states[k-1]
		}
		in := instances[i]
		if in.Status != "ACTIVE" {
			return nil
		}
		states = append(states, instState{})
		slot[i] = int32(len(states))
		st := &states[len(states)-1]
		pl.initState(st, in, memberOK[i*nc:(i+1)*nc], nil)
		return st
	}
	var res Result
	for range pl.count {
		chosen := -1
		for range randomProbes {
			i := rng.IntN(n)
			if st := state(i); st != nil && pl.check(st) == "" {
				chosen = i
				break
			}
		}
		if chosen < 0 {
			cands := sc.cands.get(n)[:0]
			for i := range n {
				if st := state(i); st != nil && pl.check(st) == "" {
					cands = append(cands, i)
				}
			}
			if len(cands) == 0 {
				return Result{}, false
			}
			chosen = cands[rng.IntN(len(cands))]
		}
		st := state(chosen)
		res.Placements = append(res.Placements, Placement{InstanceID: st.src.ID, HostPorts: pl.apply(st, nil)})
	}
	return res, true
}
