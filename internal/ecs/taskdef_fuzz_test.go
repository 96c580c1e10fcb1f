package ecs

import (
	"bytes"
	"encoding/json"
	"testing"
)

// fuzzSeeds are realistic definitions, valid and not, in the JSON a client
// sends.
var fuzzSeeds = []string{
	shopWebInput,
	sleep360Input,
	`{"family":"hello_world","containerDefinitions":[
	  {"name":"wordpress","image":"wordpress","cpu":10,"memory":500,"links":["mysql"],"essential":true,
	   "portMappings":[{"containerPort":80,"hostPort":80}]},
	  {"name":"mysql","image":"mysql","cpu":10,"memory":500,"essential":true,
	   "environment":[{"name":"MYSQL_ROOT_PASSWORD","value":"password"}]}]}`,
	`{"family":"web-timer","containerDefinitions":[
	  {"name":"web","image":"nginx","cpu":99,"memory":100,"portMappings":[{"containerPort":80,"hostPort":80}],"essential":true,
	   "mountPoints":[{"sourceVolume":"webdata","containerPath":"/usr/share/nginx/html","readOnly":true}]},
	  {"name":"timer","image":"busybox","cpu":10,"memory":20,"entryPoint":["sh","-c"],
	   "command":["while true; do date > /nginx/index.html; sleep 1; done"],
	   "mountPoints":[{"sourceVolume":"webdata","containerPath":"/nginx/"}]}],
	 "volumes":[{"name":"webdata","host":{"sourcePath":"/ecs/webdata"}}]}`,
	`{"family":"svc","networkMode":"awsvpc","requiresCompatibilities":["FARGATE"],"cpu":"0.5 vcpu","memory":"1GB",
	 "executionRoleArn":"arn:aws:iam::123456789012:role/exec",
	 "containerDefinitions":[
	  {"name":"app","image":"public.ecr.aws/nginx/nginx:1","portMappings":[{"containerPortRange":"9000-9010"}],
	   "logConfiguration":{"logDriver":"awsfirelens","options":{"Name":"cloudwatch"}}},
	  {"name":"log-router","image":"public.ecr.aws/aws-observability/aws-for-fluent-bit:stable","essential":false,
	   "memoryReservation":50,"firelensConfiguration":{"type":"fluentbit","options":{"config-file-type":"file","config-file-value":"/f.conf"}}}],
	 "volumes":[{"name":"efs","efsVolumeConfiguration":{"fileSystemId":"fs-1","transitEncryption":"ENABLED",
	   "authorizationConfig":{"accessPointId":"fsap-1","iam":"ENABLED"}}}],
	 "ephemeralStorage":{"sizeInGiB":50},"runtimePlatform":{"cpuArchitecture":"X86_64","operatingSystemFamily":"LINUX"}}`,
	`{"family":"host-net","networkMode":"host","pidMode":"host","ipcMode":"host","taskRoleArn":"arn:aws:iam::123456789012:role/t",
	 "placementConstraints":[{"type":"memberOf","expression":"attribute:ecs.instance-type =~ t3.*"}],
	 "containerDefinitions":[{"name":"agent","image":"datadog/agent:7","memory":256,"privileged":true,
	   "linuxParameters":{"capabilities":{"add":["SYS_ADMIN"],"drop":["NET_RAW"]},"initProcessEnabled":true,"sharedMemorySize":64,
	     "tmpfs":[{"containerPath":"/run","size":64}],"devices":[{"hostPath":"/dev/fuse","permissions":["read","write"]}]},
	   "ulimits":[{"name":"nofile","softLimit":65536,"hardLimit":65536}],"dockerLabels":{"team":"infra"},
	   "healthCheck":{"command":["CMD","agent","health"],"interval":10},"stopTimeout":60,"restartPolicy":{"enabled":true,"ignoredExitCodes":[0]}}]}`,
	`{"family":"bad","containerDefinitions":[{"name":"a","image":"i","dependsOn":[{"containerName":"a","condition":"START"}]}]}`,
	`{"family":"","containerDefinitions":[],"cpu":"lots","memory":"-1"}`,
	`{"family":"x","networkMode":"awsvpc","requiresCompatibilities":["FARGATE","EXTERNAL"],"cpu":"256","memory":"4096",
	 "containerDefinitions":[{"name":"a","image":"i","portMappings":[{"containerPort":80,"hostPort":81}]}],"tags":[{"key":"aws:x","value":"y"}]}`,
	`null`,
	`{}`,
}

// FuzzValidateTaskDefinition decodes arbitrary JSON into a TaskDefinition
// and runs validation and defaults. Neither may panic; a definition that
// validates must still validate after defaults, and applying defaults (or
// storing the result as JSON and reading it back) must change nothing more.
func FuzzValidateTaskDefinition(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var td TaskDefinition
		if err := json.Unmarshal(data, &td); err != nil {
			return
		}
		verr := ValidateTaskDefinition(&td)
		ApplyTaskDefinitionDefaults(&td)
		if verr != nil {
			_ = ValidateTaskDefinition(&td)
			return
		}
		if err := ValidateTaskDefinition(&td); err != nil {
			t.Fatalf("valid definition no longer validates after defaults: %v", err)
		}
		once, err := json.Marshal(&td)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		ApplyTaskDefinitionDefaults(&td)
		twice, _ := json.Marshal(&td)
		if !bytes.Equal(once, twice) {
			t.Fatalf("defaults not idempotent:\nonce:  %s\ntwice: %s", once, twice)
		}
		var stored TaskDefinition
		if err := json.Unmarshal(once, &stored); err != nil {
			t.Fatalf("stored record does not decode: %v", err)
		}
		ApplyTaskDefinitionDefaults(&stored)
		back, _ := json.Marshal(&stored)
		if !bytes.Equal(once, back) {
			t.Fatalf("stored record changes when read back:\nstored: %s\nback:   %s", once, back)
		}
	})
}
