package lifecycle

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// Evaluate applies the policy to a repository's images at instant now and
// returns the images it expires, each with the priority of the rule that
// expires it, sorted by digest. It neither modifies its arguments nor keeps
// them. The package documentation states the semantics.
func (p *Policy) Evaluate(images []Image, now time.Time) []Expiry {
	out := []Expiry{}
	if p == nil || len(images) == 0 {
		return out
	}
	imgs := mergeByDigest(images)
	// Newest first; on equal push times the greater digest counts as newer.
	slices.SortFunc(imgs, func(a, b Image) int {
		if c := b.PushedAt.Compare(a.PushedAt); c != 0 {
			return c
		}
		return strings.Compare(b.Digest, a.Digest)
	})

	rules := slices.Clone(p.Rules)
	slices.SortStableFunc(rules, func(a, b Rule) int { return cmp.Compare(a.RulePriority, b.RulePriority) })

	owned := make([]bool, len(imgs)) // already belongs to an earlier rule
	for _, r := range rules {
		rank := 0 // matches seen so far, all newer than the current image
		for i := range imgs {
			if !r.Selection.matches(imgs[i].Tags) {
				continue
			}
			rank++
			if owned[i] {
				continue
			}
			owned[i] = true
			if r.Selection.expires(rank, imgs[i].PushedAt, now) {
				out = append(out, Expiry{Digest: imgs[i].Digest, RulePriority: r.RulePriority})
			}
		}
	}
	slices.SortFunc(out, func(a, b Expiry) int { return strings.Compare(a.Digest, b.Digest) })
	return out
}

// mergeByDigest copies the images, folding entries that share a digest into
// one with the union of their tags and the latest push time.
func mergeByDigest(images []Image) []Image {
	out := make([]Image, 0, len(images))
	at := make(map[string]int, len(images))
	for _, img := range images {
		i, ok := at[img.Digest]
		if !ok {
			at[img.Digest] = len(out)
			out = append(out, img)
			continue
		}
		m := &out[i]
		m.Tags = append(slices.Clip(m.Tags), img.Tags...)
		if img.PushedAt.After(m.PushedAt) {
			m.PushedAt = img.PushedAt
		}
	}
	return out
}

// matches reports whether an image with these tags satisfies the
// selection's tag requirements.
func (s Selection) matches(tags []string) bool {
	switch s.TagStatus {
	case TagStatusAny:
		return true
	case TagStatusUntagged:
		return len(tags) == 0
	case TagStatusTagged:
		if len(tags) == 0 {
			return false
		}
		if s.TagPrefixList != nil {
			return everyMatchesSomeTag(s.TagPrefixList, tags, strings.HasPrefix)
		}
		return everyMatchesSomeTag(s.TagPatternList, tags, matchPattern)
	}
	return false
}

// everyMatchesSomeTag reports whether each entry of list matches at least
// one of tags under match(tag, entry).
func everyMatchesSomeTag(list, tags []string, match func(tag, entry string) bool) bool {
	for _, e := range list {
		if !slices.ContainsFunc(tags, func(t string) bool { return match(t, e) }) {
			return false
		}
	}
	return true
}

// matchPattern reports whether tag matches pattern as a whole, where '*'
// matches any run of characters, including none.
func matchPattern(tag, pattern string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return tag == pattern
	}
	first, last := parts[0], parts[len(parts)-1]
	if len(tag) < len(first)+len(last) || !strings.HasPrefix(tag, first) || !strings.HasSuffix(tag, last) {
		return false
	}
	// Taking each middle part at its leftmost place is optimal for
	// '*'-only patterns.
	rest := tag[len(first) : len(tag)-len(last)]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(rest, mid)
		if i < 0 {
			return false
		}
		rest = rest[i+len(mid):]
	}
	return true
}

// expires decides the fate of an image the rule owns: rank is the image's
// 1-based position among all images the rule matches, newest first.
func (s Selection) expires(rank int, pushedAt, now time.Time) bool {
	switch s.CountType {
	case CountImageCountMoreThan:
		return rank > s.CountNumber
	case CountSinceImagePushed:
		return olderThanDays(pushedAt, now, s.CountNumber)
	}
	return false
}

// olderThanDays reports whether now is strictly more than days×24h after
// pushedAt, without overflowing time.Duration for large day counts.
func olderThanDays(pushedAt, now time.Time, days int) bool {
	secs := now.Unix() - pushedAt.Unix()
	nanos := now.Nanosecond() - pushedAt.Nanosecond()
	if nanos < 0 {
		secs--
		nanos += int(time.Second)
	}
	limit := int64(days) * int64(24*time.Hour/time.Second)
	return secs > limit || (secs == limit && nanos > 0)
}
