package acs

import (
	"github.com/berth/berth/internal/agentproto"
	"github.com/berth/berth/internal/ecs"
)

// TaskHealthStatus derives a task's health from its containers', as ECS
// does: UNHEALTHY when any essential container with a health check is
// UNHEALTHY; HEALTHY when every essential container with a health check is
// HEALTHY (and there is at least one); UNKNOWN otherwise (checks still
// being evaluated, only non-essential containers checked, or no checks).
func TaskHealthStatus(t *ecs.Task) string {
	status := make(map[string]string, len(t.Containers))
	for _, c := range t.Containers {
		status[c.Name] = c.HealthStatus
	}
	checked, healthy := 0, 0
	for i := range t.Definition.ContainerDefinitions {
		cd := &t.Definition.ContainerDefinitions[i]
		if !cd.IsEssential() || cd.HealthCheck == nil || len(cd.HealthCheck.Command) == 0 {
			continue
		}
		checked++
		switch status[cd.Name] {
		case ecs.HealthUnhealthy:
			return ecs.HealthUnhealthy
		case ecs.HealthHealthy:
			healthy++
		}
	}
	if checked > 0 && healthy == checked {
		return ecs.HealthHealthy
	}
	return ecs.HealthUnknown
}

// applyHealth records the reported container health statuses on t (by
// container name; unknown names and statuses are ignored) and recomputes
// the task's health. It reports whether anything changed.
func applyHealth(t *ecs.Task, reports []agentproto.ContainerHealth) bool {
	changed := false
	for _, r := range reports {
		switch r.HealthStatus {
		case ecs.HealthHealthy, ecs.HealthUnhealthy, ecs.HealthUnknown:
		default:
			continue
		}
		for i := range t.Containers {
			if t.Containers[i].Name == r.ContainerName && t.Containers[i].HealthStatus != r.HealthStatus {
				t.Containers[i].HealthStatus = r.HealthStatus
				changed = true
			}
		}
	}
	if h := TaskHealthStatus(t); h != t.HealthStatus {
		t.HealthStatus = h
		changed = true
	}
	return changed
}
