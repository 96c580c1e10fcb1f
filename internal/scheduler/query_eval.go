package scheduler

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Evaluation rules:
//
//   - A subject the instance does not have (attribute absent, empty
//     ec2InstanceId or agentVersion, zero registeredAt, no task) satisfies only
//     !exists; every other operator, != and !in included, is false. This is
//     ECS's documented "attribute:stack != prod" behaviour (instances without
//     the attribute are not listed); use not(...) to include them.
//   - == and != (and in / !in) compare strings exactly, except that "*" in
//     the argument matches any run of characters (attribute:ecs.instance-type
//     == t2.*).
//   - =~ and !~ match the whole value (Java's String.matches), with Go's RE2
//     syntax.
//   - Ordering on attributes compares numerically when both sides are
//     numbers, else as strings; agentVersion compares dotted versions
//     numerically; registeredAt compares instants; runningTasksCount counts
//     tasks whose status is RUNNING.
//   - task:group is many-valued: ==, in, =~ and exists hold when some task's
//     group matches; !=, !in and !~ hold when the instance has tasks and none
//     matches; !exists when it has none.

func (c *comparison) eval(inst *Instance) bool {
	switch c.subj {
	case subjAttribute:
		v, ok := inst.Attributes[c.attr]
		switch c.op {
		case opExists:
			return ok
		case opNotExists:
			return !ok
		}
		return ok && c.evalString(v)
	case subjAgentConnected:
		return c.evalString(strconv.FormatBool(inst.AgentConnected))
	case subjEC2InstanceID:
		return inst.EC2InstanceID != "" && c.evalString(inst.EC2InstanceID)
	case subjAgentVersion:
		v, ok := parseVersion(inst.AgentVersion)
		return ok && c.evalOrder(compareVersions(v, c.ver))
	case subjRegisteredAt:
		return !inst.RegisteredAt.IsZero() && c.evalOrder(inst.RegisteredAt.Compare(c.when))
	case subjRunningTasksCount:
		var n int64
		for i := range inst.Tasks {
			if inst.Tasks[i].Status == "RUNNING" {
				n++
			}
		}
		return c.evalOrder(cmp.Compare(n, c.num))
	case subjTaskGroup:
		return c.evalTaskGroup(inst.Tasks)
	}
	return false
}

func (c *comparison) evalTaskGroup(tasks []TaskInfo) bool {
	live, hit := false, false
	for i := range tasks {
		if tasks[i].Status == "STOPPED" {
			continue
		}
		live = true
		if c.groupHit(tasks[i].Group) {
			hit = true
			break
		}
	}
	switch c.op {
	case opExists:
		return live
	case opNotExists:
		return !live
	case opNe, opNotIn, opNotMatches:
		return live && !hit
	}
	return hit
}

// groupHit applies the positive form of the operator (== for !=, in for !in,
// =~ for !~) to one task group.
func (c *comparison) groupHit(g string) bool {
	switch c.op {
	case opEq, opNe:
		return valueEqual(g, c.args[0])
	case opIn, opNotIn:
		return slices.ContainsFunc(c.args, func(a string) bool { return valueEqual(g, a) })
	case opMatches, opNotMatches:
		return c.re.MatchString(g)
	}
	return false
}

// evalString applies the operator to a present string value.
func (c *comparison) evalString(v string) bool {
	switch c.op {
	case opEq:
		return valueEqual(v, c.args[0])
	case opNe:
		return !valueEqual(v, c.args[0])
	case opIn, opNotIn:
		in := slices.ContainsFunc(c.args, func(a string) bool { return valueEqual(v, a) })
		return in == (c.op == opIn)
	case opMatches:
		return c.re.MatchString(v)
	case opNotMatches:
		return !c.re.MatchString(v)
	case opGt, opGe, opLt, opLe:
		return c.evalOrder(compareLoose(v, c.args[0]))
	}
	return false
}

// evalOrder turns a three-way comparison of subject to argument into the
// operator's answer.
func (c *comparison) evalOrder(r int) bool {
	switch c.op {
	case opEq:
		return r == 0
	case opNe:
		return r != 0
	case opGt:
		return r > 0
	case opGe:
		return r >= 0
	case opLt:
		return r < 0
	case opLe:
		return r <= 0
	}
	return false
}

// valueEqual compares v with pattern, where "*" in pattern matches any run of
// characters.
func valueEqual(v, pattern string) bool {
	if !strings.Contains(pattern, "*") {
		return v == pattern
	}
	return globMatch(v, pattern)
}

// globMatch matches with "*" as the only wildcard, in linear time.
func globMatch(s, pattern string) bool {
	si, pi := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(pattern) && pattern[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(pattern) && pattern[pi] == s[si]:
			si++
			pi++
		case star >= 0:
			mark++
			si, pi = mark, star+1
		default:
			return false
		}
	}
	for pi < len(pattern) && pattern[pi] == '*' {
		pi++
	}
	return pi == len(pattern)
}

// compareLoose compares numerically when both sides parse as numbers, else
// as strings.
func compareLoose(a, b string) int {
	x, errA := strconv.ParseFloat(a, 64)
	y, errB := strconv.ParseFloat(b, 64)
	if errA == nil && errB == nil {
		return cmp.Compare(x, y)
	}
	return strings.Compare(a, b)
}

// compareVersions compares dotted versions, missing parts counting as 0.
func compareVersions(a, b []int) int {
	for i := range max(len(a), len(b)) {
		var x, y int
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if r := cmp.Compare(x, y); r != 0 {
			return r
		}
	}
	return 0
}
