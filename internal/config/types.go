package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Source says where a config value came from. The numbers are Kafka's
// DescribeConfigs ConfigSource values.
type Source int

// Kafka DescribeConfigs config sources.
const (
	SourceUnknown                    Source = 0
	SourceTopicConfig                Source = 1 // DYNAMIC_TOPIC_CONFIG
	SourceDynamicBrokerConfig        Source = 2 // DYNAMIC_BROKER_CONFIG
	SourceDynamicDefaultBrokerConfig Source = 3 // DYNAMIC_DEFAULT_BROKER_CONFIG
	SourceStaticBrokerConfig         Source = 4 // STATIC_BROKER_CONFIG
	SourceDefaultConfig              Source = 5 // DEFAULT_CONFIG
	SourceDynamicBrokerLoggerConfig  Source = 6 // DYNAMIC_BROKER_LOGGER_CONFIG
)

func (s Source) String() string {
	switch s {
	case SourceTopicConfig:
		return "DYNAMIC_TOPIC_CONFIG"
	case SourceDynamicBrokerConfig:
		return "DYNAMIC_BROKER_CONFIG"
	case SourceDynamicDefaultBrokerConfig:
		return "DYNAMIC_DEFAULT_BROKER_CONFIG"
	case SourceStaticBrokerConfig:
		return "STATIC_BROKER_CONFIG"
	case SourceDefaultConfig:
		return "DEFAULT_CONFIG"
	case SourceDynamicBrokerLoggerConfig:
		return "DYNAMIC_BROKER_LOGGER_CONFIG"
	}
	return "UNKNOWN"
}

// Type is a config value type, numbered as in DescribeConfigs v3+.
type Type int8

// Kafka config types.
const (
	TypeUnknown  Type = 0
	TypeBoolean  Type = 1
	TypeString   Type = 2
	TypeInt      Type = 3
	TypeShort    Type = 4
	TypeLong     Type = 5
	TypeDouble   Type = 6
	TypeList     Type = 7
	TypeClass    Type = 8
	TypePassword Type = 9
)

func (t Type) String() string {
	switch t {
	case TypeBoolean:
		return "BOOLEAN"
	case TypeString:
		return "STRING"
	case TypeInt:
		return "INT"
	case TypeShort:
		return "SHORT"
	case TypeLong:
		return "LONG"
	case TypeDouble:
		return "DOUBLE"
	case TypeList:
		return "LIST"
	case TypeClass:
		return "CLASS"
	case TypePassword:
		return "PASSWORD"
	}
	return "UNKNOWN"
}

func (t Type) integer() bool { return t == TypeInt || t == TypeShort || t == TypeLong }

// Synonym is one place a config value may come from, as listed by
// DescribeConfigs when synonyms are requested.
type Synonym struct {
	Name   string
	Value  string
	Source Source
}

// Entry is one config as DescribeConfigs reports it.
type Entry struct {
	Name      string
	Value     *string // nil for null (or sensitive)
	Source    Source
	ReadOnly  bool
	Sensitive bool
	Type      Type
	Doc       string
	Synonyms  []Synonym // highest precedence first
}

// Sentinel errors; every error from this package that concerns a key wraps
// one of them.
var (
	ErrUnknownKey   = errors.New("config: unknown key")
	ErrInvalidValue = errors.New("config: invalid value")
	ErrReadOnly     = errors.New("config: read-only key")
)

// Error reports a rejected key or value. It unwraps to ErrUnknownKey,
// ErrInvalidValue or ErrReadOnly.
type Error struct {
	Key    string
	Value  string
	Reason string // why the value was rejected, e.g. "must be an integer >= 14"
	Origin string // where the setting came from ("server.properties:12", "--set", "--listen"); may be empty
	// Suggestion is, for an unknown key, a known key it is probably a
	// misspelling of; "" when none is close.
	Suggestion string
	Err        error
}

func (e *Error) Error() string { return "config: " + e.message() }

