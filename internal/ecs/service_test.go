package ecs

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

func intp(v int) *int { return &v }

func TestNewDeploymentConfiguration(t *testing.T) {
	tests := []struct {
		name     string
		strategy SchedulingStrategy
		min, max *int
		cb       *DeploymentCircuitBreaker
		want     DeploymentConfiguration
		wantErr  string
	}{
		{name: "replica defaults", strategy: SchedulingReplica, want: DeploymentConfiguration{MinimumHealthyPercent: 100, MaximumPercent: 200}},
		{name: "daemon defaults", strategy: SchedulingDaemon, want: DeploymentConfiguration{MinimumHealthyPercent: 0, MaximumPercent: 100}},
		{name: "given values", strategy: SchedulingReplica, min: intp(50), max: intp(150), want: DeploymentConfiguration{MinimumHealthyPercent: 50, MaximumPercent: 150}},
		{name: "min 0 is kept", strategy: SchedulingReplica, min: intp(0), want: DeploymentConfiguration{MinimumHealthyPercent: 0, MaximumPercent: 200}},
		{name: "circuit breaker copied", strategy: SchedulingReplica, cb: &DeploymentCircuitBreaker{Enable: true, Rollback: true},
			want: DeploymentConfiguration{MinimumHealthyPercent: 100, MaximumPercent: 200, DeploymentCircuitBreaker: &DeploymentCircuitBreaker{Enable: true, Rollback: true}}},
		{name: "negative min", strategy: SchedulingReplica, min: intp(-1), wantErr: "deploymentConfiguration.minimumHealthyPercent must be between 0 and 100 (got -1)."},
		{name: "min above 100", strategy: SchedulingReplica, min: intp(101), max: intp(200), wantErr: "deploymentConfiguration.minimumHealthyPercent must be between 0 and 100 (got 101)."},
		{name: "max below 100", strategy: SchedulingReplica, max: intp(50), wantErr: "deploymentConfiguration.maximumPercent must be at least 100 (got 50)."},
		{name: "bad threshold type", strategy: SchedulingReplica, cb: &DeploymentCircuitBreaker{Enable: true, ThresholdConfiguration: &ThresholdConfiguration{Type: "SOME", Value: 3}},
			wantErr: `deploymentCircuitBreaker.thresholdConfiguration.type "SOME" is not valid. Valid values: COUNT, BOUNDED_PERCENT, UNBOUNDED_PERCENT.`},
		{name: "bad threshold value", strategy: SchedulingReplica, cb: &DeploymentCircuitBreaker{Enable: true, ThresholdConfiguration: &ThresholdConfiguration{Type: ThresholdCount, Value: 0}},
			wantErr: "deploymentCircuitBreaker.thresholdConfiguration.value must be at least 1 (got 0)."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NewDeploymentConfiguration(tt.strategy, tt.min, tt.max, tt.cb)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr || !errors.Is(err, ErrInvalidParameter) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
			if tt.cb != nil && got.DeploymentCircuitBreaker == tt.cb {
				t.Fatal("circuit breaker not copied")
			}
		})
	}
}

func TestFloorAndCeiling(t *testing.T) {
	// The examples of ECS's documentation, and the rounding at the edges.
	tests := []struct{ desired, min, max, floor, ceiling int }{
		{4, 50, 200, 2, 8},
		{2, 75, 200, 2, 4},  // 1.5 rounds up
		{3, 100, 125, 3, 3}, // 3.75 rounds down
		{3, 50, 150, 2, 4},
		{1, 0, 100, 0, 1},
		{10, 33, 133, 4, 13},
		{0, 100, 200, 0, 0},
	}
	for _, tt := range tests {
		c := DeploymentConfiguration{MinimumHealthyPercent: tt.min, MaximumPercent: tt.max}
		if f, ce := c.Floor(tt.desired), c.Ceiling(tt.desired); f != tt.floor || ce != tt.ceiling {
			t.Errorf("desired %d min %d max %d: floor %d ceiling %d, want %d %d", tt.desired, tt.min, tt.max, f, ce, tt.floor, tt.ceiling)
		}
	}
}

func TestCircuitBreakerThreshold(t *testing.T) {
	tests := []struct {
		tc      *ThresholdConfiguration
		desired int
		want    int
	}{
		{nil, 0, 3}, {nil, 1, 3}, {nil, 5, 3}, {nil, 6, 3}, {nil, 7, 4}, {nil, 25, 13},
		{nil, 399, 200}, {nil, 400, 200}, {nil, 800, 200},
		{&ThresholdConfiguration{Type: ThresholdBoundedPercent, Value: 10}, 100, 10},
		{&ThresholdConfiguration{Type: ThresholdBoundedPercent, Value: 10}, 10, 3},
		{&ThresholdConfiguration{Type: ThresholdUnboundedPercent, Value: 50}, 800, 400},
		{&ThresholdConfiguration{Type: ThresholdUnboundedPercent, Value: 10}, 1, 1},
		{&ThresholdConfiguration{Type: ThresholdCount, Value: 7}, 1000, 7},
	}
	for _, tt := range tests {
		cb := DeploymentCircuitBreaker{Enable: true, ThresholdConfiguration: tt.tc}
		if got := cb.Threshold(tt.desired); got != tt.want {
			t.Errorf("%+v desired %d: threshold %d, want %d", tt.tc, tt.desired, got, tt.want)
		}
	}
	no := false
	if (&DeploymentCircuitBreaker{}).ResetsOnHealthyTask() != true || (&DeploymentCircuitBreaker{ResetOnHealthyTask: &no}).ResetsOnHealthyTask() {
		t.Error("resetOnHealthyTask default is true")
	}
}

