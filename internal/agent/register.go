package agent

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
)

// berthAttributePrefix marks attributes Berth's agent sets itself.
const berthAttributePrefix = "berth."

// Attribute names the agent registers with values.
const (
	AttrOSType           = "ecs.os-type"
	AttrOSFamily         = "ecs.os-family"
	AttrCPUArchitecture  = "ecs.cpu-architecture"
	AttrAvailabilityZone = "ecs.availability-zone"
	AttrAWSVPCCIDR       = "berth.awsvpc-cidr"
)

// Capabilities are the name-only attributes Berth's agent registers: only
// features it honours, named as the real agent names them, so that task
// definitions whose requiresAttributes Berth derives (ecs.RequiredAttributes)
// place on it exactly when it can run them.
//
// Docker Remote API versions stand for features: 1.17 (base), 1.18 (docker
// labels, ulimits, log configuration), 1.19 (log options), 1.21 (memory
// reservation), 1.24 (health checks), 1.25 (init process), 1.29 (health
// check start period). 1.25 is also what EFS volumes need, but those also
// need ecs.capability.efs, which is not advertised. The versions in between
// (1.20, 1.22, 1.23, 1.26, 1.27) gate no task-definition field and are
// listed so the set stays contiguous like the real agent's; 1.28 (non-
// blocking log mode) and later are not advertised.
var Capabilities = func() []string {
	out := []string{
		"ecs.capability.container-ordering",
		"ecs.capability.container-health-check",
		"ecs.capability.task-eni",
		"com.amazonaws.ecs.capability.privileged-container",
		"com.amazonaws.ecs.capability.logging-driver.json-file",
		"com.amazonaws.ecs.capability.logging-driver.none",
	}
	for v := 17; v <= 27; v++ {
		out = append(out, fmt.Sprintf("com.amazonaws.ecs.capability.docker-remote-api.1.%d", v))
	}
	return append(out, "com.amazonaws.ecs.capability.docker-remote-api.1.29")
}()

// registerAPI is the part of the ECS API registration uses.
type registerAPI interface {
	RegisterContainerInstance(ctx context.Context, in *sdkecs.RegisterContainerInstanceInput, optFns ...func(*sdkecs.Options)) (*sdkecs.RegisterContainerInstanceOutput, error)
	DiscoverPollEndpoint(ctx context.Context, in *sdkecs.DiscoverPollEndpointInput, optFns ...func(*sdkecs.Options)) (*sdkecs.DiscoverPollEndpointOutput, error)
	CreateCluster(ctx context.Context, in *sdkecs.CreateClusterInput, optFns ...func(*sdkecs.Options)) (*sdkecs.CreateClusterOutput, error)
}

// hostInfo describes the host's registrable resources.
type hostInfo struct {
	CPUs        int    // logical CPUs
	MemoryMiB   int64  // total memory
	Arch        string // ecs.cpu-architecture: x86_64 or arm64
	InstanceID  string // "i-" + 16 hex digits
	RuntimeName string // e.g. "containerd 2.1.4"
}

// detectMachine reads the host's CPUs and memory (/proc/meminfo); the
// instance id is instanceID, or else derived from /etc/machine-id.
func detectMachine(instanceID string) (hostInfo, error) {
	mem, err := readMemTotalMiB("/proc/meminfo")
	if err != nil {
		return hostInfo{}, err
	}
	m := hostInfo{CPUs: runtime.NumCPU(), MemoryMiB: mem, Arch: cpuArchitecture(runtime.GOARCH), InstanceID: instanceID}
	if m.InstanceID == "" {
		if m.InstanceID, err = instanceIDFrom("/etc/machine-id"); err != nil {
			return hostInfo{}, err
		}
	}
	return m, nil
}

// cpuArchitecture maps GOARCH to the value of ecs.cpu-architecture.
func cpuArchitecture(goarch string) string {
	switch goarch {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "arm64"
	}
	return goarch
}

// readMemTotalMiB returns MemTotal of a /proc/meminfo file, in MiB.
func readMemTotalMiB(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("read memory size: %w", err)
	}
	defer f.Close()
	return parseMemTotal(f)
}

func parseMemTotal(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("meminfo MemTotal %q: %w", fields[1], err)
			}
			return kb / 1024, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read meminfo: %w", err)
	}
	return 0, errors.New("meminfo has no MemTotal")
}

