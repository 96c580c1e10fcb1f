// Package tmds serves the ECS task metadata endpoint, version 4, to the
// containers the agent runs: ECS_CONTAINER_METADATA_URI_V4 points at
// http://<host>:<port>/v4/<token>, where the token names one container.
//
//	GET /v4/<token>             the container's metadata
//	GET /v4/<token>/task        the task's metadata with all its containers
//	GET /v4/<token>/stats       the container's resource use (Docker stats shape)
//	GET /v4/<token>/task/stats  every container's resource use, by runtime ID
//
// The JSON shapes are ECS's. Handlers only read through the small Source
// interface; they never touch the engine.
package tmds

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Source answers what the endpoint serves. The engine implements it.
type Source interface {
	// Lookup returns the task that container token belongs to and the
	// index of that container in Task.Containers.
	Lookup(token string) (Task, int, bool)
	// Stats returns a container's resource use by runtime ID.
	Stats(ctx context.Context, runtimeID string) (Stats, error)
}

// Task is the v4 task metadata response.
type Task struct {
	Cluster            string      `json:"Cluster"`
	TaskARN            string      `json:"TaskARN"`
	Family             string      `json:"Family"`
	Revision           string      `json:"Revision"`
	DesiredStatus      string      `json:"DesiredStatus"`
	KnownStatus        string      `json:"KnownStatus"`
	Limits             *Limits     `json:"Limits,omitempty"`
	PullStartedAt      *time.Time  `json:"PullStartedAt,omitempty"`
	PullStoppedAt      *time.Time  `json:"PullStoppedAt,omitempty"`
	ExecutionStoppedAt *time.Time  `json:"ExecutionStoppedAt,omitempty"`
	AvailabilityZone   string      `json:"AvailabilityZone,omitempty"`
	LaunchType         string      `json:"LaunchType,omitempty"`
	ServiceName        string      `json:"ServiceName,omitempty"`
	Containers         []Container `json:"Containers"`
}

// Limits are cpu (vCPU for a task, units for a container) and memory (MiB).
type Limits struct {
	CPU    float64 `json:"CPU,omitempty"`
	Memory int64   `json:"Memory,omitempty"`
}

// Container is the v4 container metadata response.
type Container struct {
	DockerID      string            `json:"DockerId"`
	Name          string            `json:"Name"`
	DockerName    string            `json:"DockerName"`
	Image         string            `json:"Image"`
	ImageID       string            `json:"ImageID,omitempty"`
	Labels        map[string]string `json:"Labels,omitempty"`
	DesiredStatus string            `json:"DesiredStatus"`
	KnownStatus   string            `json:"KnownStatus"`
	ExitCode      *int              `json:"ExitCode,omitempty"`
	Limits        Limits            `json:"Limits"`
	CreatedAt     *time.Time        `json:"CreatedAt,omitempty"`
	StartedAt     *time.Time        `json:"StartedAt,omitempty"`
	FinishedAt    *time.Time        `json:"FinishedAt,omitempty"`
	Type          string            `json:"Type"`
	ContainerARN  string            `json:"ContainerARN,omitempty"`
	Health        *Health           `json:"Health,omitempty"`
	LogDriver     string            `json:"LogDriver,omitempty"`
	Networks      []Network         `json:"Networks,omitempty"`
	Ports         []Port            `json:"Ports,omitempty"`
}

// Health is a container's health check state.
type Health struct {
	Status      string     `json:"status"`
	StatusSince *time.Time `json:"statusSince,omitempty"`
	ExitCode    *int       `json:"exitCode,omitempty"`
	Output      string     `json:"output,omitempty"`
}

// Network is one network a container is attached to.
type Network struct {
	NetworkMode              string   `json:"NetworkMode"`
	IPv4Addresses            []string `json:"IPv4Addresses,omitempty"`
	AttachmentIndex          *int     `json:"AttachmentIndex,omitempty"`
	MACAddress               string   `json:"MACAddress,omitempty"`
	IPv4SubnetCIDRBlock      string   `json:"IPv4SubnetCIDRBlock,omitempty"`
	PrivateDNSName           string   `json:"PrivateDNSName,omitempty"`
	SubnetGatewayIpv4Address string   `json:"SubnetGatewayIpv4Address,omitempty"`
}

// Port is a published port of a container.
type Port struct {
	ContainerPort int    `json:"ContainerPort"`
	Protocol      string `json:"Protocol"`
	HostPort      int    `json:"HostPort,omitempty"`
	HostIP        string `json:"HostIp,omitempty"`
}

// Stats is one sample of a container's resource use, the runtime's
// figures before they are put in Docker's stats shape.
type Stats struct {
	Read                                             time.Time
	CPUTotal                                         uint64   // ns of cpu time, all cpus
	CPUPerCPU                                        []uint64 // ns per cpu
	CPUKernel                                        uint64
	CPUUser                                          uint64
	SystemCPU                                        uint64 // ns of cpu time of the whole host
	OnlineCPUs                                       int
	ThrottlePeriods, ThrottledPeriods, ThrottledTime uint64
	MemoryUsage                                      uint64
	MemoryMaxUsage                                   uint64
	MemoryLimit                                      uint64
	MemoryStats                                      map[string]uint64 // cache, rss, ... as the cgroup reports
	Pids                                             uint64
	Networks                                         map[string]NetworkStats
}

// NetworkStats are one interface's counters.
type NetworkStats struct {
	RxBytes, RxPackets, RxErrors, RxDropped uint64
	TxBytes, TxPackets, TxErrors, TxDropped uint64
}

// Handler serves the endpoint.
type Handler struct {
	src Source
	log *slog.Logger
	// prev keeps each container's previous sample, for precpu_stats.
	prev *sampleCache
}

// New returns a Handler reading from src.
func New(src Source, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.Default()
	}
	return &Handler{src: src, log: log, prev: newSampleCache()}
}

// ServeHTTP implements the routes in the package comment.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "only GET is served")
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/v4/")
	if !ok {
		writeError(w, http.StatusNotFound, "unknown path")
		return
	}
	token, sub, _ := strings.Cut(rest, "/")
	task, idx, found := h.src.Lookup(token)
	if !found {
		writeError(w, http.StatusNotFound, "no container for this metadata URI")
		return
	}
	switch sub {
	case "":
		writeJSON(w, task.Containers[idx])
	case "task":
		writeJSON(w, task)
	case "stats":
		c := task.Containers[idx]
		s, err := h.src.Stats(r.Context(), c.DockerID)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "stats unavailable: "+err.Error())
			return
		}
		writeJSON(w, h.dockerStats(c, s))
	case "task/stats":
		out := map[string]any{}
		for _, c := range task.Containers {
			if c.DockerID == "" {
				continue
			}
			s, err := h.src.Stats(r.Context(), c.DockerID)
			if err != nil {
				// ECS answers null for a container without stats.
				out[c.DockerID] = nil
				continue
			}
			out[c.DockerID] = h.dockerStats(c, s)
		}
		writeJSON(w, out)
	default:
		writeError(w, http.StatusNotFound, "unknown path")
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
