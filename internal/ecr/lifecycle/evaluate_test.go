package lifecycle

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func daysAgo(d float64) time.Time {
	return now.Add(-time.Duration(d * float64(24*time.Hour)))
}

func img(digest string, pushed time.Time, tags ...string) Image {
	return Image{Digest: digest, Tags: tags, PushedAt: pushed}
}

func mustParse(t *testing.T, text string) *Policy {
	t.Helper()
	p, err := Parse(pad(text))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

// Policies from the ECR user guide, "Examples of lifecycle policies".
const (
	docsMultipleA = `{"rules":[
		{"rulePriority":1,"description":"Rule 1","selection":{"tagStatus":"tagged","tagPrefixList":["prod"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},
		{"rulePriority":2,"description":"Rule 2","selection":{"tagStatus":"tagged","tagPrefixList":["beta"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`
	docsMultipleB = `{"rules":[
		{"rulePriority":1,"description":"Rule 1","selection":{"tagStatus":"tagged","tagPrefixList":["beta"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},
		{"rulePriority":2,"description":"Rule 2","selection":{"tagStatus":"tagged","tagPrefixList":["prod"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`
	docsMultiplePatternA = `{"rules":[
		{"rulePriority":1,"description":"Rule 1","selection":{"tagStatus":"tagged","tagPatternList":["prod*"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},
		{"rulePriority":2,"description":"Rule 2","selection":{"tagStatus":"tagged","tagPatternList":["beta*"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`
	docsTagsAge = `{"rules":[
		{"rulePriority":1,"description":"Rule 1","selection":{"tagStatus":"tagged","tagPrefixList":["alpha","beta"],"countType":"sinceImagePushed","countNumber":5,"countUnit":"days"},"action":{"type":"expire"}}]}`
	docsTagsCount = `{"rules":[
		{"rulePriority":1,"description":"Rule 1","selection":{"tagStatus":"tagged","tagPrefixList":["alpha","beta"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`
	docsAllA = `{"rules":[
		{"rulePriority":1,"description":"Rule 1","selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`
	docsAllB = `{"rules":[
		{"rulePriority":1,"description":"Rule 1","selection":{"tagStatus":"tagged","tagPrefixList":["alpha"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},
		{"rulePriority":2,"description":"Rule 2","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}},
		{"rulePriority":3,"description":"Rule 3","selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`
	docsUntaggedAge = `{"rules":[
		{"rulePriority":1,"description":"Expire images older than 14 days","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":14},"action":{"type":"expire"}}]}`
	docsProdAge = `{"rules":[
		{"rulePriority":1,"description":"Expire images older than 14 days","selection":{"tagStatus":"tagged","tagPatternList":["prod*"],"countType":"sinceImagePushed","countUnit":"days","countNumber":14},"action":{"type":"expire"}}]}`
	docsUntaggedCount = `{"rules":[
		{"rulePriority":1,"description":"Keep only one untagged image, expire all others","selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`
)

var betaProdRepo = []Image{
	img("A", daysAgo(10), "beta-1", "prod-1"),
	img("B", daysAgo(9), "beta-2", "prod-2"),
	img("C", daysAgo(8), "beta-3"),
}

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		images []Image
		want   []Expiry
	}{
		{
			name:   "docs multiple rules A: lower rule cannot expire images seen by a higher one",
			policy: docsMultipleA, images: betaProdRepo,
			want: []Expiry{{"A", 1}},
		},
		{
			name:   "docs multiple rules A, tagPatternList version",
			policy: docsMultiplePatternA, images: betaProdRepo,
			want: []Expiry{{"A", 1}},
		},
		{
			name:   "docs multiple rules B: first rule sees every image",
			policy: docsMultipleB, images: betaProdRepo,
			want: []Expiry{{"A", 1}, {"B", 1}},
		},
		{
			name:   "docs multiple tags A: every prefix must match some tag",
			policy: docsTagsAge,
			images: []Image{
				img("A", daysAgo(12), "alpha-1"),
				img("B", daysAgo(11), "beta-1"),
				img("C", daysAgo(10), "alpha-2", "beta-2"),
				img("D", daysAgo(4), "alpha-3"),
				img("E", daysAgo(3), "beta-3"),
				img("F", daysAgo(2), "alpha-4", "beta-4"),
			},
			want: []Expiry{{"C", 1}},
		},
		{
			name:   "docs multiple tags B: tags are not exclusive",
			policy: docsTagsCount,
			images: []Image{
				img("A", daysAgo(10), "alpha-1", "beta-1", "gamma-1"),
				img("B", daysAgo(9), "alpha-2", "beta-2"),
				img("C", daysAgo(8), "alpha-3", "beta-3", "gamma-2"),
			},
			want: []Expiry{{"A", 1}, {"B", 1}},
		},
		{
			name:   "docs all images A: any keeps the newest",
			policy: docsAllA,
			images: []Image{
				img("A", daysAgo(4), "alpha-1"),
				img("B", daysAgo(3), "beta-1"),
				img("C", daysAgo(2)),
				img("D", daysAgo(1), "alpha-2"),
			},
			want: []Expiry{{"A", 1}, {"B", 1}, {"C", 1}},
		},
		{
			// D and E were both pushed "1 day ago"; with equal push times
			// the greater digest counts as newer, so E is the image rule 3
			// keeps, as the guide says.
			name:   "docs all images B: three rule types together",
			policy: docsAllB,
			images: []Image{
				img("A", daysAgo(4), "alpha-1", "beta-1"),
				img("B", daysAgo(3)),
				img("C", daysAgo(2), "alpha-2"),
				img("D", daysAgo(1), "git hash"),
				img("E", daysAgo(1)),
			},
			want: []Expiry{{"A", 1}, {"B", 2}, {"D", 3}},
		},
		{
			name:   "docs: expire untagged older than 14 days",
			policy: docsUntaggedAge,
			images: []Image{
				img("old", daysAgo(30)),
				img("edge", daysAgo(14)), // exactly 14 days: not older
				img("just-over", daysAgo(14).Add(-time.Nanosecond)),
				img("new", daysAgo(1)),
				img("tagged-old", daysAgo(90), "v1"),
				img("future", now.Add(time.Hour)),
			},
			want: []Expiry{{"just-over", 1}, {"old", 1}},
		},
		{
			name:   "docs: expire prod* older than 14 days",
			policy: docsProdAge,
			images: []Image{
				img("a", daysAgo(20), "prod"),
				img("b", daysAgo(20), "prod2", "latest"),
				img("c", daysAgo(20), "preprod"),
				img("d", daysAgo(20)),
				img("e", daysAgo(2), "prod1"),
			},
			want: []Expiry{{"a", 1}, {"b", 1}},
		},
		{
			name:   "docs: keep only one untagged image",
			policy: docsUntaggedCount,
			images: []Image{
				img("u1", daysAgo(3)),
				img("u2", daysAgo(2)),
				img("u3", daysAgo(1)),
				img("t1", daysAgo(9), "v1"),
			},
			want: []Expiry{{"u1", 1}, {"u2", 1}},
		},
		{
			name: "keep prod forever, keep last 2 of everything else",
			policy: `{"rules":[
				{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["prod"],"countType":"imageCountMoreThan","countNumber":9999},"action":{"type":"expire"}},
				{"rulePriority":2,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":2},"action":{"type":"expire"}}]}`,
			images: []Image{
				img("p1", daysAgo(50), "prod-1"),
				img("x1", daysAgo(40), "dev-1"),
				img("p2", daysAgo(30), "prod-2"),
				img("x2", daysAgo(20)),
				img("x3", daysAgo(10), "dev-3"),
			},
			// Rule 2 ranks all five newest first: x3, x2 | p2, x1, p1. Of
			// those past the first two only x1 is its own.
			want: []Expiry{{"x1", 2}},
		},
		{
			name: "keep last 2 tagged by prefix, others untouched",
			policy: `{"rules":[
				{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["release-"],"countType":"imageCountMoreThan","countNumber":2},"action":{"type":"expire"}}]}`,
			images: []Image{
				img("r1", daysAgo(4), "release-1"),
				img("r2", daysAgo(3), "release-2", "latest"),
				img("r3", daysAgo(2), "release-3"),
				img("r4", daysAgo(1), "Release-4"), // case sensitive
				img("u", daysAgo(9)),
			},
			want: []Expiry{{"r1", 1}},
		},
		{
			name: "equal push times ranked by digest, whatever the input order",
			policy: `{"rules":[
				{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":2},"action":{"type":"expire"}}]}`,
			images: []Image{
				img("sha256:bb", daysAgo(1)),
				img("sha256:dd", daysAgo(1)),
				img("sha256:aa", daysAgo(1)),
				img("sha256:cc", daysAgo(1)),
			},
			want: []Expiry{{"sha256:aa", 1}, {"sha256:bb", 1}},
		},
		{
			name: "pattern wildcards match whole tags",
			policy: `{"rules":[
				{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPatternList":["*-rc*"],"countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}},
				{"rulePriority":2,"selection":{"tagStatus":"tagged","tagPatternList":["v*.*.*"],"countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}}]}`,
			images: []Image{
				img("a", daysAgo(3), "v1.2-rc1"),
				img("b", daysAgo(3), "v1.2.3"),
				img("c", daysAgo(3), "v1.2"),
				img("d", daysAgo(3), "rc1"),
				img("e", daysAgo(3), "x-rc"),
			},
			want: []Expiry{{"a", 1}, {"b", 2}, {"e", 1}},
		},
		{
			name: "duplicate digests are one image",
			policy: `{"rules":[
				{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["a","b"],"countType":"sinceImagePushed","countUnit":"days","countNumber":5},"action":{"type":"expire"}}]}`,
			images: []Image{
				img("x", daysAgo(10), "a1"),
				img("x", daysAgo(9), "b1"),
				img("y", daysAgo(10), "a2"),
			},
			want: []Expiry{{"x", 1}},
		},
		{
			name:   "no images",
			policy: docsAllA,
			want:   []Expiry{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, tt.policy)
			before := clonePolicy(p)
			got := p.Evaluate(tt.images, now)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Evaluate = %v, want %v", got, tt.want)
			}
			if !reflect.DeepEqual(p, before) {
				t.Errorf("Evaluate modified the policy")
			}
		})
	}
}

