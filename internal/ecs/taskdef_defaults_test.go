package ecs

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"testing"
)

// shopWebInput is a realistic Fargate definition as a client registers it:
// an app container, a one-shot migration it waits for, and an Envoy sidecar
// it waits to be healthy.
const shopWebInput = `{
  "family": "shop-web",
  "taskRoleArn": "arn:aws:iam::123456789012:role/shop-task",
  "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "1 vCPU",
  "memory": "2 GB",
  "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
  "containerDefinitions": [
    {
      "name": "web",
      "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop-web:1.4.2",
      "portMappings": [{"containerPort": 8080, "name": "web-8080-tcp", "appProtocol": "http"}],
      "environment": [{"name": "PORT", "value": "8080"}],
      "secrets": [{"name": "DB_PASSWORD", "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"}],
      "dependsOn": [{"containerName": "migrate", "condition": "SUCCESS"}, {"containerName": "envoy", "condition": "HEALTHY"}],
      "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/shop-web", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "web", "mode": "non-blocking"}},
      "healthCheck": {"command": ["CMD-SHELL", "curl -f http://localhost:8080/health || exit 1"], "startPeriod": 20}
    },
    {
      "name": "migrate",
      "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop-web:1.4.2",
      "essential": false,
      "command": ["bin/migrate"],
      "memoryReservation": 128,
      "secrets": [{"name": "DB_PASSWORD", "valueFrom": "/shop/db-password"}]
    },
    {
      "name": "envoy",
      "image": "public.ecr.aws/appmesh/aws-appmesh-envoy:v1.29.4.0-prod",
      "cpu": 256,
      "memoryReservation": 256,
      "healthCheck": {"command": ["CMD-SHELL", "curl -s http://localhost:9901/ready"], "interval": 5, "timeout": 2, "startPeriod": 10},
      "ulimits": [{"name": "nofile", "softLimit": 15000, "hardLimit": 15000}]
    }
  ],
  "tags": [{"key": "team", "value": "shop"}]
}`

const shopWebWant = `{
  "containerDefinitions": [
    {
      "name": "web",
      "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop-web:1.4.2",
      "cpu": 0,
      "portMappings": [{"containerPort": 8080, "hostPort": 8080, "protocol": "tcp", "name": "web-8080-tcp", "appProtocol": "http"}],
      "essential": true,
      "environment": [{"name": "PORT", "value": "8080"}],
      "mountPoints": [],
      "volumesFrom": [],
      "secrets": [{"name": "DB_PASSWORD", "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"}],
      "dependsOn": [{"containerName": "migrate", "condition": "SUCCESS"}, {"containerName": "envoy", "condition": "HEALTHY"}],
      "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/shop-web", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "web", "mode": "non-blocking"}},
      "healthCheck": {"command": ["CMD-SHELL", "curl -f http://localhost:8080/health || exit 1"], "interval": 30, "timeout": 5, "retries": 3, "startPeriod": 20},
      "systemControls": []
    },
    {
      "name": "migrate",
      "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop-web:1.4.2",
      "cpu": 0,
      "memoryReservation": 128,
      "portMappings": [],
      "essential": false,
      "command": ["bin/migrate"],
      "environment": [],
      "mountPoints": [],
      "volumesFrom": [],
      "secrets": [{"name": "DB_PASSWORD", "valueFrom": "/shop/db-password"}],
      "systemControls": []
    },
    {
      "name": "envoy",
      "image": "public.ecr.aws/appmesh/aws-appmesh-envoy:v1.29.4.0-prod",
      "cpu": 256,
      "memoryReservation": 256,
      "portMappings": [],
      "essential": true,
      "environment": [],
      "mountPoints": [],
      "volumesFrom": [],
      "ulimits": [{"name": "nofile", "softLimit": 15000, "hardLimit": 15000}],
      "healthCheck": {"command": ["CMD-SHELL", "curl -s http://localhost:9901/ready"], "interval": 5, "timeout": 2, "retries": 3, "startPeriod": 10},
      "systemControls": []
    }
  ],
  "family": "shop-web",
  "taskRoleArn": "arn:aws:iam::123456789012:role/shop-task",
  "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
  "networkMode": "awsvpc",
  "volumes": [],
  "status": "ACTIVE",
  "requiresAttributes": [
    {"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"},
    {"name": "com.amazonaws.ecs.capability.docker-remote-api.1.19"},
    {"name": "com.amazonaws.ecs.capability.docker-remote-api.1.21"},
    {"name": "com.amazonaws.ecs.capability.docker-remote-api.1.24"},
    {"name": "com.amazonaws.ecs.capability.docker-remote-api.1.28"},
    {"name": "com.amazonaws.ecs.capability.docker-remote-api.1.29"},
    {"name": "com.amazonaws.ecs.capability.ecr-auth"},
    {"name": "com.amazonaws.ecs.capability.logging-driver.awslogs"},
    {"name": "com.amazonaws.ecs.capability.task-iam-role"},
    {"name": "ecs.capability.container-health-check"},
    {"name": "ecs.capability.container-ordering"},
    {"name": "ecs.capability.execution-role-awslogs"},
    {"name": "ecs.capability.execution-role-ecr-pull"},
    {"name": "ecs.capability.secrets.asm.environment-variables"},
    {"name": "ecs.capability.secrets.ssm.environment-variables"},
    {"name": "ecs.capability.task-eni"}
  ],
  "placementConstraints": [],
  "compatibilities": ["EC2", "MANAGED_INSTANCES", "FARGATE"],
  "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "1024",
  "memory": "2048",
  "tags": [{"key": "team", "value": "shop"}]
}`