func TestDeploymentID(t *testing.T) {
	if got := FormatDeploymentID(3625060107450266417); got != "ecs-svc/3625060107450266417" {
		t.Errorf("FormatDeploymentID = %q", got)
	}
	if got := FormatDeploymentID(42); got != "ecs-svc/0000000000000000042" {
		t.Errorf("FormatDeploymentID(42) = %q", got)
	}
	if got := FormatDeploymentID(1<<64 - 1); !ValidDeploymentID(got) || len(got) != len("ecs-svc/")+19 {
		t.Errorf("FormatDeploymentID(max) = %q", got)
	}
	for id, want := range map[string]bool{
		"ecs-svc/0205655736282798388": true, "ecs-svc/1": true, "ecs-svc/": false, "ecs-svc/12a": false,
		"svc/123": false, "ecs-svc/12345678901234567890": false, "": false,
	} {
		if ValidDeploymentID(id) != want {
			t.Errorf("ValidDeploymentID(%q) = %v", id, !want)
		}
	}
	if RolloutReasonInProgress("ecs-svc/1") != "ECS deployment ecs-svc/1 in progress." || RolloutReasonCompleted("ecs-svc/1") != "ECS deployment ecs-svc/1 completed." {
		t.Error("rollout reasons")
	}
	if StoppedReasonScaling("ecs-svc/1") != "Scaling activity initiated by (deployment ecs-svc/1)" {
		t.Error("scaling reason")
	}
}

func TestAddServiceEvents(t *testing.T) {
	ev := func(i int) ServiceEvent { return ServiceEvent{ID: fmt.Sprint(i), Message: fmt.Sprint("m", i)} }
	events := AddServiceEvents(nil, ev(1), ev(2))
	events = AddServiceEvents(events, ev(3))
	if ids := []string{events[0].ID, events[1].ID, events[2].ID}; !reflect.DeepEqual(ids, []string{"3", "2", "1"}) {
		t.Fatalf("order %v, want newest first", ids)
	}
	var many []ServiceEvent
	for i := range 150 {
		many = append(many, ev(i))
	}
	events = AddServiceEvents(events, many...)
	if len(events) != MaxServiceEvents || events[0].ID != "149" || events[99].ID != "50" {
		t.Fatalf("kept %d events, newest %s, oldest %s", len(events), events[0].ID, events[len(events)-1].ID)
	}
}

func TestServiceHelpers(t *testing.T) {
	no := false
	hc := &HealthCheck{Command: []string{"CMD", "true"}}
	for _, tt := range []struct {
		def  TaskDefinition
		want bool
	}{
		{TaskDefinition{ContainerDefinitions: []ContainerDefinition{{Name: "a"}}}, false},
		{TaskDefinition{ContainerDefinitions: []ContainerDefinition{{Name: "a", HealthCheck: hc}}}, true},
		{TaskDefinition{ContainerDefinitions: []ContainerDefinition{{Name: "a"}, {Name: "side", Essential: &no, HealthCheck: hc}}}, false},
	} {
		if got := tt.def.HasHealthCheck(); got != tt.want {
			t.Errorf("HasHealthCheck = %v, want %v", got, tt.want)
		}
	}
	s := Service{Name: "web", HealthCheckGracePeriodSeconds: 30, Deployments: []Deployment{{ID: "a", Status: DeploymentActive}, {ID: "b", Status: DeploymentPrimary}}}
	if s.Primary().ID != "b" || s.Group() != "service:web" || s.HealthCheckGracePeriod() != 30*time.Second {
		t.Error("service helpers")
	}

	// Records survive JSON (the store's encoding), bookkeeping included.
	s.Deployments[1].Failures = DeploymentFailures{CircuitBreaker: 2, Consecutive: 1, LastAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Counted: []string{"t1"}}
	s.DeploymentConfiguration = DeploymentConfiguration{MinimumHealthyPercent: 0, MaximumPercent: 200, DeploymentCircuitBreaker: &DeploymentCircuitBreaker{Enable: true}}
	s.CreatedAt = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Service
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, s) {
		t.Fatalf("round trip: %v\n%+v\n%+v", err, back, s)
	}
}
