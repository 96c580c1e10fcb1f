package lifecycle

import (
	"slices"
	"strconv"
	"strings"
)

// checkRules applies the constraints ECR checks beyond the JSON schema:
// first each rule on its own, then the rules against one another.
func checkRules(p *Policy) *ValidationError {
	for i, r := range p.Rules {
		if verr := checkSelection("/rules/"+strconv.Itoa(i)+"/selection", r.Selection); verr != nil {
			return verr
		}
	}

	seen := make(map[int]bool, len(p.Rules))
	for i, r := range p.Rules {
		if seen[r.RulePriority] {
			return invalid("/rules/"+strconv.Itoa(i)+"/rulePriority",
				"The rulePriority %d is used by more than one rule. Each rule must have a unique rulePriority.",
				r.RulePriority)
		}
		seen[r.RulePriority] = true
	}

	for i, r := range p.Rules {
		if r.Selection.TagStatus != TagStatusAny {
			continue
		}
		for _, o := range p.Rules {
			if o.RulePriority > r.RulePriority {
				return invalid("/rules/"+strconv.Itoa(i)+"/selection/tagStatus",
					"Rule for tagStatus=ANY must have the lowest priority")
			}
		}
	}

	untagged := false
	for i, r := range p.Rules {
		if r.Selection.TagStatus != TagStatusUntagged {
			continue
		}
		if untagged {
			return invalid("/rules/"+strconv.Itoa(i)+"/selection/tagStatus",
				"Only one rule can select Untagged images.")
		}
		untagged = true
	}

	sets := make(map[string]bool, len(p.Rules))
	for i, r := range p.Rules {
		key, list := tagSetKey(r.Selection)
		if key == "" {
			continue
		}
		if sets[key] {
			return invalid("/rules/"+strconv.Itoa(i)+"/selection/"+list,
				"The set of rules must contain a unique set of tag prefixes.")
		}
		sets[key] = true
	}
	return nil
}

func checkSelection(field string, s Selection) *ValidationError {
	hasPrefix, hasPattern := s.TagPrefixList != nil, s.TagPatternList != nil
	switch {
	case s.TagStatus == TagStatusTagged && !hasPrefix && !hasPattern:
		return invalid(field, "Must specify tagPrefixList or tagPatternList when tagStatus=TAGGED.")
	case s.TagStatus != TagStatusTagged && hasPrefix:
		return invalid(field+"/tagPrefixList",
			"tagPrefixList can only be specified when tagStatus=TAGGED, not tagStatus=%s.",
			strings.ToUpper(string(s.TagStatus)))
	case s.TagStatus != TagStatusTagged && hasPattern:
		return invalid(field+"/tagPatternList",
			"tagPatternList can only be specified when tagStatus=TAGGED, not tagStatus=%s.",
			strings.ToUpper(string(s.TagStatus)))
	case hasPrefix && hasPattern:
		return invalid(field, "A rule may specify tagPrefixList or tagPatternList, but not both.")
	}
	for j, pat := range s.TagPatternList {
		if strings.Count(pat, "*") > MaxPatternWildcards {
			return invalid(field+"/tagPatternList/"+strconv.Itoa(j),
				"The tagPatternList value %s has more than %d wildcards (*).", jsonValue(pat), MaxPatternWildcards)
		}
	}
	return nil
}

// tagSetKey identifies the set of tag prefixes or patterns a tagged rule
// selects on, ignoring order and repeats; "" for rules without a list.
func tagSetKey(s Selection) (key, list string) {
	var l []string
	switch {
	case s.TagPrefixList != nil:
		l, list = s.TagPrefixList, "tagPrefixList"
	case s.TagPatternList != nil:
		l, list = s.TagPatternList, "tagPatternList"
	default:
		return "", ""
	}
	l = slices.Clone(l)
	slices.Sort(l)
	l = slices.Compact(l)
	return list + "\x00" + strings.Join(l, "\x00"), list
}
