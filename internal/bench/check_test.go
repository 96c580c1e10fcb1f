package bench

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

const testARN = "arn:aws:ecs:us-east-1:000000000000:task-definition/"

func TestCheckTaskDefARN(t *testing.T) {
	tests := []struct {
		name    string
		arn     string
		family  string
		rev     int
		wantErr string // "" means accepted
	}{
		{"exact revision", testARN + "web:3", "web", 3, ""},
		{"any revision", testARN + "web:17", "web", 0, ""},
		{"other partition", "arn:aws-cn:ecs:cn-north-1:1:task-definition/web:1", "web", 1, ""},
		{"family with dashes", testARN + "bench-07:2", "bench-07", 2, ""},
		{"wrong revision", testARN + "web:4", "web", 3, "not of revision 3"},
		{"wrong family", testARN + "web2:3", "web", 3, "not of family"},
		{"family is a prefix", testARN + "web:3", "we", 3, "not of family"},
		{"no revision", testARN + "web", "web", 0, "not of family"},
		{"empty revision", testARN + "web:", "web", 0, "no valid revision"},
		{"revision zero", testARN + "web:0", "web", 0, "no valid revision"},
		{"signed revision", testARN + "web:+3", "web", 3, "no valid revision"},
		{"revision not a number", testARN + "web:x", "web", 0, "no valid revision"},
		{"revision with suffix", testARN + "web:3:4", "web", 3, "no valid revision"},
		{"not an ARN", "web:3", "web", 3, "not a task-definition ARN"},
		{"other resource", "arn:aws:ecs:us-east-1:0:cluster/web:3", "web", 3, "not a task-definition ARN"},
		{"empty", "", "web", 0, "not a task-definition ARN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkTaskDefARN(tt.arn, tt.family, tt.rev)
			checkErr(t, err, tt.wantErr)
		})
	}
}

// checkErr fails unless err is nil when want is "", or mentions want.
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Fatalf("error = %v, want one about %q", err, want)
	}
}

func TestCheckListed(t *testing.T) {
	arns := []struct {
		arn string
		ok  bool
	}{
		{testARN + "web:1", true},
		{"arn:aws:ecs:r:a:cluster/web", false},
		{"task-definition/web:1", false},
		{"", false},
	}
	for _, a := range arns {
		if err := checkListedARN([]byte(a.arn)); (err == nil) != a.ok {
			t.Errorf("checkListedARN(%q) = %v", a.arn, err)
		}
	}
	counts := []struct {
		n, atLeast int
		ok         bool
	}{
		{100, 100, true},
		{50, 50, true},
		{100, 50, true},
		{49, 50, false},
		{0, 1, false},
		{101, 1, false},
	}
	for _, c := range counts {
		if err := checkListCount(c.n, c.atLeast); (err == nil) != c.ok {
			t.Errorf("checkListCount(%d, %d) = %v", c.n, c.atLeast, err)
		}
	}
	for _, c := range []struct{ families, revisions, want int }{{20, 10, 100}, {3, 4, 12}, {1, 100, 100}} {
		if got := minListed(Config{Families: c.families, Revisions: c.revisions}); got != c.want {
			t.Errorf("minListed(%d × %d) = %d, want %d", c.families, c.revisions, got, c.want)
		}
	}
}

func TestStringField(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		want    string
		wantErr string
	}{
		{"compact", `{"taskDefinition":{"taskDefinitionArn":"arn:x","family":"web"}}`, "arn:x", ""},
		{"spaced", "{ \"taskDefinitionArn\" :\n\t \"arn:x\" }", "arn:x", ""},
		{"escaped value is unescaped", `{"taskDefinitionArn":"a\"b\\c\u00e9"}`, `a"b\cé`, ""},
		{"escape at the end", `{"taskDefinitionArn":"ab\\"}`, `ab\`, ""},
		{"empty value", `{"taskDefinitionArn":""}`, "", ""},
		{"key as a value is skipped", `{"name":"taskDefinitionArn","taskDefinitionArn":"arn:y"}`, "arn:y", ""},
		{"key inside a string is skipped", `{"note":"\"taskDefinitionArn\":\"fake\"","taskDefinitionArn":"arn:z"}`, "arn:z", ""},
		{"member name ending in the key is skipped", `{"x\"taskDefinitionArn":"fake","taskDefinitionArn":"arn:w"}`, "arn:w", ""},
		{"longer key is not the key", `{"taskDefinitionArns":["a"]}`, "", "field not found"},
		{"absent", `{"family":"web"}`, "", "field not found"},
		{"not a string", `{"taskDefinitionArn":3}`, "", "no string"},
		{"null", `{"taskDefinitionArn":null}`, "", "no string"},
		{"unterminated", `{"taskDefinitionArn":"arn:x`, "", "unterminated"},
		{"unterminated after an escaped quote", `{"taskDefinitionArn":"arn\"`, "", "unterminated"},
		{"truncated after the colon", `{"taskDefinitionArn":`, "", "no string"},
		{"bad escape", `{"taskDefinitionArn":"a\qb"}`, "", "invalid character"},
		{"empty document", ``, "", "field not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := stringField([]byte(tt.doc), "taskDefinitionArn")
			checkErr(t, err, tt.wantErr)
			if tt.wantErr == "" && string(got) != tt.want {
				t.Fatalf("stringField = %q, want %q", got, tt.want)
			}
			if tt.wantErr == "field not found" && !errors.Is(err, errNoField) {
				t.Fatalf("error %v is not errNoField", err)
			}
		})
	}
}

