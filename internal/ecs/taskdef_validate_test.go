package ecs

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func ptr[T any](v T) *T { return &v }

const (
	testExecRole = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"
	testECRImage = "123456789012.dkr.ecr.us-east-1.amazonaws.com/api:1.0"
)

// validEC2 is a small valid bridge-mode definition with two containers.
func validEC2() *TaskDefinition {
	return &TaskDefinition{
		Family: "web",
		ContainerDefinitions: []ContainerDefinition{
			{Name: "app", Image: "nginx:1.27", Memory: ptr(256), PortMappings: []PortMapping{{ContainerPort: ptr(80)}}},
			{Name: "sidecar", Image: "busybox", MemoryReservation: ptr(64), Essential: ptr(false)},
		},
	}
}

// validFargate is a small valid Fargate definition.
func validFargate() *TaskDefinition {
	return &TaskDefinition{
		Family:                  "api",
		NetworkMode:             NetworkModeAwsvpc,
		RequiresCompatibilities: []Compatibility{CompatibilityFargate},
		CPU:                     "256",
		Memory:                  "512",
		ExecutionRoleArn:        testExecRole,
		ContainerDefinitions: []ContainerDefinition{{
			Name:         "api",
			Image:        testECRImage,
			PortMappings: []PortMapping{{ContainerPort: ptr(8080)}},
			LogConfiguration: &LogConfiguration{LogDriver: LogDriverAwslogs, Options: map[string]string{
				"awslogs-group": "/ecs/api", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "api"}},
		}},
	}
}

func TestValidateTaskDefinitionAcceptsValid(t *testing.T) {
	tests := []struct {
		name string
		td   func() *TaskDefinition
	}{
		{"ec2 base", validEC2},
		{"fargate base", validFargate},
		{"fargate vcpu and GB forms", func() *TaskDefinition {
			td := validFargate()
			td.CPU, td.Memory = "1 vCPU", "2 GB"
			return td
		}},
		{"fargate 16 vcpu 120 GB", func() *TaskDefinition {
			td := validFargate()
			td.CPU, td.Memory = "16 vcpu", "122880"
			return td
		}},
		{"task memory only", func() *TaskDefinition {
			td := validEC2()
			td.Memory = "512"
			td.ContainerDefinitions[0].Memory = nil
			td.ContainerDefinitions[1].MemoryReservation = nil
			return td
		}},
		{"memoryReservation equal to memory", func() *TaskDefinition {
			td := validEC2()
			td.ContainerDefinitions[0].MemoryReservation = ptr(256)
			return td
		}},
		{"awsvpc hostPort 0 and equal", func() *TaskDefinition {
			td := validFargate()
			td.ContainerDefinitions[0].PortMappings = []PortMapping{{ContainerPort: ptr(80), HostPort: ptr(0)}, {ContainerPort: ptr(443), HostPort: ptr(443)}}
			return td
		}},
		{"bridge same container port in two containers", func() *TaskDefinition {
			td := validEC2()
			td.ContainerDefinitions[1].PortMappings = []PortMapping{{ContainerPort: ptr(80)}}
			return td
		}},
		{"same port tcp and udp", func() *TaskDefinition {
			td := validEC2()
			td.ContainerDefinitions[0].PortMappings = []PortMapping{{ContainerPort: ptr(53), Protocol: ProtocolTCP}, {ContainerPort: ptr(53), Protocol: ProtocolUDP}}
			return td
		}},
		{"dependencies", func() *TaskDefinition {
			td := validEC2()
			td.ContainerDefinitions[1].HealthCheck = &HealthCheck{Command: []string{"CMD", "true"}}
			td.ContainerDefinitions[0].DependsOn = []ContainerDependency{{ContainerName: "sidecar", Condition: ConditionComplete}, {ContainerName: "sidecar", Condition: ConditionHealthy}}
			return td
		}},
		{"links and volumes in bridge mode", func() *TaskDefinition {
			td := validEC2()
			td.Volumes = []Volume{{Name: "data", Host: &HostVolumeProperties{SourcePath: "/srv/data"}}, {Name: "scratch"}}
			td.ContainerDefinitions[0].Links = []string{"sidecar:side"}
			td.ContainerDefinitions[0].MountPoints = []MountPoint{{SourceVolume: "data", ContainerPath: "/data"}}
			td.ContainerDefinitions[0].VolumesFrom = []VolumeFrom{{SourceContainer: "sidecar"}}
			return td
		}},
		{"container port range in bridge mode", func() *TaskDefinition {
			td := validEC2()
			td.ContainerDefinitions[1].PortMappings = []PortMapping{{ContainerPortRange: "9000-9099"}, {ContainerPort: ptr(9100)}}
			return td
		}},
		{"health check NONE", func() *TaskDefinition {
			td := validEC2()
			td.ContainerDefinitions[0].HealthCheck = &HealthCheck{Command: []string{"NONE"}}
			return td
		}},
		{"app mesh proxy", func() *TaskDefinition {
			td := validFargate()
			td.ContainerDefinitions = append(td.ContainerDefinitions, ContainerDefinition{Name: "envoy", Image: "public.ecr.aws/appmesh/aws-appmesh-envoy:v1.29.4.0-prod", User: "1337"})
			td.ProxyConfiguration = &ProxyConfiguration{Type: "APPMESH", ContainerName: "envoy",
				Properties: []KeyValuePair{{Name: "IgnoredUID", Value: "1337"}, {Name: "AppPorts", Value: "8080"}}}
			return td
		}},
		{"every volume kind", func() *TaskDefinition {
			td := validEC2()
			td.Volumes = []Volume{
				{Name: "efs", EFSVolumeConfiguration: &EFSVolumeConfiguration{FileSystemID: "fs-1", RootDirectory: "/", TransitEncryption: "ENABLED",
					TransitEncryptionPort: ptr(2049), AuthorizationConfig: &EFSAuthorizationConfig{AccessPointID: "fsap-1", IAM: "ENABLED"}}},
				{Name: "fsx", FSxWindowsFileServerVolumeConfiguration: &FSxWindowsFileServerVolumeConfiguration{FileSystemID: "fs-2", RootDirectory: `\\share`,
					AuthorizationConfig: &FSxWindowsFileServerAuthorizationConfig{CredentialsParameter: "arn:aws:ssm:us-east-1:123456789012:parameter/c", Domain: "corp.example.com"}}},
				{Name: "s3", S3FilesVolumeConfiguration: &S3FilesVolumeConfiguration{FileSystemArn: "arn:aws:s3files:us-east-1:123456789012:file-system/fs-3"}},
				{Name: "shared", DockerVolumeConfiguration: &DockerVolumeConfiguration{Scope: "shared", Autoprovision: ptr(true), Driver: "local"}},
				{Name: "ebs", ConfiguredAtLaunch: ptr(true)},
				{Name: "bind", Host: &HostVolumeProperties{}},
			}
			return td
		}},
		{"defaults already applied", func() *TaskDefinition {
			td := validFargate()
			ApplyTaskDefinitionDefaults(td)
			return td
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := ValidateTaskDefinition(tt.td()); err != nil {
				t.Fatalf("ValidateTaskDefinition() = %v, want nil", err)
			}
		})
	}
}

