package arn

import "testing"

func TestNamer(t *testing.T) {
	n := Namer{Region: "us-east-1", Account: "123456789012"}
	tests := []struct{ got, want string }{
		{n.Cluster("demo"), "arn:aws:ecs:us-east-1:123456789012:cluster/demo"},
		{n.TaskDefinition("web", 3), "arn:aws:ecs:us-east-1:123456789012:task-definition/web:3"},
		{n.Task("demo", "abc"), "arn:aws:ecs:us-east-1:123456789012:task/demo/abc"},
		{n.Service("demo", "svc"), "arn:aws:ecs:us-east-1:123456789012:service/demo/svc"},
		{n.ContainerInstance("demo", "i1"), "arn:aws:ecs:us-east-1:123456789012:container-instance/demo/i1"},
		{n.CapacityProvider("FARGATE"), "arn:aws:ecs:us-east-1:123456789012:capacity-provider/FARGATE"},
		{n.Container("demo", "t", "c"), "arn:aws:ecs:us-east-1:123456789012:container/demo/t/c"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
		a, err := Parse(tt.got)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.got, err)
		}
		if a.String() != tt.got {
			t.Errorf("round trip %q -> %q", tt.got, a.String())
		}
	}
}

func TestParseInvalid(t *testing.T) {
	for _, s := range []string{"", "arn", "arn:aws:ecs:r:a", "arn:aws:ecs:r:a:cluster", "arn:aws:ecs:r:a:cluster/",
		"arn:aws:ecs:r:a:/x", "arn::ecs:r:a:cluster/x", "arn:aws:ecs:r:a:task/c//id", "notarn:aws:ecs:r:a:cluster/x"} {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) succeeded", s)
		}
	}
}

func TestClusterName(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"demo", "demo", true},
		{"arn:aws:ecs:us-east-1:123456789012:cluster/demo", "demo", true},
		{"arn:aws:ecs:us-east-1:123456789012:service/demo/x", "", false},
		{"arn:aws:s3:us-east-1:123456789012:cluster/demo", "", false},
		{"arn:bad", "", false},
	}
	for _, tt := range tests {
		got, ok := ClusterName(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ClusterName(%q) = %q,%v want %q,%v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseTaskDefinitionRef(t *testing.T) {
	tests := []struct {
		in      string
		fam     string
		rev     int
		wantErr bool
	}{
		{"web", "web", 0, false},
		{"web:3", "web", 3, false},
		{"arn:aws:ecs:us-east-1:123456789012:task-definition/web:7", "web", 7, false},
		{"arn:aws:ecs:us-east-1:123456789012:task-definition/web", "", 0, true},
		{"web:0", "", 0, true},
		{"web:x", "", 0, true},
		{":3", "", 0, true},
		{"", "", 0, true},
		{"arn:aws:ecs:us-east-1:123456789012:cluster/web", "", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseTaskDefinitionRef(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseTaskDefinitionRef(%q) err=%v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil && (got.Family != tt.fam || got.Revision != tt.rev) {
			t.Errorf("ParseTaskDefinitionRef(%q) = %+v", tt.in, got)
		}
	}
}

func TestContainerInstanceID(t *testing.T) {
	n := Namer{Region: "us-east-1", Account: "000000000000"}
	tests := []struct {
		ref, id string
		ok      bool
	}{
		{"abc", "abc", true},
		{"", "", false},
		{"a/b", "a/b", false},
		{"arn:aws:ecs:us-east-1:000000000000:container-instance/c/abc", "abc", true},
		{"arn:aws:ecs:us-east-1:000000000000:container-instance/abc", "abc", true},
		{"arn:aws:ecs:us-east-1:000000000000:container-instance/other/abc", "abc", false},
		{"arn:aws:ecs:eu-west-1:000000000000:container-instance/c/abc", "", false},
		{"arn:aws:ecs:us-east-1:111111111111:container-instance/c/abc", "", false},
		{"arn:aws:ecs:us-east-1:000000000000:task/c/abc", "", false},
		{"arn:aws:ecs:us-east-1:000000000000:container-instance/c/", "", false},
	}
	for _, tt := range tests {
		id, ok := n.ContainerInstanceID("c", tt.ref)
		if ok != tt.ok || (ok && id != tt.id) {
			t.Errorf("ContainerInstanceID(%q) = %q, %v; want %q, %v", tt.ref, id, ok, tt.id, tt.ok)
		}
	}
}
