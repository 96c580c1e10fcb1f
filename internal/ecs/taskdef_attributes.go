package ecs

import (
	"regexp"
	"slices"
	"strings"
)

// Attribute name prefixes ECS uses for capabilities: the older
// com.amazonaws.ecs.capability. and the newer ecs.capability.
const (
	legacyCapabilityPrefix = "com.amazonaws.ecs.capability."
	capabilityPrefix       = "ecs.capability."
)

// dockerAPI returns the attribute for a Docker Remote API version.
func dockerAPI(version string) string { return legacyCapabilityPrefix + "docker-remote-api." + version }

// RequiredAttributes derives the container-instance attributes a task of td
// needs, as ECS does for requiresAttributes: one attribute per feature used,
// sorted by name, nil when nothing special is used. The agent advertises the
// same names (amazon-ecs-agent agent/app/agent_capability.go). The mapping:
//
//	taskRoleArn                       com.amazonaws.ecs.capability.task-iam-role
//	  ... with networkMode host       com.amazonaws.ecs.capability.task-iam-role-network-host
//	networkMode awsvpc                ecs.capability.task-eni
//	pidMode or ipcMode                ecs.capability.pid-ipc-namespace-sharing
//	proxyConfiguration                ecs.capability.aws-appmesh
//	inferenceAccelerators             ecs.capability.task-eia
//	enableFaultInjection              ecs.capability.fault-injection
//	EFS volume                        ecs.capability.efs, ecs.capability.efsAuth, docker-remote-api.1.25
//	FSx for Windows volume            ecs.capability.fsxWindowsFileServer
//	Docker volume with driver D       ecs.capability.docker-plugin.D (not for the local driver)
//	volume configuredAtLaunch         ecs.capability.storage.ebs-task-volume-attach
//	private ECR image                 com.amazonaws.ecs.capability.ecr-auth
//	  ... with executionRoleArn       ecs.capability.execution-role-ecr-pull
//	memoryReservation                 docker-remote-api.1.21
//	dockerLabels, ulimits             docker-remote-api.1.18
//	logConfiguration                  docker-remote-api.1.18, com.amazonaws.ecs.capability.logging-driver.<driver>
//	  ... with options                docker-remote-api.1.19
//	  ... with option mode=non-blocking  docker-remote-api.1.28
//	  ... awslogs + executionRoleArn  ecs.capability.execution-role-awslogs
//	  ... secretOptions               ecs.capability.secrets.{ssm,asm}.bootstrap.log-driver
//	healthCheck                       ecs.capability.container-health-check
//	healthCheck startPeriod           docker-remote-api.1.29
//	containerPortRange                ecs.capability.network.container-port-range
//	dependsOn                         ecs.capability.container-ordering
//	secrets                           ecs.capability.secrets.{ssm,asm}.environment-variables
//	repositoryCredentials             ecs.capability.private-registry-authentication.secretsmanager
//	environmentFiles                  ecs.capability.env-files.s3
//	firelensConfiguration type T      ecs.capability.firelens.T
//	  ... config-file-type file|s3    ecs.capability.firelens.options.config.file|s3
//	linuxParameters.initProcessEnabled docker-remote-api.1.25
//	privileged                        com.amazonaws.ecs.capability.privileged-container
//	dockerSecurityOptions label:/apparmor:/credentialspec:
//	                                  com.amazonaws.ecs.capability.selinux / .apparmor, ecs.capability.gmsa
//	credentialSpecs                   ecs.capability.gmsa (credentialspecdomainless: ecs.capability.gmsa-domainless)
//	restartPolicy enabled             ecs.capability.container-restart-policy
//
// The Docker API versions for dockerLabels, ulimits, logConfiguration, its
// options and initProcessEnabled are documented in ECS's API reference; the
// rest were matched against DescribeTaskDefinition output of real task
// definitions (1.21 for memoryReservation, 1.28 for non-blocking logging,
// 1.29 for health-check start periods and Service Connect port names, 1.25
// and efsAuth for every EFS volume).
func RequiredAttributes(td *TaskDefinition) []Attribute {
	set := map[string]bool{}
	add := func(names ...string) {
		for _, n := range names {
			set[n] = true
		}
	}
	if td.TaskRoleArn != "" {
		add(legacyCapabilityPrefix + "task-iam-role")
		if td.NetworkMode == NetworkModeHost {
			add(legacyCapabilityPrefix + "task-iam-role-network-host")
		}
	}
	if td.NetworkMode == NetworkModeAwsvpc {
		add(capabilityPrefix + "task-eni")
	}
	if td.PidMode != "" || td.IpcMode != "" {
		add(capabilityPrefix + "pid-ipc-namespace-sharing")
	}
	if td.ProxyConfiguration != nil {
		add(capabilityPrefix + "aws-appmesh")
	}
	if len(td.InferenceAccelerators) > 0 {
		add(capabilityPrefix + "task-eia")
	}
	if td.EnableFaultInjection != nil && *td.EnableFaultInjection {
		add(capabilityPrefix + "fault-injection")
	}
	for _, vol := range td.Volumes {
		switch {
		case vol.EFSVolumeConfiguration != nil:
			add(capabilityPrefix+"efs", capabilityPrefix+"efsAuth", dockerAPI("1.25"))
		case vol.FSxWindowsFileServerVolumeConfiguration != nil:
			add(capabilityPrefix + "fsxWindowsFileServer")
		case vol.DockerVolumeConfiguration != nil:
			if d := vol.DockerVolumeConfiguration.Driver; d != "" && d != "local" {
				add(capabilityPrefix + "docker-plugin." + d)
			}
		case vol.ConfiguredAtLaunch != nil && *vol.ConfiguredAtLaunch:
			add(capabilityPrefix + "storage.ebs-task-volume-attach")
		}
	}
	for i := range td.ContainerDefinitions {
		containerAttributes(td, &td.ContainerDefinitions[i], add)
	}
	if len(set) == 0 {
		return nil
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]Attribute, len(names))
	for i, n := range names {
		out[i] = Attribute{Name: n}
	}
	return out
}