// message is the error without the package prefix.
func (e *Error) message() string {
	var s string
	switch {
	case errors.Is(e.Err, ErrUnknownKey):
		s = fmt.Sprintf("unknown key %q", e.Key)
		if e.Reason != "" {
			s += ": " + e.Reason
		}
	case errors.Is(e.Err, ErrReadOnly):
		s = fmt.Sprintf("%s: read-only, cannot be changed dynamically", e.Key)
	default:
		s = fmt.Sprintf("%s: invalid value %q: %s", e.Key, e.Value, e.Reason)
	}
	if e.Origin != "" {
		s += " (" + e.Origin + ")"
	}
	if e.Suggestion != "" {
		s += fmt.Sprintf("; did you mean %q?", e.Suggestion)
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Errors is several rejected settings reported together, in the order of
// their sources (file, environment, --set, flags). errors.Is and errors.As
// see each of them.
type Errors []*Error

func (es Errors) Error() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "config: %d errors:", len(es))
	for _, e := range es {
		sb.WriteString("\n\t" + e.message())
	}
	return sb.String()
}

func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// joinErrors returns nil, the one error, or all of them as Errors.
func joinErrors(es []*Error) error {
	switch len(es) {
	case 0:
		return nil
	case 1:
		return es[0]
	}
	return Errors(es)
}

// value is a parsed config value. s is the canonical string form Kafka would
// print (Java formatting for doubles, "a,b" for lists).
type value struct {
	null   bool
	origin string // where the value was set ("server.properties:3", "--set"); "" for defaults
	s      string
	i      int64
	f      float64
	b      bool
	list   []string
}

var nullValue = value{null: true}

// spec is what parsing and validating a key needs.
type spec struct {
	typ      Type
	nullable bool // an empty value means null (no value)
	rule     rule // nil: any value of the type
}

// parse turns raw into a value of the spec's type and applies its rule. The
// returned reason is empty on success.
func (sp spec) parse(raw string) (value, string) {
	s := strings.TrimSpace(raw)
	if sp.nullable && s == "" {
		return nullValue, ""
	}
	v, ok := parseType(sp.typ, s)
	if !ok {
		return value{}, "must be " + sp.describe()
	}
	if sp.rule != nil {
		if reason := sp.rule.check(sp.typ, v); reason != "" {
			return value{}, reason
		}
	}
	return v, ""
}

func (sp spec) describe() string {
	if sp.rule != nil {
		return sp.rule.describe(sp.typ)
	}
	return typePhrase(sp.typ)
}

func typePhrase(t Type) string {
	switch t {
	case TypeBoolean:
		return "true or false"
	case TypeInt, TypeShort, TypeLong:
		return "an integer"
	case TypeDouble:
		return "a number"
	case TypeList:
		return "a comma-separated list"
	}
	return "a string"
}

func parseType(t Type, s string) (value, bool) {
	switch t {
	case TypeBoolean:
		switch {
		case strings.EqualFold(s, "true"):
			return value{s: "true", b: true}, true
		case strings.EqualFold(s, "false"):
			return value{s: "false"}, true
		}
		return value{}, false
	case TypeInt, TypeShort, TypeLong:
		bits := map[Type]int{TypeInt: 32, TypeShort: 16, TypeLong: 64}[t]
		n, err := strconv.ParseInt(s, 10, bits)
		if err != nil {
			return value{}, false
		}
		return intValue(n), true
	case TypeDouble:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) {
			return value{}, false
		}
		return value{s: javaDouble(f), f: f}, true
	case TypeList:
		if s == "" {
			return value{list: []string{}}, true
		}
		parts := strings.Split(s, ",")
		for i, p := range parts {
			parts[i] = strings.TrimSpace(p)
			if parts[i] == "" {
				return value{}, false
			}
		}
		return value{s: strings.Join(parts, ","), list: parts}, true
	}
	return value{s: s}, true
}

func intValue(n int64) value { return value{s: strconv.FormatInt(n, 10), i: n} }

