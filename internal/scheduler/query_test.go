package scheduler

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseExpressionCanonical(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		// Documented ECS examples.
		{"attribute:ecs.instance-type == t2.small", "attribute:ecs.instance-type == t2.small"},
		{"attribute:ecs.availability-zone in [us-east-1a, us-east-1b]", "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]"},
		{"attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d",
			"(attribute:ecs.instance-type =~ g2.* && attribute:ecs.availability-zone != us-east-1d)"},
		{"task:group == service:production", "task:group == service:production"},
		{"not(task:group == database)", "!(task:group == database)"},
		{"runningTasksCount == 1", "runningTasksCount == 1"},
		{"agentVersion < 1.14.5", "agentVersion < 1.14.5"},
		{"registeredAt < 2018-02-13", "registeredAt < 2018-02-13"},
		{"ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']", "ec2InstanceId in [i-abcd1234, i-wxyx7890]"},
		// Word operators and their case-insensitivity.
		{"attribute:a equals x", "attribute:a == x"},
		{"attribute:a NOT_EQUALS x", "attribute:a != x"},
		{"attribute:a greater_than 3", "attribute:a > 3"},
		{"attribute:a greater_than_equal 3", "attribute:a >= 3"},
		{"attribute:a less_than 3", "attribute:a < 3"},
		{"attribute:a less_than_equal 3", "attribute:a <= 3"},
		{"attribute:a exists", "attribute:a exists"},
		{"attribute:a not_exists", "attribute:a !exists"},
		{"attribute:a !exists", "attribute:a !exists"},
		{"attribute:a not_in [x]", "attribute:a !in [x]"},
		{"attribute:a !in [x,y]", "attribute:a !in [x, y]"},
		{"attribute:a matches x.*", "attribute:a =~ x.*"},
		{"attribute:a not_matches x.*", "attribute:a !~ x.*"},
		{"attribute:a !~ x", "attribute:a !~ x"},
		// No spaces, symbolic boolean operators, precedence (and binds tighter).
		{"attribute:a==x&&attribute:b==y||attribute:c==z", "((attribute:a == x && attribute:b == y) || attribute:c == z)"},
		{"attribute:a==x || attribute:b==y && attribute:c==z", "(attribute:a == x || (attribute:b == y && attribute:c == z))"},
		{"(attribute:a==x || attribute:b==y) AND attribute:c==z", "((attribute:a == x || attribute:b == y) && attribute:c == z)"},
		{"!attribute:a exists", "!(attribute:a exists)"},
		{"not not attribute:a exists", "!(!(attribute:a exists))"},
		{"!(attribute:a == b)or(attribute:c == d)", "(!(attribute:a == b) || attribute:c == d)"},
		// Values: quotes, escapes, regex parentheses, brackets, spaces.
		{`attribute:desc == "hello world"`, `attribute:desc == 'hello world'`},
		{`attribute:desc == 'it\'s'`, `attribute:desc == 'it\'s'`},
		{`attribute:p == 'C:\dir'`, `attribute:p == 'C:\\dir'`},
		{`attribute:a == ''`, `attribute:a == ''`},
		{"attribute:a =~ (x|y)[0-9]+", "attribute:a =~ '(x|y)[0-9]+'"},
		{"(attribute:a =~ (x|y))", "attribute:a =~ '(x|y)'"},
		{"attribute:a in [ 'a b' , c ]", "attribute:a in ['a b', c]"},
		{"agentConnected == TRUE", "agentConnected == true"},
		{"agentConnected in [true, False]", "agentConnected in [true, false]"},
		{"registeredAt >= 2018-06-18T22:28:28+00:00", "registeredAt >= 2018-06-18T22:28:28+00:00"},
		{"registeredAt > 2018-06-18T22:28:28Z", "registeredAt > 2018-06-18T22:28:28Z"},
		{"registeredAt <= '2018-06-18T22:28:28'", "registeredAt <= 2018-06-18T22:28:28"},
		{"task:group exists", "task:group exists"},
		{"  attribute:a   ==   b  ", "attribute:a == b"},
	}
	for _, tt := range tests {
		e, err := ParseExpression(tt.in)
		if err != nil {
			t.Errorf("ParseExpression(%q): %v", tt.in, err)
			continue
		}
		if got := e.String(); got != tt.want {
			t.Errorf("ParseExpression(%q).String() = %q, want %q", tt.in, got, tt.want)
		}
		again, err := ParseExpression(e.String())
		if err != nil || again.String() != e.String() {
			t.Errorf("canonical %q does not parse back to itself: %v", e.String(), err)
		}
	}
}

