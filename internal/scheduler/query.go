package scheduler

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The ECS cluster query language:
//
//	expr       = or
//	or         = and { ("||" | "or") and }
//	and        = unary { ("&&" | "and") unary }
//	unary      = ("!" | "not") unary | "(" expr ")" | comparison
//	comparison = subject operator [argument]
//	argument   = value | "[" value { "," value } "]"      (lists for in / !in)
//	value      = bare | "'" chars "'" | '"' chars '"'
//
// Subjects: attribute:<name>, agentConnected, agentVersion, ec2InstanceId,
// registeredAt, runningTasksCount, task:group. Operators, with their word
// aliases: == equals, != not_equals, > greater_than, >= greater_than_equal,
// < less_than, <= less_than_equal, exists, !exists not_exists, in,
// !in not_in, =~ matches, !~ not_matches. Word operators and and/or/not are
// case-insensitive; subjects are not.
//
// A bare value runs to whitespace, to a ")" that closes nothing, to "&&" or
// "||", and inside a list to "," or "]"; parentheses and brackets inside it
// must balance (so regular expressions like (a|b).* need no quotes). Quoted
// values may contain anything; inside them \' \" and \\ are escapes and any
// other backslash is literal.

// maxNesting bounds parentheses and negations so hostile input cannot make
// the recursive parser dig arbitrarily deep.
const maxNesting = 100

// Expression is a parsed cluster query language expression.
type Expression struct {
	root node
}

// SyntaxError is a cluster query language parse error. Column is 1-based
// (bytes); Near is the offending token ("" at the end of the expression).
type SyntaxError struct {
	Column int
	Near   string
	Msg    string
}

func (e *SyntaxError) Error() string {
	if e.Near == "" {
		return fmt.Sprintf("%s at end of expression (column %d)", e.Msg, e.Column)
	}
	return fmt.Sprintf("%s at column %d near %q", e.Msg, e.Column, e.Near)
}

// ParseExpression parses a cluster query language expression. Operators a
// subject does not support, malformed dates, versions and counts, and
// regular expressions Go's RE2 cannot compile are syntax errors too.
func ParseExpression(src string) (*Expression, error) {
	p := &parser{src: src}
	p.skipSpace()
	if p.pos == len(p.src) {
		return nil, p.errf("expected an expression")
	}
	root, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos < len(p.src) {
		return nil, p.errf("expected \"and\", \"or\" or end of expression")
	}
	return &Expression{root: root}, nil
}

// Match reports whether inst satisfies the expression.
func (e *Expression) Match(inst *Instance) bool { return e.root.eval(inst) }

// String renders the expression canonically: symbolic operators, explicit
// parentheses, values quoted where a bare value would not parse back.
// ParseExpression(e.String()) yields an expression with the same String.
func (e *Expression) String() string {
	var b strings.Builder
	e.root.format(&b)
	return b.String()
}

// usesTasks reports whether evaluation looks at the instance's task groups,
// which change as Place puts tasks on instances.
func (e *Expression) usesTasks() bool { return e.root.usesTasks() }

// node is one AST node.
type node interface {
	eval(inst *Instance) bool
	format(b *strings.Builder)
	usesTasks() bool
}

type notNode struct{ x node }

type andNode struct{ l, r node }

type orNode struct{ l, r node }

func (n *notNode) eval(inst *Instance) bool { return !n.x.eval(inst) }
func (n *andNode) eval(inst *Instance) bool { return n.l.eval(inst) && n.r.eval(inst) }
func (n *orNode) eval(inst *Instance) bool  { return n.l.eval(inst) || n.r.eval(inst) }

func (n *notNode) usesTasks() bool { return n.x.usesTasks() }
func (n *andNode) usesTasks() bool { return n.l.usesTasks() || n.r.usesTasks() }
func (n *orNode) usesTasks() bool  { return n.l.usesTasks() || n.r.usesTasks() }

func (n *notNode) format(b *strings.Builder) {
	b.WriteString("!(")
	n.x.format(b)
	b.WriteString(")")
}

func (n *andNode) format(b *strings.Builder) { formatBinary(b, n.l, " && ", n.r) }
func (n *orNode) format(b *strings.Builder)  { formatBinary(b, n.l, " || ", n.r) }

func formatBinary(b *strings.Builder, l node, op string, r node) {
	b.WriteString("(")
	l.format(b)
	b.WriteString(op)
	r.format(b)
	b.WriteString(")")
}

type subjectKind uint8

const (
	subjAttribute subjectKind = iota + 1
	subjAgentConnected
	subjAgentVersion
	subjEC2InstanceID
	subjRegisteredAt
	subjRunningTasksCount
	subjTaskGroup
)