// javaDouble formats f the way Java's Double.toString does, which is how
// Kafka prints DOUBLE configs: "0.5", "1.0E7", "1.7976931348623157E308".
func javaDouble(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	if a := math.Abs(f); a >= 1e-3 && a < 1e7 {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	mant, exp, _ := strings.Cut(strconv.FormatFloat(f, 'E', -1, 64), "E")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	e, _ := strconv.Atoi(exp) // FormatFloat always writes a valid exponent
	return mant + "E" + strconv.Itoa(e)
}

// rule constrains a value beyond its type.
type rule interface {
	// describe completes "must be ...", e.g. "an integer >= 14".
	describe(t Type) string
	// check returns "" when v is acceptable, else the reason it is not.
	check(t Type, v value) string
}

// intRange accepts integers >= min and, when bounded, <= max.
type intRange struct {
	min, max int64
	bounded  bool
}

func atLeast(n int64) rule         { return intRange{min: n} }
func between(lo, hi int64) rule    { return intRange{min: lo, max: hi, bounded: true} }
func (r intRange) ok(n int64) bool { return n >= r.min && (!r.bounded || n <= r.max) }

func (r intRange) describe(Type) string {
	if r.bounded {
		return fmt.Sprintf("an integer between %d and %d", r.min, r.max)
	}
	return fmt.Sprintf("an integer >= %d", r.min)
}

func (r intRange) check(t Type, v value) string {
	if !r.ok(v.i) {
		return "must be " + r.describe(t)
	}
	return ""
}

type floatRange struct{ lo, hi float64 }

func (r floatRange) describe(Type) string {
	return fmt.Sprintf("a number between %s and %s", javaDouble(r.lo), javaDouble(r.hi))
}

func (r floatRange) check(t Type, v value) string {
	if v.f < r.lo || v.f > r.hi {
		return "must be " + r.describe(t)
	}
	return ""
}

// oneOf accepts a STRING equal to one of the names, or a LIST whose every
// element is one of them (nonEmpty additionally rejects an empty list; fold
// compares without regard to case, as Kafka's CaseInsensitiveValidString).
type oneOf struct {
	names    []string
	nonEmpty bool
	fold     bool
}

func in(names ...string) rule           { return oneOf{names: names} }
func inFold(names ...string) rule       { return oneOf{names: names, fold: true} }
func nonEmptyList(names ...string) rule { return oneOf{names: names, nonEmpty: true} }

func (r oneOf) describe(t Type) string {
	if t == TypeList {
		if r.nonEmpty {
			return "a non-empty comma-separated list of " + strings.Join(r.names, ", ")
		}
		return "a comma-separated list of " + strings.Join(r.names, ", ")
	}
	return "one of " + strings.Join(r.names, ", ")
}

func (r oneOf) check(t Type, v value) string {
	elems := []string{v.s}
	if t == TypeList {
		elems = v.list
		if r.nonEmpty && len(elems) == 0 {
			return "must be " + r.describe(t)
		}
	}
	for _, e := range elems {
		found := false
		for _, n := range r.names {
			found = found || e == n || r.fold && strings.EqualFold(e, n)
		}
		if !found {
			return "must be " + r.describe(t)
		}
	}
	return ""
}

// custom is a rule with its own description and check.
type custom struct {
	desc string
	fn   func(v value) string
}

func (r custom) describe(Type) string         { return r.desc }
func (r custom) check(_ Type, v value) string { return r.fn(v) }

// nonEmpty rejects a blank STRING (Kafka's NonEmptyString). On a key whose
// default is null an empty value unsets the key instead.
var nonEmpty = custom{
	desc: "a non-empty string",
	fn: func(v value) string {
		if strings.TrimSpace(v.s) == "" {
			return "must be a non-empty string"
		}
		return ""
	},
}

// gzipLevels are gzip's compression levels, 1 to 9, or -1 for its default.
var gzipLevels = custom{
	desc: "an integer between 1 and 9, or -1",
	fn: func(v value) string {
		if v.i == -1 || v.i >= 1 && v.i <= 9 {
			return ""
		}
		return "must be an integer between 1 and 9, or -1"
	},
}