func TestValidateTaskDefinitionRejects(t *testing.T) {
	type row struct {
		name   string
		base   func() *TaskDefinition
		mutate func(td *TaskDefinition)
		kind   error
		want   string // substring of the message; it names the field
	}
	c0 := func(td *TaskDefinition) *ContainerDefinition { return &td.ContainerDefinitions[0] }
	c1 := func(td *TaskDefinition) *ContainerDefinition { return &td.ContainerDefinitions[1] }
	awsvpc := func(td *TaskDefinition) { td.NetworkMode = NetworkModeAwsvpc }
	tests := []row{
		// family
		{"family blank", validEC2, func(td *TaskDefinition) { td.Family = "" }, ErrClient, "Family can not be blank."},
		{"family chars", validEC2, func(td *TaskDefinition) { td.Family = "my family" }, ErrClient, "Family contains invalid characters."},
		{"family too long", validEC2, func(td *TaskDefinition) { td.Family = strings.Repeat("f", 256) }, ErrClient, "Family is too long"},
		// container list and identity
		{"no containers", validEC2, func(td *TaskDefinition) { td.ContainerDefinitions = nil }, ErrClient, "Container list cannot be empty."},
		{"eleven containers", validEC2, func(td *TaskDefinition) {
			td.ContainerDefinitions = nil
			for i := range 11 {
				td.ContainerDefinitions = append(td.ContainerDefinitions, ContainerDefinition{Name: fmt.Sprint("c", i), Image: "busybox", Memory: ptr(16)})
			}
		}, ErrClient, "at most 10"},
		{"container name empty", validEC2, func(td *TaskDefinition) { c0(td).Name = "" }, ErrClient, "Container.name should not be null or empty."},
		{"container name chars", validEC2, func(td *TaskDefinition) { c0(td).Name = "web app" }, ErrClient, "Container.name contains invalid characters."},
		{"container name duplicate", validEC2, func(td *TaskDefinition) { c1(td).Name = "app" }, ErrClient, "Duplicate container name 'app'"},
		{"image empty", validEC2, func(td *TaskDefinition) { c0(td).Image = "" }, ErrClient, "Container.image should not be null or empty."},
		{"image chars", validEC2, func(td *TaskDefinition) { c0(td).Image = "$IMAGE_NAME" }, ErrClient, "Container.image contains invalid characters."},
		// task enums
		{"network mode", validEC2, func(td *TaskDefinition) { td.NetworkMode = "bridged" }, ErrClient, "Invalid 'networkMode' setting"},
		{"requires compatibility", validEC2, func(td *TaskDefinition) { td.RequiresCompatibilities = []Compatibility{"LAMBDA"} }, ErrClient, "Invalid 'requiresCompatibilities' setting"},
		{"pid mode", validEC2, func(td *TaskDefinition) { td.PidMode = "container" }, ErrClient, "Invalid 'pidMode' setting"},
		{"ipc mode", validEC2, func(td *TaskDefinition) { td.IpcMode = "shareable" }, ErrClient, "Invalid 'ipcMode' setting"},
		{"cpu architecture", validEC2, func(td *TaskDefinition) { td.RuntimePlatform = &RuntimePlatform{CPUArchitecture: "ARM"} }, ErrClient, "runtimePlatform.cpuArchitecture"},
		{"ephemeral storage low", validFargate, func(td *TaskDefinition) { td.EphemeralStorage = &EphemeralStorage{SizeInGiB: 20} }, ErrClient, "EphemeralStorage size should be at least 21"},
		{"ephemeral storage high", validFargate, func(td *TaskDefinition) { td.EphemeralStorage = &EphemeralStorage{SizeInGiB: 201} }, ErrClient, "EphemeralStorage size should be at most 200"},
		{"inference accelerator", validEC2, func(td *TaskDefinition) { td.InferenceAccelerators = []InferenceAccelerator{{DeviceName: "d1"}} }, ErrClient, "'inferenceAccelerators'"},
		{"isolation mode", validEC2, func(td *TaskDefinition) {
			td.TrustedExecutionConfiguration = &TrustedExecutionConfiguration{IsolationMode: "VM"}
		}, ErrClient, "trustedExecutionConfiguration.isolationMode"},
		// task size
		{"task cpu too small", validEC2, func(td *TaskDefinition) { td.CPU = "100" }, ErrClient, "Invalid 'cpu' setting for task."},
		{"task cpu too large", validEC2, func(td *TaskDefinition) { td.CPU = "196609" }, ErrClient, "Invalid 'cpu' setting for task."},
		{"task cpu garbage", validEC2, func(td *TaskDefinition) { td.CPU = "lots" }, ErrClient, "Invalid 'cpu' setting for task."},
		{"task memory unit", validEC2, func(td *TaskDefinition) { td.Memory = "2 TB" }, ErrClient, "Invalid 'memory' setting for task."},
		// container resources
		{"no memory anywhere", validEC2, func(td *TaskDefinition) { c0(td).Memory = nil }, ErrClient, "Invalid setting for container 'app'. At least one of 'memory' or 'memoryReservation' must be specified."},
		{"reservation above memory", validEC2, func(td *TaskDefinition) { c0(td).MemoryReservation = ptr(512) }, ErrClient, "'memoryReservation' value (512) must be less than or equal to the 'memory' value (256)"},
		{"memory below 6 MiB", validEC2, func(td *TaskDefinition) { c0(td).Memory = ptr(4) }, ErrClient, "Invalid 'memory' setting for container 'app'"},
		{"reservation zero", validEC2, func(td *TaskDefinition) { c1(td).MemoryReservation = ptr(0) }, ErrClient, "Invalid 'memoryReservation' setting for container 'sidecar'"},
		{"container memory above task", validEC2, func(td *TaskDefinition) { td.Memory = "128" }, ErrClient, "Invalid 'memory' setting for container 'app'. The container memory (256 MiB) must not be greater than the task memory (128 MiB)."},
		{"reservations above task memory", validEC2, func(td *TaskDefinition) {
			td.Memory = "300"
			c1(td).MemoryReservation = ptr(100)
		}, ErrClient, "The sum of all container 'memoryReservation' values cannot be greater than the value of the task 'memory'."},
		{"container cpu negative", validEC2, func(td *TaskDefinition) { c0(td).CPU = -1 }, ErrClient, "Invalid 'cpu' setting for container 'app'."},
		{"container cpu above task", validEC2, func(td *TaskDefinition) { td.CPU = "256"; c0(td).CPU = 512 }, ErrClient, "Invalid 'cpu' setting for container 'app'. The container cpu (512)"},
		{"cpu sum above task", validEC2, func(td *TaskDefinition) { td.CPU = "256"; c0(td).CPU = 200; c1(td).CPU = 100 }, ErrClient, "The sum of all container 'cpu' values"},
		{"no essential container", validEC2, func(td *TaskDefinition) { c0(td).Essential = ptr(false) }, ErrClient, "'essential'"},
		// port mappings
		{"container port zero", validEC2, func(td *TaskDefinition) { c0(td).PortMappings[0].ContainerPort = ptr(0) }, ErrClient, "Invalid 'containerPort' setting for container 'app'."},
		{"container port too big", validEC2, func(td *TaskDefinition) { c0(td).PortMappings[0].ContainerPort = ptr(65536) }, ErrClient, "Invalid 'containerPort' setting for container 'app'."},
		{"container port missing", validEC2, func(td *TaskDefinition) { c0(td).PortMappings[0].ContainerPort = nil }, ErrClient, "Invalid 'containerPort' setting for container 'app'."},
		{"host port too big", validEC2, func(td *TaskDefinition) { c0(td).PortMappings[0].HostPort = ptr(70000) }, ErrClient, "Invalid 'hostPort' setting for container 'app'."},
		{"awsvpc host port mismatch", validFargate, func(td *TaskDefinition) { c0(td).PortMappings[0].HostPort = ptr(80) }, ErrClient, "When networkMode=awsvpc, the host ports and container ports in port mappings must match."},
		{"host mode host port mismatch", validEC2, func(td *TaskDefinition) {
			td.NetworkMode = NetworkModeHost
			c0(td).PortMappings[0].HostPort = ptr(8080)
		}, ErrClient, "When networkMode=host, the host ports and container ports in port mappings must match."},
		{"protocol", validEC2, func(td *TaskDefinition) { c0(td).PortMappings[0].Protocol = "sctp" }, ErrClient, "Invalid 'protocol' setting for container 'app'"},
		{"app protocol", validEC2, func(td *TaskDefinition) { c0(td).PortMappings[0].AppProtocol = "http3" }, ErrClient, "Invalid 'appProtocol' setting for container 'app'"},
		{"duplicate mapping in container", validEC2, func(td *TaskDefinition) {
			c0(td).PortMappings = append(c0(td).PortMappings, PortMapping{ContainerPort: ptr(80), HostPort: ptr(8080)})
		}, ErrClient, "'portMappings' setting for container 'app': port 80/tcp is included in more than one port mapping"},
		{"bridge host port used twice", validEC2, func(td *TaskDefinition) {
			c0(td).PortMappings[0].HostPort = ptr(8080)
			c1(td).PortMappings = []PortMapping{{ContainerPort: ptr(81), HostPort: ptr(8080)}}
		}, ErrClient, "host port 8080/tcp is already used by container 'app'"},
		{"awsvpc port in two containers", validFargate, func(td *TaskDefinition) {
			td.ContainerDefinitions = append(td.ContainerDefinitions, ContainerDefinition{Name: "b", Image: "busybox", PortMappings: []PortMapping{{ContainerPort: ptr(8080)}}})
		}, ErrClient, "port 8080/tcp is already mapped by container 'api'"},
		{"port mappings in none mode", validEC2, func(td *TaskDefinition) { td.NetworkMode = NetworkModeNone }, ErrClient, "'portMappings' setting for container 'app': port mappings are not supported when networkMode=none"},
		{"port range reversed", validEC2, func(td *TaskDefinition) { c1(td).PortMappings = []PortMapping{{ContainerPortRange: "9100-9000"}} }, ErrClient, "Invalid 'containerPortRange' setting for container 'sidecar'"},
		{"port range with container port", validEC2, func(td *TaskDefinition) {
			c1(td).PortMappings = []PortMapping{{ContainerPort: ptr(9000), ContainerPortRange: "9000-9010"}}
		}, ErrClient, "either containerPort or containerPortRange"},
		{"port range in host mode", validEC2, func(td *TaskDefinition) {
			td.NetworkMode = NetworkModeHost
			c1(td).PortMappings = []PortMapping{{ContainerPortRange: "9000-9010"}}
		}, ErrClient, "Invalid 'containerPortRange' setting for container 'sidecar'"},
		{"port range overlaps port", validEC2, func(td *TaskDefinition) {
			c1(td).PortMappings = []PortMapping{{ContainerPort: ptr(9005)}, {ContainerPortRange: "9000-9010"}}
		}, ErrClient, "port 9005/tcp is included in more than one port mapping"},
		{"port name invalid", validEC2, func(td *TaskDefinition) { c0(td).PortMappings[0].Name = "Web" }, ErrClient, "name 'Web' is not valid"},
		{"port name duplicate", validEC2, func(td *TaskDefinition) {
			c0(td).PortMappings[0].Name = "web"
			c1(td).PortMappings = []PortMapping{{ContainerPort: ptr(81), Name: "web"}}
		}, ErrClient, "port mapping name 'web' is used more than once"},
		// dependsOn
		{"depends on unknown", validEC2, func(td *TaskDefinition) {
			c0(td).DependsOn = []ContainerDependency{{ContainerName: "db", Condition: ConditionStart}}
		}, ErrClient, "Invalid 'dependsOn' setting for container 'app': container 'db' is not defined"},
		{"depends on self", validEC2, func(td *TaskDefinition) {
			c0(td).DependsOn = []ContainerDependency{{ContainerName: "app", Condition: ConditionStart}}
		}, ErrClient, "Invalid 'dependsOn' setting for container 'app': a container cannot depend on itself"},
		{"depends on bad condition", validEC2, func(td *TaskDefinition) {
			c0(td).DependsOn = []ContainerDependency{{ContainerName: "sidecar", Condition: "READY"}}
		}, ErrClient, "condition 'READY' is not valid"},
		{"healthy without health check", validEC2, func(td *TaskDefinition) {
			c0(td).DependsOn = []ContainerDependency{{ContainerName: "sidecar", Condition: ConditionHealthy}}
		}, ErrClient, "condition HEALTHY requires container 'sidecar' to have a healthCheck"},
		{"complete on essential", validEC2, func(td *TaskDefinition) {
			c1(td).DependsOn = []ContainerDependency{{ContainerName: "app", Condition: ConditionComplete}}
		}, ErrClient, "A dependency container with SUCCESS or COMPLETE condition cannot be an essential container ('dependsOn' of container 'sidecar'"},
		{"dependency cycle", validEC2, func(td *TaskDefinition) {
			c0(td).DependsOn = []ContainerDependency{{ContainerName: "sidecar", Condition: ConditionStart}}
			c1(td).DependsOn = []ContainerDependency{{ContainerName: "app", Condition: ConditionStart}}
		}, ErrClient, "Invalid 'dependsOn' settings: the container dependencies form a cycle: app -> sidecar -> app."},
		// links, volumesFrom, mount points, volumes
		{"links in awsvpc", validEC2, func(td *TaskDefinition) { awsvpc(td); c0(td).Links = []string{"sidecar"} }, ErrClient, "Links are not supported when networkMode=awsvpc."},
		{"link to unknown", validEC2, func(td *TaskDefinition) { c0(td).Links = []string{"db:database"} }, ErrClient, "Invalid 'links' setting for container 'app': container 'db' is not defined"},
		{"link to self", validEC2, func(td *TaskDefinition) { c0(td).Links = []string{"app"} }, ErrClient, "Invalid 'links' setting for container 'app': a container cannot link to itself"},
		{"volumesFrom unknown", validEC2, func(td *TaskDefinition) { c0(td).VolumesFrom = []VolumeFrom{{SourceContainer: "db"}} }, ErrClient, "Invalid 'volumesFrom' setting for container 'app': sourceContainer 'db' is not defined"},
		{"volumesFrom self", validEC2, func(td *TaskDefinition) { c0(td).VolumesFrom = []VolumeFrom{{SourceContainer: "app"}} }, ErrClient, "Invalid 'volumesFrom' setting for container 'app'"},
		{"mount unknown volume", validEC2, func(td *TaskDefinition) {
			c0(td).MountPoints = []MountPoint{{SourceVolume: "data", ContainerPath: "/data"}}
		}, ErrClient, "Invalid 'mountPoints' setting for container 'app': sourceVolume 'data' is not defined"},
		{"mount without path", validEC2, func(td *TaskDefinition) {
			td.Volumes = []Volume{{Name: "data"}}
			c0(td).MountPoints = []MountPoint{{SourceVolume: "data"}}
		}, ErrClient, "Invalid 'mountPoints' setting for container 'app': containerPath is required"},
		{"volume name empty", validEC2, func(td *TaskDefinition) { td.Volumes = []Volume{{}} }, ErrClient, "Volume.name should not be null or empty."},
		{"volume name duplicate", validEC2, func(td *TaskDefinition) { td.Volumes = []Volume{{Name: "data"}, {Name: "data"}} }, ErrClient, "Duplicate volume name 'data'"},
		{"volume two kinds", validEC2, func(td *TaskDefinition) {
			td.Volumes = []Volume{{Name: "data", Host: &HostVolumeProperties{}, EFSVolumeConfiguration: &EFSVolumeConfiguration{FileSystemID: "fs-1"}}}
		}, ErrClient, "Invalid volume 'data': specify only one of"},
		{"efs without file system", validEC2, func(td *TaskDefinition) {
			td.Volumes = []Volume{{Name: "data", EFSVolumeConfiguration: &EFSVolumeConfiguration{}}}
		}, ErrClient, "'efsVolumeConfiguration' setting for volume 'data': fileSystemId is required"},
		{"efs access point without tls", validEC2, func(td *TaskDefinition) {
			td.Volumes = []Volume{{Name: "data", EFSVolumeConfiguration: &EFSVolumeConfiguration{FileSystemID: "fs-1",
				AuthorizationConfig: &EFSAuthorizationConfig{AccessPointID: "fsap-1"}}}}
		}, ErrClient, "transitEncryption must be ENABLED"},
		{"docker autoprovision task scope", validEC2, func(td *TaskDefinition) {
			td.Volumes = []Volume{{Name: "data", DockerVolumeConfiguration: &DockerVolumeConfiguration{Scope: "task", Autoprovision: ptr(true)}}}
		}, ErrClient, "'dockerVolumeConfiguration' setting for volume 'data': autoprovision"},
		{"s3files without arn", validEC2, func(td *TaskDefinition) {
			td.Volumes = []Volume{{Name: "s3", S3FilesVolumeConfiguration: &S3FilesVolumeConfiguration{}}}
		}, ErrClient, "'s3filesVolumeConfiguration' setting for volume 's3': fileSystemArn is required"},
		{"fsx incomplete", validEC2, func(td *TaskDefinition) {
			td.Volumes = []Volume{{Name: "fsx", FSxWindowsFileServerVolumeConfiguration: &FSxWindowsFileServerVolumeConfiguration{FileSystemID: "fs-1"}}}
		}, ErrClient, "'fsxWindowsFileServerVolumeConfiguration' setting for volume 'fsx'"},
		{"configured at launch with host", validEC2, func(td *TaskDefinition) {
			td.Volumes = []Volume{{Name: "ebs", ConfiguredAtLaunch: ptr(true), Host: &HostVolumeProperties{}}}
		}, ErrClient, "Invalid volume 'ebs': a volume with configuredAtLaunch"},
		{"efs root directory with access point", validEC2, func(td *TaskDefinition) {
			td.Volumes = []Volume{{Name: "data", EFSVolumeConfiguration: &EFSVolumeConfiguration{FileSystemID: "fs-1", TransitEncryption: "ENABLED",
				RootDirectory: "/data", AuthorizationConfig: &EFSAuthorizationConfig{AccessPointID: "fsap-1"}}}}
		}, ErrClient, "rootDirectory must be omitted or set to /"},
		// Fargate
		{"fargate network mode", validFargate, func(td *TaskDefinition) { td.NetworkMode = "" }, ErrClient, "Fargate only supports network mode ‘awsvpc’."},
		{"fargate cpu missing", validFargate, func(td *TaskDefinition) { td.CPU = "" }, ErrClient, "Fargate requires that 'cpu' be defined at the task level."},
		{"fargate memory missing", validFargate, func(td *TaskDefinition) { td.Memory = "" }, ErrClient, "Fargate requires that 'memory' be defined at the task level."},
		{"fargate size", validFargate, func(td *TaskDefinition) { td.Memory = "4096" }, ErrClient, "No Fargate configuration exists for given values: 256 CPU, 4096 memory."},
		{"fargate windows cpu", validFargate, func(td *TaskDefinition) {
			td.CPU, td.Memory = "512", "1024"
			td.RuntimePlatform = &RuntimePlatform{OperatingSystemFamily: "WINDOWS_SERVER_2022_CORE"}
		}, ErrClient, "Windows containers require a task 'cpu' of at least 1024"},
		{"fargate privileged", validFargate, func(td *TaskDefinition) { c0(td).Privileged = ptr(true) }, ErrClient, "do not support 'privileged' containers (container 'api')"},
		{"fargate host source path", validFargate, func(td *TaskDefinition) {
			td.Volumes = []Volume{{Name: "logs", Host: &HostVolumeProperties{SourcePath: "/var/log"}}}
		}, ErrClient, "'sourcePath' parameter of host volumes (volume 'logs')"},
		{"fargate docker volume", validFargate, func(td *TaskDefinition) {
			td.Volumes = []Volume{{Name: "d", DockerVolumeConfiguration: &DockerVolumeConfiguration{}}}
		}, ErrClient, "do not support 'dockerVolumeConfiguration' (volume 'd')"},
		{"fargate pid host", validFargate, func(td *TaskDefinition) { td.PidMode = PidModeHost }, ErrClient, "Tasks using the Fargate launch type do not support pidMode 'host'. The supported value for pidMode is 'task'."},
		{"fargate ipc", validFargate, func(td *TaskDefinition) { td.IpcMode = IpcModeTask }, ErrClient, "Tasks using the Fargate launch type do not support ipcMode."},
		{"fargate placement", validFargate, func(td *TaskDefinition) {
			td.PlacementConstraints = []TaskDefinitionPlacementConstraint{{Type: "memberOf", Expression: "attribute:ecs.os-type == linux"}}
		}, ErrClient, "do not support placementConstraints"},
		{"fargate ecr needs execution role", validFargate, func(td *TaskDefinition) {
			td.ExecutionRoleArn = ""
			c0(td).LogConfiguration = nil
		}, ErrClient, "Fargate requires task definition to have execution role ARN to support ECR images."},
		{"fargate awslogs needs execution role", validFargate, func(td *TaskDefinition) { td.ExecutionRoleArn = "" }, ErrClient, "Fargate requires task definition to have execution role ARN to support log driver awslogs."},
		{"fargate log driver", validFargate, func(td *TaskDefinition) { c0(td).LogConfiguration.LogDriver = LogDriverJSONFile }, ErrClient, "only support the awslogs, splunk and awsfirelens log drivers (container 'api' uses 'logDriver' 'json-file')"},
		{"fargate devices", validFargate, func(td *TaskDefinition) {
			c0(td).LinuxParameters = &LinuxParameters{Devices: []Device{{HostPath: "/dev/fuse"}}}
		}, ErrClient, "do not support 'linuxParameters.devices' (container 'api')"},
		{"fargate capability", validFargate, func(td *TaskDefinition) {
			c0(td).LinuxParameters = &LinuxParameters{Capabilities: &KernelCapabilities{Add: []string{"NET_ADMIN"}}}
		}, ErrClient, "only support adding the SYS_PTRACE kernel capability in 'linuxParameters.capabilities.add'"},
		{"fargate gpu", validFargate, func(td *TaskDefinition) {
			c0(td).ResourceRequirements = []ResourceRequirement{{Type: "GPU", Value: "1"}}
		}, ErrClient, "GPU 'resourceRequirements'"},
		{"external awsvpc", validEC2, func(td *TaskDefinition) {
			awsvpc(td)
			c0(td).PortMappings = nil
			td.RequiresCompatibilities = []Compatibility{CompatibilityExternal}
		}, ErrClient, "EXTERNAL launch type do not support network mode 'awsvpc'"},
		// health check
		{"health check command prefix", validEC2, func(td *TaskDefinition) {
			c0(td).HealthCheck = &HealthCheck{Command: []string{"curl", "-f", "localhost"}}
		}, ErrClient, "Invalid 'healthCheck' setting for container 'app': the command must start with CMD, CMD-SHELL or NONE."},
		{"health check command empty", validEC2, func(td *TaskDefinition) { c0(td).HealthCheck = &HealthCheck{} }, ErrClient, "Invalid 'healthCheck' setting for container 'app': command is required."},
		{"health check shell only", validEC2, func(td *TaskDefinition) { c0(td).HealthCheck = &HealthCheck{Command: []string{"CMD-SHELL"}} }, ErrClient, "Invalid 'healthCheck' setting for container 'app'"},
		{"health check interval", validEC2, func(td *TaskDefinition) {
			c0(td).HealthCheck = &HealthCheck{Command: []string{"CMD", "true"}, Interval: ptr(4)}
		}, ErrClient, "Invalid 'healthCheck.interval' setting for container 'app': you may specify between 5 and 300."},
		{"health check timeout", validEC2, func(td *TaskDefinition) {
			c0(td).HealthCheck = &HealthCheck{Command: []string{"CMD", "true"}, Timeout: ptr(61)}
		}, ErrClient, "Invalid 'healthCheck.timeout' setting for container 'app': you may specify between 2 and 60."},
		{"health check retries", validEC2, func(td *TaskDefinition) {
			c0(td).HealthCheck = &HealthCheck{Command: []string{"CMD", "true"}, Retries: ptr(0)}
		}, ErrClient, "Invalid 'healthCheck.retries' setting for container 'app': you may specify between 1 and 10."},
		{"health check start period", validEC2, func(td *TaskDefinition) {
			c0(td).HealthCheck = &HealthCheck{Command: []string{"CMD", "true"}, StartPeriod: ptr(301)}
		}, ErrClient, "Invalid 'healthCheck.startPeriod' setting for container 'app': you may specify between 0 and 300."},
		// container settings
		{"ulimit name", validEC2, func(td *TaskDefinition) { c0(td).Ulimits = []Ulimit{{Name: "files", SoftLimit: 1, HardLimit: 1}} }, ErrClient, "Invalid 'ulimits' setting for container 'app': 'files' is not a valid ulimit name."},
		{"ulimit soft above hard", validEC2, func(td *TaskDefinition) {
			c0(td).Ulimits = []Ulimit{{Name: "nofile", SoftLimit: 2048, HardLimit: 1024}}
		}, ErrClient, "the softLimit of 'nofile' must not be greater than its hardLimit"},
		{"log driver", validEC2, func(td *TaskDefinition) { c0(td).LogConfiguration = &LogConfiguration{LogDriver: "fluentbit"} }, ErrClient, "Invalid 'logConfiguration' setting for container 'app': log driver 'fluentbit' is not supported."},
		{"awsfirelens without router", validEC2, func(td *TaskDefinition) { c0(td).LogConfiguration = &LogConfiguration{LogDriver: LogDriverAwsfirelens} }, ErrClient, "Invalid 'logConfiguration' setting for container 'app': the awsfirelens log driver requires a log router"},
		{"two firelens routers", validEC2, func(td *TaskDefinition) {
			c0(td).FirelensConfiguration = &FirelensConfiguration{Type: "fluentbit"}
			c1(td).FirelensConfiguration = &FirelensConfiguration{Type: "fluentbit"}
		}, ErrClient, "only one container in a task definition can have a firelensConfiguration"},
		{"firelens type", validEC2, func(td *TaskDefinition) { c0(td).FirelensConfiguration = &FirelensConfiguration{Type: "vector"} }, ErrClient, "Invalid 'firelensConfiguration' setting for container 'app'"},
		{"environment name", validEC2, func(td *TaskDefinition) { c0(td).Environment = []KeyValuePair{{Value: "x"}} }, ErrClient, "Invalid 'environment' setting for container 'app': environment variable names must not be empty."},
		{"environment file type", validEC2, func(td *TaskDefinition) {
			c0(td).EnvironmentFiles = []EnvironmentFile{{Type: "http", Value: "arn:aws:s3:::bucket/app.env"}}
		}, ErrClient, "Invalid 'environmentFiles' setting for container 'app'"},
		{"environment file value", validEC2, func(td *TaskDefinition) {
			c0(td).EnvironmentFiles = []EnvironmentFile{{Type: "s3", Value: "s3://bucket/app.env"}}
		}, ErrClient, "Invalid 'environmentFiles' setting for container 'app': the value must be the ARN of an Amazon S3 object."},
		{"secrets need execution role", validEC2, func(td *TaskDefinition) {
			c0(td).Secrets = []Secret{{Name: "DB", ValueFrom: "/app/db"}}
		}, ErrClient, "When you are specifying container secrets, you must also specify a value for 'executionRoleArn'."},
		{"secret without valueFrom", validEC2, func(td *TaskDefinition) {
			td.ExecutionRoleArn = testExecRole
			c0(td).Secrets = []Secret{{Name: "DB"}}
		}, ErrClient, "Invalid 'secrets' setting for container 'app'"},
		{"stop timeout", validEC2, func(td *TaskDefinition) { c0(td).StopTimeout = ptr(121) }, ErrClient, "Invalid 'stopTimeout' setting for container 'app'. The valid values are 2-120 seconds."},
		{"start timeout", validEC2, func(td *TaskDefinition) { c0(td).StartTimeout = ptr(1) }, ErrClient, "Invalid 'startTimeout' setting for container 'app'. The valid values are 2-120 seconds."},
		{"hostname in awsvpc", validFargate, func(td *TaskDefinition) { c0(td).Hostname = "api" }, ErrClient, "hostname is not supported on container when networkMode=awsvpc."},
		{"extra hosts in awsvpc", validFargate, func(td *TaskDefinition) {
			c0(td).ExtraHosts = []HostEntry{{Hostname: "db", IPAddress: "10.0.0.5"}}
		}, ErrClient, "extraHosts is not supported on container when networkMode=awsvpc."},
		{"swappiness", validEC2, func(td *TaskDefinition) { c0(td).LinuxParameters = &LinuxParameters{Swappiness: ptr(101)} }, ErrClient, "Invalid 'linuxParameters.swappiness' setting for container 'app'"},
		{"kernel capability", validEC2, func(td *TaskDefinition) {
			c0(td).LinuxParameters = &LinuxParameters{Capabilities: &KernelCapabilities{Drop: []string{"CAP_NET_RAW"}}}
		}, ErrClient, "Invalid 'linuxParameters.capabilities' setting for container 'app': 'CAP_NET_RAW'"},
		{"tmpfs size", validEC2, func(td *TaskDefinition) {
			c0(td).LinuxParameters = &LinuxParameters{Tmpfs: []Tmpfs{{ContainerPath: "/tmp"}}}
		}, ErrClient, "Invalid 'linuxParameters.tmpfs' setting for container 'app'"},
		{"gpu value", validEC2, func(td *TaskDefinition) {
			c0(td).ResourceRequirements = []ResourceRequirement{{Type: "GPU", Value: "all"}}
		}, ErrClient, "Invalid 'resourceRequirements' setting for container 'app'"},
		{"restart attempt period", validEC2, func(td *TaskDefinition) {
			c0(td).RestartPolicy = &ContainerRestartPolicy{Enabled: ptr(true), RestartAttemptPeriod: ptr(30)}
		}, ErrClient, "Invalid 'restartPolicy' setting for container 'app'"},
		{"credential specs", validEC2, func(td *TaskDefinition) {
			c0(td).CredentialSpecs = []string{"credentialspec:arn:aws:s3:::b/a.json", "credentialspec:arn:aws:s3:::b/b.json"}
		}, ErrClient, "Invalid 'credentialSpecs' setting for container 'app'"},
		{"docker security option", validEC2, func(td *TaskDefinition) { c0(td).DockerSecurityOptions = []string{"seccomp=unconfined"} }, ErrClient, "Invalid 'dockerSecurityOptions' setting for container 'app'"},
		{"version consistency", validEC2, func(td *TaskDefinition) { c0(td).VersionConsistency = "yes" }, ErrClient, "Invalid 'versionConsistency' setting for container 'app'"},
		{"net sysctl in host mode", validEC2, func(td *TaskDefinition) {
			td.NetworkMode = NetworkModeHost
			c0(td).PortMappings = nil
			c0(td).SystemControls = []SystemControl{{Namespace: "net.ipv4.tcp_keepalive_time", Value: "500"}}
		}, ErrClient, "Invalid 'systemControls' setting for container 'app'"},
		{"repository credentials", validEC2, func(td *TaskDefinition) { c0(td).RepositoryCredentials = &RepositoryCredentials{} }, ErrClient, "Invalid 'repositoryCredentials' setting for container 'app'"},
		// placement, proxy
		{"placement type", validEC2, func(td *TaskDefinition) {
			td.PlacementConstraints = []TaskDefinitionPlacementConstraint{{Type: "distinctInstance"}}
		}, ErrClient, "Invalid 'placementConstraints' setting for task: type 'distinctInstance'"},
		{"placement expression", validEC2, func(td *TaskDefinition) {
			td.PlacementConstraints = []TaskDefinitionPlacementConstraint{{Type: "memberOf"}}
		}, ErrClient, "Invalid 'placementConstraints' setting for task: a memberOf constraint requires an expression."},
		{"placement count", validEC2, func(td *TaskDefinition) {
			for range 11 {
				td.PlacementConstraints = append(td.PlacementConstraints, TaskDefinitionPlacementConstraint{Type: "memberOf", Expression: "attribute:ecs.os-type == linux"})
			}
		}, ErrClient, "at most 10 'placementConstraints'"},
		{"proxy without awsvpc", validEC2, func(td *TaskDefinition) {
			td.ProxyConfiguration = &ProxyConfiguration{Type: "APPMESH", ContainerName: "sidecar"}
		}, ErrClient, "Invalid 'proxyConfiguration' setting for task: a proxy configuration requires network mode 'awsvpc'."},
		{"proxy unknown container", validFargate, func(td *TaskDefinition) {
			td.ProxyConfiguration = &ProxyConfiguration{ContainerName: "envoy"}
		}, ErrClient, "Invalid 'proxyConfiguration' setting for task: container 'envoy' is not defined"},
		{"proxy type", validFargate, func(td *TaskDefinition) {
			td.ProxyConfiguration = &ProxyConfiguration{Type: "ISTIO", ContainerName: "api"}
		}, ErrClient, "Invalid 'proxyConfiguration' setting for task: type 'ISTIO'"},
		{"proxy property name", validFargate, func(td *TaskDefinition) {
			td.ProxyConfiguration = &ProxyConfiguration{ContainerName: "api", Properties: []KeyValuePair{{Value: "1337"}}}
		}, ErrClient, "Invalid 'proxyConfiguration' setting for task: property names must not be empty."},
		// tags
		{"too many tags", validEC2, func(td *TaskDefinition) {
			for i := range 51 {
				td.Tags = append(td.Tags, Tag{Key: fmt.Sprint("k", i)})
			}
		}, ErrInvalidParameter, "at most 50 tags"},
		{"reserved tag key", validEC2, func(td *TaskDefinition) { td.Tags = []Tag{{Key: "aws:owner", Value: "me"}} }, ErrInvalidParameter, "Tag key \"aws:owner\" is not valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			td := tt.base()
			if err := ValidateTaskDefinition(td); err != nil {
				t.Fatalf("base definition invalid: %v", err)
			}
			tt.mutate(td)
			err := ValidateTaskDefinition(td)
			if err == nil {
				t.Fatalf("ValidateTaskDefinition() = nil, want %v containing %q", tt.kind, tt.want)
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("error %q: category is not %v", err, tt.kind)
			}
			for _, other := range []error{ErrClient, ErrInvalidParameter} {
				if other != tt.kind && errors.Is(err, other) {
					t.Errorf("error %q is also %v", err, other)
				}
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestValidateTaskDefinitionNeverPanics(t *testing.T) {
	tests := []*TaskDefinition{
		nil,
		{},
		{Family: "f", ContainerDefinitions: []ContainerDefinition{{}}},
		{Family: "f", ContainerDefinitions: []ContainerDefinition{{Name: "a", Image: "i", Memory: ptr(1 << 40),
			PortMappings: []PortMapping{{}, {ContainerPortRange: "-"}, {ContainerPortRange: "99999999999999999999-1"}},
			HealthCheck:  &HealthCheck{Command: []string{}}, LinuxParameters: &LinuxParameters{Capabilities: &KernelCapabilities{}},
			LogConfiguration: &LogConfiguration{}, FirelensConfiguration: &FirelensConfiguration{}, RestartPolicy: &ContainerRestartPolicy{},
			DependsOn: []ContainerDependency{{}}, MountPoints: []MountPoint{{}}, VolumesFrom: []VolumeFrom{{}}}}},
		{Family: "f", CPU: "99999999999999999999999 vcpu", Memory: ".", RequiresCompatibilities: []Compatibility{CompatibilityFargate},
			NetworkMode: NetworkModeAwsvpc, ContainerDefinitions: []ContainerDefinition{{Name: "a", Image: "i"}}},
		{Family: "f", ProxyConfiguration: &ProxyConfiguration{}, EphemeralStorage: &EphemeralStorage{}, RuntimePlatform: &RuntimePlatform{},
			Volumes: []Volume{{Name: "v", EFSVolumeConfiguration: &EFSVolumeConfiguration{FileSystemID: "fs", AuthorizationConfig: &EFSAuthorizationConfig{}},
				FSxWindowsFileServerVolumeConfiguration: &FSxWindowsFileServerVolumeConfiguration{}}},
			ContainerDefinitions: []ContainerDefinition{{Name: "a", Image: "i", Memory: ptr(10)}}},
	}
	for i, td := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			_ = ValidateTaskDefinition(td)
			ApplyTaskDefinitionDefaults(td)
			_ = ValidateTaskDefinition(td)
		})
	}
}