func TestEachString(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		want    []string
		wantErr string
	}{
		{"two", `{"taskDefinitionArns":["a","b"],"nextToken":"t"}`, []string{"a", "b"}, ""},
		{"empty", `{"taskDefinitionArns":[]}`, nil, ""},
		{"spaced", "{\"taskDefinitionArns\" : [ \"a\" ,\n \"b\" ] }", []string{"a", "b"}, ""},
		{"escaped element", `{"taskDefinitionArns":["a\",b"]}`, []string{`a",b`}, ""},
		{"after another array", `{"families":["taskDefinitionArns"],"taskDefinitionArns":["x"]}`, []string{"x"}, ""},
		{"absent", `{"families":["a"]}`, nil, "field not found"},
		{"not an array", `{"taskDefinitionArns":"a"}`, nil, "not an array"},
		{"null", `{"taskDefinitionArns":null}`, nil, "not an array"},
		{"number element", `{"taskDefinitionArns":["a",1]}`, []string{"a"}, "no string"},
		{"missing comma", `{"taskDefinitionArns":["a" "b"]}`, []string{"a"}, "unexpected"},
		{"trailing comma", `{"taskDefinitionArns":["a",]}`, []string{"a"}, "no string"},
		{"unterminated", `{"taskDefinitionArns":["a"`, []string{"a"}, "unterminated array"},
		{"visit fails", `{"taskDefinitionArns":["a","stop","c"]}`, []string{"a", "stop"}, "stop here"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			n, err := eachString([]byte(tt.doc), "taskDefinitionArns", func(s []byte) error {
				got = append(got, string(s))
				if string(s) == "stop" {
					return errors.New("stop here")
				}
				return nil
			})
			checkErr(t, err, tt.wantErr)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("visited %q, want %q", got, tt.want)
			}
			if tt.wantErr == "" && n != len(tt.want) {
				t.Fatalf("count %d, want %d", n, len(tt.want))
			}
		})
	}
}

func TestAnswerError(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"aws error", 400, `{"__type":"ClientException","message":"Unable to describe task definition."}`,
			"HTTP 400: ClientException: Unable to describe task definition."},
		{"not json", 502, "bad gateway", `HTTP 502: "bad gateway"`},
		{"json without a type", 500, `{"message":"x"}`, `HTTP 500: "{\"message\":\"x\"}"`},
		{"long body is cut", 500, strings.Repeat("x", 300), `HTTP 500: "` + strings.Repeat("x", 200) + `..."`},
		{"empty", 503, "", `HTTP 503: ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := answerError(tt.status, []byte(tt.body)).Error(); got != tt.want {
				t.Fatalf("answerError = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCPUPerRequest(t *testing.T) {
	tests := []struct {
		name      string
		rep       Report
		self, srv time.Duration
	}{
		{"no requests", Report{CPU: time.Second}, 0, 0},
		{"split", Report{CPU: time.Second, ServerCPU: 3 * time.Second,
			Ops: []OpReport{{Count: 1000}, {Count: 3000}}}, 250 * time.Microsecond, 750 * time.Microsecond},
		{"unknown cpu", Report{Ops: []OpReport{{Count: 10}}}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.rep.CPUPerRequest(); got != tt.self {
				t.Errorf("CPUPerRequest = %v, want %v", got, tt.self)
			}
			if got := tt.rep.ServerCPUPerRequest(); got != tt.srv {
				t.Errorf("ServerCPUPerRequest = %v, want %v", got, tt.srv)
			}
		})
	}
}
