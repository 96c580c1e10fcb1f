package depcheck
import (
	_ "github.com/containerd/containerd/v2/client"
	_ "github.com/containerd/containerd/v2/pkg/oci"
	_ "github.com/containerd/go-cni"
	_ "github.com/containerd/cgroups/v3/cgroup1/stats"
	_ "github.com/gorilla/websocket"
	_ "github.com/google/go-containerregistry/pkg/registry"
	_ "go.etcd.io/etcd/server/v3/embed"
)
