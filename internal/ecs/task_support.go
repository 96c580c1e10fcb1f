package ecs

import "fmt"

// CheckRunnable reports the first setting of def that Berth's agents cannot
// honour, so that RunTask and StartTask refuse the task with a clear error
// instead of running it without the setting.
//
// Settings that ECS ties to an instance capability (requiresAttributes:
// awslogs, secrets, EFS, firelens, task IAM roles, ...) are not listed here:
// placement already refuses them with the failure reason ATTRIBUTE and a
// detail naming the capability, as ECS does for an instance that lacks it.
// This list is what is left: settings ECS gives every instance.
func CheckRunnable(def *TaskDefinition) error {
	for i := range def.ContainerDefinitions {
		c := &def.ContainerDefinitions[i]
		field := func(name string) error {
			return Errorf(ErrInvalidParameter, "containerDefinitions[%d].%s (container %s) is not supported by Berth's agent yet; remove it to run this task definition.", i, name, c.Name)
		}
		switch {
		case c.DisableNetworking != nil && *c.DisableNetworking:
			return field("disableNetworking")
		case c.Interactive != nil && *c.Interactive:
			return field("interactive")
		case c.PseudoTerminal != nil && *c.PseudoTerminal:
			return field("pseudoTerminal")
		case len(c.SystemControls) > 0:
			return field("systemControls")
		case len(c.ResourceRequirements) > 0:
			return field("resourceRequirements")
		}
		for _, o := range c.DockerSecurityOptions {
			// SELinux and AppArmor labels carry capability attributes
			// (placement refuses them); the rest would be dropped.
			if !hasPrefixFold(o, "label:") && !hasPrefixFold(o, "apparmor:") && !hasPrefixFold(o, "credentialspec:") {
				return field(fmt.Sprintf("dockerSecurityOptions %q", o))
			}
		}
		if lp := c.LinuxParameters; lp != nil {
			switch {
			case len(lp.Devices) > 0:
				return field("linuxParameters.devices")
			case lp.MaxSwap != nil:
				return field("linuxParameters.maxSwap")
			case lp.Swappiness != nil:
				return field("linuxParameters.swappiness")
			}
		}
	}
	for i, v := range def.Volumes {
		if d := v.DockerVolumeConfiguration; d != nil && d.Scope == "shared" {
			return Errorf(ErrInvalidParameter, "volumes[%d].dockerVolumeConfiguration.scope shared (volume %s) is not supported by Berth's agent yet: Docker volumes are task-scoped.", i, v.Name)
		}
	}
	return nil
}

func hasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := range len(prefix) {
		a, b := s[i], prefix[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}
