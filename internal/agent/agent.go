// Package agent is Berth's container agent process: it registers the
// machine as a container instance of a cluster (RegisterContainerInstance,
// with the resources, capabilities and attributes of the machine), holds
// the agent channel to the control plane as the real Amazon ECS agent does
// (the ACS websocket for tasks, the TCS websocket for metrics and health),
// runs the tasks it is given with the task engine on containerd and CNI,
// and reports their state changes through the ECS API.
//
// On the wire it behaves like the real agent (see
// shared/design/ecs-agent-protocol.md): the same query strings, SigV4
// signing, message answers, idle timeouts and reconnect backoffs. On
// shutdown it leaves containers running; the next start adopts them and
// re-registers as the same container instance.
package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/berth/berth/internal/agent/engine"
	"github.com/berth/berth/internal/agent/network"
	"github.com/berth/berth/internal/agent/runtime"
	"github.com/berth/berth/internal/agent/statedb"
	"github.com/berth/berth/internal/agent/tmds"
)

// runtimeName is what the agent reports as its container runtime (the
// real agent's dockerVersion).
const runtimeName = "containerd"

// apiTimeout bounds one ECS API call.
const apiTimeout = 30 * time.Second

// Run runs the agent until ctx ends (nil) or a fatal error: invalid
// configuration, registration refused (including the attribute echo
// check), the task engine failing, or the instance being deregistered
// (ErrInstanceInactive, after its tasks were stopped).
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("agent configuration: %w", err)
	}
	creds, err := cfg.credentials()
	if err != nil {
		return err
	}
	tlsConf, err := cfg.tlsConfig()
	if err != nil {
		return err
	}
	machine, err := cfg.machine()
	if err != nil {
		return err
	}
	var registryAuth func(string) *runtime.RegistryAuth
	if cfg.RegistryAuthFile != "" {
		auths, err := LoadRegistryAuths(cfg.RegistryAuthFile)
		if err != nil {
			return err
		}
		registryAuth = auths.For
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	db, err := statedb.Open(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("open agent state: %w", err)
	}
	defer db.Close()
	rt, err := runtime.New(ctx, runtime.Config{Address: cfg.ContainerdAddress, Namespace: cfg.ContainerdNamespace}, log.With("component", "runtime"))
	if err != nil {
		return err
	}
	defer rt.Close()
	netCfg := cfg.Network
	if netCfg.StateDir == "" {
		netCfg.StateDir = filepath.Join(cfg.DataDir, "network")
	}
	nm, err := network.New(netCfg, log.With("component", "network"))
	if err != nil {
		return err
	}
	vpcCIDR := netCfg.VPCSubnet
	if vpcCIDR == "" {
		vpcCIDR = network.DefaultVPCSubnet
	}

	api := newECSClient(&cfg, creds, tlsConf)
	previous, err := db.InstanceARN(ctx)
	if err != nil {
		return fmt.Errorf("read saved container instance: %w", err)
	}
	reg := &registration{
		cluster: cfg.Cluster, region: cfg.Region, machine: machine, reservedMem: cfg.ReservedMemory,
		ports: cfg.ReservedPorts, portsUDP: cfg.ReservedPortsUDP,
		attributes: buildAttributes(cfg.Attributes, cfg.AvailabilityZone, vpcCIDR, machine.Arch),
		version:    cfg.Version, hash: cfg.Hash, previousARN: previous, zone: cfg.AvailabilityZone,
	}
	instanceARN, err := register(ctx, api, reg, cfg.Timing, log)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while (re)trying to register
		}
		return err
	}
	if err := db.SetInstanceARN(ctx, instanceARN); err != nil {
		return fmt.Errorf("save container instance: %w", err)
	}
	log.Info("registered", "cluster", cfg.Cluster, "containerInstance", instanceARN, "reregistered", previous != "")

	health := newHealthBook()
	reporter := &engineReporter{cluster: cfg.Cluster, rep: &stateReporter{api: api, timing: cfg.Timing, log: log.With("component", "reporter")}, health: health}
	eng, err := engine.New(engine.Config{
		Cluster: cfg.Cluster, Region: cfg.Region, DataDir: cfg.DataDir, MetadataPort: cfg.MetadataPort,
		StopTimeout: cfg.ContainerStopTimeout, CleanupWait: cfg.TaskCleanupWait, RegistryAuth: registryAuth,
		Log: log.With("component", "engine"),
	}, engine.Deps{Runtime: rt, Network: nm, Store: db, Reporter: reporter})
	if err != nil {
		return err
	}
	a := &agent{
		cfg: cfg, log: log, instanceARN: instanceARN, engine: engineView{eng}, health: health,
		dialer:        newWSDialer(creds, cfg.Region, tlsConf),
		endpoints:     &endpointCache{api: api, cluster: cfg.Cluster, instanceARN: instanceARN, ttl: cfg.Timing.EndpointCacheTTL, timing: cfg.Timing, log: log},
		stats:         &engineStats{engine: eng, stats: rt},
		metadata:      tmds.New(&metadataSource{engine: eng, stats: rt, cluster: cfg.Cluster, zone: cfg.AvailabilityZone}, log.With("component", "metadata")),
		metadataAddrs: []string{nm.GatewayIP(network.ModeBridge), nm.GatewayIP(network.ModeAWSVPC), nm.GatewayIP(network.ModeHost)},
	}
	return a.run(ctx)
}

// taskEngine is what the agent needs of the task engine: running it, and
// what ACS drives.
type taskEngine interface {
	Run(ctx context.Context) error
	Ready() <-chan struct{}
	acsEngine
}

