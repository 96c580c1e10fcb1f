package tmds

import (
	"sync"
	"time"
)

// dockerStats is Docker's container stats JSON, which ECS serves from the
// /stats routes.
type dockerStats struct {
	Read      time.Time                     `json:"read"`
	PreRead   time.Time                     `json:"preread"`
	Name      string                        `json:"name"`
	ID        string                        `json:"id"`
	NumProcs  uint64                        `json:"num_procs"`
	PidsStats pidsStats                     `json:"pids_stats"`
	CPU       cpuStats                      `json:"cpu_stats"`
	PreCPU    cpuStats                      `json:"precpu_stats"`
	Memory    memoryStats                   `json:"memory_stats"`
	BlkIO     blkioStats                    `json:"blkio_stats"`
	Networks  map[string]dockerNetworkStats `json:"networks,omitempty"`
}

type pidsStats struct {
	Current uint64 `json:"current"`
}

type cpuUsage struct {
	TotalUsage        uint64   `json:"total_usage"`
	PercpuUsage       []uint64 `json:"percpu_usage,omitempty"`
	UsageInKernelmode uint64   `json:"usage_in_kernelmode"`
	UsageInUsermode   uint64   `json:"usage_in_usermode"`
}

type throttlingData struct {
	Periods          uint64 `json:"periods"`
	ThrottledPeriods uint64 `json:"throttled_periods"`
	ThrottledTime    uint64 `json:"throttled_time"`
}

type cpuStats struct {
	CPUUsage       cpuUsage       `json:"cpu_usage"`
	SystemCPUUsage uint64         `json:"system_cpu_usage,omitempty"`
	OnlineCPUs     int            `json:"online_cpus,omitempty"`
	ThrottlingData throttlingData `json:"throttling_data"`
}

type memoryStats struct {
	Usage    uint64            `json:"usage,omitempty"`
	MaxUsage uint64            `json:"max_usage,omitempty"`
	Stats    map[string]uint64 `json:"stats,omitempty"`
	Limit    uint64            `json:"limit,omitempty"`
}

type blkioStats struct {
	IoServiceBytesRecursive []any `json:"io_service_bytes_recursive"`
	IoServicedRecursive     []any `json:"io_serviced_recursive"`
}

type dockerNetworkStats struct {
	RxBytes   uint64 `json:"rx_bytes"`
	RxPackets uint64 `json:"rx_packets"`
	RxErrors  uint64 `json:"rx_errors"`
	RxDropped uint64 `json:"rx_dropped"`
	TxBytes   uint64 `json:"tx_bytes"`
	TxPackets uint64 `json:"tx_packets"`
	TxErrors  uint64 `json:"tx_errors"`
	TxDropped uint64 `json:"tx_dropped"`
}

func toCPU(s Stats) cpuStats {
	return cpuStats{
		CPUUsage:       cpuUsage{TotalUsage: s.CPUTotal, PercpuUsage: s.CPUPerCPU, UsageInKernelmode: s.CPUKernel, UsageInUsermode: s.CPUUser},
		SystemCPUUsage: s.SystemCPU,
		OnlineCPUs:     s.OnlineCPUs,
		ThrottlingData: throttlingData{Periods: s.ThrottlePeriods, ThrottledPeriods: s.ThrottledPeriods, ThrottledTime: s.ThrottledTime},
	}
}

// dockerStats puts a sample in Docker's shape, with the container's
// previous sample as precpu_stats (zero on the first request), as Docker
// does for a one-shot stats read.
func (h *Handler) dockerStats(c Container, s Stats) dockerStats {
	out := dockerStats{
		Read:      s.Read,
		Name:      c.DockerName,
		ID:        c.DockerID,
		PidsStats: pidsStats{Current: s.Pids},
		CPU:       toCPU(s),
		Memory:    memoryStats{Usage: s.MemoryUsage, MaxUsage: s.MemoryMaxUsage, Stats: s.MemoryStats, Limit: s.MemoryLimit},
		BlkIO:     blkioStats{IoServiceBytesRecursive: []any{}, IoServicedRecursive: []any{}},
	}
	if len(s.Networks) > 0 {
		out.Networks = map[string]dockerNetworkStats{}
		for name, n := range s.Networks {
			out.Networks[name] = dockerNetworkStats(n)
		}
	}
	if prev, ok := h.prev.swap(c.DockerID, s); ok {
		out.PreRead = prev.Read
		out.PreCPU = toCPU(prev)
	}
	return out
}

// sampleCache keeps the last sample per container, bounded so that
// containers that are gone do not pile up.
type sampleCache struct {
	mu sync.Mutex
	m  map[string]Stats
}

const maxSamples = 4096

func newSampleCache() *sampleCache { return &sampleCache{m: map[string]Stats{}} }

func (c *sampleCache) swap(id string, s Stats) (Stats, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	prev, ok := c.m[id]
	if !ok && len(c.m) >= maxSamples {
		clear(c.m)
	}
	c.m[id] = s
	return prev, ok
}
