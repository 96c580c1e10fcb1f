// Package ecs is Berth's domain model: clusters, task definitions, tasks,
// services and container instances as Berth understands them, with their
// status enums, validation and defaults. It does no I/O and imports nothing
// else from Berth; the ECS wire shapes live in internal/api/wire and are
// converted at the API boundary.
package ecs
