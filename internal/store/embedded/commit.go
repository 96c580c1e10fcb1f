package embedded

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"

	bolt "go.etcd.io/bbolt"

	"github.com/berth/berth/internal/store"
)

// Bucket and meta key names, and the on-disk format version.
var (
	bucketKV   = []byte("kv")
	bucketLog  = []byte("log")
	bucketMeta = []byte("meta")

	metaRev       = []byte("rev")
	metaCompacted = []byte("compacted")
	metaVersion   = []byte("version")
)

const formatVersion = 1

// recordHeader is the size of a kv record's header: CreateRevision and
// ModRevision, 8 bytes big-endian each, followed by the value.
const recordHeader = 16

// errNothingToCommit rolls back a bbolt transaction in which every store
// transaction failed its expectations or changed nothing: no write, no fsync.
var errNothingToCommit = errors.New("nothing to commit")

// revEvents are the events of one committed revision, in key order.
type revEvents struct {
	rev    int64
	events []store.Event
}

// commitLoop is the only writer. It takes whatever transactions are queued
// (at least one), commits them in one bbolt transaction, publishes their
// events and answers them, until Close closes reqs and it has drained them.
func (s *Store) commitLoop() {
	defer close(s.done)
	last := 0 // size of the previous batch
	for req := range s.reqs {
		if last > 1 {
			// Writers are concurrent: let those just answered queue their
			// next transaction, so that it joins this batch instead of
			// waiting a whole fsync for the next one.
			runtime.Gosched()
		}
		batch := []*txnReq{req}
		size := req.size
	more:
		for len(batch) < maxBatchTxns && size < maxBatchBytes {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break more
				}
				batch = append(batch, r)
				size += r.size
			default:
				break more
			}
		}
		s.commit(batch)
		last = len(batch)
	}
}

// commit applies batch in order in one bbolt transaction. Each store
// transaction sees the writes of those before it. If bbolt fails, every
// transaction of the batch fails and nothing is published.
func (s *Store) commit(batch []*txnReq) {
	results := make([]txnResult, len(batch))
	var pubs []revEvents
	err := s.db.Update(func(tx *bolt.Tx) error {
		kvb, logb, meta := tx.Bucket(bucketKV), tx.Bucket(bucketLog), tx.Bucket(bucketMeta)
		start := getInt(meta, metaRev)
		rev := start
		for i, req := range batch {
			prev, err := check(kvb, req.ops)
			if err != nil {
				results[i].err = err
				continue
			}
			events, err := apply(kvb, req.ops, prev, rev+1)
			if err != nil {
				return err
			}
			if len(events) == 0 {
				results[i].rev = rev
				continue
			}
			rev++
			if err := logb.Put(revKey(rev), encodeEvents(events)); err != nil {
				return fmt.Errorf("write log: %w", err)
			}
			results[i].rev = rev
			pubs = append(pubs, revEvents{rev: rev, events: events})
		}
		if rev == start {
			return errNothingToCommit
		}
		if err := putInt(meta, metaRev, rev); err != nil {
			return err
		}
		return s.trimLog(logb, meta, rev)
	})
	if err != nil && !errors.Is(err, errNothingToCommit) {
		pubs = nil
		for i := range results {
			results[i] = txnResult{err: s.wrapErr("commit", err)}
		}
	}
	// Publish before answering, so that a caller who saw its Txn succeed and
	// then calls Watch(0) does not get that Txn's events.
	s.hub.publish(pubs)
	for i, req := range batch {
		req.done <- results[i]
	}
}

// state is what a transaction found at one of its keys.
type state struct {
	exists         bool
	create, modRev int64
}

// check reads the current state of every op's key and tests the
// expectations. It writes nothing.
func check(kvb *bolt.Bucket, ops []store.Op) ([]state, error) {
	prev := make([]state, len(ops))
	for i, op := range ops {
		if v := kvb.Get([]byte(op.Key)); v != nil {
			if len(v) < recordHeader {
				return nil, fmt.Errorf("store/embedded: corrupt record for %q", op.Key)
			}
			prev[i] = state{
				exists: true,
				create: int64(binary.BigEndian.Uint64(v[0:8])),
				modRev: int64(binary.BigEndian.Uint64(v[8:16])),
			}
		}
		p := prev[i]
		switch {
		case op.Expect == store.ExpectAny:
		case op.Expect == store.ExpectAbsent && p.exists:
			return nil, fmt.Errorf("store/embedded: %q exists (mod revision %d), expected absent: %w", op.Key, p.modRev, store.ErrConflict)
		case op.Expect > 0 && !p.exists:
			return nil, fmt.Errorf("store/embedded: %q is absent, expected mod revision %d: %w", op.Key, op.Expect, store.ErrConflict)
		case op.Expect > 0 && p.modRev != op.Expect:
			return nil, fmt.Errorf("store/embedded: %q has mod revision %d, expected %d: %w", op.Key, p.modRev, op.Expect, store.ErrConflict)
		}
	}
	return prev, nil
}