var subjectNames = map[string]subjectKind{
	"agentConnected":    subjAgentConnected,
	"agentVersion":      subjAgentVersion,
	"ec2InstanceId":     subjEC2InstanceID,
	"registeredAt":      subjRegisteredAt,
	"runningTasksCount": subjRunningTasksCount,
	"task:group":        subjTaskGroup,
}

type opKind uint8

const (
	opEq opKind = iota + 1
	opNe
	opGt
	opGe
	opLt
	opLe
	opExists
	opNotExists
	opIn
	opNotIn
	opMatches
	opNotMatches
)

var opSymbols = [...]string{
	opEq: "==", opNe: "!=", opGt: ">", opGe: ">=", opLt: "<", opLe: "<=",
	opExists: "exists", opNotExists: "!exists", opIn: "in", opNotIn: "!in",
	opMatches: "=~", opNotMatches: "!~",
}

var opWords = map[string]opKind{
	"equals": opEq, "not_equals": opNe,
	"greater_than": opGt, "greater_than_equal": opGe,
	"less_than": opLt, "less_than_equal": opLe,
	"exists": opExists, "not_exists": opNotExists,
	"in": opIn, "not_in": opNotIn,
	"matches": opMatches, "not_matches": opNotMatches,
}

// subjectOps lists, per subject, the operators ECS documents for it.
// Attributes take every operator.
var subjectOps = map[subjectKind][]opKind{
	subjAgentConnected:    {opEq, opNe, opIn, opNotIn, opMatches, opNotMatches},
	subjEC2InstanceID:     {opEq, opNe, opIn, opNotIn, opMatches, opNotMatches},
	subjAgentVersion:      {opEq, opNe, opGt, opGe, opLt, opLe},
	subjRegisteredAt:      {opEq, opNe, opGt, opGe, opLt, opLe},
	subjRunningTasksCount: {opEq, opNe, opGt, opGe, opLt, opLe},
	subjTaskGroup:         {opEq, opNe, opIn, opNotIn, opExists, opNotExists, opMatches, opNotMatches},
}

// comparison is a leaf: subject operator [argument].
type comparison struct {
	subj subjectKind
	name string // subject as written ("attribute:x", "task:group", ...)
	attr string // attribute name for subjAttribute
	op   opKind
	list bool     // argument was written as a list
	args []string // argument values (normalised for agentConnected)
	re   *regexp.Regexp
	num  int64     // runningTasksCount argument
	when time.Time // registeredAt argument
	ver  []int     // agentVersion argument
}

func (c *comparison) usesTasks() bool { return c.subj == subjTaskGroup }

func (c *comparison) format(b *strings.Builder) {
	b.WriteString(c.name)
	b.WriteString(" ")
	b.WriteString(opSymbols[c.op])
	switch {
	case c.op == opExists || c.op == opNotExists:
	case c.list:
		b.WriteString(" [")
		for i, a := range c.args {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(quoteValue(a))
		}
		b.WriteString("]")
	default:
		b.WriteString(" ")
		b.WriteString(quoteValue(c.args[0]))
	}
}

// quoteValue returns v bare when it would scan back as one bare value, else
// single-quoted with \\ and \' escaped.
func quoteValue(v string) string {
	bare := v != ""
	for i := 0; i < len(v) && bare; i++ {
		c := v[i]
		bare = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("_.:/@*+-", c) >= 0
	}
	if bare {
		return v
	}
	var b strings.Builder
	b.WriteByte('\'')
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' || v[i] == '\'' {
			b.WriteByte('\\')
		}
		b.WriteByte(v[i])
	}
	b.WriteByte('\'')
	return b.String()
}

