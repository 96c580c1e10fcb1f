//go:build !linux

package agent

import (
	"context"
	"net"
)

// listenFreebind listens on addr (other systems: only assigned addresses).
func listenFreebind(ctx context.Context, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	return lc.Listen(ctx, "tcp4", addr)
}
