package e2e

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// `berth bench scale`, small: a real `berth server` child and simulated
// instances that speak the agent protocol. Whatever the throughput on a
// busy CI machine, every task must reach RUNNING, the service's
// deployment must complete, and every instance's remaining memory must
// match the tasks placed on it (no overbooking, nothing lost).
func TestBenchScaleSmall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, berthBin, "bench", "scale", "--instances", "30", "--service-tasks", "300",
		"--run-tasks", "60", "--run-task-clients", "8", "--timeout", "90s").CombinedOutput()
	text := string(out)
	if err != nil && !strings.Contains(text, "missed a target") {
		t.Fatalf("berth bench scale: %v\n%s", err, text)
	}
	for _, want := range []string{
		"30 (connected in",
		"300 tasks in", "60 tasks in", "COMPLETED=true",
		"every instance's load matches its tasks",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if !regexp.MustCompile(`service: running at end / deployment\s+300\s`).MatchString(text) {
		t.Errorf("the service does not end with 300 running:\n%s", text)
	}
	t.Logf("\n%s", text)
}
