// Package integration tests issue 3 of Berth end to end in one process: a
// real Berth server (API, SigV4, embedded store, ACS/TCS) and one real
// agent (registration, task engine, containerd, CNI networking, task
// metadata endpoint), driven only through the ECS API with
// aws-sdk-go-v2's ecs client, as a user would drive Amazon ECS.
//
// The tests run busybox tasks: bridge, host, none and awsvpc networking,
// essential and non-essential containers, dependsOn conditions, health
// checks, stop signals and timeouts, memory limits, failed pulls, pulls
// from an in-process registry, the task metadata endpoint v4, RunTask
// overrides, container settings (user, working directory, ulimits,
// read-only root, labels, volumes) and an agent restart that adopts a
// running task. Containers report what they saw through their exit codes
// (or files on a host volume); the tests wait for task states by polling
// DescribeTasks with deadlines.
//
// The suite keeps apart from `berth dev` and from other tests: containerd
// namespace "berth-integ", bridges bi-br0 (10.216.0.0/24) and bi-vpc0
// (10.216.128.0/24), free ports for the metadata endpoint, temporary data
// directories. At the end it stops every task, then removes what is left:
// containers, network namespaces and both bridges.
//
// It needs root, containerd at /run/containerd/containerd.sock, the CNI
// plugins in /usr/lib/cni and a static /bin/busybox; without them every
// test skips. Run it with
//
//	go test -count=1 -v ./test/integration/
//
// Set BERTH_INTEG_LOG=1 to stream the server's and the agent's logs to
// stderr; otherwise they go to a file whose path is printed when a test
// fails (its directory is kept then).
package integration
