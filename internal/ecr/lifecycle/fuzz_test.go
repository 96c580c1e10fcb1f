package lifecycle

import (
	"errors"
	"reflect"
	"testing"
	"unicode/utf8"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		docsMultipleA, docsMultipleB, docsMultiplePatternA, docsTagsAge, docsTagsCount,
		docsAllA, docsAllB, docsUntaggedAge, docsProdAge, docsUntaggedCount,
		policy(rule("1", selPattern(`["*test*1*2*3","a\u2028b"]`))),
		policy(rule("1", selAnyCount+`,"countUnit":"days"`)),
		policy(rule("1", selAnyCount), rule("2", selUntaggedCount)),
		pad(`{"rules":[{"rulePriority":1e0,"selection":{},"action":{"type":"expire"}}]}`),
	} {
		f.Add(pad(s))
	}
	images := []Image{
		img("a", daysAgo(30)),
		img("b", daysAgo(3), "prod-1", "beta"),
		img("c", daysAgo(1), "test-1-2-3"),
	}
	f.Fuzz(func(t *testing.T, text string) {
		p, err := Parse(text)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not match ErrInvalid: %v", err)
			}
			return
		}
		p.Evaluate(images, now)
		again := p.String()
		if utf8.RuneCountInString(again) > MaxTextLength {
			// Re-encoding escapes U+2028 and U+2029 as six characters, so a
			// policy near the limit can come back too long.
			return
		}
		q, err := Parse(again)
		if err != nil {
			t.Fatalf("re-marshaled policy rejected: %v\n%s", err, again)
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("re-parsed policy differs:\n%+v\n%+v", p, q)
		}
	})
}
