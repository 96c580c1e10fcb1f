package api

import (
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/berth/berth/internal/api/wire"
	"github.com/berth/berth/internal/clusterview"
	"github.com/berth/berth/internal/ecs"
	"github.com/berth/berth/internal/scheduler"
	"github.com/berth/berth/internal/state"
	"github.com/berth/berth/internal/store"
)

// Placement is optimistic, Nomad-style: read a snapshot of the cluster
// (its instances and their active tasks), let the pure scheduler decide,
// and commit every new task in one transaction that fails if anything the
// decision rested on changed. What a task takes of an instance is guarded
// by a per-instance placement record, rewritten by every commit that
// places on the instance and read before the tasks are: a concurrent
// placement on the same instance makes one of the two transactions fail
// and re-place over a fresh snapshot, so that no instance is overbooked.
// (Tasks stopping only free resources, so they need no such guard.)

// taskTokensPrefix holds the RunTask clientToken records.
const taskTokensPrefix = "/task-tokens/"

func taskTokenKey(cluster, token string) string { return taskTokensPrefix + cluster + "/" + token }

// taskTokenLifetime is how long a RunTask clientToken is remembered.
const taskTokenLifetime = time.Hour

// taskTokenRecord remembers what a RunTask with a clientToken started.
type taskTokenRecord struct {
	Hash      string         `json:"hash"`
	TaskIDs   []string       `json:"taskIds"`
	Failures  []wire.Failure `json:"failures,omitzero"`
	CreatedAt time.Time      `json:"createdAt"`
}

func (r *taskTokenRecord) live(now time.Time) bool { return now.Sub(r.CreatedAt) < taskTokenLifetime }

// snapInstance is one instance of a snapshot, with the revisions the
// commit checks and its awsvpc addresses.
type snapInstance struct {
	ci           ecs.ContainerInstance
	rev          int64 // of the instance record
	placementRev int64 // of its placement record; 0: none yet
	placements   int   // the placement record's counter
	cidr         netip.Prefix
	hasCIDR      bool
	usedAddrs    map[netip.Addr]bool
	sharedAddrs  bool // usedAddrs is a placement base's: copy before writing
}

// useAddress marks addr used on the instance.
func (si *snapInstance) useAddress(addr netip.Addr) {
	if si.sharedAddrs {
		si.usedAddrs, si.sharedAddrs = maps.Clone(si.usedAddrs), false
	}
	si.usedAddrs[addr] = true
}

// freeAddress reports whether an awsvpc task could still get an address.
func (si *snapInstance) freeAddress() bool {
	if !si.hasCIDR {
		return false
	}
	_, ok := ecs.AllocateAwsvpcAddress(si.cidr, si.usedAddrs)
	return ok
}

// errLaggingView asks state.Retry for another attempt over a fresh view: a
// first attempt reads the cluster view as it is, which may not show tasks
// that stopped just before the call (read-your-writes for StopTask then
// RunTask), so a failure to place is only reported from a fresh one.
var errLaggingView = fmt.Errorf("placement over a possibly lagging cluster view found no room: %w", store.ErrConflict)

// placementSnapshot reads what placing tasks in cluster depends on: the
// cluster view's instances, the active tasks on them and their placement
// records, all as of one store revision. That revision may lag the store:
// a decision over it commits only if every instance it places on, and its
// placement record, are still as read. fresh asks for a view at least as
// recent as the store now (after such a conflict).
func (h *Handler) placementSnapshot(ctx context.Context, cluster string, fresh bool) (*taskSnapshot, error) {
	_, crev, err := h.activeCluster(ctx, cluster)
	if err != nil {
		return nil, err
	}
	var atLeast int64
	if fresh {
		if _, atLeast, err = h.store.List(ctx, state.ClusterKey(cluster), store.ListOptions{Limit: 1}); err != nil {
			return nil, err
		}
	}
	now := h.now()
	var shared *sharedSnapshot
	err = h.readCluster(ctx, cluster, atLeast, func(c *clusterview.Cluster) {
		shared = h.bases.snapshot(cluster, c, now)
	})
	if err != nil {
		return nil, err
	}
	return newTaskSnapshot(crev, shared), nil
}

// readCluster calls fn with cluster's instances and tasks as of store
// revision atLeast or later: from the cluster view when it is caught up,
// else from the store.
func (h *Handler) readCluster(ctx context.Context, cluster string, atLeast int64, fn func(*clusterview.Cluster)) error {
	return h.view.ReadOrLoad(ctx, h.store, cluster, atLeast, fn)
}

