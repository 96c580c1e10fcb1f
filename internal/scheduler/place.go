package scheduler

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
)

// Place decides where req.Count tasks go among instances. It returns an
// error only for an invalid request (an InvalidParameterException-kind
// *ecs.Error naming the field) or ErrNoContainerInstances when no instance
// is ACTIVE; tasks that do not fit are reported in Result.Failures. Place
// neither modifies instances nor keeps references to them in the Result.
// rng may be nil, which makes every choice deterministic (lowest ID wins).
func Place(instances []Instance, req Request, rng *rand.Rand) (Result, error) {
	ptrs := make([]*Instance, len(instances))
	for i := range instances {
		ptrs[i] = &instances[i]
	}
	return PlaceOn(ptrs, req, rng)
}

// PlaceOn is Place over pointers to the instances, for callers that share
// instances between calls instead of copying them; like Place, it neither
// modifies them nor keeps references to them.
func PlaceOn(instances []*Instance, req Request, rng *rand.Rand) (Result, error) {
	pl, err := compile(req)
	if err != nil {
		return Result{}, err
	}
	if pl.count == 0 {
		return Result{}, nil
	}
	if rng != nil && pl.randomFirst() {
		if res, ok := pl.placeRandom(instances, rng); ok {
			return res, nil
		}
	}
	return pl.placeScan(instances, rng)
}

// placeScan places the tasks by looking at every instance for each task.
func (pl *plan) placeScan(instances []*Instance, rng *rand.Rand) (Result, error) {
	active := 0
	for _, in := range instances {
		if in.Status == "ACTIVE" {
			active++
		}
	}
	if active == 0 {
		return Result{}, ErrNoContainerInstances
	}
	// The per-instance work arrays come from a pool: a call over 1,000
	// instances would otherwise allocate some 150 KB, RunTask after
	// RunTask. One backing array each for the constraint cache and the
	// spread buckets keeps allocations per call, not per instance.
	sc := scratchPool.Get().(*scratch)
	defer sc.release()
	memberOK := sc.memberOK.get(active * len(pl.constraints))
	bucketIdx := sc.bucketIdx.get(active * pl.numBuckets)
	ordered := sc.ordered.get(active)[:0]
	for _, in := range instances {
		if in.Status == "ACTIVE" {
			ordered = append(ordered, in)
		}
	}
	byID := func(a, b *Instance) int { return strings.Compare(a.ID, b.ID) }
	if !slices.IsSortedFunc(ordered, byID) { // callers usually list them in ID order
		slices.SortFunc(ordered, byID) // IDs are unique: no need for a stable sort
	}
	states := sc.states.get(active)
	nc, nb := len(pl.constraints), pl.numBuckets
	for n, in := range ordered {
		pl.initState(&states[n], in, memberOK[n*nc:(n+1)*nc], bucketIdx[n*nb:(n+1)*nb])
	}

	// Spread-by-attribute bookkeeping, per spread-attribute strategy: each
	// instance's attribute value as a small index (0 = attribute absent) and
	// the tasks of the group per value.
	buckets := make([][]int, pl.numBuckets)
	for _, s := range pl.strategies {
		if s.kind != spreadAttribute {
			continue
		}
		index := map[string]int{}
		counts := []int{0}
		for i := range states {
			k := 0
			if v, ok := states[i].src.Attributes[s.attr]; ok {
				var seen bool
				if k, seen = index[v]; !seen {
					k = len(counts)
					index[v] = k
					counts = append(counts, 0)
				}
			}
			states[i].buckets[s.bucket] = k
			counts[k] += states[i].groupCount
		}
		buckets[s.bucket] = counts
	}

	var res Result
	cands := sc.cands.get(len(states))[:0]
	reasons := sc.reasons.get(len(states))
	for range pl.count {
		cands = cands[:0]
		for i := range states {
			reasons[i] = pl.check(&states[i])
			if reasons[i] == "" {
				cands = append(cands, i)
			}
		}
		if len(cands) == 0 {
			res.Failures = make([]Failure, len(states))
			for i := range states {
				res.Failures[i] = Failure{InstanceARN: states[i].src.ARN, Reason: reasons[i]}
				if reasons[i] == states[i].fixedReason {
					res.Failures[i].Detail = states[i].detail
				}
			}
			break
		}
		chosen := pl.choose(states, cands, buckets, rng)
		res.Placements = append(res.Placements, Placement{
			InstanceID: states[chosen].src.ID,
			HostPorts:  pl.apply(&states[chosen], buckets),
		})
	}
	return res, nil
}

