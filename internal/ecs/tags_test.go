package ecs

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestValidateTags(t *testing.T) {
	fifty := make([]Tag, 50)
	for i := range fifty {
		fifty[i] = Tag{Key: fmt.Sprint("key-", i), Value: "v"}
	}
	tests := []struct {
		name string
		tags []Tag
		want string // "" for valid; else a message substring
	}{
		{"none", nil, ""},
		{"typical", []Tag{{Key: "team", Value: "shop"}, {Key: "cost-center", Value: "1234"}}, ""},
		{"empty value", []Tag{{Key: "flag", Value: ""}}, ""},
		{"allowed punctuation and unicode", []Tag{{Key: "app.kubernetes.io/name", Value: "a b_c:d/e=f+g-h@i"}, {Key: "größe", Value: "日本"}}, ""},
		{"fifty tags", fifty, ""},
		{"aws in the middle", []Tag{{Key: "my:aws:key", Value: "v"}}, ""},
		{"key 128", []Tag{{Key: strings.Repeat("k", 128)}}, ""},
		{"value 256", []Tag{{Key: "k", Value: strings.Repeat("v", 256)}}, ""},
		{"fifty-one tags", append(fifty, Tag{Key: "one-more"}), "at most 50 tags"},
		{"empty key", []Tag{{Key: "", Value: "v"}}, "Tag key must not be empty."},
		{"key 129", []Tag{{Key: strings.Repeat("k", 129)}}, "tag keys can be at most 128 characters"},
		{"value 257", []Tag{{Key: "k", Value: strings.Repeat("v", 257)}}, "tag values can be at most 256 characters"},
		{"reserved prefix", []Tag{{Key: "aws:cloudformation:stack-name", Value: "s"}}, "reserved for AWS use"},
		{"reserved prefix upper case", []Tag{{Key: "AWS:x", Value: "s"}}, "reserved for AWS use"},
		{"reserved prefix mixed case", []Tag{{Key: "Aws:x", Value: "s"}}, "reserved for AWS use"},
		{"key characters", []Tag{{Key: "a#b"}}, "Tag key \"a#b\" contains invalid characters"},
		{"value characters", []Tag{{Key: "k", Value: "a;b"}}, "Tag value for key \"k\" contains invalid characters"},
		{"invalid utf-8", []Tag{{Key: "k\xff"}}, "contains invalid characters"},
		{"duplicate key", []Tag{{Key: "team", Value: "a"}, {Key: "team", Value: "b"}}, "Duplicate tag key \"team\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateTags(tt.tags)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ValidateTags() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateTags() = nil, want error containing %q", tt.want)
			}
			if !errors.Is(err, ErrInvalidParameter) {
				t.Errorf("error %q is not ErrInvalidParameter", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}