// newTaskRecord builds the record of one task of l placed on the
// snapshot's instance instanceID with the dynamic host ports hostPorts.
// ok is false when an awsvpc task finds no free address on the instance.
func (h *Handler) newTaskRecord(l *taskLaunch, snap *taskSnapshot, instanceID string, hostPorts []int, now time.Time) (ecs.Task, bool) {
	si := snap.instance(instanceID)
	id := taskNewID()
	t := ecs.Task{
		ID:                   id,
		ARN:                  h.namer.Task(l.cluster, id),
		Cluster:              l.cluster,
		ContainerInstanceID:  si.ci.ID,
		ContainerInstanceARN: si.ci.ARN,
		Definition:           l.def,
		Overrides:            l.overrides,
		LaunchType:           l.launchType,
		CPU:                  l.def.CPU,
		Memory:               l.def.Memory,
		LastStatus:           ecs.TaskPending,
		DesiredStatus:        ecs.TaskRunning,
		StartedBy:            l.startedBy,
		Group:                l.group,
		Tags:                 l.tags,
		AvailabilityZone:     taskAttribute(&si.ci, ecs.AttributeAvailabilityZone),
		EnableExecuteCommand: l.enableExec,
		CreatedAt:            now,
		Version:              1,
		Seq:                  1,
	}
	dyn := 0
	for _, p := range l.ports {
		if p.HostPort == 0 && dyn < len(hostPorts) {
			p.HostPort = hostPorts[dyn]
			dyn++
		}
		t.Ports = append(t.Ports, p)
	}
	var eni []ecs.NetworkInterface
	if l.awsvpc {
		addr, ok := ecs.AllocateAwsvpcAddress(si.cidr, si.usedAddrs)
		if !si.hasCIDR || !ok {
			return ecs.Task{}, false
		}
		snap.mutableInstance(instanceID).useAddress(addr)
		att := ecs.NewENIAttachment(ecs.ENIAttachment{ID: taskUUID(), NetworkInterfaceID: "eni-" + taskRandHex(9)[:17],
			InstanceID: si.ci.ID, Region: h.namer.Region, Address: addr})
		t.Attachments = []ecs.Attachment{att}
		t.LastStatus = ecs.TaskProvisioning
		eni = []ecs.NetworkInterface{{AttachmentID: att.ID, PrivateIPv4Address: addr.String()}}
	}
	for _, c := range l.def.ContainerDefinitions {
		tc := ecs.TaskContainer{
			Name:              c.Name,
			ARN:               h.namer.Container(l.cluster, id, taskUUID()),
			Image:             c.Image,
			LastStatus:        ecs.ContainerPending,
			CPU:               strconv.Itoa(c.CPU),
			NetworkInterfaces: eni,
		}
		if c.Memory != nil {
			tc.Memory = strconv.Itoa(*c.Memory)
		}
		if c.MemoryReservation != nil {
			tc.MemoryReservation = strconv.Itoa(*c.MemoryReservation)
		}
		t.Containers = append(t.Containers, tc)
	}
	return t, true
}

func taskAttribute(ci *ecs.ContainerInstance, name string) string {
	for _, a := range ci.Attributes {
		if a.Name == name {
			return a.Value
		}
	}
	return ""
}

// commitNewTasks writes tasks in one transaction that also checks the
// cluster, every instance they go to and its placement record (which it
// rewrites), plus extra ops.
func (h *Handler) commitNewTasks(ctx context.Context, cluster string, snap *taskSnapshot, tasks []ecs.Task, extra ...store.Op) error {
	ops := []store.Op{store.Check(state.ClusterKey(cluster), snap.clusterRev), state.AddMembersOp(cluster)}
	touched := map[string]bool{}
	for i := range tasks {
		t := &tasks[i]
		put, err := state.PutOp(state.TaskKey(cluster, t.ID), t, store.ExpectAbsent)
		if err != nil {
			return err
		}
		ops = append(ops, put)
		if touched[t.ContainerInstanceID] {
			continue
		}
		touched[t.ContainerInstanceID] = true
		si := snap.instance(t.ContainerInstanceID)
		expect := si.placementRev
		if expect == 0 {
			expect = store.ExpectAbsent
		}
		ops = append(ops,
			store.Check(state.InstanceKey(cluster, si.ci.ID), si.rev),
			store.Put(state.TaskPlacementKey(cluster, si.ci.ID), []byte(strconv.Itoa(si.placements+1)), expect))
	}
	_, err := h.store.Txn(ctx, append(ops, extra...)...)
	return err
}