// instanceIDFrom derives "i-" + 16 hex digits from a machine-id file (a
// hash of it: systemd asks applications not to expose the id itself).
func instanceIDFrom(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read machine id (set an instance id to run without one): %w", err)
	}
	id := strings.TrimSpace(string(b))
	if id == "" {
		return "", fmt.Errorf("machine id file %s is empty", path)
	}
	sum := sha256.Sum256([]byte("berth-agent-instance-id:" + id))
	return "i-" + hex.EncodeToString(sum[:8]), nil
}

// registration is everything RegisterContainerInstance sends.
type registration struct {
	cluster     string
	region      string
	machine     hostInfo
	reservedMem int64
	ports       []int
	portsUDP    []int
	attributes  []types.Attribute // in the order sent
	version     string
	hash        string
	previousARN string // re-register as this instance
	zone        string
}

// buildAttributes returns the attributes to register, in the real agent's
// order: custom ones (sorted by name), name-only capabilities, then the
// valued platform attributes.
func buildAttributes(custom map[string]string, zone, awsvpcCIDR, arch string) []types.Attribute {
	var out []types.Attribute
	names := make([]string, 0, len(custom))
	for n := range custom {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		out = append(out, types.Attribute{Name: aws.String(n), Value: aws.String(custom[n])})
	}
	for _, c := range Capabilities {
		out = append(out, types.Attribute{Name: aws.String(c)})
	}
	valued := [][2]string{
		{AttrOSType, "linux"}, {AttrOSFamily, "LINUX"}, {AttrCPUArchitecture, arch},
	}
	if zone != "" {
		valued = append(valued, [2]string{AttrAvailabilityZone, zone})
	}
	if awsvpcCIDR != "" {
		valued = append(valued, [2]string{AttrAWSVPCCIDR, awsvpcCIDR})
	}
	for _, kv := range valued {
		out = append(out, types.Attribute{Name: aws.String(kv[0]), Value: aws.String(kv[1])})
	}
	return out
}

// input builds the RegisterContainerInstance request.
func (r *registration) input() (*sdkecs.RegisterContainerInstanceInput, error) {
	doc, err := json.Marshal(map[string]string{
		"instanceId": r.machine.InstanceID, "availabilityZone": r.zone, "region": r.region,
	})
	if err != nil {
		return nil, err
	}
	mem := r.machine.MemoryMiB - r.reservedMem
	if mem <= 0 {
		return nil, fmt.Errorf("reserved memory %d MiB leaves nothing of the machine's %d MiB", r.reservedMem, r.machine.MemoryMiB)
	}
	portSet := func(ports []int) []string {
		out := make([]string, 0, len(ports))
		for _, p := range ports {
			out = append(out, strconv.Itoa(p))
		}
		return out
	}
	in := &sdkecs.RegisterContainerInstanceInput{
		Cluster:                  aws.String(r.cluster),
		InstanceIdentityDocument: aws.String(string(doc)),
		TotalResources: []types.Resource{
			{Name: aws.String("CPU"), Type: aws.String("INTEGER"), IntegerValue: int32(1024 * r.machine.CPUs)},
			{Name: aws.String("MEMORY"), Type: aws.String("INTEGER"), IntegerValue: int32(mem)},
			{Name: aws.String("PORTS"), Type: aws.String("STRINGSET"), StringSetValue: portSet(r.ports)},
			{Name: aws.String("PORTS_UDP"), Type: aws.String("STRINGSET"), StringSetValue: portSet(r.portsUDP)},
		},
		Attributes: r.attributes,
		VersionInfo: &types.VersionInfo{
			AgentVersion:  aws.String(r.version),
			AgentHash:     aws.String(r.hash),
			DockerVersion: aws.String("DockerVersion: " + r.machine.RuntimeName),
		},
	}
	if r.previousARN != "" {
		in.ContainerInstanceArn = aws.String(r.previousARN)
	}
	return in, nil
}

// checkAttributeEcho fails unless every sent name/value pair comes back in
// the registered instance's attributes, as the real agent requires.
func checkAttributeEcho(sent, got []types.Attribute) error {
	have := make(map[string]string, len(got))
	for _, a := range got {
		have[aws.ToString(a.Name)] = aws.ToString(a.Value)
	}
	var missing []string
	for _, a := range sent {
		v, ok := have[aws.ToString(a.Name)]
		if !ok || v != aws.ToString(a.Value) {
			missing = append(missing, aws.ToString(a.Name)+"="+aws.ToString(a.Value))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("attribute validation failed: the control plane did not register %s", strings.Join(missing, ", "))
	}
	return nil
}

// ErrRegistration wraps a registration failure that retrying cannot fix.
var ErrRegistration = errors.New("registration failed")

// apiErrorCode returns the ECS error code of err, or "".
func apiErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// retryable reports whether an API failure may pass: server errors,
// throttling and failures to reach the server at all.
func retryable(err error) bool {
	switch apiErrorCode(err) {
	case "":
		return true // transport failure
	case "ServerException", "ThrottlingException", "ServiceUnavailableException", "InternalFailure":
		return true
	}
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) && re.HTTPStatusCode() >= 500 {
		return true
	}
	return false
}

