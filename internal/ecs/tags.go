package ecs

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Tag is a resource tag.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Tag limits from ECS's model (Tags max 50, TagKey 1..128, TagValue 0..256).
const (
	MaxTagsPerResource = 50
	MaxTagKeyLength    = 128
	MaxTagValueLength  = 256
)

// ValidateTags checks tags given for any resource (TagResource, and the tags
// parameter of Create*/Register* calls) as ECS does: at most 50 tags, keys of
// 1..128 and values of 0..256 characters drawn from letters, numbers, spaces
// and _ . : / = + - @, no key beginning with the reserved "aws:" prefix (in
// any letter case) and no key given twice. Failures are
// InvalidParameterException.
func ValidateTags(tags []Tag) error {
	if len(tags) > MaxTagsPerResource {
		return Errorf(ErrInvalidParameter, "Too many tags: %d given, a resource can have at most %d tags.", len(tags), MaxTagsPerResource)
	}
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		if err := ValidateTagKey(t.Key); err != nil {
			return err
		}
		if n := utf8.RuneCountInString(t.Value); n > MaxTagValueLength {
			return Errorf(ErrInvalidParameter, "Tag value for key %q is %d characters long; tag values can be at most %d characters.", t.Key, n, MaxTagValueLength)
		}
		if !validTagChars(t.Value) {
			return Errorf(ErrInvalidParameter, "Tag value for key %q contains invalid characters. Tag values may contain letters, numbers, spaces and the characters _ . : / = + - @.", t.Key)
		}
		if seen[t.Key] {
			return Errorf(ErrInvalidParameter, "Duplicate tag key %q: each tag key can appear only once.", t.Key)
		}
		seen[t.Key] = true
	}
	return nil
}

// ValidateTagKey checks one tag key (also used for UntagResource tagKeys).
func ValidateTagKey(key string) error {
	n := utf8.RuneCountInString(key)
	if n == 0 {
		return Errorf(ErrInvalidParameter, "Tag key must not be empty.")
	}
	if n > MaxTagKeyLength {
		return Errorf(ErrInvalidParameter, "Tag key %q is %d characters long; tag keys can be at most %d characters.", truncateForMessage(key), n, MaxTagKeyLength)
	}
	if !validTagChars(key) {
		return Errorf(ErrInvalidParameter, "Tag key %q contains invalid characters. Tag keys may contain letters, numbers, spaces and the characters _ . : / = + - @.", truncateForMessage(key))
	}
	if len(key) >= 4 && strings.EqualFold(key[:4], "aws:") {
		return Errorf(ErrInvalidParameter, "Tag key %q is not valid: tag keys beginning with \"aws:\" are reserved for AWS use.", key)
	}
	return nil
}

// validTagChars matches ECS's tag pattern ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$.
func validTagChars(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		switch {
		case unicode.IsLetter(r), unicode.In(r, unicode.Z), unicode.IsNumber(r):
		case strings.ContainsRune("_.:/=+-@", r):
		default:
			return false
		}
	}
	return true
}

// truncateForMessage keeps client-visible messages short when echoing
// oversized input.
func truncateForMessage(s string) string {
	const limit = 64
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	r := []rune(s)
	return string(r[:limit]) + "..."
}
