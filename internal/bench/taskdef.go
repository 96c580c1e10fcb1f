package bench

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// TaskDefinitionInput builds a realistic registration for family: a web
// application of three containers (app, a migration job it depends on, a
// sidecar) with port mappings, a health check, logging, ulimits, a host
// volume, a placement constraint and a tag, about 2 KiB of JSON on the
// wire. revision only varies the image tag so that revisions differ.
func TaskDefinitionInput(family string, revision int) *sdkecs.RegisterTaskDefinitionInput {
	image := fmt.Sprintf("127.0.0.1:5000/demo/%s:1.%d", family, revision)
	return &sdkecs.RegisterTaskDefinitionInput{
		Family:                  aws.String(family),
		NetworkMode:             types.NetworkModeBridge,
		RequiresCompatibilities: []types.Compatibility{types.CompatibilityEc2},
		Volumes: []types.Volume{{Name: aws.String("cache"),
			Host: &types.HostVolumeProperties{SourcePath: aws.String("/var/lib/berth-cache")}}},
		PlacementConstraints: []types.TaskDefinitionPlacementConstraint{{
			Type:       types.TaskDefinitionPlacementConstraintTypeMemberOf,
			Expression: aws.String("attribute:ecs.os-type == linux")}},
		Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("bench")}},
		ContainerDefinitions: []types.ContainerDefinition{
			{
				Name: aws.String("app"), Image: aws.String(image), Cpu: 256,
				Memory: aws.Int32(512), MemoryReservation: aws.Int32(256), Essential: aws.Bool(true),
				PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(8080), HostPort: aws.Int32(0),
					Protocol: types.TransportProtocolTcp, Name: aws.String("http")}},
				Environment: []types.KeyValuePair{
					{Name: aws.String("MODE"), Value: aws.String("production")},
					{Name: aws.String("LOG_LEVEL"), Value: aws.String("info")},
					{Name: aws.String("DATABASE_URL"), Value: aws.String("postgres://app@db.internal:5432/app")},
				},
				Command: []string{"/bin/app", "--listen", ":8080"},
				HealthCheck: &types.HealthCheck{Command: []string{"CMD-SHELL", "wget -q -O- http://127.0.0.1:8080/healthz || exit 1"},
					Interval: aws.Int32(10), Timeout: aws.Int32(3), Retries: aws.Int32(3), StartPeriod: aws.Int32(5)},
				DependsOn: []types.ContainerDependency{{ContainerName: aws.String("migrate"), Condition: types.ContainerConditionSuccess}},
				LogConfiguration: &types.LogConfiguration{LogDriver: types.LogDriverAwslogs,
					Options: map[string]string{"awslogs-group": "/berth/" + family, "awslogs-stream-prefix": "app"}},
				Ulimits:      []types.Ulimit{{Name: types.UlimitNameNofile, SoftLimit: 4096, HardLimit: 8192}},
				MountPoints:  []types.MountPoint{{SourceVolume: aws.String("cache"), ContainerPath: aws.String("/var/cache/app"), ReadOnly: aws.Bool(false)}},
				DockerLabels: map[string]string{"team": "web", "service": family},
			},
			{
				Name: aws.String("migrate"), Image: aws.String(image), Memory: aws.Int32(128),
				Essential: aws.Bool(false), Command: []string{"/bin/app", "migrate"},
			},
			{
				Name: aws.String("sidecar"), Image: aws.String("busybox:latest"), MemoryReservation: aws.Int32(64),
				Essential: aws.Bool(false), EntryPoint: []string{"sh", "-c"}, Command: []string{"while true; do sleep 60; done"},
				VolumesFrom: []types.VolumeFrom{{SourceContainer: aws.String("app"), ReadOnly: aws.Bool(true)}},
				DependsOn:   []types.ContainerDependency{{ContainerName: aws.String("app"), Condition: types.ContainerConditionStart}},
			},
		},
	}
}