func clonePolicy(p *Policy) *Policy {
	q, err := Parse(pad(p.String()))
	if err != nil {
		panic(err)
	}
	return q
}

func TestEvaluateHugeDayCount(t *testing.T) {
	p := mustParse(t, `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":2147483647},"action":{"type":"expire"}}]}`)
	images := []Image{img("ancient", time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC))}
	if got := p.Evaluate(images, now); len(got) != 0 {
		t.Fatalf("Evaluate = %v, want nothing expired", got)
	}
	p.Rules[0].Selection.CountNumber = 700000 // ~1916 years
	if got := p.Evaluate(images, now); len(got) != 1 {
		t.Fatalf("Evaluate = %v, want the 2025-year-old image expired", got)
	}
}

func TestEvaluateDoesNotModifyImages(t *testing.T) {
	p := mustParse(t, docsTagsAge)
	tags := make([]string, 1, 4)
	tags[0] = "a1"
	images := []Image{
		{Digest: "x", Tags: tags, PushedAt: daysAgo(10)},
		{Digest: "x", Tags: []string{"b1"}, PushedAt: daysAgo(10)},
	}
	p.Evaluate(images, now)
	if len(images[0].Tags) != 1 || tags[:2][1] != "" {
		t.Fatalf("Evaluate wrote into the caller's tag slice: %q", tags[:2])
	}
}

