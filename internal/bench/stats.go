package bench

import (
	"math"
	"slices"
	"time"
)

// Percentile returns the p-th percentile (0 ≤ p ≤ 100) of sorted, which
// must be in ascending order, by the nearest-rank method: the smallest
// sample such that at least p percent of the samples are less than or
// equal to it. It returns 0 for no samples; p below 0 or above 100 is
// clamped.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	switch {
	case p <= 0 || math.IsNaN(p):
		return sorted[0]
	case p >= 100:
		return sorted[n-1]
	}
	// Rank in 1..n. The small epsilon keeps p*n that is an integer in exact
	// arithmetic (99 * 200 / 100 = 198) from rounding up through
	// floating-point error.
	rank := int(math.Ceil(p/100*float64(n) - 1e-9))
	rank = max(rank, 1)
	rank = min(rank, n)
	return sorted[rank-1]
}

// Latencies summarises a set of request latencies.
type Latencies struct {
	P50, P90, P99, Max time.Duration
}

// Summarize sorts samples in place and returns their percentiles.
func Summarize(samples []time.Duration) Latencies {
	slices.Sort(samples)
	return Latencies{
		P50: Percentile(samples, 50),
		P90: Percentile(samples, 90),
		P99: Percentile(samples, 99),
		Max: Percentile(samples, 100),
	}
}

// Throughput is count requests over elapsed, in requests per second; 0
// when elapsed is not positive.
func Throughput(count int, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return float64(count) / elapsed.Seconds()
}
