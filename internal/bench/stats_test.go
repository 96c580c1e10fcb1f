package bench

import (
	"math"
	"testing"
	"time"
)

// ms builds ascending samples 1ms, 2ms, … n ms.
func ms(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * time.Millisecond
	}
	return out
}

func TestPercentile(t *testing.T) {
	tests := []struct {
		name    string
		samples []time.Duration
		p       float64
		want    time.Duration
	}{
		{"no samples", nil, 50, 0},
		{"one sample p50", []time.Duration{7}, 50, 7},
		{"one sample p99", []time.Duration{7}, 99, 7},
		{"p0 is the minimum", ms(10), 0, 1 * time.Millisecond},
		{"negative p is the minimum", ms(10), -5, 1 * time.Millisecond},
		{"NaN p is the minimum", ms(10), math.NaN(), 1 * time.Millisecond},
		{"p100 is the maximum", ms(10), 100, 10 * time.Millisecond},
		{"p above 100 is the maximum", ms(10), 150, 10 * time.Millisecond},
		{"p50 of 10", ms(10), 50, 5 * time.Millisecond},
		{"p50 of 11 is the middle", ms(11), 50, 6 * time.Millisecond},
		{"p90 of 10", ms(10), 90, 9 * time.Millisecond},
		{"p99 of 10 is the maximum", ms(10), 99, 10 * time.Millisecond},
		{"p99 of 100", ms(100), 99, 99 * time.Millisecond},
		{"p99 of 200: exact rank 198, no float round-up", ms(200), 99, 198 * time.Millisecond},
		{"p99 of 1000", ms(1000), 99, 990 * time.Millisecond},
		{"p99 of 1001 rounds the rank up", ms(1001), 99, 991 * time.Millisecond},
		{"p90 of 3", ms(3), 90, 3 * time.Millisecond},
		{"p1 of 1000", ms(1000), 1, 10 * time.Millisecond},
		{"tiny p picks the first", ms(1000), 0.01, 1 * time.Millisecond},
		{"duplicates", []time.Duration{1, 1, 1, 5}, 75, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.samples, tt.p); got != tt.want {
				t.Errorf("Percentile(n=%d, %v) = %v, want %v", len(tt.samples), tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name    string
		samples []time.Duration
		want    Latencies
	}{
		{"empty", nil, Latencies{}},
		{"unsorted input is sorted first", []time.Duration{9, 3, 1, 7, 5}, Latencies{P50: 5, P90: 9, P99: 9, Max: 9}},
		{"100 reversed", reversed(ms(100)), Latencies{
			P50: 50 * time.Millisecond, P90: 90 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}},
		{"one outlier shows in p99 and max only", append(ms(99), time.Second), Latencies{
			P50: 50 * time.Millisecond, P90: 90 * time.Millisecond, P99: 99 * time.Millisecond, Max: time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Summarize(tt.samples); got != tt.want {
				t.Errorf("Summarize = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func reversed(s []time.Duration) []time.Duration {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
	return s
}

func TestThroughput(t *testing.T) {
	tests := []struct {
		count   int
		elapsed time.Duration
		want    float64
	}{
		{0, time.Second, 0},
		{100, time.Second, 100},
		{500, 250 * time.Millisecond, 2000},
		{10, 0, 0},
		{10, -time.Second, 0},
	}
	for _, tt := range tests {
		if got := Throughput(tt.count, tt.elapsed); got != tt.want {
			t.Errorf("Throughput(%d, %v) = %v, want %v", tt.count, tt.elapsed, got, tt.want)
		}
	}
}
