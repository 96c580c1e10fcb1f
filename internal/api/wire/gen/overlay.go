package main

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// overlayJSON is gen/overlay.json: what current ECS clients know and the
// frozen v1 model lacks.
//
//go:embed overlay.json
var overlayJSON []byte

// overlayFile is the format of overlay.json: api-2.json's operations and
// shapes, each entry carrying a note saying where it comes from.
//
// A shape entry either creates a shape the model lacks (type given) or
// extends an existing one: members and required members are added, enum
// values are appended. An operation entry creates an operation. Nothing the
// model already defines may be redefined, so that an entry the model catches
// up with is noticed instead of silently shadowing it.
type overlayFile struct {
	Operations map[string]overlayOperation `json:"operations"`
	Shapes     map[string]overlayShape     `json:"shapes"`
}

type overlayOperation struct {
	Note   string    `json:"note"`
	Input  *shapeRef `json:"input"`
	Output *shapeRef `json:"output"`
}

// overlayShape is a model shape with the note saying where it comes from.
type overlayShape struct {
	Note string `json:"note"`
	shape
}

// applyOverlay merges the overlay document data into m.
func applyOverlay(m *model, data []byte) error {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	var ov overlayFile
	if err := dec.Decode(&ov); err != nil {
		return fmt.Errorf("decode overlay: %w", err)
	}
	// Member order is lost in a Go map; read it back from the raw shapes.
	var raw struct {
		Shapes map[string]struct {
			Members json.RawMessage `json:"members"`
		} `json:"shapes"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("decode overlay: %w", err)
	}

	for _, name := range sortedKeys(ov.Shapes) {
		o := ov.Shapes[name]
		if strings.TrimSpace(o.Note) == "" {
			return fmt.Errorf("overlay shape %s: no note", name)
		}
		order, err := objectKeys(raw.Shapes[name].Members)
		if err != nil {
			return fmt.Errorf("overlay shape %s members: %w", name, err)
		}
		if s, ok := m.Shapes[name]; ok {
			err = extendShape(name, s, o, order)
		} else {
			err = addShape(m, name, o, order)
		}
		if err != nil {
			return err
		}
	}

	for _, name := range sortedKeys(ov.Operations) {
		o := ov.Operations[name]
		if strings.TrimSpace(o.Note) == "" {
			return fmt.Errorf("overlay operation %s: no note", name)
		}
		if _, ok := m.Operations[name]; ok {
			return fmt.Errorf("overlay operation %s: already in the model", name)
		}
		if m.Operations == nil {
			m.Operations = map[string]operation{}
		}
		m.Operations[name] = operation{Input: o.Input, Output: o.Output, note: o.Note}
	}
	return nil
}

// addShape creates the shape name from its overlay entry.
func addShape(m *model, name string, o overlayShape, order []string) error {
	if o.Type == "" {
		return fmt.Errorf("overlay shape %s: not in the model and no type", name)
	}
	s := &o.shape
	s.memberOrder, s.note = order, o.Note
	if s.Type != "structure" && len(s.Members) > 0 {
		return fmt.Errorf("overlay shape %s: members on a %s", name, s.Type)
	}
	if err := checkEnum(name, nil, o.Enum); err != nil {
		return err
	}
	m.Shapes[name] = s
	return nil
}

// extendShape adds the members, required members and enum values of an
// overlay entry to the existing shape s.
func extendShape(name string, s *shape, o overlayShape, order []string) error {
	switch {
	case o.Type != "" && o.Type != s.Type:
		return fmt.Errorf("overlay shape %s: type %s, the model says %s", name, o.Type, s.Type)
	case o.Member != nil || o.Key != nil || o.Value != nil:
		return fmt.Errorf("overlay shape %s: list and map shapes cannot be changed", name)
	case o.Union != s.Union || o.Exception != s.Exception || o.Fault != s.Fault:
		return fmt.Errorf("overlay shape %s: union, exception and fault cannot be changed", name)
	case len(o.Members)+len(o.Required)+len(o.Enum) == 0:
		return fmt.Errorf("overlay shape %s: adds nothing to the model", name)
	}
	if len(o.Members) > 0 && s.Type != "structure" {
		return fmt.Errorf("overlay shape %s: members on a %s", name, s.Type)
	}
	for _, member := range order {
		if _, ok := s.Members[member]; ok {
			return fmt.Errorf("overlay shape %s: member %s already in the model", name, member)
		}
		if s.Members == nil {
			s.Members = map[string]shapeRef{}
		}
		s.Members[member] = o.Members[member]
		s.memberOrder = append(s.memberOrder, member)
		if s.overlayMembers == nil {
			s.overlayMembers = map[string]bool{}
		}
		s.overlayMembers[member] = true
	}
	for _, r := range o.Required {
		if slices.Contains(s.Required, r) {
			return fmt.Errorf("overlay shape %s: member %s already required in the model", name, r)
		}
		s.Required = append(s.Required, r)
	}
	if len(o.Enum) > 0 {
		if len(s.Enum) == 0 {
			return fmt.Errorf("overlay shape %s: enum values for a shape that is not an enum", name)
		}
		if err := checkEnum(name, s.Enum, o.Enum); err != nil {
			return err
		}
		s.Enum = append(s.Enum, o.Enum...)
		if s.overlayEnum == nil {
			s.overlayEnum = map[string]bool{}
		}
		for _, v := range o.Enum {
			s.overlayEnum[v] = true
		}
	}
	return nil
}

// checkEnum rejects overlay enum values that repeat each other or the model.
func checkEnum(name string, have, add []string) error {
	seen := map[string]bool{}
	for _, v := range have {
		seen[v] = true
	}
	for _, v := range add {
		if seen[v] {
			return fmt.Errorf("overlay shape %s: enum value %q given twice or already in the model", name, v)
		}
		seen[v] = true
	}
	return nil
}
