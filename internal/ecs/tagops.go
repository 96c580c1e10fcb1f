package ecs

import "slices"

// MergeTags returns tags with add applied: keys already present take the new
// value, new keys are appended. The result is validated as a whole, so a
// resource never ends up with more than MaxTagsPerResource tags.
func MergeTags(tags, add []Tag) ([]Tag, error) {
	if err := ValidateTags(add); err != nil {
		return nil, err
	}
	out := slices.Clone(tags)
	for _, t := range add {
		i := slices.IndexFunc(out, func(o Tag) bool { return o.Key == t.Key })
		if i >= 0 {
			out[i].Value = t.Value
		} else {
			out = append(out, t)
		}
	}
	if err := ValidateTags(out); err != nil {
		return nil, err
	}
	return out, nil
}

// RemoveTags returns tags without the given keys; unknown keys are ignored,
// as in ECS.
func RemoveTags(tags []Tag, keys []string) ([]Tag, error) {
	for _, k := range keys {
		if err := ValidateTagKey(k); err != nil {
			return nil, err
		}
	}
	return slices.DeleteFunc(slices.Clone(tags), func(t Tag) bool { return slices.Contains(keys, t.Key) }), nil
}