type parser struct {
	src   string
	pos   int
	depth int
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// isIdent reports whether c can appear in a subject or a word.
func isIdent(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("_.:-/\\", c) >= 0
}

func (p *parser) skipSpace() {
	for p.pos < len(p.src) && isSpace(p.src[p.pos]) {
		p.pos++
	}
}

// near returns the token at pos for error messages.
func (p *parser) near(pos int) string {
	if pos >= len(p.src) {
		return ""
	}
	end := pos + 1
	for end < len(p.src) && end-pos < 24 && !isSpace(p.src[end]) && isIdent(p.src[end]) == isIdent(p.src[pos]) {
		end++
	}
	return p.src[pos:end]
}

func (p *parser) errAt(pos int, format string, args ...any) *SyntaxError {
	return &SyntaxError{Column: pos + 1, Near: p.near(pos), Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) errf(format string, args ...any) *SyntaxError {
	return p.errAt(p.pos, format, args...)
}

// keyword reports whether the case-insensitive word kw starts at pos and is
// not the prefix of a longer word.
func (p *parser) keyword(kw string) bool {
	end := p.pos + len(kw)
	if end > len(p.src) || !strings.EqualFold(p.src[p.pos:end], kw) {
		return false
	}
	return end == len(p.src) || !isIdent(p.src[end])
}

// nest enters one level of "(" or negation, which starts at pos.
func (p *parser) nest(pos int) error {
	p.depth++
	if p.depth > maxNesting {
		return p.errAt(pos, "expression nests more than %d levels", maxNesting)
	}
	return nil
}

func (p *parser) parseOr() (node, error) {
	l, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for {
		p.skipSpace()
		switch {
		case strings.HasPrefix(p.src[p.pos:], "||"):
			p.pos += 2
		case p.keyword("or"):
			p.pos += 2
		default:
			return l, nil
		}
		r, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		l = &orNode{l, r}
	}
}

func (p *parser) parseAnd() (node, error) {
	l, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for {
		p.skipSpace()
		switch {
		case strings.HasPrefix(p.src[p.pos:], "&&"):
			p.pos += 2
		case p.keyword("and"):
			p.pos += 3
		default:
			return l, nil
		}
		r, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		l = &andNode{l, r}
	}
}

func (p *parser) parseUnary() (node, error) {
	p.skipSpace()
	if p.pos == len(p.src) {
		return nil, p.errf("expected a subject, \"not\" or \"(\"")
	}
	switch {
	case p.src[p.pos] == '!' || p.keyword("not"):
		start := p.pos
		if p.src[p.pos] == '!' {
			p.pos++
		} else {
			p.pos += 3
		}
		if err := p.nest(start); err != nil {
			return nil, err
		}
		x, err := p.parseUnary()
		p.depth--
		if err != nil {
			return nil, err
		}
		return &notNode{x}, nil
	case p.src[p.pos] == '(':
		open := p.pos
		p.pos++
		if err := p.nest(open); err != nil {
			return nil, err
		}
		x, err := p.parseOr()
		p.depth--
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.pos == len(p.src) || p.src[p.pos] != ')' {
			return nil, p.errf("expected \")\" to close the \"(\" at column %d", open+1)
		}
		p.pos++
		return x, nil
	}
	return p.parseComparison()
}

func (p *parser) parseComparison() (node, error) {
	start := p.pos
	for p.pos < len(p.src) && isIdent(p.src[p.pos]) {
		p.pos++
	}
	name := p.src[start:p.pos]
	if name == "" {
		return nil, p.errAt(start, "expected a subject such as attribute:<name>")
	}
	c := &comparison{name: name}
	if kind, ok := subjectNames[name]; ok {
		c.subj = kind
	} else if attr, ok := strings.CutPrefix(name, "attribute:"); ok && validAttributeName(attr) {
		c.subj, c.attr = subjAttribute, attr
	} else {
		return nil, p.errAt(start, "unknown subject %q (valid: attribute:<name>, agentConnected, agentVersion, ec2InstanceId, registeredAt, runningTasksCount, task:group)", name)
	}

	p.skipSpace()
	opPos := p.pos
	op, err := p.parseOperator(name)
	if err != nil {
		return nil, err
	}
	c.op = op
	if allowed, ok := subjectOps[c.subj]; ok && !slices.Contains(allowed, op) {
		valid := make([]string, len(allowed))
		for i, o := range allowed {
			valid[i] = opSymbols[o]
		}
		return nil, p.errAt(opPos, "operator %s is not valid for %s (valid: %s)", opSymbols[op], name, strings.Join(valid, ", "))
	}

	switch op {
	case opExists, opNotExists:
		return c, nil
	case opIn, opNotIn:
		c.list = true
		if c.args, err = p.parseList(); err != nil {
			return nil, err
		}
	default:
		v, err := p.parseValue(false)
		if err != nil {
			return nil, err
		}
		c.args = []string{v}
	}
	if err := c.compile(); err != nil {
		return nil, p.errAt(opPos, "%s %s: %s", name, opSymbols[op], err)
	}
	return c, nil
}

// validAttributeName follows ECS: 1-128 letters, digits, hyphens,
// underscores, slashes, backslashes and periods.
func validAttributeName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_/\\.", c) >= 0) {
			return false
		}
	}
	return true
}

func (p *parser) parseOperator(subject string) (opKind, error) {
	rest := p.src[p.pos:]
	for _, sym := range []struct {
		s  string
		op opKind
	}{{"==", opEq}, {"!=", opNe}, {">=", opGe}, {"<=", opLe}, {"=~", opMatches}, {"!~", opNotMatches}, {">", opGt}, {"<", opLt}} {
		if strings.HasPrefix(rest, sym.s) {
			p.pos += len(sym.s)
			return sym.op, nil
		}
	}
	start := p.pos
	negated := strings.HasPrefix(rest, "!")
	if negated {
		p.pos++
	}
	w := p.pos
	for p.pos < len(p.src) && (isIdent(p.src[p.pos])) {
		p.pos++
	}
	word := strings.ToLower(p.src[w:p.pos])
	if negated {
		switch word {
		case "in":
			return opNotIn, nil
		case "exists":
			return opNotExists, nil
		}
	} else if op, ok := opWords[word]; ok {
		return op, nil
	}
	p.pos = start
	return 0, p.errf("expected an operator after %q (==, !=, >, >=, <, <=, exists, !exists, in, !in, =~, !~)", subject)
}