func containerAttributes(td *TaskDefinition, c *ContainerDefinition, add func(...string)) {
	if isPrivateECRImage(c.Image) {
		add(legacyCapabilityPrefix + "ecr-auth")
		if td.ExecutionRoleArn != "" {
			add(capabilityPrefix + "execution-role-ecr-pull")
		}
	}
	if c.MemoryReservation != nil {
		add(dockerAPI("1.21"))
	}
	if len(c.DockerLabels) > 0 || len(c.Ulimits) > 0 {
		add(dockerAPI("1.18"))
	}
	if lc := c.LogConfiguration; lc != nil && lc.LogDriver != "" {
		add(dockerAPI("1.18"), legacyCapabilityPrefix+"logging-driver."+string(lc.LogDriver))
		if len(lc.Options) > 0 {
			add(dockerAPI("1.19"))
		}
		if lc.Options["mode"] == "non-blocking" {
			add(dockerAPI("1.28"))
		}
		if lc.LogDriver == LogDriverAwslogs && td.ExecutionRoleArn != "" {
			add(capabilityPrefix + "execution-role-awslogs")
		}
		for _, s := range lc.SecretOptions {
			add(capabilityPrefix + "secrets." + secretStore(s.ValueFrom) + ".bootstrap.log-driver")
		}
	}
	if hc := c.HealthCheck; hc != nil {
		add(capabilityPrefix + "container-health-check")
		add(dockerAPI("1.24")) // every ECS answer with container-health-check lists it
		if hc.StartPeriod != nil {
			add(dockerAPI("1.29"))
		}
	}
	for _, pm := range c.PortMappings {
		if pm.ContainerPortRange != "" {
			add(capabilityPrefix + "network.container-port-range")
		}
	}
	if len(c.DependsOn) > 0 {
		add(capabilityPrefix + "container-ordering")
	}
	for _, s := range c.Secrets {
		add(capabilityPrefix + "secrets." + secretStore(s.ValueFrom) + ".environment-variables")
	}
	if c.RepositoryCredentials != nil {
		add(capabilityPrefix + "private-registry-authentication.secretsmanager")
	}
	if len(c.EnvironmentFiles) > 0 {
		add(capabilityPrefix + "env-files.s3")
	}
	if fc := c.FirelensConfiguration; fc != nil && fc.Type != "" {
		add(capabilityPrefix + "firelens." + fc.Type)
		switch fc.Options["config-file-type"] {
		case "file":
			add(capabilityPrefix + "firelens.options.config.file")
		case "s3":
			add(capabilityPrefix + "firelens.options.config.s3")
		}
	}
	if lp := c.LinuxParameters; lp != nil && lp.InitProcessEnabled != nil && *lp.InitProcessEnabled {
		add(dockerAPI("1.25"))
	}
	if c.Privileged != nil && *c.Privileged {
		add(legacyCapabilityPrefix + "privileged-container")
	}
	for _, o := range c.DockerSecurityOptions {
		switch {
		case strings.HasPrefix(o, "label:"):
			add(legacyCapabilityPrefix + "selinux")
		case strings.HasPrefix(o, "apparmor:"):
			add(legacyCapabilityPrefix + "apparmor")
		case strings.HasPrefix(o, "credentialspec:"):
			add(capabilityPrefix + "gmsa")
		}
	}
	for _, cs := range c.CredentialSpecs {
		if strings.HasPrefix(cs, "credentialspecdomainless:") {
			add(capabilityPrefix + "gmsa-domainless")
		} else {
			add(capabilityPrefix + "gmsa")
		}
	}
	if rp := c.RestartPolicy; rp != nil && rp.Enabled != nil && *rp.Enabled {
		add(capabilityPrefix + "container-restart-policy")
	}
}

var secretsManagerArnRE = regexp.MustCompile(`^arn:aws[a-z-]*:secretsmanager:`)

// secretStore names the secret store a valueFrom points at: "asm" for a
// Secrets Manager ARN, "ssm" for a Parameter Store ARN or parameter name.
func secretStore(valueFrom string) string {
	if secretsManagerArnRE.MatchString(valueFrom) {
		return "asm"
	}
	return "ssm"
}