// instState is one ACTIVE instance as this call changes it.
type instState struct {
	// src is the caller's instance; own, once a task of this call lands on
	// it, a shallow copy whose CPU and Memory go down and whose Tasks grow
	// (always into a fresh array). Most instances of a call never get a
	// task: they are never copied.
	src, own *Instance
	// used holds the instance's used ports with normalised protocols when
	// the caller's map needed normalising, else it is the caller's map.
	used map[Port]bool
	// taken holds ports taken by this call's placements.
	taken map[Port]bool
	// freeDyn counts free ports in the dynamic range, by protocol.
	freeDyn [numProtos]int
	// groupCount counts live tasks of the request's group on the instance.
	groupCount int
	// fixedReason is AGENT or ATTRIBUTE when that excludes the instance for
	// the whole call.
	fixedReason string
	detail      string // of fixedReason
	// memberOK caches, per constraint, whether the memberOf conjuncts that
	// do not look at tasks hold (their answer cannot change during the call).
	memberOK []bool
	// buckets holds, per spread-attribute strategy, the index of the
	// instance's attribute value (0 when it lacks the attribute).
	buckets []int
}

// initState sets st up for in; memberOK and buckets are st's slices of the
// call's shared backing arrays.
func (pl *plan) initState(st *instState, in *Instance, memberOK []bool, buckets []int) {
	*st = instState{src: in, used: in.UsedPorts, memberOK: memberOK, buckets: buckets}
	if len(pl.static) > 0 || len(pl.dynamic) > 0 {
		pl.initPorts(st, in)
	}

	if pl.countsGroup { // only distinctInstance and spread read the count
		for i := range in.Tasks {
			if in.Tasks[i].Status != "STOPPED" && in.Tasks[i].Group == pl.group {
				st.groupCount++
			}
		}
	}

	switch {
	case !in.AgentConnected:
		st.fixedReason = ReasonAgent
	default:
		if missing := pl.missingAttribute(in); missing != "" {
			st.fixedReason = ReasonAttribute
			st.detail = "The instance lacks the attribute " + missing + " that the task definition requires."
		}
	}

	for j, c := range pl.constraints {
		st.memberOK[j] = true
		for _, n := range c.static {
			if !n.eval(in) {
				st.memberOK[j] = false
				break
			}
		}
	}
}

// initPorts sets up st's port bookkeeping, for requests that need ports.
func (pl *plan) initPorts(st *instState, in *Instance) {
	// Normalise protocol spellings ("TCP", "") only when the caller used any.
	for p, u := range in.UsedPorts {
		if u && p.Protocol != "tcp" && p.Protocol != "udp" {
			st.used = make(map[Port]bool, len(in.UsedPorts))
			for p, u := range in.UsedPorts {
				if pi, ok := protoIndex(p.Protocol); u && ok {
					st.used[Port{Number: p.Number, Protocol: protoNames[pi]}] = true
				}
			}
			break
		}
	}
	size := pl.hi - pl.lo + 1
	st.freeDyn = [numProtos]int{size, size}
	for p, u := range st.used {
		if pi, ok := protoIndex(p.Protocol); u && ok && p.Number >= pl.lo && p.Number <= pl.hi {
			st.freeDyn[pi]--
		}
	}
}

// cur is the instance as this call left it so far.
func (st *instState) cur() *Instance {
	if st.own != nil {
		return st.own
	}
	return st.src
}

// missingAttribute names the first required attribute in lacks, or "".
func (pl *plan) missingAttribute(in *Instance) string {
	for _, r := range pl.required {
		v, ok := in.Attributes[r.name]
		if !ok || r.hasValue && v != r.value {
			if r.hasValue {
				return r.name + "=" + r.value
			}
			return r.name
		}
	}
	return ""
}

func (st *instState) isUsed(p Port) bool { return st.used[p] || st.taken[p] }

// check returns why the instance cannot take one more task, or "".
func (pl *plan) check(st *instState) string {
	if st.fixedReason != "" {
		return st.fixedReason
	}
	in := st.cur()
	if pl.cpu > 0 && in.CPU < pl.cpu {
		return ReasonCPU
	}
	if pl.memory > 0 && in.Memory < pl.memory {
		return ReasonMemory
	}
	for i, p := range pl.static {
		if st.isUsed(p) {
			return portsReason(pl.staticIdx[i])
		}
	}
	for pi := range numProtos {
		if pl.dynNeed[pi] > 0 && st.freeDyn[pi]-pl.staticInRange[pi] < pl.dynNeed[pi] {
			return portsReason(pi)
		}
	}
	for j, c := range pl.constraints {
		switch {
		case c.distinct:
			if st.groupCount > 0 {
				return ReasonDistinctInstance
			}
		case !st.memberOK[j]:
			return ReasonMemberOf
		default:
			for _, n := range c.dynamic {
				if !n.eval(in) {
					return ReasonMemberOf
				}
			}
		}
	}
	return ""
}

