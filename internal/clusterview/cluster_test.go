package clusterview

import (
	"fmt"
	"slices"
	"testing"

	"github.com/berth/berth/internal/ecs"
)

// ChangedSince names every instance changed after a generation, and gives
// up when it cannot: instances joined or left, or the log was trimmed.
func TestChangedSince(t *testing.T) {
	c := newCluster()
	a := &Instance{Record: ecs.ContainerInstance{ID: "a"}}
	b := &Instance{Record: ecs.ContainerInstance{ID: "b"}}
	c.membership() // 1: a and b join
	c.bump(a)      // 2
	c.bump(b)      // 3
	c.bump(a)      // 4
	tests := []struct {
		since uint64
		want  []string
		ok    bool
	}{
		{0, nil, false},                    // before the join
		{1, []string{"a", "b", "a"}, true}, // as logged: 2 a, 3 b, 4 a
		{3, []string{"a"}, true},
		{4, nil, true},
		{5, nil, false}, // a generation this cluster never had
	}
	for _, tt := range tests {
		got, ok := c.ChangedSince(tt.since)
		if ok != tt.ok || !slices.Equal(got, tt.want) {
			t.Errorf("ChangedSince(%d) = %v, %v; want %v, %v", tt.since, got, ok, tt.want, tt.ok)
		}
	}
	// Past the log's bound, the oldest half is dropped: what it held is
	// no longer known.
	for i := range maxChangeLog {
		c.bump(&Instance{Record: ecs.ContainerInstance{ID: fmt.Sprint(i % 7)}})
	}
	if _, ok := c.ChangedSince(4); ok {
		t.Error("ChangedSince past the trimmed log claims to know every change")
	}
	last := c.Gen()
	c.bump(b)
	if got, ok := c.ChangedSince(last); !ok || !slices.Equal(got, []string{"b"}) {
		t.Errorf("ChangedSince(last) = %v, %v; want [b], true", got, ok)
	}
	c.membership()
	if _, ok := c.ChangedSince(last); ok {
		t.Error("ChangedSince across a join claims to know every change")
	}
}
