package runtime

import (
	"context"
	"fmt"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	v1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"google.golang.org/protobuf/proto"
)

// v1MetricsType is the type URL of cgroup v1 task metrics.
const v1MetricsType = "io.containerd.cgroups.v1.Metrics"

// Stats is one sample of a container's resource use, with the fields of
// Docker's stats API (which ECS task metadata /stats serves).
type Stats struct {
	Read   time.Time
	CPU    CPUStats
	Memory MemoryStats
	Pids   PidsStats
	BlkIO  BlkIOStats
}

// CPUStats are cumulative CPU times in nanoseconds (docker cpu_stats).
type CPUStats struct {
	TotalUsage        uint64
	UsageInKernelmode uint64
	UsageInUsermode   uint64
	PercpuUsage       []uint64
	SystemUsage       uint64 // host CPU time of all CPUs since boot (system_cpu_usage)
	OnlineCPUs        uint32
	ThrottlingPeriods uint64
	ThrottledPeriods  uint64
	ThrottledTime     uint64
}

// MemoryStats are in bytes (docker memory_stats). Limit is the cgroup
// limit capped at the host's memory, as Docker reports it.
type MemoryStats struct {
	Usage    uint64
	MaxUsage uint64
	Limit    uint64
	Failcnt  uint64
	Stats    map[string]uint64 // memory.stat by Docker's keys: cache, rss, total_rss, ...
}

// PidsStats counts the container's processes (docker pids_stats).
type PidsStats struct{ Current, Limit uint64 }

// BlkIOEntry is one device/operation counter (docker blkio_stats entries).
type BlkIOEntry struct {
	Major, Minor uint64
	Op           string
	Value        uint64
}

// BlkIOStats are the recursive block I/O counters (docker blkio_stats).
type BlkIOStats struct {
	IoServiceBytesRecursive []BlkIOEntry
	IoServicedRecursive     []BlkIOEntry
}

// Stats samples the cgroup of the container's running process.
func (r *Runtime) Stats(ctx context.Context, id string) (Stats, error) {
	ctx = r.ns(ctx)
	resp, err := r.tasks.Metrics(ctx, &tasks.MetricsRequest{Filters: []string{"id==" + id}})
	if err != nil {
		return Stats{}, fmt.Errorf("metrics of %s: %w", id, errgrpc.ToNative(err))
	}
	if len(resp.Metrics) == 0 || resp.Metrics[0].Data == nil {
		return Stats{}, fmt.Errorf("metrics of %s: %w", id, ErrNotRunning)
	}
	data := resp.Metrics[0].Data
	if !strings.HasSuffix(data.GetTypeUrl(), v1MetricsType) {
		return Stats{}, fmt.Errorf("metrics of %s: unsupported type %s (cgroup v1 only): %w",
			id, data.GetTypeUrl(), errdefs.ErrNotImplemented)
	}
	var m v1.Metrics
	if err := proto.Unmarshal(data.GetValue(), &m); err != nil {
		return Stats{}, fmt.Errorf("decode metrics of %s: %w", id, err)
	}
	s := convertV1(&m, r.hostMemory)
	s.Read = resp.Metrics[0].Timestamp.AsTime()
	if s.Read.IsZero() || s.Read.Unix() == 0 {
		s.Read = time.Now()
	}
	s.CPU.SystemUsage = systemCPUUsage()
	s.CPU.OnlineCPUs = uint32(goruntime.NumCPU())
	return s, nil
}

