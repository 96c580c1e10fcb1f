package ecs

import (
	"slices"
	"testing"
)

func TestFargateSizeTable(t *testing.T) {
	if got, want := FargateCPUValues(), []int{256, 512, 1024, 2048, 4096, 8192, 16384}; !slices.Equal(got, want) {
		t.Fatalf("FargateCPUValues() = %v, want %v", got, want)
	}
	// Count and bounds per cpu value, from ECS's API reference table.
	rows := []struct {
		cpu, count, first, last int
	}{
		{256, 3, 512, 2048},
		{512, 4, 1024, 4096},
		{1024, 7, 2048, 8192},
		{2048, 13, 4096, 16384},
		{4096, 23, 8192, 30720},
		{8192, 12, 16384, 61440},
		{16384, 12, 32768, 122880},
	}
	total := 0
	for _, r := range rows {
		mems := FargateMemoryValues(r.cpu)
		total += len(mems)
		if len(mems) != r.count || mems[0] != r.first || mems[len(mems)-1] != r.last {
			t.Errorf("FargateMemoryValues(%d) = %v, want %d values from %d to %d", r.cpu, mems, r.count, r.first, r.last)
		}
		for _, m := range mems {
			if !ValidFargateSize(r.cpu, m) {
				t.Errorf("ValidFargateSize(%d, %d) = false for a listed value", r.cpu, m)
			}
		}
	}
	if total != 74 {
		t.Errorf("table has %d cpu/memory pairs, want 74", total)
	}
	if FargateMemoryValues(128) != nil {
		t.Error("FargateMemoryValues(128) != nil")
	}
}

func TestValidFargateSize(t *testing.T) {
	tests := []struct {
		cpu, mem int
		want     bool
	}{
		{256, 512, true},
		{256, 1024, true},
		{256, 2048, true},
		{256, 1536, false}, // 0.25 vCPU allows only three values
		{256, 3072, false},
		{512, 512, false},
		{512, 1024, true},
		{512, 4096, true},
		{512, 5120, false},
		{1024, 2048, true},
		{1024, 1024, false}, // the value Terraform users trip over
		{1024, 2560, false}, // off the 1 GB step
		{1024, 9216, false},
		{2048, 16384, true},
		{2048, 17408, false},
		{4096, 30720, true},
		{4096, 31744, false},
		{8192, 16384, true},
		{8192, 20480, true},
		{8192, 17408, false}, // 8 vCPU steps by 4 GB
		{8192, 18432, false},
		{8192, 61440, true},
		{8192, 62464, false},
		{16384, 32768, true},
		{16384, 40960, true},
		{16384, 33792, false}, // 16 vCPU steps by 8 GB
		{16384, 36864, false},
		{16384, 122880, true},
		{16384, 131072, false},
		{32768, 65536, false}, // there is no 32 vCPU size
		{128, 512, false},
		{0, 0, false},
		{-256, -512, false},
	}
	for _, tt := range tests {
		if got := ValidFargateSize(tt.cpu, tt.mem); got != tt.want {
			t.Errorf("ValidFargateSize(%d, %d) = %v, want %v", tt.cpu, tt.mem, got, tt.want)
		}
	}
}

func TestParseTaskCPU(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"1024", 1024, true},
		{"256", 256, true},
		{" 512 ", 512, true},
		{"1 vCPU", 1024, true},
		{"1 vcpu", 1024, true},
		{"0.5 vcpu", 512, true},
		{".25 vCPU", 256, true},
		{"2vcpu", 2048, true},
		{"0.125 VCPU", 128, true},
		{"16 vCPU", 16384, true},
		{"0.1 vcpu", 0, false}, // 102.4 units is not whole
		{"", 0, false},
		{"vcpu", 0, false},
		{"0", 0, false},
		{"-1024", 0, false},
		{"+1024", 0, false},
		{"1024.0", 0, false},
		{"1e3 vcpu", 0, false},
		{"Inf vcpu", 0, false},
		{"0x10", 0, false},
		{"1.2.3 vcpu", 0, false},
		{". vcpu", 0, false},
		{"1 GB", 0, false},
		{"99999999999999999999", 0, false},
		{"9999999999999 vcpu", 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseTaskCPU(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseTaskCPU(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseTaskMemory(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"2048", 2048, true},
		{"2 GB", 2048, true},
		{"2GB", 2048, true},
		{"2 gb", 2048, true},
		{"0.5 GB", 512, true},
		{"120 GB", 122880, true},
		{"1.5GB", 1536, true},
		{"2 MB", 0, false},
		{"2 GiB", 0, false},
		{"0.001 GB", 0, false},
		{"GB", 0, false},
		{"", 0, false},
		{"-512", 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseTaskMemory(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseTaskMemory(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
