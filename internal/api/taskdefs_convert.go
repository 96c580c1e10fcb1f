package api

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/berth/berth/internal/api/wire"
	"github.com/berth/berth/internal/ecs"
)

// Task definitions are the one resource whose domain type mirrors the wire
// shape member for member (ECS's container definition has some forty
// fields, nested several levels deep). Both sides carry ECS's member names
// as JSON tags, so the conversion is an encoding round trip of the nested
// parts; only the members whose encodings differ (timestamps, the revision
// number, tags carried beside the definition) are converted by hand.
// TestTaskDefinitionConversionKeepsEveryField fails if either side gains a
// member the other lacks.

// taskDefFromRegister builds the domain definition a register request asks for.
func taskDefFromRegister(in *wire.RegisterTaskDefinitionRequest) (*ecs.TaskDefinition, error) {
	td := &ecs.TaskDefinition{}
	if err := recode(in, td); err != nil {
		return nil, err
	}
	td.Tags = tagsFromWire(in.Tags)
	return td, nil
}

// taskDefToWire renders a stored definition; its tags travel separately.
func taskDefToWire(td ecs.TaskDefinition) (*wire.TaskDefinition, error) {
	tmp := td
	tmp.Tags = nil
	tmp.RegisteredAt, tmp.DeregisteredAt, tmp.DeleteRequestedAt = time.Time{}, time.Time{}, time.Time{}
	out := &wire.TaskDefinition{}
	if err := recode(tmp, out); err != nil {
		return nil, err
	}
	out.Revision = i32(td.Revision)
	out.RegisteredAt = wireTime(td.RegisteredAt)
	out.DeregisteredAt = wireTime(td.DeregisteredAt)
	out.DeleteRequestedAt = wireTime(td.DeleteRequestedAt)
	return out, nil
}

func wireTime(t time.Time) *wire.Time {
	if t.IsZero() {
		return nil
	}
	return &wire.Time{Time: t}
}

// recode copies src into dst through their shared JSON encoding.
func recode(src, dst any) error {
	b, err := json.Marshal(src)
	if err != nil {
		return fmt.Errorf("convert %T: %w", src, err)
	}
	if err := json.Unmarshal(b, dst); err != nil {
		return fmt.Errorf("convert %T to %T: %w", src, dst, err)
	}
	return nil
}