// runTasks places and commits a RunTask's tasks, or replays what an
// earlier request with the same clientToken started.
func (h *Handler) runTasks(ctx context.Context, l *taskLaunch, in *wire.RunTaskRequest) ([]ecs.Task, []wire.Failure, error) {
	var hash string
	if in.ClientToken != "" {
		var err error
		if hash, err = taskRequestHash(in); err != nil {
			return nil, nil, err
		}
	}
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	var tasks []ecs.Task
	var failures []wire.Failure
	var replay *taskTokenRecord
	attempts := 0
	err := state.Retry(ctx, func() error {
		attempts++
		now := taskStamp(h.now())
		tokenKey, tokenExpect := "", int64(0)
		if in.ClientToken != "" {
			tokenKey = taskTokenKey(l.cluster, in.ClientToken)
			rec, rev, err := state.Get[taskTokenRecord](ctx, h.store, tokenKey)
			switch {
			case err == nil && rec.live(now):
				if rec.Hash != hash {
					return ecs.Errorf(ecs.ErrClient, "The clientToken %q was already used by a RunTask request with different parameters. Use a new clientToken for a new request.", in.ClientToken)
				}
				replay = &rec
				return nil
			case err == nil: // expired: taken over
				tokenExpect = rev
			case errors.Is(err, store.ErrNotFound):
				tokenExpect = store.ExpectAbsent
			default:
				return err
			}
		}
		snap, err := h.placementSnapshot(ctx, l.cluster, attempts > 1)
		if err != nil {
			return err
		}
		tasks, failures, err = h.placeRunTasks(l, snap, rng, now)
		if attempts == 1 && (len(failures) > 0 || errors.Is(err, scheduler.ErrNoContainerInstances)) {
			return errLaggingView // what did not fit may fit in the store as it is now
		}
		if err != nil || len(tasks) == 0 {
			// Nothing started: a retry with the same token may try again.
			return err
		}
		var extra []store.Op
		if tokenKey != "" {
			rec := taskTokenRecord{Hash: hash, Failures: failures, CreatedAt: now}
			for _, t := range tasks {
				rec.TaskIDs = append(rec.TaskIDs, t.ID)
			}
			put, err := state.PutOp(tokenKey, rec, tokenExpect)
			if err != nil {
				return err
			}
			extra = append(extra, put)
		}
		return h.commitNewTasks(ctx, l.cluster, snap, tasks, extra...)
	})
	if err != nil {
		return nil, nil, err
	}
	if replay != nil {
		return h.replayRunTask(ctx, l.cluster, replay)
	}
	return tasks, failures, nil
}

// replayRunTask answers a repeated RunTask with the tasks the first one
// started (those not yet swept away).
func (h *Handler) replayRunTask(ctx context.Context, cluster string, rec *taskTokenRecord) ([]ecs.Task, []wire.Failure, error) {
	var tasks []ecs.Task
	for _, id := range rec.TaskIDs {
		t, _, err := state.Get[ecs.Task](ctx, h.store, state.TaskKey(cluster, id))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		tasks = append(tasks, t)
	}
	return tasks, nonNil(rec.Failures), nil
}