func (p *parser) parseList() ([]string, error) {
	p.skipSpace()
	if p.pos == len(p.src) || p.src[p.pos] != '[' {
		return nil, p.errf("expected \"[\" to start the argument list")
	}
	open := p.pos
	p.pos++
	var vals []string
	for {
		v, err := p.parseValue(true)
		if err != nil {
			return nil, err
		}
		vals = append(vals, v)
		p.skipSpace()
		if p.pos == len(p.src) {
			return nil, p.errf("expected \",\" or \"]\" to close the \"[\" at column %d", open+1)
		}
		switch p.src[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return vals, nil
		default:
			return nil, p.errf("expected \",\" or \"]\" in the argument list")
		}
	}
}

// parseValue reads one bare or quoted value; inList makes "," and "]" end a
// bare value.
func (p *parser) parseValue(inList bool) (string, error) {
	p.skipSpace()
	if p.pos == len(p.src) {
		return "", p.errf("expected a value")
	}
	if q := p.src[p.pos]; q == '\'' || q == '"' {
		return p.parseQuoted(q)
	}
	start := p.pos
	depth := 0 // open ( and [ inside the value
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if depth == 0 {
			rest := p.src[p.pos:]
			if isSpace(c) || c == ')' || strings.HasPrefix(rest, "&&") || strings.HasPrefix(rest, "||") ||
				inList && (c == ',' || c == ']') {
				break
			}
		}
		switch c {
		case '(', '[':
			depth++
		case ')', ']':
			depth--
		}
		p.pos++
	}
	if depth > 0 {
		return "", p.errAt(start, "unbalanced \"(\" or \"[\" in value (quote the value)")
	}
	if p.pos == start {
		return "", p.errf("expected a value")
	}
	return p.src[start:p.pos], nil
}

func (p *parser) parseQuoted(q byte) (string, error) {
	open := p.pos
	p.pos++
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == q:
			p.pos++
			return b.String(), nil
		case c == '\\' && p.pos+1 < len(p.src) && strings.IndexByte("'\"\\", p.src[p.pos+1]) >= 0:
			b.WriteByte(p.src[p.pos+1])
			p.pos += 2
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
	return "", p.errAt(open, "unterminated quoted value")
}

// compile checks and pre-parses the argument for the subject and operator.
func (c *comparison) compile() error {
	switch c.op {
	case opMatches, opNotMatches:
		re, err := regexp.Compile(`^(?:` + c.args[0] + `)$`)
		if err != nil {
			return fmt.Errorf("invalid regular expression %q: %w", c.args[0], err)
		}
		c.re = re
		return nil
	}
	switch c.subj {
	case subjAgentConnected:
		for i, a := range c.args {
			if !strings.EqualFold(a, "true") && !strings.EqualFold(a, "false") {
				return fmt.Errorf("value %q is not true or false", a)
			}
			c.args[i] = strings.ToLower(a)
		}
	case subjAgentVersion:
		v, ok := parseVersion(c.args[0])
		if !ok {
			return fmt.Errorf("value %q is not a version such as 1.14.5", c.args[0])
		}
		c.ver = v
	case subjRegisteredAt:
		t, ok := parseDate(c.args[0])
		if !ok {
			return fmt.Errorf("value %q is not a date (2018-06-18T22:28:28+00:00, 2018-06-18T22:28:28Z, 2018-06-18T22:28:28 or 2018-06-18)", c.args[0])
		}
		c.when = t
	case subjRunningTasksCount:
		n, err := strconv.ParseInt(c.args[0], 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("value %q is not a non-negative integer", c.args[0])
		}
		c.num = n
	}
	return nil
}

// parseVersion reads dotted decimal versions ("1.14.5"), with an optional
// leading "v" and ignoring a "-suffix" ("1.14.5-dev").
func parseVersion(s string) ([]int, bool) {
	s = strings.TrimPrefix(s, "v")
	if i := strings.IndexAny(s, "-+"); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		return nil, false
	}
	parts := strings.Split(s, ".")
	out := make([]int, len(parts))
	for i, part := range parts {
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 || part[0] == '+' {
			return nil, false
		}
		out[i] = n
	}
	return out, true
}

// parseDate accepts the date forms ECS documents for registeredAt; those
// without a zone are UTC.
func parseDate(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