// sleep360 is the AWS CLI's register-task-definition example; the expected
// output is the documented one (without ARN and revision, which the caller
// sets) plus systemControls [], which ECS has returned since 2024.
const sleep360Input = `{"containerDefinitions":[{"name":"sleep","image":"busybox","cpu":10,"command":["sleep","360"],"memory":10,"essential":true}],"family":"sleep360"}`

const sleep360Want = `{
  "containerDefinitions": [{
    "name": "sleep", "image": "busybox", "cpu": 10, "memory": 10, "portMappings": [], "essential": true,
    "command": ["sleep", "360"], "environment": [], "mountPoints": [], "volumesFrom": [], "systemControls": []
  }],
  "family": "sleep360",
  "volumes": [],
  "status": "ACTIVE",
  "placementConstraints": [],
  "compatibilities": ["EXTERNAL", "EC2"]
}`

func TestApplyTaskDefinitionDefaults(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"multi-container fargate", shopWebInput, shopWebWant},
		{"aws cli sleep360", sleep360Input, sleep360Want},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var td TaskDefinition
			if err := json.Unmarshal([]byte(tt.in), &td); err != nil {
				t.Fatal(err)
			}
			if err := ValidateTaskDefinition(&td); err != nil {
				t.Fatalf("input invalid: %v", err)
			}
			ApplyTaskDefinitionDefaults(&td)
			got, err := json.Marshal(&td)
			if err != nil {
				t.Fatal(err)
			}
			assertJSONEqual(t, got, []byte(tt.want))

			ApplyTaskDefinitionDefaults(&td)
			again, _ := json.Marshal(&td)
			if !bytes.Equal(got, again) {
				t.Errorf("defaults are not idempotent:\nfirst:  %s\nsecond: %s", got, again)
			}
			if err := ValidateTaskDefinition(&td); err != nil {
				t.Errorf("defaulted definition no longer validates: %v", err)
			}
		})
	}
}

func assertJSONEqual(t *testing.T, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("bad expected JSON: %v", err)
	}
	if !reflect.DeepEqual(g, w) {
		var gi, wi bytes.Buffer
		_ = json.Indent(&gi, got, "", "  ")
		_ = json.Indent(&wi, want, "", "  ")
		t.Errorf("JSON mismatch\ngot:\n%s\nwant:\n%s", gi.String(), wi.String())
	}
}