// register registers the instance and returns its ARN. Transient failures
// are retried with backoff until ctx ends; when the cluster is "default"
// and does not exist it is created first, as the real agent does.
func register(ctx context.Context, api registerAPI, r *registration, timing Timing, log *slog.Logger) (string, error) {
	b := newBackoff(timing.RegisterBackoffMin, timing.RegisterBackoffMax, 1.5, 0.2)
	createdCluster := false
	for {
		in, err := r.input()
		if err != nil {
			return "", fmt.Errorf("%w: %w", ErrRegistration, err)
		}
		out, err := api.RegisterContainerInstance(ctx, in)
		if err == nil {
			ci := out.ContainerInstance
			if ci == nil || aws.ToString(ci.ContainerInstanceArn) == "" {
				return "", fmt.Errorf("%w: the response has no containerInstanceArn", ErrRegistration)
			}
			if err := checkAttributeEcho(r.attributes, ci.Attributes); err != nil {
				return "", fmt.Errorf("%w: %w", ErrRegistration, err)
			}
			return aws.ToString(ci.ContainerInstanceArn), nil
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		code := apiErrorCode(err)
		switch {
		case code == "ClusterNotFoundException" && r.cluster == DefaultCluster && !createdCluster:
			log.Info("cluster default does not exist; creating it")
			if _, cerr := api.CreateCluster(ctx, &sdkecs.CreateClusterInput{ClusterName: aws.String(r.cluster)}); cerr != nil {
				return "", fmt.Errorf("%w: create cluster default: %w", ErrRegistration, cerr)
			}
			createdCluster = true
			continue
		case retryable(err):
			d := b.Next()
			log.Warn("registration failed; retrying", "error", err, "in", d)
			if !sleep(ctx, d) {
				return "", ctx.Err()
			}
			continue
		}
		if r.previousARN != "" {
			return "", fmt.Errorf("%w: re-registering as %s (saved in the agent's state): %w; if that instance was deregistered, remove the agent's data dir to register as a new instance", ErrRegistration, r.previousARN, err)
		}
		return "", fmt.Errorf("%w: %w", ErrRegistration, err)
	}
}

// endpointCache answers DiscoverPollEndpoint, keeping each answer for a
// TTL; if a refresh fails, the expired answer is still used.
type endpointCache struct {
	api         registerAPI
	cluster     string
	instanceARN string
	ttl         time.Duration
	timing      Timing
	log         *slog.Logger

	mu       sync.Mutex
	acs, tcs string
	fetched  time.Time
}

// Endpoints returns the ACS and TCS base URLs.
func (e *endpointCache) Endpoints(ctx context.Context) (string, string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.acs != "" && time.Since(e.fetched) < e.ttl {
		return e.acs, e.tcs, nil
	}
	b := newBackoff(e.timing.RegisterBackoffMin, e.timing.RegisterBackoffMax, 1.5, 0.2)
	for {
		out, err := e.api.DiscoverPollEndpoint(ctx, &sdkecs.DiscoverPollEndpointInput{
			Cluster: aws.String(e.cluster), ContainerInstance: aws.String(e.instanceARN)})
		if err == nil && aws.ToString(out.Endpoint) != "" {
			e.acs, e.tcs, e.fetched = aws.ToString(out.Endpoint), aws.ToString(out.TelemetryEndpoint), time.Now()
			if e.tcs == "" {
				e.tcs = strings.TrimSuffix(e.acs, "/") + "/tcs/"
			}
			return e.acs, e.tcs, nil
		}
		if err == nil {
			err = errors.New("DiscoverPollEndpoint answered no endpoint")
		}
		if e.acs != "" {
			e.log.Warn("DiscoverPollEndpoint failed; using the expired endpoint", "error", err)
			return e.acs, e.tcs, nil
		}
		if ctx.Err() != nil || !retryable(err) {
			return "", "", fmt.Errorf("discover poll endpoint: %w", err)
		}
		d := b.Next()
		e.log.Warn("DiscoverPollEndpoint failed; retrying", "error", err, "in", d)
		if !sleep(ctx, d) {
			return "", "", ctx.Err()
		}
	}
}