func convertV1(m *v1.Metrics, hostMemory uint64) Stats {
	var s Stats
	if c := m.GetCPU(); c != nil {
		u := c.GetUsage()
		s.CPU.TotalUsage = u.GetTotal()
		s.CPU.UsageInKernelmode = u.GetKernel()
		s.CPU.UsageInUsermode = u.GetUser()
		s.CPU.PercpuUsage = append([]uint64(nil), u.GetPerCPU()...)
		t := c.GetThrottling()
		s.CPU.ThrottlingPeriods = t.GetPeriods()
		s.CPU.ThrottledPeriods = t.GetThrottledPeriods()
		s.CPU.ThrottledTime = t.GetThrottledTime()
	}
	if mem := m.GetMemory(); mem != nil {
		u := mem.GetUsage()
		s.Memory.Usage = u.GetUsage()
		s.Memory.MaxUsage = u.GetMax()
		s.Memory.Failcnt = u.GetFailcnt()
		s.Memory.Limit = u.GetLimit()
		if hostMemory > 0 && (s.Memory.Limit == 0 || s.Memory.Limit > hostMemory) {
			s.Memory.Limit = hostMemory
		}
		s.Memory.Stats = map[string]uint64{
			"cache": mem.Cache, "rss": mem.RSS, "rss_huge": mem.RSSHuge, "mapped_file": mem.MappedFile,
			"dirty": mem.Dirty, "writeback": mem.Writeback, "pgpgin": mem.PgPgIn, "pgpgout": mem.PgPgOut,
			"pgfault": mem.PgFault, "pgmajfault": mem.PgMajFault, "inactive_anon": mem.InactiveAnon,
			"active_anon": mem.ActiveAnon, "inactive_file": mem.InactiveFile, "active_file": mem.ActiveFile,
			"unevictable": mem.Unevictable, "hierarchical_memory_limit": mem.HierarchicalMemoryLimit,
			"hierarchical_memsw_limit": mem.HierarchicalSwapLimit, "total_cache": mem.TotalCache,
			"total_rss": mem.TotalRSS, "total_rss_huge": mem.TotalRSSHuge, "total_mapped_file": mem.TotalMappedFile,
			"total_dirty": mem.TotalDirty, "total_writeback": mem.TotalWriteback, "total_pgpgin": mem.TotalPgPgIn,
			"total_pgpgout": mem.TotalPgPgOut, "total_pgfault": mem.TotalPgFault,
			"total_pgmajfault": mem.TotalPgMajFault, "total_inactive_anon": mem.TotalInactiveAnon,
			"total_active_anon": mem.TotalActiveAnon, "total_inactive_file": mem.TotalInactiveFile,
			"total_active_file": mem.TotalActiveFile, "total_unevictable": mem.TotalUnevictable,
		}
	}
	if p := m.GetPids(); p != nil {
		s.Pids = PidsStats{Current: p.GetCurrent(), Limit: p.GetLimit()}
	}
	if b := m.GetBlkio(); b != nil {
		s.BlkIO.IoServiceBytesRecursive = blkio(b.GetIoServiceBytesRecursive())
		s.BlkIO.IoServicedRecursive = blkio(b.GetIoServicedRecursive())
	}
	return s
}

func blkio(in []*v1.BlkIOEntry) []BlkIOEntry {
	out := make([]BlkIOEntry, 0, len(in))
	for _, e := range in {
		out = append(out, BlkIOEntry{Major: e.GetMajor(), Minor: e.GetMinor(), Op: e.GetOp(), Value: e.GetValue()})
	}
	return out
}

// clockTicks is USER_HZ, 100 on every Linux architecture Berth runs on.
const clockTicks = 100

// systemCPUUsage sums the host's "cpu" line of /proc/stat in nanoseconds,
// as Docker's system_cpu_usage; 0 if unreadable.
func systemCPUUsage() uint64 {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	return parseProcStatCPU(string(data))
}

func parseProcStatCPU(data string) uint64 {
	for _, line := range strings.Split(data, "\n") {
		f := strings.Fields(line)
		if len(f) < 8 || f[0] != "cpu" {
			continue
		}
		var ticks uint64
		for _, v := range f[1:8] { // user nice system idle iowait irq softirq
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0
			}
			ticks += n
		}
		return ticks * (uint64(time.Second) / clockTicks)
	}
	return 0
}
