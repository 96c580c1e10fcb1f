package ecs

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckRunnable(t *testing.T) {
	yes := true
	n := 1
	base := func() TaskDefinition {
		return TaskDefinition{Family: "f", ContainerDefinitions: []ContainerDefinition{{Name: "app", Image: "busybox"}}}
	}
	tests := []struct {
		name   string
		change func(*TaskDefinition)
		want   string // "" = runnable
	}{
		{"plain", func(*TaskDefinition) {}, ""},
		{"selinux label has an attribute", func(d *TaskDefinition) { d.ContainerDefinitions[0].DockerSecurityOptions = []string{"label:type:x"} }, ""},
		{"docker volume task scope", func(d *TaskDefinition) {
			d.Volumes = []Volume{{Name: "v", DockerVolumeConfiguration: &DockerVolumeConfiguration{Scope: "task"}}}
		}, ""},
		{"disableNetworking", func(d *TaskDefinition) { d.ContainerDefinitions[0].DisableNetworking = &yes }, "containerDefinitions[0].disableNetworking (container app)"},
		{"interactive", func(d *TaskDefinition) { d.ContainerDefinitions[0].Interactive = &yes }, "containerDefinitions[0].interactive"},
		{"pseudoTerminal", func(d *TaskDefinition) { d.ContainerDefinitions[0].PseudoTerminal = &yes }, "containerDefinitions[0].pseudoTerminal"},
		{"systemControls", func(d *TaskDefinition) {
			d.ContainerDefinitions[0].SystemControls = []SystemControl{{Namespace: "net.core.somaxconn", Value: "1"}}
		}, "containerDefinitions[0].systemControls"},
		{"resourceRequirements", func(d *TaskDefinition) {
			d.ContainerDefinitions[0].ResourceRequirements = []ResourceRequirement{{Type: "GPU", Value: "1"}}
		}, "containerDefinitions[0].resourceRequirements"},
		{"no-new-privileges", func(d *TaskDefinition) {
			d.ContainerDefinitions[0].DockerSecurityOptions = []string{"no-new-privileges"}
		}, `dockerSecurityOptions "no-new-privileges"`},
		{"devices", func(d *TaskDefinition) {
			d.ContainerDefinitions[0].LinuxParameters = &LinuxParameters{Devices: []Device{{HostPath: "/dev/fuse"}}}
		}, "linuxParameters.devices"},
		{"maxSwap", func(d *TaskDefinition) { d.ContainerDefinitions[0].LinuxParameters = &LinuxParameters{MaxSwap: &n} }, "linuxParameters.maxSwap"},
		{"swappiness", func(d *TaskDefinition) { d.ContainerDefinitions[0].LinuxParameters = &LinuxParameters{Swappiness: &n} }, "linuxParameters.swappiness"},
		{"shared docker volume", func(d *TaskDefinition) {
			d.Volumes = []Volume{{Name: "v", DockerVolumeConfiguration: &DockerVolumeConfiguration{Scope: "shared"}}}
		}, "volumes[0].dockerVolumeConfiguration.scope shared (volume v)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := base()
			tt.change(&d)
			err := CheckRunnable(&d)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrInvalidParameter)):
				t.Fatalf("err = %v, want an InvalidParameter error naming %q", err, tt.want)
			}
		})
	}
}
