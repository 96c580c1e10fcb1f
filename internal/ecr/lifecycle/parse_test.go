package lifecycle

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

const msgPrefix = "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: "

// pad makes a policy text long enough for the 100-character minimum by
// indenting it; whitespace changes nothing else.
func pad(s string) string {
	if len(s) >= MinTextLength {
		return s
	}
	return strings.Repeat(" ", MinTextLength-len(s)) + s
}

// rule builds one rule object from a selection body.
func rule(prio, selection string) string {
	return `{"rulePriority":` + prio + `,"selection":{` + selection + `},"action":{"type":"expire"}}`
}

func policy(rules ...string) string {
	return pad(`{"rules":[` + strings.Join(rules, ",") + `]}`)
}

const (
	selAnyCount      = `"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1`
	selUntaggedCount = `"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1`
	selUntaggedAge   = `"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":14`
)

func selPrefix(list string) string {
	return `"tagStatus":"tagged","tagPrefixList":` + list + `,"countType":"imageCountMoreThan","countNumber":3`
}

func selPattern(list string) string {
	return `"tagStatus":"tagged","tagPatternList":` + list + `,"countType":"imageCountMoreThan","countNumber":3`
}

func TestParseValid(t *testing.T) {
	tests := []struct {
		name string
		text string
		want *Policy
	}{
		{
			name: "docs: expire untagged images older than 14 days",
			text: `{
    "rules": [
        {
            "rulePriority": 1,
            "description": "Expire images older than 14 days",
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 14
            },
            "action": {
                "type": "expire"
            }
        }
    ]
}`,
			want: &Policy{Rules: []Rule{{
				RulePriority: 1,
				Description:  "Expire images older than 14 days",
				Selection: Selection{TagStatus: TagStatusUntagged, CountType: CountSinceImagePushed,
					CountUnit: "days", CountNumber: 14},
				Action: Action{Type: "expire"},
			}}},
		},
		{
			name: "rules keep text order, priorities need not be sequential",
			text: policy(rule("30", selAnyCount), rule("7", selPattern(`["prod*","*-rc*"]`)), rule("10", selPrefix(`["v1","v2"]`))),
			want: &Policy{Rules: []Rule{
				{RulePriority: 30, Selection: Selection{TagStatus: TagStatusAny, CountType: CountImageCountMoreThan, CountNumber: 1}, Action: Action{Type: "expire"}},
				{RulePriority: 7, Selection: Selection{TagStatus: TagStatusTagged, TagPatternList: []string{"prod*", "*-rc*"}, CountType: CountImageCountMoreThan, CountNumber: 3}, Action: Action{Type: "expire"}},
				{RulePriority: 10, Selection: Selection{TagStatus: TagStatusTagged, TagPrefixList: []string{"v1", "v2"}, CountType: CountImageCountMoreThan, CountNumber: 3}, Action: Action{Type: "expire"}},
			}},
		},
		{
			name: "four wildcards are allowed",
			text: policy(rule("1", selPattern(`["*test*1*2*3","test*1*2*3*"]`))),
			want: &Policy{Rules: []Rule{{RulePriority: 1,
				Selection: Selection{TagStatus: TagStatusTagged, TagPatternList: []string{"*test*1*2*3", "test*1*2*3*"}, CountType: CountImageCountMoreThan, CountNumber: 3},
				Action:    Action{Type: "expire"}}}},
		},
		{
			name: "empty description, repeated key keeps the last value",
			text: pad(`{"rules":[{"description":"","rulePriority":5,"rulePriority":2,"selection":{` + selUntaggedCount + `},"action":{"type":"expire"}}]}`),
			want: &Policy{Rules: []Rule{{RulePriority: 2,
				Selection: Selection{TagStatus: TagStatusUntagged, CountType: CountImageCountMoreThan, CountNumber: 1},
				Action:    Action{Type: "expire"}}}},
		},
		{
			name: "largest 32-bit countNumber",
			text: policy(rule("1", `"tagStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":2147483647`)),
			want: &Policy{Rules: []Rule{{RulePriority: 1,
				Selection: Selection{TagStatus: TagStatusAny, CountType: CountSinceImagePushed, CountUnit: "days", CountNumber: 2147483647},
				Action:    Action{Type: "expire"}}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.text)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Parse =\n%+v\nwant\n%+v", got, tt.want)
			}
			again, err := Parse(pad(got.String()))
			if err != nil {
				t.Fatalf("Parse(String()): %v", err)
			}
			if !reflect.DeepEqual(again, got) {
				t.Fatalf("round trip changed the policy:\n%+v\n%+v", again, got)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		field string
		msg   string // full message for length errors, else the part after msgPrefix
	}{
		// The text as a whole.
		{"too short", `{"rules":[]}`, "",
			"Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Member must have length greater than or equal to 100'"},
		{"too long", policy(rule("1", `"tagStatus":"tagged","tagPrefixList":["`+strings.Repeat("x", MaxTextLength)+`"],"countType":"imageCountMoreThan","countNumber":1`)), "",
			"Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Member must have length less than or equal to 30720'"},
		{"not JSON", pad("some invalid input"), "", "Could not map policyString into LifecyclePolicy.'"},
		{"not an object", pad(`[` + rule("1", selAnyCount) + `]`), "", "Could not map policyString into LifecyclePolicy.'"},
		{"trailing data", policy(rule("1", selAnyCount)) + `{}`, "", "Could not map policyString into LifecyclePolicy.'"},
		{"invalid UTF-8", policy(rule("1", selAnyCount)) + "\xff", "", "Could not map policyString into LifecyclePolicy.'"},

		// Schema: structure.
		{"no rules", pad(`{"no_rules":"test"}`), "", `object has missing required properties (["rules"])'`},
		{"unknown top-level field", pad(`{"rules":[` + rule("1", selAnyCount) + `],"extra":1}`), "",
			`object instance has properties which are not allowed by the schema: (["extra"])'`},
		{"rules not a list", pad(`{"rules":` + rule("1", selAnyCount) + `}`), "/rules",
			`instance type (object) does not match any allowed primitive type (allowed: ["array"]) (at /rules)'`},
		{"empty rules", pad(`{"rules":[]}`), "/rules",
			`array is too short: must have at least 1 elements but instance has 0 elements (at /rules)'`},
		{"rule not an object", pad(`{"rules":["not_dict"]}`), "/rules/0",
			`instance type (string) does not match any allowed primitive type (allowed: ["object"]) (at /rules/0)'`},
		{"rule missing fields", pad(`{"rules":[{"rulePriority":1}]}`), "/rules/0",
			`object has missing required properties (["action","selection"]) (at /rules/0)'`},
		{"unknown rule fields", pad(`{"rules":[{"rulePriority":1,"Unknown":1,"selection":{` + selAnyCount + `},"action":{"type":"expire"},"RulePriority":2}]}`), "/rules/0",
			`object instance has properties which are not allowed by the schema: (["RulePriority","Unknown"]) (at /rules/0)'`},
		{"description not a string", pad(`{"rules":[{"rulePriority":1,"description":null,"selection":{` + selAnyCount + `},"action":{"type":"expire"}}]}`), "/rules/0/description",
			`instance type (null) does not match any allowed primitive type (allowed: ["string"]) (at /rules/0/description)'`},

		// Schema: rulePriority and countNumber.
		{"rulePriority zero", policy(rule("0", selAnyCount)), "/rules/0/rulePriority",
			`numeric instance is lower than the required minimum (minimum: 1, found: 0) (at /rules/0/rulePriority)'`},
		{"rulePriority fractional", policy(rule("1.5", selAnyCount)), "/rules/0/rulePriority",
			`instance type (number) does not match any allowed primitive type (allowed: ["integer"]) (at /rules/0/rulePriority)'`},
		{"rulePriority as string", policy(rule(`"1"`, selAnyCount)), "/rules/0/rulePriority",
			`instance type (string) does not match any allowed primitive type (allowed: ["integer"]) (at /rules/0/rulePriority)'`},
		{"rulePriority beyond 32 bits", policy(rule("2147483648", selAnyCount)), "/rules/0/rulePriority",
			`Could not map policyString into LifecyclePolicy. (at /rules/0/rulePriority)'`},
		{"countNumber zero", policy(rule("1", `"tagStatus":"any","countType":"imageCountMoreThan","countNumber":0`)), "/rules/0/selection/countNumber",
			`numeric instance is lower than the required minimum (minimum: 1, found: 0) (at /rules/0/selection/countNumber)'`},
		{"countNumber negative", policy(rule("1", `"tagStatus":"any","countType":"imageCountMoreThan","countNumber":-1`)), "/rules/0/selection/countNumber",
			`numeric instance is lower than the required minimum (minimum: 1, found: -1) (at /rules/0/selection/countNumber)'`},

		// Schema: selection.
		{"selection missing fields", policy(rule("1", `"tagStatus":"any"`)), "/rules/0/selection",
			`object has missing required properties (["countNumber","countType"]) (at /rules/0/selection)'`},
		{"unknown selection field", policy(rule("1", selAnyCount+`,"storageClass":"standard"`)), "/rules/0/selection",
			`object instance has properties which are not allowed by the schema: (["storageClass"]) (at /rules/0/selection)'`},
		{"unknown tagStatus", policy(rule("1", `"tagStatus":"TAGGED","countType":"imageCountMoreThan","countNumber":1`)), "/rules/0/selection/tagStatus",
			`instance value ("TAGGED") not found in enum (possible values: ["tagged","untagged","any"]) (at /rules/0/selection/tagStatus)'`},
		{"unknown countType", policy(rule("1", `"tagStatus":"any","countType":"sinceImagePulled","countNumber":1`)), "/rules/0/selection/countType",
			`instance failed to match exactly one schema (matched 0 out of 2): countType must be "imageCountMoreThan" or "sinceImagePushed", found "sinceImagePulled" (at /rules/0/selection/countType)'`},
		{"countUnit missing for sinceImagePushed", policy(rule("1", `"tagStatus":"any","countType":"sinceImagePushed","countNumber":1`)), "/rules/0/selection/countUnit",
			`instance failed to match exactly one schema (matched 0 out of 2): countUnit is required when countType is sinceImagePushed (at /rules/0/selection/countUnit)'`},
		{"countUnit with imageCountMoreThan", policy(rule("1", selAnyCount+`,"countUnit":"days"`)), "/rules/0/selection/countUnit",
			`instance failed to match exactly one schema (matched 0 out of 2): countUnit is not allowed when countType is imageCountMoreThan (at /rules/0/selection/countUnit)'`},
		{"countUnit null", policy(rule("1", selAnyCount+`,"countUnit":null`)), "/rules/0/selection/countUnit",
			`instance failed to match exactly one schema (matched 0 out of 2): countUnit is not allowed when countType is imageCountMoreThan (at /rules/0/selection/countUnit)'`},
		{"unknown countUnit", policy(rule("1", `"tagStatus":"any","countType":"sinceImagePushed","countUnit":"hours","countNumber":1`)), "/rules/0/selection/countUnit",
			`instance value ("hours") not found in enum (possible values: ["days"]) (at /rules/0/selection/countUnit)'`},
		{"empty tagPrefixList", policy(rule("1", selPrefix(`[]`))), "/rules/0/selection/tagPrefixList",
			`array is too short: must have at least 1 elements but instance has 0 elements (at /rules/0/selection/tagPrefixList)'`},
		{"empty prefix", policy(rule("1", selPrefix(`["prod",""]`))), "/rules/0/selection/tagPrefixList/1",
			`string "" is too short (length: 0, required minimum: 1) (at /rules/0/selection/tagPrefixList/1)'`},
		{"tagPatternList of numbers", policy(rule("1", selPattern(`[1]`))), "/rules/0/selection/tagPatternList/0",
			`instance type (integer) does not match any allowed primitive type (allowed: ["string"]) (at /rules/0/selection/tagPatternList/0)'`},

		// Schema: action.
		{"action missing type", pad(`{"rules":[{"rulePriority":1,"selection":{` + selAnyCount + `},"action":{}}]}`), "/rules/0/action",
			`object has missing required properties (["type"]) (at /rules/0/action)'`},
		{"unknown action field", pad(`{"rules":[{"rulePriority":1,"selection":{` + selAnyCount + `},"action":{"type":"expire","targetStorageClass":null}}]}`), "/rules/0/action",
			`object instance has properties which are not allowed by the schema: (["targetStorageClass"]) (at /rules/0/action)'`},
		{"unknown action type", pad(`{"rules":[{"rulePriority":1,"selection":{` + selAnyCount + `},"action":{"type":"keep"}}]}`), "/rules/0/action/type",
			`instance value ("keep") not found in enum (possible values: ["expire"]) (at /rules/0/action/type)'`},

		// Tag lists against tagStatus.
		{"tagged without a list", policy(rule("1", `"tagStatus":"tagged","countType":"imageCountMoreThan","countNumber":1`)), "/rules/0/selection",
			`Must specify tagPrefixList or tagPatternList when tagStatus=TAGGED. (at /rules/0/selection)'`},
		{"untagged with tagPrefixList", policy(rule("1", selUntaggedCount+`,"tagPrefixList":["v"]`)), "/rules/0/selection/tagPrefixList",
			`tagPrefixList can only be specified when tagStatus=TAGGED, not tagStatus=UNTAGGED. (at /rules/0/selection/tagPrefixList)'`},
		{"any with tagPatternList", policy(rule("1", selAnyCount+`,"tagPatternList":["*"]`)), "/rules/0/selection/tagPatternList",
			`tagPatternList can only be specified when tagStatus=TAGGED, not tagStatus=ANY. (at /rules/0/selection/tagPatternList)'`},
		{"both lists", policy(rule("1", selPrefix(`["v"]`)+`,"tagPatternList":["v*"]`)), "/rules/0/selection",
			`A rule may specify tagPrefixList or tagPatternList, but not both. (at /rules/0/selection)'`},
		{"five wildcards", policy(rule("1", selPattern(`["ok*","test*1*2*3*4*5*6"]`))), "/rules/0/selection/tagPatternList/1",
			`The tagPatternList value "test*1*2*3*4*5*6" has more than 4 wildcards (*). (at /rules/0/selection/tagPatternList/1)'`},

		// Rules against one another.
		{"duplicate rulePriority", policy(rule("1", selPrefix(`["a"]`)), rule("2", selPrefix(`["b"]`)), rule("1", selUntaggedCount)), "/rules/2/rulePriority",
			`The rulePriority 1 is used by more than one rule. Each rule must have a unique rulePriority. (at /rules/2/rulePriority)'`},
		{"any not last", policy(rule("1", selAnyCount), rule("2", selUntaggedCount)), "/rules/0/selection/tagStatus",
			`Rule for tagStatus=ANY must have the lowest priority (at /rules/0/selection/tagStatus)'`},
		{"two any rules", policy(rule("9", selAnyCount), rule("3", selAnyCount)), "/rules/1/selection/tagStatus",
			`Rule for tagStatus=ANY must have the lowest priority (at /rules/1/selection/tagStatus)'`},
		{"two untagged rules", policy(rule("1", selUntaggedAge), rule("2", selUntaggedCount)), "/rules/1/selection/tagStatus",
			`Only one rule can select Untagged images. (at /rules/1/selection/tagStatus)'`},
		{"same prefix set twice", policy(rule("1", selPrefix(`["a","b"]`)), rule("2", selPrefix(`["b","a","a"]`))), "/rules/1/selection/tagPrefixList",
			`The set of rules must contain a unique set of tag prefixes. (at /rules/1/selection/tagPrefixList)'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse(tt.text)
			if err == nil {
				t.Fatalf("Parse accepted the policy: %s", p)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(err, ErrInvalid) = false for %v", err)
			}
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("error %T is not a *ValidationError", err)
			}
			if verr.Field != tt.field {
				t.Errorf("Field = %q, want %q", verr.Field, tt.field)
			}
			want := tt.msg
			if !strings.HasPrefix(want, "Invalid parameter") {
				want = msgPrefix + want
			}
			if err.Error() != want {
				t.Errorf("message\n got: %s\nwant: %s", err.Error(), want)
			}
		})
	}
}

func TestParseDistinctListsAreAllowed(t *testing.T) {
	// A prefix list and a pattern list with the same strings select
	// differently, so they are not the same set.
	text := policy(rule("1", selPrefix(`["a"]`)), rule("2", selPattern(`["a"]`)), rule("3", selPrefix(`["a","b"]`)))
	if _, err := Parse(text); err != nil {
		t.Fatalf("Parse: %v", err)
	}
}