func TestNilPolicy(t *testing.T) {
	var p *Policy
	if got := p.Evaluate([]Image{img("a", now)}, now); len(got) != 0 {
		t.Fatalf("nil policy expired %v", got)
	}
}

func TestMatchPattern(t *testing.T) {
	tests := []struct {
		tag, pattern string
		want         bool
	}{
		{"prod", "prod*", true},
		{"prod1", "prod*", true},
		{"preprod", "prod*", false},
		{"prod", "prod", true},
		{"prod1", "prod", false},
		{"", "*", true},
		{"anything", "*", true},
		{"abc", "a*c", true},
		{"ac", "a*c", true},
		{"a", "a*a", false},
		{"aa", "a*a", true},
		{"test-1-2-3", "*test*1*2*3", true},
		{"xtest1y2z3", "*test*1*2*3", true},
		{"test123x", "*test*1*2*3", false},
		{"a?c", "a?c", true},
		{"abc", "a?c", false},
		{"abab", "*ab*ab*", true},
		{"aba", "*ab*ab*", false},
	}
	for _, tt := range tests {
		if got := matchPattern(tt.tag, tt.pattern); got != tt.want {
			t.Errorf("matchPattern(%q, %q) = %v, want %v", tt.tag, tt.pattern, got, tt.want)
		}
	}
}

// BenchmarkEvaluate measures a full repository at ECR's default quota of
// 10,000 images against a six-rule policy.
func BenchmarkEvaluate(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	images := make([]Image, 10000)
	for i := range images {
		images[i] = Image{
			Digest:   fmt.Sprintf("sha256:%064d", i),
			Tags:     pick(r, propTags),
			PushedAt: now.Add(-time.Duration(r.IntN(365*24)) * time.Hour),
		}
	}
	p, err := Parse(pad(`{"rules":[
		{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPatternList":["prod*"],"countType":"imageCountMoreThan","countNumber":50},"action":{"type":"expire"}},
		{"rulePriority":2,"selection":{"tagStatus":"tagged","tagPrefixList":["beta","v1"],"countType":"imageCountMoreThan","countNumber":20},"action":{"type":"expire"}},
		{"rulePriority":3,"selection":{"tagStatus":"tagged","tagPatternList":["*-rc*"],"countType":"sinceImagePushed","countUnit":"days","countNumber":14},"action":{"type":"expire"}},
		{"rulePriority":4,"selection":{"tagStatus":"tagged","tagPatternList":["v*.*.*"],"countType":"sinceImagePushed","countUnit":"days","countNumber":90},"action":{"type":"expire"}},
		{"rulePriority":5,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}},
		{"rulePriority":6,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":500},"action":{"type":"expire"}}]}`))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		p.Evaluate(images, now)
	}
}
