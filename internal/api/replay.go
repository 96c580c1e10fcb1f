package api

import (
	"strings"
	"sync"
	"time"

	"github.com/berth/berth/internal/api/sigv4"
)

// replayGuard remembers the signatures of CreateCredential requests, so
// that a captured one (whose answer carries a new secret) cannot be sent
// again. ECS operations accept replays inside the signing window, as AWS
// does; credential creation is rare, so remembering them is cheap.
type replayGuard struct {
	mu   sync.Mutex
	seen map[string]time.Time // signature → when it may be forgotten
}

// replayWindow covers every moment a signature can be valid: its date ±
// the verifier's skew.
const replayWindow = 2*sigv4.DefaultMaxSkew + time.Minute

func newReplayGuard() *replayGuard { return &replayGuard{seen: map[string]time.Time{}} }

// firstUse records the signature in authorization and reports whether it
// was not seen before. An empty signature (unauthenticated mode) passes.
func (g *replayGuard) firstUse(authorization string, now time.Time) bool {
	_, sig, ok := strings.Cut(authorization, "Signature=")
	if !ok || sig == "" {
		return true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for s, until := range g.seen {
		if now.After(until) {
			delete(g.seen, s)
		}
	}
	if _, dup := g.seen[sig]; dup {
		return false
	}
	g.seen[sig] = now.Add(replayWindow)
	return true
}
