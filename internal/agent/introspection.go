package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"
)

// introspectionMetadata is the real agent's GET /v1/metadata answer.
type introspectionMetadata struct {
	Cluster              string `json:"Cluster"`
	ContainerInstanceArn string `json:"ContainerInstanceArn"`
	Version              string `json:"Version"`
}

// introspectionHandler serves the real agent's introspection API subset.
func introspectionHandler(md introspectionMetadata) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/metadata", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(md)
	})
	return mux
}

// serveIntrospection listens on 127.0.0.1:port (0: any free port) and
// serves until ctx ends; done closes when the server has stopped.
func serveIntrospection(ctx context.Context, port int, md introspectionMetadata, log *slog.Logger) (addr string, done <-chan struct{}, err error) {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return "", nil, fmt.Errorf("introspection listener: %w", err)
	}
	srv := &http.Server{Handler: introspectionHandler(md), ReadHeaderTimeout: 10 * time.Second}
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("introspection server", "error", err)
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	return ln.Addr().String(), ch, nil
}