// agent runs the long-lived parts once registered.
type agent struct {
	cfg         Config
	log         *slog.Logger
	instanceARN string
	engine      taskEngine
	health      *healthBook
	dialer      *wsDialer
	endpoints   endpointSource
	stats       statsSource
	// metadata serves the task metadata endpoint on metadataAddrs (the
	// addresses tasks reach the host on) at cfg.MetadataPort.
	metadata      http.Handler
	metadataAddrs []string
}

// run starts the engine, then ACS, TCS and introspection, until ctx ends
// or something fatal happens.
func (a *agent) run(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel: deferred calls run last-in first-out
	defer cancel()

	engDone := make(chan error, 1)
	go func() { engDone <- a.engine.Run(runCtx) }()
	select {
	case <-a.engine.Ready():
	case err := <-engDone:
		return fmt.Errorf("task engine: %w", err)
	case <-ctx.Done():
		cancel()
		<-engDone
		return nil
	}
	engineWait := func() error { cancel(); return <-engDone }

	if a.cfg.IntrospectionPort != 0 {
		md := introspectionMetadata{Cluster: a.cfg.Cluster, ContainerInstanceArn: a.instanceARN, Version: versionString(a.cfg.Version, a.cfg.Hash)}
		_, done, err := serveIntrospection(runCtx, a.cfg.IntrospectionPort, md, a.log)
		if err != nil {
			engineWait()
			return err
		}
		wg.Add(1)
		go func() { defer wg.Done(); <-done }()
	}

	if a.metadata != nil {
		done, err := serveMetadata(runCtx, a.metadataAddrs, a.cfg.MetadataPort, a.metadata, a.log)
		if err != nil {
			engineWait()
			return err
		}
		wg.Add(1)
		go func() { defer wg.Done(); <-done }()
	}

	acs := &acsClient{
		dialer: a.dialer, endpoints: a.endpoints, engine: a.engine, cluster: a.cfg.Cluster,
		instanceARN: a.instanceARN, version: a.cfg.Version, hash: a.cfg.Hash, runtime: runtimeName,
		timing: a.cfg.Timing, log: a.log.With("component", "acs"),
	}
	tcs := &tcsClient{
		dialer: a.dialer, endpoints: a.endpoints, stats: a.stats, health: a.health, cluster: a.cfg.Cluster,
		instanceARN: a.instanceARN, version: a.cfg.Version, hash: a.cfg.Hash, runtime: runtimeName,
		timing: a.cfg.Timing, log: a.log.With("component", "tcs"),
	}
	wg.Add(1)
	go func() { defer wg.Done(); tcs.run(runCtx) }()
	acsDone := make(chan error, 1)
	go func() { acsDone <- acs.run(runCtx) }()

	select {
	case <-ctx.Done():
		a.log.Info("agent stopping; containers keep running")
		cancel()
		<-acsDone
		return engineWait()
	case err := <-engDone:
		cancel()
		<-acsDone
		return fmt.Errorf("task engine: %w", err)
	case err := <-acsDone:
		if errors.Is(err, ErrInstanceInactive) {
			a.log.Error("the container instance was deregistered; stopping its tasks", "error", err)
			a.stopAll(runCtx)
			engineWait()
			return fmt.Errorf("container instance %s: %w", a.instanceARN, err)
		}
		// acs.run only returns otherwise when runCtx ends.
		engineWait()
		return err
	}
}

// versionString is the introspection Version, in the real agent's form
// ("Amazon ECS Agent - v1.105.1 (a8b3e7d3)").
func versionString(version, hash string) string {
	if hash == "" {
		return "Berth Agent - v" + version
	}
	return fmt.Sprintf("Berth Agent - v%s (%s)", version, hash)
}

// stopAll stops every task and waits (bounded) until they have stopped,
// so that a deregistered instance does not leave tasks running.
func (a *agent) stopAll(ctx context.Context) {
	var arns []string
	for _, t := range a.engine.TaskStates() {
		if !t.Stopped {
			arns = append(arns, t.ARN)
		}
	}
	if len(arns) == 0 {
		return
	}
	if err := a.engine.StopTasks(ctx, arns); err != nil {
		a.log.Error("stop tasks", "error", err)
		return
	}
	deadline := time.Now().Add(max(a.cfg.ContainerStopTimeout, 2*time.Minute) + 30*time.Second)
	for time.Now().Before(deadline) {
		running := 0
		for _, t := range a.engine.TaskStates() {
			if !t.Stopped {
				running++
			}
		}
		if running == 0 {
			return
		}
		if !sleep(ctx, 100*time.Millisecond) {
			return
		}
	}
	a.log.Warn("tasks still running after stop deadline")
}

// tlsConfig returns the TLS settings for an https server: the system roots
// plus CAFile's certificates.
func (c *Config) tlsConfig() (*tls.Config, error) {
	if c.CAFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", c.CAFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// machine detects the host, applying the configured instance id.
func (c *Config) machine() (hostInfo, error) {
	m, err := detectMachine(c.InstanceID)
	if err != nil {
		return hostInfo{}, err
	}
	m.RuntimeName = runtimeName
	return m, nil
}

// newECSClient returns the SDK client the agent calls the ECS API with.
// SDK retries are off: the agent retries with its own backoffs.
func newECSClient(cfg *Config, creds aws.Credentials, tlsConf *tls.Config) *sdkecs.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConf
	return sdkecs.New(sdkecs.Options{
		Region:           cfg.Region,
		BaseEndpoint:     aws.String(cfg.ServerURL),
		Credentials:      credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, ""),
		HTTPClient:       &http.Client{Transport: tr, Timeout: apiTimeout},
		RetryMaxAttempts: 1,
	})
}
