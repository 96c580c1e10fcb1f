package scheduler

import (
	"strings"

	"github.com/berth/berth/internal/ecs"
)

// Protocol indexes for per-protocol counters.
const (
	protoTCP = iota
	protoUDP
	numProtos
)

var protoNames = [numProtos]string{"tcp", "udp"}

type strategyKind uint8

const (
	binpackCPU strategyKind = iota + 1
	binpackMemory
	spreadInstance
	spreadAttribute
	random
)

type compiledStrategy struct {
	kind   strategyKind
	attr   string // spreadAttribute: attribute name
	bucket int    // spreadAttribute: index of its value counts
}

// compiledConstraint is distinctInstance, or a memberOf expression split
// into its top-level "and" conjuncts: those that do not look at task groups
// are evaluated once per instance, the others on every check (placements
// change task groups).
type compiledConstraint struct {
	distinct bool
	static   []node
	dynamic  []node
}

type requiredAttr struct {
	name, value string
	hasValue    bool
}

// plan is a validated Request in the shape Place works with.
type plan struct {
	count       int
	cpu, memory int64
	static      []Port         // protocols normalised
	staticIdx   []int          // protocol index per static port
	dynamic     []int          // protocol index per dynamic port
	dynNeed     [numProtos]int // dynamic ports per task, by protocol
	// staticInRange counts static ports inside the dynamic range, by
	// protocol: they use up dynamic slots when the task lands.
	staticInRange [numProtos]int
	lo, hi        int
	group         string
	required      []requiredAttr
	constraints   []compiledConstraint
	strategies    []compiledStrategy
	numBuckets    int // spread-attribute strategies
	// countsGroup: some constraint or strategy reads how many tasks of the
	// group each instance holds (distinctInstance, spread).
	countsGroup bool
}

func protoIndex(p string) (int, bool) {
	switch strings.ToLower(p) {
	case "", "tcp":
		return protoTCP, true
	case "udp":
		return protoUDP, true
	}
	return 0, false
}

// ValidatePlacement checks placement constraints and strategies as ECS does
// on RunTask, CreateService and UpdateService, and returns an
// InvalidParameterException-kind *ecs.Error naming the offending field.
func ValidatePlacement(constraints []Constraint, strategies []Strategy) error {
	_, err := compilePlacement(constraints, strategies)
	return err
}

func compilePlacement(constraints []Constraint, strategies []Strategy) (*plan, error) {
	pl := &plan{}
	if len(constraints) > MaxConstraints {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "placementConstraints can contain at most %d items, task definition constraints included (got %d).", MaxConstraints, len(constraints))
	}
	if len(strategies) > MaxStrategies {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "placementStrategy can contain at most %d items (got %d).", MaxStrategies, len(strategies))
	}
	for i, c := range constraints {
		switch c.Type {
		case ConstraintDistinctInstance:
			if c.Expression != "" {
				return nil, ecs.Errorf(ecs.ErrInvalidParameter, "distinctInstance expression should not be specified.")
			}
			pl.constraints = append(pl.constraints, compiledConstraint{distinct: true})
			pl.countsGroup = true
		case ConstraintMemberOf:
			if strings.TrimSpace(c.Expression) == "" {
				return nil, ecs.Errorf(ecs.ErrInvalidParameter, "placementConstraints[%d].expression must be specified for memberOf.", i)
			}
			if len(c.Expression) > MaxExpressionLength {
				return nil, ecs.Errorf(ecs.ErrInvalidParameter, "placementConstraints[%d].expression can be at most %d characters (got %d).", i, MaxExpressionLength, len(c.Expression))
			}
			expr, err := ParseExpression(c.Expression)
			if err != nil {
				return nil, ecs.Errorf(ecs.ErrInvalidParameter, "placementConstraints[%d].expression %q is invalid: %s.", i, c.Expression, err)
			}
			cc := compiledConstraint{}
			for _, n := range conjuncts(expr.root) {
				if n.usesTasks() {
					cc.dynamic = append(cc.dynamic, n)
				} else {
					cc.static = append(cc.static, n)
				}
			}
			pl.constraints = append(pl.constraints, cc)
		default:
			return nil, ecs.Errorf(ecs.ErrInvalidParameter, "placementConstraints[%d].type %q is not valid. Valid values: distinctInstance, memberOf.", i, c.Type)
		}
	}
	for i, s := range strategies {
		var cs compiledStrategy
		switch s.Type {
		case StrategyBinpack:
			switch strings.ToLower(s.Field) {
			case "cpu":
				cs.kind = binpackCPU
			case "memory":
				cs.kind = binpackMemory
			default:
				return nil, ecs.Errorf(ecs.ErrInvalidParameter, "placementStrategy[%d].field %q is not valid for binpack. Valid values: cpu, memory.", i, s.Field)
			}
		case StrategySpread:
			switch attr, isAttr := strings.CutPrefix(s.Field, "attribute:"); {
			case strings.EqualFold(s.Field, "instanceId") || strings.EqualFold(s.Field, "host"):
				cs.kind = spreadInstance
				pl.countsGroup = true
			case isAttr && validAttributeName(attr):
				cs.kind, cs.attr, cs.bucket = spreadAttribute, attr, pl.numBuckets
				pl.countsGroup = true
				pl.numBuckets++
			default:
				return nil, ecs.Errorf(ecs.ErrInvalidParameter, "placementStrategy[%d].field %q is not valid for spread. Valid values: instanceId, host, attribute:<attribute name>.", i, s.Field)
			}
		case StrategyRandom:
			if s.Field != "" {
				return nil, ecs.Errorf(ecs.ErrInvalidParameter, "placementStrategy[%d].field must not be set for random (got %q).", i, s.Field)
			}
			cs.kind = random
		default:
			return nil, ecs.Errorf(ecs.ErrInvalidParameter, "placementStrategy[%d].type %q is not valid. Valid values: random, spread, binpack.", i, s.Type)
		}
		pl.strategies = append(pl.strategies, cs)
	}
	return pl, nil
}

