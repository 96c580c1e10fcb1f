// Package lifecycle parses, validates and evaluates Amazon ECR lifecycle
// policies the way ECR does.
//
// Parse accepts the text given to PutLifecyclePolicy and refuses it with
// messages worded like ECR's InvalidParameterException. Evaluate applies a
// parsed policy to a repository's images at a given instant and reports
// which images expire and under which rule. The package does no I/O and
// never reads the clock.
//
// # Evaluation semantics
//
// These follow the "Lifecycle policy evaluation rules" and the worked
// examples of the ECR user guide:
//
//   - Rules are applied in ascending rulePriority.
//   - tagStatus "untagged" selects images without tags, "any" selects every
//     image, "tagged" selects tagged images that satisfy the rule's
//     tagPrefixList or tagPatternList.
//   - A list matches when every entry of the list matches at least one of
//     the image's tags ("if you specify multiple tags, only the images with
//     all specified tags are selected"). A prefix entry matches a tag that
//     starts with it; a pattern entry must match the whole tag, with '*'
//     standing for any run of characters (possibly empty). Matching is case
//     sensitive and no other character is special.
//   - An image belongs to the first rule, in priority order, whose
//     selection it matches; only that rule can expire it.
//   - A later rule still counts images that belong to earlier rules when it
//     ranks its matches ("rules can never mark images that are marked by
//     higher priority rules, but can still identify them as if they haven't
//     been expired"). So imageCountMoreThan N ranks every image its
//     selection matches, newest first, and expires those of its own images
//     that fall outside the first N. This is what makes the guide's
//     multi-rule examples come out as documented.
//   - sinceImagePushed N days expires the rule's own images pushed strictly
//     more than N×24h before now. An image exactly N days old is kept, as is
//     an image pushed after now.
//   - Equal push times are ranked by digest: the greater digest counts as
//     the newer image, so results never depend on input order.
//   - Images sharing a digest are one image: their tags are merged and the
//     latest push time is used.
package lifecycle

import (
	"bytes"
	"encoding/json"
	"time"
)

// Limits taken from the ECR API model (LifecyclePolicyText) and the
// lifecycle policy documentation.
const (
	// MinTextLength is the shortest policy text PutLifecyclePolicy accepts.
	MinTextLength = 100
	// MaxTextLength is the longest policy text PutLifecyclePolicy accepts.
	MaxTextLength = 30720
	// MaxPatternWildcards is the most '*' one tagPatternList entry may hold.
	MaxPatternWildcards = 4
)

// TagStatus selects images by whether they carry tags.
type TagStatus string

// The tag statuses ECR accepts.
const (
	TagStatusTagged   TagStatus = "tagged"
	TagStatusUntagged TagStatus = "untagged"
	TagStatusAny      TagStatus = "any"
)

// CountType chooses how a rule limits its images.
type CountType string

// The count types ECR accepts.
const (
	// CountImageCountMoreThan keeps the newest countNumber images.
	CountImageCountMoreThan CountType = "imageCountMoreThan"
	// CountSinceImagePushed expires images older than countNumber units.
	CountSinceImagePushed CountType = "sinceImagePushed"
)

// CountUnitDays is the only count unit ECR accepts.
const CountUnitDays = "days"

// ActionExpire is the only action type this package accepts.
const ActionExpire = "expire"

// Policy is a parsed, valid lifecycle policy. Rules keep the order of the
// policy text; Evaluate orders them by priority itself.
type Policy struct {
	Rules []Rule `json:"rules"`
}

// Rule is one rule of a lifecycle policy.
type Rule struct {
	RulePriority int       `json:"rulePriority"`
	Description  string    `json:"description,omitempty"`
	Selection    Selection `json:"selection"`
	Action       Action    `json:"action"`
}

// Selection decides which images a rule applies to and which of them it
// expires.
type Selection struct {
	TagStatus      TagStatus `json:"tagStatus"`
	TagPrefixList  []string  `json:"tagPrefixList,omitempty"`
	TagPatternList []string  `json:"tagPatternList,omitempty"`
	CountType      CountType `json:"countType"`
	// CountUnit is "days" for sinceImagePushed and empty otherwise.
	CountUnit   string `json:"countUnit,omitempty"`
	CountNumber int    `json:"countNumber"`
}

// Action is what a rule does to the images it selects; always "expire".
type Action struct {
	Type string `json:"type"`
}

// Image is what Evaluate needs to know about one image of a repository.
type Image struct {
	Digest   string
	Tags     []string
	PushedAt time.Time
}

// Expiry names an image that the policy expires and the rule that does so.
type Expiry struct {
	Digest       string
	RulePriority int
}

// String returns the policy as compact JSON that Parse accepts again and
// that parses to an equal Policy.
func (p *Policy) String() string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		// Policy holds only strings, ints and slices of them.
		panic("lifecycle: encoding policy: " + err.Error())
	}
	return string(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}