func TestPortMappingDefaultsPerNetworkMode(t *testing.T) {
	tests := []struct {
		mode     NetworkMode
		in       PortMapping
		wantHost *int
	}{
		{"", PortMapping{ContainerPort: ptr(80)}, ptr(0)},
		{NetworkModeBridge, PortMapping{ContainerPort: ptr(80), HostPort: ptr(8080)}, ptr(8080)},
		{NetworkModeAwsvpc, PortMapping{ContainerPort: ptr(80)}, ptr(80)},
		{NetworkModeAwsvpc, PortMapping{ContainerPort: ptr(80), HostPort: ptr(0)}, ptr(80)},
		{NetworkModeHost, PortMapping{ContainerPort: ptr(9000)}, ptr(9000)},
		{NetworkModeAwsvpc, PortMapping{ContainerPortRange: "9000-9010"}, nil},
		{NetworkModeBridge, PortMapping{ContainerPortRange: "9000-9010"}, nil},
	}
	for _, tt := range tests {
		td := &TaskDefinition{Family: "f", NetworkMode: tt.mode, ContainerDefinitions: []ContainerDefinition{{
			Name: "c", Image: "i", Memory: ptr(64), PortMappings: []PortMapping{tt.in}}}}
		ApplyTaskDefinitionDefaults(td)
		pm := td.ContainerDefinitions[0].PortMappings[0]
		if pm.Protocol != ProtocolTCP {
			t.Errorf("mode %q %+v: protocol = %q, want tcp", tt.mode, tt.in, pm.Protocol)
		}
		if !reflect.DeepEqual(pm.HostPort, tt.wantHost) {
			t.Errorf("mode %q %+v: hostPort = %v, want %v", tt.mode, tt.in, deref(pm.HostPort), deref(tt.wantHost))
		}
		if td.NetworkMode != tt.mode {
			t.Errorf("networkMode changed from %q to %q", tt.mode, td.NetworkMode)
		}
	}
}

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestCompatibilities(t *testing.T) {
	fargateOK := validFargate
	tests := []struct {
		name   string
		td     func() *TaskDefinition
		want   []Compatibility
		notFor []Compatibility
	}{
		{"bridge", validEC2, []Compatibility{CompatibilityExternal, CompatibilityEC2}, nil},
		{"fargate-valid awsvpc", fargateOK, []Compatibility{CompatibilityEC2, CompatibilityManagedInstances, CompatibilityFargate}, nil},
		{"fargate-valid without requiring fargate", func() *TaskDefinition {
			td := fargateOK()
			td.RequiresCompatibilities = []Compatibility{CompatibilityEC2}
			return td
		}, []Compatibility{CompatibilityEC2, CompatibilityManagedInstances, CompatibilityFargate}, nil},
		{"awsvpc with non-fargate size", func() *TaskDefinition {
			td := fargateOK()
			td.RequiresCompatibilities = nil
			td.Memory = "717"
			return td
		}, []Compatibility{CompatibilityEC2, CompatibilityManagedInstances}, nil},
		{"awsvpc with privileged container", func() *TaskDefinition {
			td := fargateOK()
			td.RequiresCompatibilities = nil
			td.ContainerDefinitions[0].Privileged = ptr(true)
			return td
		}, []Compatibility{CompatibilityEC2, CompatibilityManagedInstances}, nil},
		{"host mode", func() *TaskDefinition {
			td := validEC2()
			td.NetworkMode = NetworkModeHost
			td.ContainerDefinitions[0].PortMappings = nil
			return td
		}, []Compatibility{CompatibilityExternal, CompatibilityEC2, CompatibilityManagedInstances}, nil},
		{"external", func() *TaskDefinition {
			td := validEC2()
			td.RequiresCompatibilities = []Compatibility{CompatibilityExternal}
			return td
		}, []Compatibility{CompatibilityExternal, CompatibilityEC2}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			td := tt.td()
			if err := ValidateTaskDefinition(td); err != nil {
				t.Fatalf("invalid test input: %v", err)
			}
			ApplyTaskDefinitionDefaults(td)
			if !slices.Equal(td.Compatibilities, tt.want) {
				t.Errorf("compatibilities = %v, want %v", td.Compatibilities, tt.want)
			}
			for _, c := range tt.want {
				if !td.CompatibleWith(c) {
					t.Errorf("CompatibleWith(%s) = false", c)
				}
			}
		})
	}
}