func TestParseExpressionErrors(t *testing.T) {
	tests := []struct {
		in     string
		column int
		near   string
		msg    string // substring of the message
	}{
		{"", 1, "", "expected an expression"},
		{"   ", 4, "", "expected an expression"},
		{"foo == bar", 1, "foo", "unknown subject \"foo\""},
		{"attribute: == x", 1, "attribute:", "unknown subject"},
		{"attribute:a=b == x", 12, "=", "expected an operator"},
		{"attribute:a", 12, "", "expected an operator after \"attribute:a\""},
		{"attribute:a = x", 13, "=", "expected an operator"},
		{"attribute:a like x", 13, "like", "expected an operator"},
		{"attribute:a !inx [a]", 13, "!", "expected an operator"},
		{"attribute:a ==", 15, "", "expected a value"},
		{"attribute:a == x y", 18, "y", "expected \"and\", \"or\" or end of expression"},
		{"attribute:a == x &&", 20, "", "expected a subject"},
		{"attribute:a == x and or attribute:b == y", 22, "or", "unknown subject \"or\""},
		{"(attribute:a == x", 18, "", "expected \")\" to close the \"(\" at column 1"},
		{"attribute:a == x)", 17, ")", "expected \"and\", \"or\" or end"},
		{"()", 2, ")", "expected a subject"},
		{"attribute:a in x", 16, "x", "expected \"[\""},
		{"attribute:a in [x", 18, "", "expected \",\" or \"]\" to close the \"[\" at column 16"},
		{"attribute:a in [x,]", 19, "]", "expected a value"},
		{"attribute:a in [x y]", 19, "y", "expected \",\" or \"]\""},
		{"attribute:a == 'x", 16, "'", "unterminated quoted value"},
		{"attribute:a == (x", 16, "(", "unbalanced"},
		{"attribute:a =~ x[", 16, "x", "unbalanced"},
		{"attribute:a =~ 'a(b'", 13, "=~", "invalid regular expression"},
		{"attribute:a =~ '(?=x)'", 13, "=~", "invalid regular expression"},
		{"agentConnected == yes", 16, "==", "is not true or false"},
		{"agentConnected > true", 16, ">", "operator > is not valid for agentConnected"},
		{"agentVersion in [1.0]", 14, "in", "operator in is not valid for agentVersion"},
		{"agentVersion < one", 14, "<", "is not a version"},
		{"registeredAt < yesterday", 14, "<", "is not a date"},
		{"registeredAt exists", 14, "exists", "operator exists is not valid for registeredAt"},
		{"runningTasksCount == -1", 19, "==", "is not a non-negative integer"},
		{"runningTasksCount =~ 1", 19, "=~", "operator =~ is not valid for runningTasksCount"},
		{"ec2InstanceId >= i-1", 15, ">=", "operator >= is not valid for ec2InstanceId"},
		{"task:group < x", 12, "<", "operator < is not valid for task:group"},
		{"not", 4, "", "expected a subject"},
		{"!= x", 2, "=", "expected a subject"},
		{strings.Repeat("(", 101) + "attribute:a exists" + strings.Repeat(")", 101), 101, "(", "nests more than 100 levels"},
		{strings.Repeat("!", 101) + "attribute:a exists", 101, "!", "nests more than 100 levels"},
	}
	for _, tt := range tests {
		_, err := ParseExpression(tt.in)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("ParseExpression(%q) error = %v, want a *SyntaxError", tt.in, err)
			continue
		}
		if se.Column != tt.column || se.Near != tt.near || !strings.Contains(se.Msg, tt.msg) {
			t.Errorf("ParseExpression(%q) = column %d near %q msg %q; want column %d near %q msg containing %q",
				tt.in, se.Column, se.Near, se.Msg, tt.column, tt.near, tt.msg)
		}
		// The message itself names the position and, when there is one, the token.
		if msg := err.Error(); !strings.Contains(msg, "column") || tt.near != "" && !strings.Contains(msg, tt.near) {
			t.Errorf("error message %q does not name the position and token", msg)
		}
	}
}

