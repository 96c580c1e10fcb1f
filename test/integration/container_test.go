package integration

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// TestContainerSettings runs one task whose containers check the settings
// of their definitions from inside and exit 0, or the code of the first
// check that failed: user, workingDirectory, ulimits, host volume and
// volumesFrom ("as-nobody"), readonlyRootFilesystem ("read-only");
// dockerLabels are checked on the containerd containers.
func TestContainerSettings(t *testing.T) {
	t.Parallel()
	e := integ(t)
	data := hostDir(t)
	if err := os.WriteFile(filepath.Join(data, "hello"), []byte("from-host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mark := token()

	// holder owns the host volume mount; the others get it by volumesFrom.
	holder := shell("holder", "exec sleep 300")
	holder.MountPoints = []types.MountPoint{{SourceVolume: aws.String("data"), ContainerPath: aws.String("/data")}}
	holder.DockerLabels = map[string]string{"integ.role": "holder"}

	nobody := shell("as-nobody", `[ "$(id -u)" = 65534 ] || exit 10
[ "$(id -g)" = 65534 ] || exit 11
[ "$(pwd)" = /data ] || exit 12
[ "$(ulimit -n)" = 1234 ] || exit 13
[ "$(ulimit -Hn)" = 2345 ] || exit 14
[ "$(cat /data/hello)" = from-host ] || exit 15
echo from-nobody > /data/nobody || exit 16
exit 0`)
	nobody.Essential = aws.Bool(false)
	nobody.User = aws.String("65534:65534")
	nobody.WorkingDirectory = aws.String("/data")
	nobody.Ulimits = []types.Ulimit{{Name: types.UlimitNameNofile, SoftLimit: 1234, HardLimit: 2345}}
	nobody.VolumesFrom = []types.VolumeFrom{{SourceContainer: aws.String("holder")}}
	nobody.DockerLabels = map[string]string{"integ.role": "as-nobody", "integ.mark": mark}

	// As root (no permission check stops it), only a read-only root
	// filesystem makes the write fail; the volume stays writable.
	readOnly := shell("read-only", `touch /rootfs-write 2>/dev/null && exit 20
echo from-root > /data/root || exit 21
exit 0`)
	readOnly.Essential = aws.Bool(false)
	readOnly.ReadonlyRootFilesystem = aws.Bool(true)
	readOnly.VolumesFrom = []types.VolumeFrom{{SourceContainer: aws.String("holder")}}

	td := e.register(t, &sdkecs.RegisterTaskDefinitionInput{
		Family:               aws.String("settings"),
		ContainerDefinitions: []types.ContainerDefinition{holder, nobody, readOnly},
		Volumes:              []types.Volume{{Name: aws.String("data"), Host: &types.HostVolumeProperties{SourcePath: aws.String(data)}}},
	})
	arn := e.runTask(t, td)
	task := e.waitTask(t, arn, "both checks STOPPED", func(task types.Task) bool {
		return containerStatus(task, "as-nobody", "STOPPED") && containerStatus(task, "read-only", "STOPPED")
	})
	e.wantExit(t, task, "as-nobody", 0)
	e.wantExit(t, task, "read-only", 0)

	// What the containers wrote reached the host, as their users.
	for name, uid := range map[string]uint32{"nobody": 65534, "root": 0} {
		st, err := os.Stat(filepath.Join(data, name))
		if err != nil {
			t.Errorf("the container's file %s is not in the host volume: %v", name, err)
		} else if got := st.Sys().(*syscall.Stat_t).Uid; got != uid {
			t.Errorf("host volume file %s belongs to uid %d, want %d", name, got, uid)
		}
	}

	// dockerLabels are containerd labels, next to the ECS ones.
	byName := map[string]map[string]string{}
	for _, labels := range containerdLabels(t, arn) {
		byName[labels["com.amazonaws.ecs.container-name"]] = labels
	}
	for name, want := range map[string]map[string]string{
		"holder":    {"integ.role": "holder"},
		"as-nobody": {"integ.role": "as-nobody", "integ.mark": mark},
		"read-only": {},
	} {
		labels, ok := byName[name]
		if !ok {
			t.Errorf("no containerd container for %s (labels of the task's containers: %v)", name, byName)
			continue
		}
		want["com.amazonaws.ecs.cluster"] = clusterName
		want["com.amazonaws.ecs.task-definition-family"] = "settings"
		for k, v := range want {
			if labels[k] != v {
				t.Errorf("container %s label %s = %q, want %q", name, k, labels[k], v)
			}
		}
	}
	if got := aws.ToString(e.describe(t, arn).LastStatus); got != "RUNNING" {
		t.Errorf("task is %s after its non-essential containers exited, want RUNNING", got)
	}
}