func portsReason(pi int) string {
	if pi == protoUDP {
		return ReasonPortsUDP
	}
	return ReasonPorts
}

// choose applies the strategies in order, each narrowing the candidates
// (indexes into states, in ID order), and returns the chosen index.
func (pl *plan) choose(states []instState, cands []int, buckets [][]int, rng *rand.Rand) int {
	for _, s := range pl.strategies {
		if len(cands) == 1 {
			break
		}
		switch s.kind {
		case binpackCPU:
			cands = keepMin(cands, func(i int) int64 { return states[i].cur().CPU })
		case binpackMemory:
			cands = keepMin(cands, func(i int) int64 { return states[i].cur().Memory })
		case spreadInstance:
			cands = keepMin(cands, func(i int) int64 { return int64(states[i].groupCount) })
		case spreadAttribute:
			counts := buckets[s.bucket]
			cands = keepMin(cands, func(i int) int64 { return int64(counts[states[i].buckets[s.bucket]]) })
		case random:
			cands = cands[pick(len(cands), rng):][:1]
		}
	}
	return cands[pick(len(cands), rng)]
}

// pick returns a random index below n, or 0 without an rng.
func pick(n int, rng *rand.Rand) int {
	if rng == nil || n == 1 {
		return 0
	}
	return rng.IntN(n)
}

// keepMin keeps, in order, the candidates with the smallest key. It reuses
// cands' array.
func keepMin(cands []int, key func(int) int64) []int {
	best := int64(math.MaxInt64)
	out := cands[:0]
	for _, i := range cands {
		k := key(i)
		if k < best {
			best, out = k, out[:0]
		}
		if k == best {
			out = append(out, i)
		}
	}
	return out
}

// apply puts one task on the instance and returns its dynamic host ports.
func (pl *plan) apply(st *instState, buckets [][]int) []int {
	if st.own == nil {
		c := *st.src
		c.Tasks = c.Tasks[:len(c.Tasks):len(c.Tasks)]
		st.own = &c
	}
	st.own.CPU -= pl.cpu
	st.own.Memory -= pl.memory
	for _, p := range pl.static {
		pl.take(st, p)
	}
	var ports []int
	if len(pl.dynamic) > 0 {
		ports = make([]int, len(pl.dynamic))
		next := [numProtos]int{pl.lo, pl.lo}
		for k, pi := range pl.dynamic {
			for n := next[pi]; n <= pl.hi; n++ {
				p := Port{Number: n, Protocol: protoNames[pi]}
				if !st.isUsed(p) {
					ports[k], next[pi] = n, n+1
					pl.take(st, p)
					break
				}
			}
		}
	}
	st.own.Tasks = append(st.own.Tasks, TaskInfo{Group: pl.group, Status: "PENDING"})
	st.groupCount++
	for b := range buckets {
		buckets[b][st.buckets[b]]++
	}
	return ports
}

func (pl *plan) take(st *instState, p Port) {
	if st.taken == nil {
		st.taken = make(map[Port]bool)
	}
	st.taken[p] = true
	if p.Number >= pl.lo && p.Number <= pl.hi {
		pi, _ := protoIndex(p.Protocol)
		st.freeDyn[pi]--
	}
}

// scratch holds one Place call's work arrays.
type scratch struct {
	ordered   buffer[*Instance]
	states    buffer[instState]
	memberOK  buffer[bool]
	bucketIdx buffer[int]
	cands     buffer[int]
	reasons   buffer[string]
	slot      buffer[int32] // placeRandom's
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// release clears what points at the caller's instances and returns sc to
// the pool.
func (sc *scratch) release() {
	sc.ordered.clear()
	sc.states.clear()
	sc.reasons.clear()
	scratchPool.Put(sc)
}

// buffer is a reusable array.
type buffer[T any] struct{ a []T }

// get returns n zero elements.
func (b *buffer[T]) get(n int) []T {
	if cap(b.a) < n {
		b.a = make([]T, n)
	}
	b.a = b.a[:n]
	clear(b.a)
	return b.a
}

func (b *buffer[T]) clear() { clear(b.a) }