// apply writes ops (already checked) at revision rev and returns their
// events in key order; none if nothing changed.
func apply(kvb *bolt.Bucket, ops []store.Op, prev []state, rev int64) ([]store.Event, error) {
	var events []store.Event
	for i, op := range ops {
		switch op.Kind {
		case store.OpPut:
			create := rev
			if prev[i].exists {
				create = prev[i].create
			}
			if err := kvb.Put([]byte(op.Key), encodeRecord(create, rev, op.Value)); err != nil {
				return nil, fmt.Errorf("put %q: %w", op.Key, err)
			}
			events = append(events, store.Event{Type: store.EventPut, KV: store.KV{
				Key: op.Key, Value: op.Value, CreateRevision: create, ModRevision: rev,
			}})
		case store.OpDelete:
			if !prev[i].exists {
				continue
			}
			if err := kvb.Delete([]byte(op.Key)); err != nil {
				return nil, fmt.Errorf("delete %q: %w", op.Key, err)
			}
			events = append(events, store.Event{Type: store.EventDelete, KV: store.KV{Key: op.Key, ModRevision: rev}})
		}
	}
	return events, nil
}

// trimLog drops log entries older than the retained history.
func (s *Store) trimLog(logb, meta *bolt.Bucket, rev int64) error {
	keep := rev - int64(s.opts.History)
	if keep <= getInt(meta, metaCompacted) {
		return nil
	}
	c := logb.Cursor()
	for k, _ := c.First(); k != nil && int64(binary.BigEndian.Uint64(k)) <= keep; k, _ = c.First() {
		if err := c.Delete(); err != nil {
			return fmt.Errorf("trim log: %w", err)
		}
	}
	return putInt(meta, metaCompacted, keep)
}

func revKey(rev int64) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(rev))
}

func getInt(b *bolt.Bucket, key []byte) int64 {
	v := b.Get(key)
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

func putInt(b *bolt.Bucket, key []byte, n int64) error {
	return b.Put(key, binary.BigEndian.AppendUint64(nil, uint64(n)))
}

func encodeRecord(create, mod int64, value []byte) []byte {
	buf := make([]byte, recordHeader, recordHeader+len(value))
	binary.BigEndian.PutUint64(buf[0:8], uint64(create))
	binary.BigEndian.PutUint64(buf[8:16], uint64(mod))
	return append(buf, value...)
}

// decodeRecord copies a kv record out of bbolt's memory.
func decodeRecord(key string, v []byte) (store.KV, error) {
	if len(v) < recordHeader {
		return store.KV{}, fmt.Errorf("corrupt record for %q", key)
	}
	return store.KV{
		Key:            key,
		Value:          append([]byte{}, v[recordHeader:]...),
		CreateRevision: int64(binary.BigEndian.Uint64(v[0:8])),
		ModRevision:    int64(binary.BigEndian.Uint64(v[8:16])),
	}, nil
}

// encodeEvents encodes one revision's events: per event a type byte, then
// uvarint-length-prefixed key, the uvarint CreateRevision (puts only) and
// the uvarint-length-prefixed value (puts only).
func encodeEvents(events []store.Event) []byte {
	n := 0
	for _, ev := range events {
		n += 1 + 3*binary.MaxVarintLen64 + len(ev.KV.Key) + len(ev.KV.Value)
	}
	buf := make([]byte, 0, n)
	for _, ev := range events {
		buf = append(buf, byte(ev.Type))
		buf = binary.AppendUvarint(buf, uint64(len(ev.KV.Key)))
		buf = append(buf, ev.KV.Key...)
		if ev.Type == store.EventPut {
			buf = binary.AppendUvarint(buf, uint64(ev.KV.CreateRevision))
			buf = binary.AppendUvarint(buf, uint64(len(ev.KV.Value)))
			buf = append(buf, ev.KV.Value...)
		}
	}
	return buf
}

// decodeEvents decodes (copying) the events of revision rev whose keys have
// prefix and appends them to dst.
func decodeEvents(dst []store.Event, rev int64, buf []byte, prefix string) ([]store.Event, error) {
	bad := fmt.Errorf("corrupt log entry at revision %d", rev)
	readBytes := func() ([]byte, bool) {
		n, w := binary.Uvarint(buf)
		if w <= 0 || uint64(len(buf)-w) < n {
			return nil, false
		}
		b := buf[w : w+int(n)]
		buf = buf[w+int(n):]
		return b, true
	}
	for len(buf) > 0 {
		typ := store.EventType(buf[0])
		buf = buf[1:]
		key, ok := readBytes()
		if !ok {
			return nil, bad
		}
		ev := store.Event{Type: typ, KV: store.KV{ModRevision: rev}}
		var value []byte
		switch typ {
		case store.EventPut:
			create, w := binary.Uvarint(buf)
			if w <= 0 {
				return nil, bad
			}
			buf = buf[w:]
			ev.KV.CreateRevision = int64(create)
			if value, ok = readBytes(); !ok {
				return nil, bad
			}
		case store.EventDelete:
		default:
			return nil, bad
		}
		if !hasPrefix(key, prefix) {
			continue
		}
		ev.KV.Key = string(key)
		if typ == store.EventPut {
			ev.KV.Value = append([]byte{}, value...)
		}
		dst = append(dst, ev)
	}
	return dst, nil
}

// hasPrefix reports whether key starts with prefix, without allocating.
func hasPrefix(key []byte, prefix string) bool {
	return len(key) >= len(prefix) && string(key[:len(prefix)]) == prefix
}