// placeRunTasks decides where a RunTask's tasks go and builds them, and
// takes what they hold from snap's instances (a later placement over snap
// sees it). awsvpc tasks also need an address on their instance, which
// the scheduler does not know of: instances without one are no
// candidates, and when placed tasks find an instance's subnet full, the
// rest are placed again without it.
func (h *Handler) placeRunTasks(l *taskLaunch, snap *taskSnapshot, rng *rand.Rand, now time.Time) ([]ecs.Task, []wire.Failure, error) {
	fails := &taskFailures{}
	var tasks []ecs.Task
	var last []scheduler.Failure // the scheduler's reasons for what it could not place
	noENI := map[string]bool{}   // ACTIVE instances an awsvpc task cannot get an address on
	for len(tasks) < l.req.Count {
		if l.awsvpc {
			for i, c := range snap.candidates() {
				if c.Status == string(ecs.InstanceActive) && !snap.instance(c.ID).freeAddress() {
					snap.exclude(i, "NO_FREE_ADDRESS")
					noENI[c.ARN] = true
				}
			}
		}
		req := l.req
		req.Count = l.req.Count - len(tasks)
		res, err := scheduler.PlaceOn(snap.candidates(), req, rng)
		if errors.Is(err, scheduler.ErrNoContainerInstances) && len(noENI) > 0 {
			last = nil
			break
		}
		if err != nil {
			return nil, nil, err
		}
		last = res.Failures
		dropped := false
		for _, p := range res.Placements {
			t, ok := h.newTaskRecord(l, snap, p.InstanceID, p.HostPorts, now)
			if !ok {
				dropped = true
				continue
			}
			tasks = append(tasks, t)
			if i, ok := snap.candidate(p.InstanceID); ok {
				snap.take(i, l, &t)
			}
		}
		if !dropped {
			break // the scheduler's answer stands
		}
	}
	for _, f := range last {
		fails.addDetail(f.InstanceARN, f.Reason, f.Detail)
	}
	if len(tasks) < l.req.Count {
		for _, c := range snap.candidates() {
			if noENI[c.ARN] {
				fails.add(c.ARN, ecs.FailureResourceENI)
			}
		}
	}
	return tasks, fails.list, nil
}

// startTasks places one task on each named instance, in order, and
// commits them.
func (h *Handler) startTasks(ctx context.Context, l *taskLaunch, refs []string) ([]ecs.Task, []wire.Failure, error) {
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	var tasks []ecs.Task
	var fails *taskFailures
	attempts := 0
	err := state.Retry(ctx, func() error {
		attempts++
		tasks, fails = nil, &taskFailures{}
		now := taskStamp(h.now())
		snap, err := h.placementSnapshot(ctx, l.cluster, attempts > 1)
		if err != nil {
			return err
		}
		for _, ref := range refs {
			id, ok := h.ciRefID(l.cluster, ref)
			si := snap.instance(id)
			if !ok || si == nil || si.ci.ID == "" {
				missing := ref
				if ok {
					missing = h.namer.ContainerInstance(l.cluster, id)
				}
				fails.add(missing, ecs.FailureMissing)
				continue
			}
			if si.ci.Status != ecs.InstanceActive {
				fails.add(si.ci.ARN, string(si.ci.Status))
				continue
			}
			if l.awsvpc && !si.freeAddress() {
				fails.add(si.ci.ARN, ecs.FailureResourceENI)
				continue
			}
			i, _ := snap.candidate(id) // ACTIVE, so a candidate
			res, err := scheduler.PlaceOn(snap.candidates()[i:i+1], l.req, rng)
			if err != nil {
				return err
			}
			if len(res.Placements) == 0 {
				for _, f := range res.Failures {
					fails.addDetail(f.InstanceARN, f.Reason, f.Detail)
				}
				continue
			}
			t, ok := h.newTaskRecord(l, snap, id, res.Placements[0].HostPorts, now)
			if !ok {
				fails.add(si.ci.ARN, ecs.FailureResourceENI)
				continue
			}
			tasks = append(tasks, t)
			snap.take(i, l, &t)
		}
		if attempts == 1 && len(fails.list) > 0 {
			return errLaggingView
		}
		if len(tasks) == 0 {
			return nil
		}
		return h.commitNewTasks(ctx, l.cluster, snap, tasks)
	})
	if err != nil {
		return nil, nil, err
	}
	return tasks, fails.list, nil
}

// taskFailures collects failures, each instance and reason once.
type taskFailures struct {
	list []wire.Failure
}

func (f *taskFailures) add(arn, reason string) { f.addDetail(arn, reason, "") }

func (f *taskFailures) addDetail(arn, reason, detail string) {
	for _, g := range f.list {
		if g.Arn == arn && g.Reason == reason {
			return
		}
	}
	w := taskFailure(arn, reason)
	w.Detail = detail
	f.list = append(f.list, w)
}

// taskNewID returns a task id: 32 random hex digits, as ECS's.
func taskNewID() string { return taskRandHex(16) }

// taskUUID returns a random (version 4) UUID.
func taskUUID() string { return uuid.NewString() }

func taskRandHex(n int) string {
	b := make([]byte, n)
	crand.Read(b)
	return hex.EncodeToString(b)
}

func taskHashHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
