package acs

import (
	"sync"
)

// instKey names a container instance.
type instKey struct{ cluster, id string }

// hub is the registry of open sessions, one ACS and one TCS session per
// instance, which the store watch fans changes out to.
type hub struct {
	mu     sync.Mutex
	closed bool
	acs    map[instKey]*acsSession
	tcs    map[instKey]*tcsSession
	// seqHigh is the highest seqNum/timeline sent to each instance, so that
	// a new connection's counter starts above the last one's.
	seqHigh map[instKey]int64
	wg      sync.WaitGroup

	// locks serialise the connect and disconnect bookkeeping of one
	// instance (striped by key hash), so that a replaced session's
	// "disconnected" never lands after its successor's "connected".
	locks [256]sync.Mutex
}

func newHub() *hub {
	return &hub{acs: map[instKey]*acsSession{}, tcs: map[instKey]*tcsSession{}, seqHigh: map[instKey]int64{}}
}

// lock takes the bookkeeping lock of k and returns its release.
func (h *hub) lock(k instKey) func() {
	m := &h.locks[fnv32(k.cluster+"/"+k.id)%uint32(len(h.locks))]
	m.Lock()
	return m.Unlock
}

func fnv32(s string) uint32 {
	x := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		x ^= uint32(s[i])
		x *= 16777619
	}
	return x
}

// addACS makes s the ACS session of k and returns the one it replaces. ok
// is false once the hub is closed; otherwise the caller must call done
// when s has ended.
func (h *hub) addACS(k instKey, s *acsSession) (old *acsSession, ok bool) {
	return addSession(h, h.acs, k, s)
}

// removeACS forgets s and reports whether it was still k's session.
func (h *hub) removeACS(k instKey, s *acsSession) bool { return removeSession(h, h.acs, k, s) }

// addTCS is addACS for TCS sessions.
func (h *hub) addTCS(k instKey, s *tcsSession) (old *tcsSession, ok bool) {
	return addSession(h, h.tcs, k, s)
}

// removeTCS is removeACS for TCS sessions.
func (h *hub) removeTCS(k instKey, s *tcsSession) bool { return removeSession(h, h.tcs, k, s) }

func addSession[S comparable](h *hub, m map[instKey]S, k instKey, s S) (old S, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return old, false
	}
	h.wg.Add(1)
	old = m[k]
	m[k] = s
	return old, true
}

func removeSession[S comparable](h *hub, m map[instKey]S, k instKey, s S) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if m[k] != s {
		return false
	}
	delete(m, k)
	return true
}

// done marks one added session as ended.
func (h *hub) done() { h.wg.Done() }

// acsFor returns the ACS session of k, or nil.
func (h *hub) acsFor(k instKey) *acsSession {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.acs[k]
}

// hasACS reports whether any ACS session is open.
func (h *hub) hasACS() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.acs) > 0
}

// stoppable is what the hub tells sessions.
type stoppable interface {
	stop(stopReason)
	resyncNow()
}

// sessionsOf returns the ACS and TCS sessions of k.
func (h *hub) sessionsOf(k instKey) []stoppable {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []stoppable
	if s := h.acs[k]; s != nil {
		out = append(out, s)
	}
	if s := h.tcs[k]; s != nil {
		out = append(out, s)
	}
	return out
}

// all returns every open session.
func (h *hub) all() []stoppable {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]stoppable, 0, len(h.acs)+len(h.tcs))
	for _, s := range h.acs {
		out = append(out, s)
	}
	for _, s := range h.tcs {
		out = append(out, s)
	}
	return out
}

// closeAll refuses new sessions and returns the open ones.
func (h *hub) closeAll() []stoppable {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	return h.all()
}

// wait returns when every added session has ended.
func (h *hub) wait() { h.wg.Wait() }

// seqBase returns the first counter value of a new connection of k: the
// clock in milliseconds, or above the last value sent to k if that is
// higher. The ECS agent ignores a manifest whose timeline is not above
// every seqNum it has seen, including on earlier connections.
func (h *hub) seqBase(k instKey, nowMillis int64) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return max(nowMillis, h.seqHigh[k]+1)
}

// noteSeq records a counter value sent to k.
func (h *hub) noteSeq(k instKey, n int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if n > h.seqHigh[k] {
		h.seqHigh[k] = n
	}
}
