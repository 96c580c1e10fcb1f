package lifecycle

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	propTags     = []string{"prod", "prod-1", "prod-2", "beta", "beta-1", "v1.2", "v1.2.3", "v2-rc1", "rc", "latest", "a-b"}
	propPrefixes = []string{"p", "prod", "prod-", "b", "beta", "v", "v1", "r", "l"}
	propPatterns = []string{"*", "prod*", "*-*", "v*.*", "*a*", "b*", "*rc*", "prod-?", "v*.*.*", "*-1"}
)

// randomPolicy builds a policy that Parse accepts, going through its text.
func randomPolicy(r *rand.Rand) *Policy {
	for {
		var p Policy
		n := 1 + r.IntN(5)
		prios := r.Perm(20)[:n]
		maxIdx := 0
		for i, pr := range prios {
			if pr > prios[maxIdx] {
				maxIdx = i
			}
		}
		untagged := false
		for i := range n {
			rule := Rule{RulePriority: prios[i] + 1, Action: Action{Type: ActionExpire}}
			s := &rule.Selection
			switch k := r.IntN(6); {
			case k == 0 && i == maxIdx:
				s.TagStatus = TagStatusAny
			case k == 1 && !untagged:
				s.TagStatus, untagged = TagStatusUntagged, true
			case k%2 == 0:
				s.TagStatus = TagStatusTagged
				s.TagPrefixList = pick(r, propPrefixes)
			default:
				s.TagStatus = TagStatusTagged
				s.TagPatternList = pick(r, propPatterns)
			}
			if r.IntN(2) == 0 {
				s.CountType, s.CountNumber = CountImageCountMoreThan, 1+r.IntN(4)
			} else {
				s.CountType, s.CountUnit, s.CountNumber = CountSinceImagePushed, CountUnitDays, 1+r.IntN(6)
			}
			p.Rules = append(p.Rules, rule)
		}
		parsed, err := Parse(pad(p.String()))
		if err == nil {
			return parsed
		}
		// Two rules drew the same tag set; draw again.
	}
}

func pick(r *rand.Rand, from []string) []string {
	out := make([]string, 1+r.IntN(2))
	for i := range out {
		out[i] = from[r.IntN(len(from))]
	}
	return out
}

func randomImages(r *rand.Rand) []Image {
	n := r.IntN(25)
	imgs := make([]Image, n)
	for i := range imgs {
		var tags []string
		if r.IntN(4) > 0 {
			tags = pick(r, propTags)
			if r.IntN(3) == 0 {
				tags = append(tags, propTags[r.IntN(len(propTags))])
			}
		}
		// Half-day steps over ten days make ties and exact-boundary ages common.
		pushed := now.Add(-time.Duration(r.IntN(21)) * 12 * time.Hour)
		imgs[i] = Image{Digest: fmt.Sprintf("sha256:%03d", i), Tags: tags, PushedAt: pushed}
	}
	return imgs
}

// refMatches restates tag selection independently of the implementation,
// with patterns turned into anchored regular expressions.
func refMatches(s Selection, tags []string) bool {
	switch s.TagStatus {
	case TagStatusAny:
		return true
	case TagStatusUntagged:
		return len(tags) == 0
	}
	if len(tags) == 0 {
		return false
	}
	for _, e := range s.TagPrefixList {
		if !slices.ContainsFunc(tags, func(t string) bool { return strings.HasPrefix(t, e) }) {
			return false
		}
	}
	for _, e := range s.TagPatternList {
		re := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(e), `\*`, ".*") + "$")
		if !slices.ContainsFunc(tags, re.MatchString) {
			return false
		}
	}
	return true
}

func newer(a, b Image) bool {
	return a.PushedAt.After(b.PushedAt) || (a.PushedAt.Equal(b.PushedAt) && a.Digest > b.Digest)
}

func TestEvaluateProperties(t *testing.T) {
	for seed := range uint64(3000) {
		r := rand.New(rand.NewPCG(seed, 0x5eed))
		p := randomPolicy(r)
		imgs := randomImages(r)
		got := p.Evaluate(imgs, now)
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("seed %d: policy %s\nimages %v\nexpired %v\n%s", seed, p, imgs, got, fmt.Sprintf(format, args...))
		}

		expired := map[string]int{}
		for i, e := range got {
			if _, dup := expired[e.Digest]; dup {
				fail("%s expired twice", e.Digest)
			}
			if i > 0 && got[i-1].Digest >= e.Digest {
				fail("result not sorted by digest")
			}
			expired[e.Digest] = e.RulePriority
		}

		byPrio := slices.Clone(p.Rules)
		slices.SortFunc(byPrio, func(a, b Rule) int { return a.RulePriority - b.RulePriority })
		for _, im := range imgs {
			owner := slices.IndexFunc(byPrio, func(r Rule) bool { return refMatches(r.Selection, im.Tags) })
			prio, isExpired := expired[im.Digest]
			if owner < 0 {
				if isExpired {
					fail("%s matches no rule but was expired", im.Digest)
				}
				continue
			}
			rule := byPrio[owner]
			if isExpired && prio != rule.RulePriority {
				fail("%s expired by rule %d, but its first matching rule is %d", im.Digest, prio, rule.RulePriority)
			}
			var want bool
			switch rule.Selection.CountType {
			case CountImageCountMoreThan:
				rank := 1
				for _, o := range imgs {
					if refMatches(rule.Selection, o.Tags) && newer(o, im) {
						rank++
					}
				}
				want = rank > rule.Selection.CountNumber
			case CountSinceImagePushed:
				want = now.Sub(im.PushedAt) > time.Duration(rule.Selection.CountNumber)*24*time.Hour
			}
			if isExpired != want {
				fail("%s expired=%v, want %v under rule %d", im.Digest, isExpired, want, rule.RulePriority)
			}
		}

		shuffled := slices.Clone(imgs)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if again := p.Evaluate(shuffled, now); !slices.Equal(again, got) {
			fail("input order changed the result: %v", again)
		}
	}
}
