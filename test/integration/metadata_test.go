package integration

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// metadataProbe fetches the four v4 endpoints into /out and checks them
// with grep; its exit code names the first check that failed.
const metadataProbe = `u="$ECS_CONTAINER_METADATA_URI_V4"
[ -n "$u" ] || exit 10
wget -qO /out/container.json "$u" || exit 11
wget -qO /out/task.json "$u/task" || exit 12
wget -qO /out/stats.json "$u/stats" || exit 13
wget -qO /out/task-stats.json "$u/task/stats" || exit 14
grep -q '"Name":"probe"' /out/container.json || exit 15
grep -q '"TaskARN":"arn:aws:ecs:' /out/task.json || exit 16
grep -q '"Family":"FAMILY"' /out/task.json || exit 17
grep -q '"memory_stats"' /out/stats.json || exit 18
id=$(sed -n 's/.*"DockerId":"\([^"]*\)".*/\1/p' /out/container.json)
[ -n "$id" ] || exit 19
grep -q "\"$id\":" /out/task-stats.json || exit 20
exit 0`

// v4 response fields the test reads.
type (
	metadataContainer struct {
		DockerID string `json:"DockerId"`
		Name     string
		Networks []struct {
			NetworkMode   string
			IPv4Addresses []string
		}
	}
	metadataTask struct {
		TaskARN    string
		Family     string
		Containers []metadataContainer
	}
)

// TestTaskMetadata reads the task metadata endpoint v4 from inside a
// container, in bridge and awsvpc mode. The container checks the answers
// with grep and saves them to a host volume, where the test checks that
// they name this very task and container.
func TestTaskMetadata(t *testing.T) {
	t.Parallel()
	e := integ(t)
	for _, mode := range []types.NetworkMode{types.NetworkModeBridge, types.NetworkModeAwsvpc} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			out := hostDir(t)
			family := "metadata-" + string(mode)
			probe := shell("probe", strings.ReplaceAll(metadataProbe, "FAMILY", family))
			probe.MountPoints = []types.MountPoint{{SourceVolume: aws.String("out"), ContainerPath: aws.String("/out")}}
			td := e.register(t, &sdkecs.RegisterTaskDefinitionInput{
				Family: aws.String(family), NetworkMode: mode,
				ContainerDefinitions: []types.ContainerDefinition{probe},
				Volumes:              []types.Volume{{Name: aws.String("out"), Host: &types.HostVolumeProperties{SourcePath: aws.String(out)}}},
			})
			var opts []func(*sdkecs.RunTaskInput)
			if mode == types.NetworkModeAwsvpc {
				opts = append(opts, awsvpc)
			}
			arn := e.runTask(t, td, opts...)
			task := e.waitStopped(t, arn)
			e.wantExit(t, task, "probe", 0)
			runtimeID := aws.ToString(container(t, task, "probe").RuntimeId)

			var c metadataContainer
			var tm metadataTask
			var taskStats map[string]json.RawMessage
			var stats struct {
				MemoryStats *json.RawMessage `json:"memory_stats"`
			}
			for name, v := range map[string]any{"container.json": &c, "task.json": &tm, "task-stats.json": &taskStats, "stats.json": &stats} {
				b, err := os.ReadFile(filepath.Join(out, name))
				if err != nil {
					t.Fatalf("the probe saved no %s: %v", name, err)
				}
				if err := json.Unmarshal(b, v); err != nil {
					t.Fatalf("%s is not JSON: %v\n%s", name, err, b)
				}
			}
			if c.Name != "probe" || c.DockerID != runtimeID {
				t.Errorf("container metadata Name %q DockerId %q, want probe, %s", c.Name, c.DockerID, runtimeID)
			}
			if tm.TaskARN != arn || tm.Family != family || len(tm.Containers) != 1 || tm.Containers[0].DockerID != runtimeID {
				t.Errorf("task metadata = %+v, want TaskARN %s, Family %s, its one container %s", tm, arn, family, runtimeID)
			}
			if _, ok := taskStats[runtimeID]; !ok {
				t.Errorf("task stats have no entry for the container %s: %v", runtimeID, slices.Collect(maps.Keys(taskStats)))
			}
			if stats.MemoryStats == nil {
				t.Errorf("container stats have no memory_stats")
			}
			if mode == types.NetworkModeAwsvpc {
				_, ip := eniOf(task)
				if len(c.Networks) != 1 || c.Networks[0].NetworkMode != "awsvpc" || !slices.Contains(c.Networks[0].IPv4Addresses, ip) {
					t.Errorf("container metadata Networks = %+v, want awsvpc with the ENI address %s", c.Networks, ip)
				}
			}
		})
	}
}
