package ecs

import (
	"math"
	"strconv"
	"strings"
)

// Task-level cpu and memory limits.
const (
	// MinTaskCPU and MaxTaskCPU bound a task-level cpu value on EC2 and
	// external capacity (0.125 to 192 vCPU).
	MinTaskCPU = 128
	MaxTaskCPU = 196608
	// MinContainerMemoryMiB is the smallest container memory Docker 20.10+
	// accepts; ECS rejects less.
	MinContainerMemoryMiB = 6
	// MaxTaskMemoryMiB caps a task-level memory value (the wire carries it
	// as a string; Berth keeps it within int32 like every other ECS integer).
	MaxTaskMemoryMiB = math.MaxInt32
)

// fargateSize is one row of the Fargate task size table: the memory values
// (MiB) allowed with a cpu value, either listed or as an inclusive range with
// a step.
type fargateSize struct {
	cpu                int
	listed             []int
	memMin, memMax, by int
}

// fargateSizes is the Fargate task size table from ECS's API reference
// (RegisterTaskDefinition cpu and memory), including the 8 and 16 vCPU sizes
// that need Linux platform 1.4.0.
var fargateSizes = []fargateSize{
	{cpu: 256, listed: []int{512, 1024, 2048}},
	{cpu: 512, memMin: 1024, memMax: 4096, by: 1024},
	{cpu: 1024, memMin: 2048, memMax: 8192, by: 1024},
	{cpu: 2048, memMin: 4096, memMax: 16384, by: 1024},
	{cpu: 4096, memMin: 8192, memMax: 30720, by: 1024},
	{cpu: 8192, memMin: 16384, memMax: 61440, by: 4096},
	{cpu: 16384, memMin: 32768, memMax: 122880, by: 8192},
}

// FargateCPUValues lists the task cpu values Fargate supports, ascending.
func FargateCPUValues() []int {
	out := make([]int, len(fargateSizes))
	for i, s := range fargateSizes {
		out[i] = s.cpu
	}
	return out
}

// FargateMemoryValues lists the task memory values (MiB) Fargate supports
// with the given task cpu, ascending; nil if cpu is not a Fargate size.
func FargateMemoryValues(cpu int) []int {
	for _, s := range fargateSizes {
		if s.cpu != cpu {
			continue
		}
		if s.listed != nil {
			return append([]int(nil), s.listed...)
		}
		var out []int
		for m := s.memMin; m <= s.memMax; m += s.by {
			out = append(out, m)
		}
		return out
	}
	return nil
}

// ValidFargateSize reports whether cpu units and memory MiB form a task size
// Fargate supports.
func ValidFargateSize(cpu, memory int) bool {
	for _, s := range fargateSizes {
		if s.cpu != cpu {
			continue
		}
		if s.listed != nil {
			for _, m := range s.listed {
				if m == memory {
					return true
				}
			}
			return false
		}
		return memory >= s.memMin && memory <= s.memMax && (memory-s.memMin)%s.by == 0
	}
	return false
}

// ParseTaskCPU parses a task-level cpu value the way RegisterTaskDefinition
// accepts it: CPU units ("1024") or vCPUs with a case-insensitive "vCPU"
// suffix ("1 vCPU", "0.5 vcpu", "2vcpu"). A vCPU value must come to a whole
// number of units. ok is false for anything else, including non-positive
// values; range checks are the caller's.
func ParseTaskCPU(s string) (units int, ok bool) {
	return parseTaskSize(s, "vcpu")
}

// ParseTaskMemory parses a task-level memory value: MiB ("2048") or GB with
// a case-insensitive "GB" suffix ("2 GB", "2GB", "0.5 gb"), 1 GB being
// 1024 MiB. A GB value must come to a whole number of MiB.
func ParseTaskMemory(s string) (mib int, ok bool) {
	return parseTaskSize(s, "gb")
}

// parseTaskSize parses digits, or a decimal number followed by suffix
// (times 1024). Only ASCII digits and one dot are accepted in the number, so
// forms strconv would take ("1e3", "0x10", "Inf", "+5") are rejected.
func parseTaskSize(s, suffix string) (int, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 32 {
		return 0, false
	}
	lower := strings.ToLower(s)
	scaled := false
	if strings.HasSuffix(lower, suffix) {
		scaled = true
		s = strings.TrimSpace(s[:len(s)-len(suffix)])
	}
	if s == "" {
		return 0, false
	}
	dots := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
		case c == '.' && scaled:
			dots++
		default:
			return 0, false
		}
	}
	if dots > 1 || s == "." {
		return 0, false
	}
	if !scaled {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return 0, false
		}
		return n, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	v := f * 1024
	if v > math.MaxInt32 {
		return 0, false
	}
	r := math.Round(v)
	if math.Abs(v-r) > 1e-6 || r < 1 {
		return 0, false
	}
	return int(r), true
}
