package embedded

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/berth/berth/internal/store"
)

// crashEnv switches the test binary into the child role of TestKill9: it
// names the database file the child writes to.
const crashEnv = "BERTH_EMBEDDED_CRASH_CHILD_DB"

const (
	crashWriters  = 4    // goroutines writing fresh keys
	crashPerChild = 5000 // bound on each writer, in case the parent never kills
	crashKillAt   = 250  // acknowledged writes the parent waits for
)

// TestKill9 checks that every Txn the caller saw succeed survives kill -9:
// it re-executes this test binary as a child that writes concurrently and
// prints each acknowledged revision, SIGKILLs it mid-stream, then reopens
// the file and looks for every acknowledged write.
func TestKill9(t *testing.T) {
	if path := os.Getenv(crashEnv); path != "" {
		crashChild(path)
		return
	}
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	path := filepath.Join(t.TempDir(), "state.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// A hang guard, not a timing assertion.
	guard := time.AfterFunc(2*time.Minute, func() { _ = cmd.Process.Kill() })
	defer guard.Stop()

	type ack struct {
		key, value string
		rev        int64
	}
	var (
		acks    []ack
		counter ack // the highest acknowledged counter write
		killed  bool
	)
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 || f[0] != "ack" {
			continue
		}
		rev, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil {
			t.Fatalf("bad line %q", sc.Text())
		}
		a := ack{key: f[1], value: f[2], rev: rev}
		if a.key == "/crash/counter" {
			if a.rev > counter.rev {
				counter = a
			}
		} else {
			acks = append(acks, a)
		}
		if !killed && len(acks) >= crashKillAt {
			// Lines printed before the kill are still read from the pipe.
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child ended before the kill after %d acknowledged writes: %v", len(acks), err)
	}
	t.Logf("child killed after %d acknowledged writes (counter at %s, revision %d)", len(acks), counter.value, counter.rev)

	s, err := Open(path, Options{Logger: quiet})
	if err != nil {
		t.Fatalf("reopen after kill -9: %v", err)
	}
	defer s.Close()
	err = s.db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	if err != nil {
		t.Fatalf("bbolt consistency check: %v", err)
	}
	var maxRev int64
	for _, a := range acks {
		kv, err := s.Get(t.Context(), a.key)
		if err != nil {
			t.Fatalf("acknowledged write %s at revision %d lost: %v", a.key, a.rev, err)
		}
		if string(kv.Value) != a.value || kv.ModRevision != a.rev {
			t.Fatalf("%s = %q at %d, acknowledged %q at %d", a.key, kv.Value, kv.ModRevision, a.value, a.rev)
		}
		maxRev = max(maxRev, a.rev)
	}
	if counter.rev > 0 {
		kv, err := s.Get(t.Context(), "/crash/counter")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := strconv.Atoi(string(kv.Value))
		want, _ := strconv.Atoi(counter.value)
		if got < want || kv.ModRevision < counter.rev {
			t.Fatalf("counter = %d at %d, but %d at %d was acknowledged", got, kv.ModRevision, want, counter.rev)
		}
		maxRev = max(maxRev, counter.rev)
	}
	_, rev, err := s.List(t.Context(), "/none/", store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rev < maxRev {
		t.Fatalf("store revision %d after reopen is below acknowledged %d", rev, maxRev)
	}
	if next := mustTxn(t, s, store.Put("/after", nil, store.ExpectAbsent)); next != rev+1 {
		t.Fatalf("first revision after reopen = %d, want %d", next, rev+1)
	}
	// History survived too.
	ch, err := s.Watch(t.Context(), "/crash/", 1)
	if err != nil {
		t.Fatal(err)
	}
	if ev, ok := recv(t, ch); !ok || ev.KV.ModRevision != 1 {
		t.Fatalf("first replayed event = %+v (open %v)", ev, ok)
	}
}

// crashChild writes until killed: crashWriters goroutines put fresh keys
// and one increments a counter with CAS; each acknowledged write is printed
// as "ack KEY VALUE REVISION".
func crashChild(path string) {
	s, err := Open(path, Options{Logger: quiet})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(2)
	}
	ctx := context.Background()
	var (
		wg  sync.WaitGroup
		out sync.Mutex
	)
	ackf := func(key, value string, rev int64) {
		out.Lock()
		defer out.Unlock()
		fmt.Fprintf(os.Stdout, "ack %s %s %d\n", key, value, rev)
	}
	for w := range crashWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range crashPerChild {
				key := fmt.Sprintf("/crash/w%d/%06d", w, i)
				value := fmt.Sprintf("v%d.%d", w, i)
				rev, err := s.Txn(ctx, store.Put(key, []byte(value), store.ExpectAbsent))
				if err != nil {
					fmt.Fprintln(os.Stderr, "child txn:", err)
					os.Exit(2)
				}
				ackf(key, value, rev)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		expect, n := store.ExpectAbsent, 0
		for range crashPerChild {
			n++
			rev, err := s.Txn(ctx, store.Put("/crash/counter", []byte(strconv.Itoa(n)), expect))
			if err != nil {
				fmt.Fprintln(os.Stderr, "child counter txn:", err)
				os.Exit(2)
			}
			ackf("/crash/counter", strconv.Itoa(n), rev)
			expect = rev
		}
	}()
	wg.Wait()
	_ = s.Close()
}
