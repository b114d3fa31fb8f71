package config

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// LoadOptions name the static configuration sources.
type LoadOptions struct {
	File  string   // a server.properties-style file; "" for none
	Sets  []string // "key=value" from --set flags, applied in order
	Flags []Flag   // keys set by dedicated command-line flags, applied last, in order
	Env   []string // the environment in os.Environ form; nil for none
}

// Flag is a key set by a dedicated command-line flag (gregor serve's
// --listen, --data-dir …), so that an error names the flag.
type Flag struct {
	Name  string // the flag as the user typed it, "--listen"
	Key   string // the key it sets, "listeners"
	Value string
}

// Load builds the broker configuration from the built-in defaults, then the
// file, then GREGOR_* environment variables, then the --set values, then
// the dedicated flags, each overriding the ones before (all of them are
// STATIC_BROKER_CONFIG). Unknown keys (in the file, --set or a flag) and
// invalid values are errors that name the key and where it was set; all of
// them are reported together (as Errors when there are several), an unknown
// key with the known key it is probably a misspelling of. A GREGOR_*
// variable that names no key is ignored (IgnoredEnv lists them for a
// warning), as Kafka only warns about unknown keys: orchestrators inject
// variables such as GREGOR_PORT or GREGOR_SERVICE_HOST into every container
// of a namespace with a service named gregor.
func Load(o LoadOptions) (*Broker, error) {
	var batches [][]setting
	if o.File != "" {
		data, err := os.ReadFile(o.File)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		batches = append(batches, parseProperties(string(data), o.File))
	}
	env, ignored := envSettings(o.Env)
	batches = append(batches, env)
	var errs []*Error
	for _, s := range o.Sets {
		key, val, ok := strings.Cut(s, "=")
		if !ok || strings.TrimSpace(key) == "" {
			errs = append(errs, &Error{Key: "--set", Value: s, Reason: "want key=value", Err: ErrInvalidValue})
			continue
		}
		batches = append(batches, []setting{{key: strings.TrimSpace(key), value: val, origin: "--set"}})
	}
	for _, f := range o.Flags {
		batches = append(batches, []setting{{key: f.Key, value: f.Value, origin: f.Name}})
	}

	b := &Broker{ignoredEnv: ignored}
	b.cur.Store(newState())
	err := b.update(false, func(st *state) error {
		for _, batch := range batches {
			errs = append(errs, apply(st.static, batch)...)
		}
		return joinErrors(errs)
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// envSettings picks the GREGOR_* variables out of env; those that name no
// key are returned in ignored, sorted.
func envSettings(env []string) (out []setting, ignored []string) {
	for _, kv := range env {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, envPrefix) {
			continue
		}
		key, ok := envKeys[strings.ToUpper(name)]
		if !ok {
			ignored = append(ignored, name)
			continue
		}
		out = append(out, setting{key: key, value: val, origin: "environment variable " + name})
	}
	// The environment has no order; sorting makes errors reproducible.
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	sort.Strings(ignored)
	return out, ignored
}

// IgnoredEnv lists the GREGOR_* environment variables that named no
// configuration key.
func (b *Broker) IgnoredEnv() []string { return b.ignoredEnv }

// parseProperties reads Java properties text: "key=value", "key: value" or
// "key value"; "#" and "!" start comment lines; a line ending in an odd
// number of backslashes continues on the next; \t \n \r \f \uXXXX escapes
// are decoded and any other escaped character stands for itself. Keys and
// values are trimmed. name labels each setting's origin as name:line.
func parseProperties(text, name string) []setting {
	lines := strings.Split(strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(text), "\n")
	var out []setting
	for n := 0; n < len(lines); n++ {
		start := n
		line := strings.TrimLeft(lines[n], " \t\f")
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		for continues(line) && n+1 < len(lines) {
			n++
			line = line[:len(line)-1] + strings.TrimLeft(lines[n], " \t\f")
		}
		if continues(line) { // the file ended mid-continuation
			line = line[:len(line)-1]
		}
		key, val := splitProperty(line)
		out = append(out, setting{
			key:    strings.TrimSpace(unescape(key)),
			value:  strings.TrimSpace(unescape(val)),
			origin: name + ":" + strconv.Itoa(start+1),
		})
	}
	return out
}

// continues reports whether line ends in an odd number of backslashes.
func continues(line string) bool {
	n := len(line) - len(strings.TrimRight(line, `\`))
	return n%2 == 1
}

// splitProperty splits a logical line at the first unescaped '=', ':' or
// whitespace; whitespace around the separator is skipped.
func splitProperty(line string) (key, val string) {
	i := 0
	for i < len(line) {
		c := line[i]
		if c == '\\' {
			i += 2
			continue
		}
		if c == '=' || c == ':' || c == ' ' || c == '\t' || c == '\f' {
			break
		}
		i++
	}
	if i > len(line) {
		i = len(line)
	}
	key, rest := line[:i], strings.TrimLeft(line[i:], " \t\f")
	if rest != "" && (rest[0] == '=' || rest[0] == ':') {
		rest = strings.TrimLeft(rest[1:], " \t\f")
	}
	return key, rest
}

// unescape decodes Java properties escapes.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			sb.WriteByte(c)
			continue
		}
		i++
		switch c = s[i]; c {
		case 't':
			sb.WriteByte('\t')
		case 'n':
			sb.WriteByte('\n')
		case 'r':
			sb.WriteByte('\r')
		case 'f':
			sb.WriteByte('\f')
		case 'u':
			if r, err := strconv.ParseUint(s[i+1:min(i+5, len(s))], 16, 32); err == nil && i+5 <= len(s) {
				sb.WriteRune(rune(r))
				i += 4
			} else {
				sb.WriteByte('u') // malformed: keep the text rather than fail
			}
		default:
			_, size := utf8.DecodeRuneInString(s[i:])
			sb.WriteString(s[i : i+size])
			i += size - 1
		}
	}
	return sb.String()
}
