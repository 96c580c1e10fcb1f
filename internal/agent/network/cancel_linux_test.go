//go:build linux

package network

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSetupCancelledOnFreshBridge cancels the first Setup of a fresh bridge
// once the task's veth is on the bridge, which is before the bridge plugin
// gives the bridge its own MAC. A plugin killed there leaves a bridge whose
// MAC follows its ports: all zero once the veth is gone, so the next
// Setup failed with "could not set bridge's mac: invalid argument". The
// cancelled Setup must leave nothing behind, and the next one must work.
func TestSetupCancelledOnFreshBridge(t *testing.T) {
	cfg := testConfig(t, 25)
	m := newTestManager(t, cfg)
	brif := filepath.Join("/sys/class/net", cfg.BridgeName, "brif")

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Cancel as soon as a port is on the bridge.
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
			if ports, err := os.ReadDir(brif); err == nil && len(ports) > 0 {
				break
			}
			time.Sleep(50 * time.Microsecond)
		}
		cancel()
	}()
	id := "t-" + randHex(t, 4) + "-cancelled"
	if _, err := m.Setup(ctx, id, ModeBridge, nil); err == nil {
		// Setup finished before the cancel: tear down as the engine would.
		if err := m.Teardown(context.Background(), id, ModeBridge, nil); err != nil {
			t.Fatalf("Teardown(%s): %v", id, err)
		}
	}
	cancel()
	if _, err := os.Lstat(m.netnsPath(id)); !os.IsNotExist(err) {
		t.Errorf("cancelled Setup left its namespace: %v", err)
	}
	if br, err := net.InterfaceByName(cfg.BridgeName); err == nil && bytes.Equal(br.HardwareAddr, make(net.HardwareAddr, 6)) {
		t.Errorf("bridge %s has MAC %s after the cancelled Setup", cfg.BridgeName, br.HardwareAddr)
	}

	next := fmt.Sprintf("t-%s-next", randHex(t, 4))
	setupT(t, m, next, ModeBridge, nil)
}