func TestRequiredAttributes(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(td *TaskDefinition)
		want   []string
		absent []string
	}{
		{"plain bridge definition needs nothing", func(td *TaskDefinition) {
			td.ContainerDefinitions[1].MemoryReservation, td.ContainerDefinitions[1].Memory = nil, ptr(64)
		}, nil, nil},
		{"memory reservation", func(td *TaskDefinition) {}, []string{"com.amazonaws.ecs.capability.docker-remote-api.1.21"}, nil},
		{"task role in host mode", func(td *TaskDefinition) {
			td.TaskRoleArn = "arn:aws:iam::123456789012:role/r"
			td.NetworkMode = NetworkModeHost
			td.ContainerDefinitions[0].PortMappings = nil
		}, []string{"com.amazonaws.ecs.capability.task-iam-role", "com.amazonaws.ecs.capability.task-iam-role-network-host"}, []string{"ecs.capability.task-eni"}},
		{"ecr image without execution role", func(td *TaskDefinition) {
			td.ContainerDefinitions[0].Image = testECRImage
		}, []string{"com.amazonaws.ecs.capability.ecr-auth"}, []string{"ecs.capability.execution-role-ecr-pull"}},
		{"log driver with options", func(td *TaskDefinition) {
			td.ContainerDefinitions[0].LogConfiguration = &LogConfiguration{LogDriver: LogDriverFluentd, Options: map[string]string{"tag": "x"}}
		}, []string{"com.amazonaws.ecs.capability.docker-remote-api.1.18", "com.amazonaws.ecs.capability.docker-remote-api.1.19", "com.amazonaws.ecs.capability.logging-driver.fluentd"}, []string{"ecs.capability.execution-role-awslogs"}},
		{"volumes", func(td *TaskDefinition) {
			td.Volumes = []Volume{
				{Name: "efs", EFSVolumeConfiguration: &EFSVolumeConfiguration{FileSystemID: "fs-1"}},
				{Name: "rex", DockerVolumeConfiguration: &DockerVolumeConfiguration{Driver: "rexray/ebs", Scope: "shared"}},
				{Name: "loc", DockerVolumeConfiguration: &DockerVolumeConfiguration{Driver: "local"}},
			}
		}, []string{"ecs.capability.efs", "ecs.capability.efsAuth", "com.amazonaws.ecs.capability.docker-remote-api.1.25", "ecs.capability.docker-plugin.rexray/ebs"}, []string{"ecs.capability.docker-plugin.local"}},
		{"container features", func(td *TaskDefinition) {
			td.ExecutionRoleArn = testExecRole
			td.PidMode = PidModeTask
			c := &td.ContainerDefinitions[0]
			c.Privileged = ptr(true)
			c.RepositoryCredentials = &RepositoryCredentials{CredentialsParameter: "arn:aws:secretsmanager:us-east-1:123456789012:secret:reg"}
			c.EnvironmentFiles = []EnvironmentFile{{Type: "s3", Value: "arn:aws:s3:::b/app.env"}}
			c.LinuxParameters = &LinuxParameters{InitProcessEnabled: ptr(true)}
			c.RestartPolicy = &ContainerRestartPolicy{Enabled: ptr(true)}
			c.DockerSecurityOptions = []string{"label:type:container_t"}
			c.CredentialSpecs = []string{"credentialspecdomainless:arn:aws:s3:::b/spec.json"}
			c.LogConfiguration = &LogConfiguration{LogDriver: LogDriverSplunk, SecretOptions: []Secret{{Name: "splunk-token", ValueFrom: "arn:aws:secretsmanager:us-east-1:123456789012:secret:t"}}}
			td.ContainerDefinitions[1].FirelensConfiguration = &FirelensConfiguration{Type: "fluentbit", Options: map[string]string{"config-file-type": "file", "config-file-value": "/f.conf"}}
			td.ContainerDefinitions[1].PortMappings = []PortMapping{{ContainerPortRange: "9000-9010"}}
		}, []string{
			"com.amazonaws.ecs.capability.privileged-container", "ecs.capability.private-registry-authentication.secretsmanager",
			"ecs.capability.env-files.s3", "com.amazonaws.ecs.capability.docker-remote-api.1.25", "ecs.capability.container-restart-policy",
			"com.amazonaws.ecs.capability.selinux", "ecs.capability.gmsa-domainless", "ecs.capability.secrets.asm.bootstrap.log-driver",
			"ecs.capability.firelens.fluentbit", "ecs.capability.firelens.options.config.file", "ecs.capability.pid-ipc-namespace-sharing",
			"ecs.capability.network.container-port-range", "com.amazonaws.ecs.capability.logging-driver.splunk",
		}, []string{"com.amazonaws.ecs.capability.apparmor"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			td := validEC2()
			tt.mutate(td)
			if err := ValidateTaskDefinition(td); err != nil {
				t.Fatalf("invalid test input: %v", err)
			}
			attrs := RequiredAttributes(td)
			names := make([]string, len(attrs))
			for i, a := range attrs {
				names[i] = a.Name
			}
			if !slices.IsSorted(names) {
				t.Errorf("attributes not sorted: %v", names)
			}
			if tt.want == nil && attrs != nil {
				t.Errorf("RequiredAttributes() = %v, want nil", names)
			}
			for _, w := range tt.want {
				if !slices.Contains(names, w) {
					t.Errorf("missing %s in %v", w, names)
				}
			}
			for _, a := range tt.absent {
				if slices.Contains(names, a) {
					t.Errorf("unexpected %s in %v", a, names)
				}
			}
		})
	}
}