// compile validates req and turns it into a plan.
func compile(req Request) (*plan, error) {
	if req.Count < 0 {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "count must not be negative (got %d).", req.Count)
	}
	if req.CPU < 0 || req.Memory < 0 {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "cpu and memory must not be negative (got cpu %d, memory %d).", req.CPU, req.Memory)
	}
	strategies := req.Strategies
	if len(strategies) == 0 {
		strategies = DefaultRunTaskStrategies()
	}
	pl, err := compilePlacement(req.Constraints, strategies)
	if err != nil {
		return nil, err
	}
	pl.count, pl.cpu, pl.memory, pl.group = req.Count, req.CPU, req.Memory, req.Group

	pl.lo, pl.hi = req.DynamicPortRange[0], req.DynamicPortRange[1]
	if pl.lo == 0 && pl.hi == 0 {
		pl.lo, pl.hi = DefaultDynamicPortRange[0], DefaultDynamicPortRange[1]
	}
	if pl.lo < 1 || pl.hi > 65535 || pl.lo > pl.hi {
		return nil, ecs.Errorf(ecs.ErrInvalidParameter, "dynamic host port range %d-%d is not valid: it must lie within 1-65535, low end first.", pl.lo, pl.hi)
	}

	seen := make(map[Port]bool, len(req.StaticPorts))
	for i, p := range req.StaticPorts {
		pi, ok := protoIndex(p.Protocol)
		if !ok {
			return nil, ecs.Errorf(ecs.ErrInvalidParameter, "host port %d: protocol %q is not valid. Valid values: tcp, udp.", p.Number, p.Protocol)
		}
		if p.Number < 1 || p.Number > 65535 {
			return nil, ecs.Errorf(ecs.ErrInvalidParameter, "static host port %d (entry %d) is not between 1 and 65535.", p.Number, i)
		}
		np := Port{Number: p.Number, Protocol: protoNames[pi]}
		if seen[np] {
			return nil, ecs.Errorf(ecs.ErrInvalidParameter, "host port %d/%s is requested more than once.", np.Number, np.Protocol)
		}
		seen[np] = true
		pl.static = append(pl.static, np)
		pl.staticIdx = append(pl.staticIdx, pi)
		if np.Number >= pl.lo && np.Number <= pl.hi {
			pl.staticInRange[pi]++
		}
	}
	for _, proto := range req.DynamicPorts {
		pi, ok := protoIndex(proto)
		if !ok {
			return nil, ecs.Errorf(ecs.ErrInvalidParameter, "dynamic host port protocol %q is not valid. Valid values: tcp, udp.", proto)
		}
		pl.dynamic = append(pl.dynamic, pi)
		pl.dynNeed[pi]++
	}

	for i, a := range req.RequiredAttributes {
		name, value, hasValue := strings.Cut(a, "=")
		if name == "" {
			return nil, ecs.Errorf(ecs.ErrInvalidParameter, "requiresAttributes[%d] %q has no attribute name.", i, a)
		}
		pl.required = append(pl.required, requiredAttr{name: name, value: value, hasValue: hasValue})
	}
	return pl, nil
}

// conjuncts flattens the top-level "and" chain of n.
func conjuncts(n node) []node {
	if a, ok := n.(*andNode); ok {
		return append(conjuncts(a.l), conjuncts(a.r)...)
	}
	return []node{n}
}
