package scheduler

import (
	"errors"
	"testing"
	"time"
)

// FuzzParseExpression checks that parsing never panics, that errors are
// *SyntaxError with a column inside the input, that the canonical form of a
// parsed expression parses back to itself, and that evaluation never panics.
func FuzzParseExpression(f *testing.F) {
	for _, seed := range []string{
		"attribute:ecs.instance-type == t2.small",
		"attribute:ecs.availability-zone in [us-east-1a, us-east-1b]",
		"attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d",
		"not(task:group == database)",
		"runningTasksCount == 1 || agentVersion < 1.14.5",
		"registeredAt < 2018-02-13 && agentConnected == false",
		"ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']",
		`attribute:a == "x \" y" and !(attribute:b !exists)`,
		"attribute:a =~ (x|y)[0-9]+",
		"((attribute:a exists))",
		"attribute:a not_in [x,y] or task:group matches svc.*",
		"", "(", ")", "[", "'", "!", "not", "a ==", "attribute:a in [", "attribute:a =~ '('",
	} {
		f.Add(seed)
	}
	inst := &Instance{
		ID: "i", EC2InstanceID: "i-1", AgentConnected: true, AgentVersion: "1.2.3",
		RegisteredAt: time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC),
		Attributes:   map[string]string{"a": "x", "b": "", "ecs.instance-type": "t2.small"},
		Tasks:        []TaskInfo{{Group: "database", Status: "RUNNING"}, {Group: "svc", Status: "PENDING"}},
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := ParseExpression(src)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v (%T) is not a *SyntaxError", err, err)
			}
			if se.Column < 1 || se.Column > len(src)+1 {
				t.Fatalf("column %d outside 1..%d for %q", se.Column, len(src)+1, src)
			}
			_ = err.Error()
			return
		}
		canon := e.String()
		again, err := ParseExpression(canon)
		if err != nil {
			t.Fatalf("canonical %q of %q does not parse: %v", canon, src, err)
		}
		if again.String() != canon {
			t.Fatalf("canonical form not stable: %q -> %q", canon, again.String())
		}
		if e.Match(inst) != again.Match(inst) || e.Match(&Instance{}) != again.Match(&Instance{}) {
			t.Fatalf("%q and its canonical form %q evaluate differently", src, canon)
		}
	})
}