func TestExpressionMatch(t *testing.T) {
	reg := time.Date(2018, 6, 18, 22, 28, 28, 0, time.UTC)
	inst := &Instance{
		ID: "i1", EC2InstanceID: "i-abcd1234", AgentConnected: true, AgentVersion: "1.14.5",
		RegisteredAt: reg,
		Attributes: map[string]string{
			"ecs.instance-type":          "t2.small",
			"ecs.availability-zone":      "us-east-1a",
			"stack":                      "prod",
			"slots":                      "8",
			"ecs.capability.secrets.ssm": "",
		},
		Tasks: []TaskInfo{
			{Group: "service:web", Status: "RUNNING"},
			{Group: "family:batch", Status: "PENDING"},
			{Group: "database", Status: "STOPPED"},
		},
	}
	bare := &Instance{ID: "i2"} // nothing set: no attributes, tasks, versions

	tests := []struct {
		expr       string
		want, bare bool
	}{
		{"attribute:ecs.instance-type == t2.small", true, false},
		{"attribute:ecs.instance-type == t2.*", true, false},
		{"attribute:ecs.instance-type == *.small", true, false},
		{"attribute:ecs.instance-type == t3.*", false, false},
		{"attribute:ecs.instance-type != t3.small", true, false},
		{"attribute:stack != prod", false, false},
		{"attribute:stack != dev", true, false}, // absent attribute: != is false, as ECS lists
		{"not(attribute:stack == dev)", true, true},
		{"attribute:ecs.availability-zone in [us-east-1a, us-east-1b]", true, false},
		{"attribute:ecs.availability-zone in [us-east-1*]", true, false},
		{"attribute:ecs.availability-zone !in [us-east-1b]", true, false},
		{"attribute:ecs.availability-zone !in [us-east-1a]", false, false},
		{"attribute:ecs.instance-type =~ t2.*", true, false},
		{"attribute:ecs.instance-type =~ t2", false, false}, // whole-value match
		{"attribute:ecs.instance-type !~ g2.*", true, false},
		{"attribute:ecs.capability.secrets.ssm exists", true, false},
		{"attribute:ecs.capability.secrets.ssm == ''", true, false},
		{"attribute:missing exists", false, false},
		{"attribute:missing !exists", true, true},
		{"attribute:slots > 10", false, false}, // numeric, not "8" > "10" as strings
		{"attribute:slots >= 8", true, false},
		{"attribute:slots < 10", true, false},
		{"attribute:stack > prn", true, false}, // strings compare as strings
		{"attribute:stack <= prod", true, false},
		{"agentConnected == true", true, false},
		{"agentConnected != true", false, true},
		{"agentConnected in [false]", false, true},
		{"agentConnected =~ t.*", true, false},
		{"ec2InstanceId == i-abcd1234", true, false},
		{"ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']", true, false},
		{"ec2InstanceId != i-other", true, false},
		{"ec2InstanceId =~ i-[a-z0-9]{8}", true, false},
		{"agentVersion < 1.14.5", false, false},
		{"agentVersion <= 1.14.5", true, false},
		{"agentVersion == 1.14.5.0", true, false},
		{"agentVersion > 1.9.99", true, false}, // 14 > 9 numerically
		{"agentVersion >= 1.15", false, false},
		{"agentVersion != 1.2", true, false},
		{"registeredAt < 2018-02-13", false, false},
		{"registeredAt > 2018-06-18", true, false},
		{"registeredAt == 2018-06-18T22:28:28Z", true, false},
		{"registeredAt == 2018-06-19T00:28:28+02:00", true, false},
		{"registeredAt >= 2018-06-18T22:28:28", true, false},
		{"registeredAt < 2018-06-18T22:28:29+00:00", true, false},
		{"runningTasksCount == 1", true, false}, // PENDING and STOPPED do not count
		{"runningTasksCount == 0", false, true},
		{"runningTasksCount >= 1", true, false},
		{"runningTasksCount < 1", false, true},
		{"task:group == service:web", true, false},
		{"task:group == family:batch", true, false},
		{"task:group == database", false, false}, // its task is STOPPED
		{"task:group == service:*", true, false},
		{"task:group in [database, family:batch]", true, false},
		{"task:group =~ service:.*", true, false},
		{"task:group != database", true, false},
		{"task:group != service:web", false, false},
		{"task:group !in [service:web, x]", false, false},
		{"task:group !~ family:.*", false, false},
		{"task:group exists", true, false},
		{"task:group !exists", false, true},
		{"not(task:group == database)", true, true},
		{"attribute:stack == prod and agentConnected == true", true, false},
		{"attribute:stack == dev or runningTasksCount == 0", false, true},
		{"attribute:stack == dev || attribute:slots == 8 && task:group exists", true, false},
		{"(attribute:stack == dev || attribute:slots == 8) && task:group !exists", false, false},
		{"!attribute:stack exists", false, true},
	}
	for _, tt := range tests {
		e, err := ParseExpression(tt.expr)
		if err != nil {
			t.Errorf("ParseExpression(%q): %v", tt.expr, err)
			continue
		}
		if got := e.Match(inst); got != tt.want {
			t.Errorf("%q on instance = %v, want %v", tt.expr, got, tt.want)
		}
		if got := e.Match(bare); got != tt.bare {
			t.Errorf("%q on bare instance = %v, want %v", tt.expr, got, tt.bare)
		}
	}
}

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		s, pattern string
		want       bool
	}{
		{"t2.small", "t2.*", true},
		{"t2.small", "*", true},
		{"", "*", true},
		{"", "", true},
		{"abc", "a*c", true},
		{"abbbc", "a*b*c", true},
		{"abc", "a*d", false},
		{"abcabd", "*abd", true},
		{"ab", "a**b", true},
		{"a", "a*b", false},
	}
	for _, tt := range tests {
		if got := globMatch(tt.s, tt.pattern); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tt.s, tt.pattern, got, tt.want)
		}
	}
}

func TestExpressionUsesTasks(t *testing.T) {
	for expr, want := range map[string]bool{
		"attribute:a exists":                         false,
		"runningTasksCount > 1":                      false, // RUNNING only: placements are PENDING
		"not(task:group == db)":                      true,
		"attribute:a exists or task:group exists":    true,
		"attribute:a exists and agentVersion > 1.20": false,
	} {
		e, err := ParseExpression(expr)
		if err != nil {
			t.Fatalf("ParseExpression(%q): %v", expr, err)
		}
		if got := e.usesTasks(); got != want {
			t.Errorf("%q usesTasks = %v, want %v", expr, got, want)
		}
	}
}
