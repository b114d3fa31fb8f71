package config

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestConfigParseProperties(t *testing.T) {
	type kv struct{ key, value, origin string }
	tests := []struct {
		name string
		text string
		want []kv
	}{
		{"equals", "a=b", []kv{{"a", "b", "f:1"}}},
		{"colon", "a:b", []kv{{"a", "b", "f:1"}}},
		{"whitespace separator", "a b", []kv{{"a", "b", "f:1"}}},
		{"spaces around separator", "  a  =  b  ", []kv{{"a", "b", "f:1"}}},
		{"spaces around colon", "a : b", []kv{{"a", "b", "f:1"}}},
		{"tabs", "\ta\t=\tb\t", []kv{{"a", "b", "f:1"}}},
		{"separator in value", "a=b=c:d", []kv{{"a", "b=c:d", "f:1"}}},
		{"empty value", "a=", []kv{{"a", "", "f:1"}}},
		{"key only", "a", []kv{{"a", "", "f:1"}}},
		{"comments and blanks", "# one\n! two\n\n   # three\n  \t\na=1\n", []kv{{"a", "1", "f:6"}}},
		{"hash inside value", "a=b#c", []kv{{"a", "b#c", "f:1"}}},
		{"line numbers", "a=1\n\nb=2\n#c=3\nd=4", []kv{{"a", "1", "f:1"}, {"b", "2", "f:3"}, {"d", "4", "f:5"}}},
		{"crlf", "a=1\r\nb=2\r\n", []kv{{"a", "1", "f:1"}, {"b", "2", "f:2"}}},
		{"continuation", "a=one,\\\n    two,\\\n\tthree\nb=2", []kv{{"a", "one,two,three", "f:1"}, {"b", "2", "f:4"}}},
		{"continuation at end of file", "a=x\\", []kv{{"a", "x", "f:1"}}},
		{"escaped backslash is not continuation", "a=x\\\\\nb=2", []kv{{"a", `x\`, "f:1"}, {"b", "2", "f:2"}}},
		{"escaped separator in key", `a\=b=c`, []kv{{"a=b", "c", "f:1"}}},
		{"escaped space in key", `a\ b=c`, []kv{{"a b", "c", "f:1"}}},
		{"escapes in value", `a=x\:y\u0041\tz`, []kv{{"a", "x:yA\tz", "f:1"}}},
		{"duplicate keys kept in order", "a=1\na=2", []kv{{"a", "1", "f:1"}, {"a", "2", "f:2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []kv
			for _, s := range parseProperties(tt.text, "f") {
				got = append(got, kv{s.key, s.value, s.origin})
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseProperties(%q) = %q, want %q", tt.text, got, tt.want)
			}
		})
	}
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "server.properties")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigLoadFile(t *testing.T) {
	p := writeFile(t, `# Kafka-style file
node.id=3
log.dirs = /var/lib/gregor
listeners: PLAINTEXT://0.0.0.0:19092
log.segment.bytes 1048576
log.cleanup.policy=compact,\
    delete
`)
	b, err := Load(LoadOptions{File: p})
	if err != nil {
		t.Fatal(err)
	}
	if got := b.NodeID(); got != 3 {
		t.Errorf("NodeID = %d, want 3", got)
	}
	if got := b.DataDir(); got != "/var/lib/gregor" {
		t.Errorf("DataDir = %q", got)
	}
	if got := b.ListenAddr(); got != "0.0.0.0:19092" {
		t.Errorf("ListenAddr = %q", got)
	}
	if got := b.Int("log.segment.bytes"); got != 1048576 {
		t.Errorf("log.segment.bytes = %d", got)
	}
	if got := b.List("log.cleanup.policy"); !reflect.DeepEqual(got, []string{"compact", "delete"}) {
		t.Errorf("log.cleanup.policy = %q", got)
	}
	if got := b.Source("log.segment.bytes"); got != SourceStaticBrokerConfig {
		t.Errorf("source of a file value = %v", got)
	}
	if got := b.Source("num.partitions"); got != SourceDefaultConfig {
		t.Errorf("source of an unset key = %v", got)
	}
}

func TestConfigLoadFileErrors(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string
		is         error
	}{
		{"unknown key", "node.id=1\nfoo.bar=2\n", []string{`unknown key "foo.bar"`, "server.properties:2"}, ErrUnknownKey},
		{"bad value", "log.segment.bytes=abc", []string{`config: log.segment.bytes: invalid value "abc": must be an integer >= 14`, "server.properties:1"}, ErrInvalidValue},
		{"alias conflict", "node.id=1\nbroker.id=2", []string{"broker.id", `conflicts with node.id="1"`}, ErrInvalidValue},
		{"two log dirs", "log.dirs=/a,/b", []string{"log.dirs", "only one log directory"}, ErrInvalidValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(LoadOptions{File: writeFile(t, tt.text)})
			if err == nil {
				t.Fatal("Load succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
		})
	}
	if _, err := Load(LoadOptions{File: filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

func TestConfigAliasesAgreeingInOneSource(t *testing.T) {
	b, err := Load(LoadOptions{File: writeFile(t, "node.id=4\nbroker.id=4\nlog.dir=/x\n")})
	if err != nil {
		t.Fatal(err)
	}
	if b.NodeID() != 4 || b.Int("broker.id") != 4 {
		t.Errorf("node.id=%d broker.id=%d, want 4", b.NodeID(), b.Int("broker.id"))
	}
	if b.DataDir() != "/x" || b.String("log.dir") != "/x" || b.String("log.dirs") != "/x" {
		t.Errorf("log.dir alias: DataDir=%q log.dirs=%q", b.DataDir(), b.String("log.dirs"))
	}
}

func TestConfigEnvName(t *testing.T) {
	// The apache/kafka image's escaping: '.' → '_', '_' → '__', '-' → '___'.
	tests := map[string]string{
		"log.segment.bytes":              "GREGOR_LOG_SEGMENT_BYTES",
		"node.id":                        "GREGOR_NODE_ID",
		"some-dashed.key":                "GREGOR_SOME___DASHED_KEY",
		"under_scored.key":               "GREGOR_UNDER__SCORED_KEY",
		"compression.type":               "GREGOR_COMPRESSION_TYPE",
		"log.retention.ms":               "GREGOR_LOG_RETENTION_MS",
		"advertised.listeners":           "GREGOR_ADVERTISED_LISTENERS",
		"listener.security.protocol.map": "GREGOR_LISTENER_SECURITY_PROTOCOL_MAP",
	}
	for key, want := range tests {
		if got := EnvName(key); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", key, got, want)
		}
		if got := envKeyName(want); got != key {
			t.Errorf("envKeyName(%q) = %q, want %q", want, got, key)
		}
	}
	// Every key and alias has a variable, and the variable names the key.
	for _, name := range brokerNames {
		env := EnvName(name)
		if envKeys[env] != name || envKeyName(env) != name {
			t.Errorf("%s: %s maps back to %q, decodes to %q", name, env, envKeys[env], envKeyName(env))
		}
	}
}

// A docker-compose file's environment, with the apache/kafka image's
// variable names under Gregor's prefix, configures a cluster node.
func TestConfigLoadComposeEnv(t *testing.T) {
	b, err := Load(LoadOptions{Env: []string{
		"GREGOR_NODE_ID=2",
		"GREGOR_PROCESS_ROLES=broker,controller",
		"GREGOR_CONTROLLER_QUORUM_VOTERS=1@gregor-1:9093,2@gregor-2:9093,3@gregor-3:9093",
		"GREGOR_LISTENERS=PLAINTEXT://:9092,CONTROLLER://:9093",
		"GREGOR_ADVERTISED_LISTENERS=PLAINTEXT://gregor-2:9092,CONTROLLER://gregor-2:9093",
		"GREGOR_CONTROLLER_LISTENER_NAMES=CONTROLLER",
		"GREGOR_LISTENER_SECURITY_PROTOCOL_MAP=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
		"GREGOR_INTER_BROKER_LISTENER_NAME=PLAINTEXT",
		"GREGOR_OFFSETS_TOPIC_REPLICATION_FACTOR=3",
		"GREGOR_LOG_DIRS=/var/lib/gregor",
		"GREGOR_CLUSTER_ID=4L6g3nShT-eMCtK--X86sw",
	}})
	if err != nil {
		t.Fatal(err)
	}
	if b.NodeID() != 2 || b.ListenAddr() != ":9092" || b.ControllerListenAddr() != ":9093" || b.AdvertisedAddr() != "gregor-2:9092" {
		t.Errorf("node %d listen %s controller %s advertised %s", b.NodeID(), b.ListenAddr(), b.ControllerListenAddr(), b.AdvertisedAddr())
	}
	want := map[int32]string{1: "gregor-1:9093", 2: "gregor-2:9093", 3: "gregor-3:9093"}
	if got := b.QuorumVoters(); !maps.Equal(got, want) {
		t.Errorf("QuorumVoters = %v", got)
	}
	if b.Int("offsets.topic.replication.factor") != 3 || b.DataDir() != "/var/lib/gregor" || b.String("cluster.id") != "4L6g3nShT-eMCtK--X86sw" {
		t.Error("other keys not set")
	}
	if len(b.WithoutEffect()) != 0 || len(b.IgnoredEnv()) != 0 {
		t.Errorf("without effect %v, ignored %v", b.WithoutEffect(), b.IgnoredEnv())
	}
}

func TestConfigLoadEnv(t *testing.T) {
	b, err := Load(LoadOptions{Env: []string{
		"PATH=/usr/bin",
		"HOME=/root",
		"GREGOR_LOG_SEGMENT_BYTES=2048",
		"GREGOR_BROKER_ID=9",
		"GREGOR_AUTO_CREATE_TOPICS_ENABLE=FALSE",
		"GREGOR_LOG_RETENTION_MS= 5000 ",
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Int("log.segment.bytes"); got != 2048 {
		t.Errorf("log.segment.bytes = %d", got)
	}
	if got := b.NodeID(); got != 9 {
		t.Errorf("NodeID via GREGOR_BROKER_ID = %d", got)
	}
	if b.Bool("auto.create.topics.enable") {
		t.Error("auto.create.topics.enable still true")
	}
	if got := b.RetentionMs(); got != 5000 {
		t.Errorf("RetentionMs = %d", got)
	}
	if got := b.Source("log.segment.bytes"); got != SourceStaticBrokerConfig {
		t.Errorf("source of an env value = %v", got)
	}

	// Unknown GREGOR_* variables (Kubernetes' service variables, say)
	// are ignored and listed for a warning, not fatal.
	ig, err := Load(LoadOptions{Env: []string{"GREGOR_SERVICE_HOST=10.0.0.1", "GREGOR_PORT=tcp://10.0.0.1:9092", "GREGOR_NUM_PARTITIONS=4"}})
	if err != nil || ig.Int("num.partitions") != 4 || !slices.Equal(ig.IgnoredEnv(), []string{"GREGOR_PORT", "GREGOR_SERVICE_HOST"}) {
		t.Errorf("unknown env vars: err %v, ignored %v", err, ig.IgnoredEnv())
	}
	_, err = Load(LoadOptions{Env: []string{"GREGOR_NUM_PARTITIONS=zero"}})
	if !errors.Is(err, ErrInvalidValue) || !strings.Contains(err.Error(), "num.partitions") || !strings.Contains(err.Error(), "GREGOR_NUM_PARTITIONS") {
		t.Errorf("bad env value: err = %v", err)
	}
	_, err = Load(LoadOptions{Env: []string{"GREGOR_NODE_ID=1", "GREGOR_BROKER_ID=2"}})
	if !errors.Is(err, ErrInvalidValue) || !strings.Contains(err.Error(), "conflicts") {
		t.Errorf("conflicting env aliases: err = %v", err)
	}
}

func TestConfigPrecedence(t *testing.T) {
	file := writeFile(t, "log.segment.bytes=1000\nnum.partitions=2\nmessage.max.bytes=100\nbroker.id=5\n")
	env := []string{"GREGOR_LOG_SEGMENT_BYTES=2000", "GREGOR_NUM_PARTITIONS=3", "GREGOR_NODE_ID=6"}
	sets := []string{"num.partitions=4", "num.partitions=7", "log.flush.interval.ms = 250"}
	tests := []struct {
		name string
		opts LoadOptions
		want map[string]string
	}{
		{"defaults", LoadOptions{}, map[string]string{
			"log.segment.bytes": "1073741824", "num.partitions": "1", "message.max.bytes": "1048588", "node.id": "1"}},
		{"file over defaults", LoadOptions{File: file}, map[string]string{
			"log.segment.bytes": "1000", "num.partitions": "2", "message.max.bytes": "100", "node.id": "5"}},
		{"env over file", LoadOptions{File: file, Env: env}, map[string]string{
			"log.segment.bytes": "2000", "num.partitions": "3", "message.max.bytes": "100", "node.id": "6", "broker.id": "6"}},
		{"sets over env, in order", LoadOptions{File: file, Env: env, Sets: sets}, map[string]string{
			"log.segment.bytes": "2000", "num.partitions": "7", "message.max.bytes": "100", "node.id": "6",
			"log.flush.interval.ms": "250"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Load(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range tt.want {
				if got := b.String(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestConfigLoadSetErrors(t *testing.T) {
	tests := []struct {
		set  string
		want string
		is   error
	}{
		{"log.segment.bytes=abc", `config: log.segment.bytes: invalid value "abc": must be an integer >= 14 (--set)`, ErrInvalidValue},
		{"log.segment.bytes=13", `config: log.segment.bytes: invalid value "13": must be an integer >= 14 (--set)`, ErrInvalidValue},
		{"foo.bar=1", `config: unknown key "foo.bar" (--set)`, ErrUnknownKey},
		{"novalue", `config: --set: invalid value "novalue": want key=value`, ErrInvalidValue},
		{"=1", `config: --set: invalid value "=1": want key=value`, ErrInvalidValue},
	}
	for _, tt := range tests {
		_, err := Load(LoadOptions{Sets: []string{tt.set}})
		if err == nil || err.Error() != tt.want {
			t.Errorf("--set %s: err = %v, want %q", tt.set, err, tt.want)
		}
		if !errors.Is(err, tt.is) {
			t.Errorf("--set %s: err %v is not %v", tt.set, err, tt.is)
		}
	}
}

// Cross-key checks run once every source is applied, so a file may set keys
// in any order, and a later source may repair an earlier one.
func TestConfigLoadCrossChecksAfterAllSources(t *testing.T) {
	_, err := Load(LoadOptions{Sets: []string{"log.retention.minutes=0"}})
	if !errors.Is(err, ErrInvalidValue) || !strings.Contains(err.Error(), "log.retention.minutes") {
		t.Errorf("zero retention: err = %v", err)
	}
	b, err := Load(LoadOptions{Sets: []string{"log.retention.minutes=0", "log.retention.ms=1000"}})
	if err != nil {
		t.Fatalf("retention repaired by a later --set: %v", err)
	}
	if got := b.RetentionMs(); got != 1000 {
		t.Errorf("RetentionMs = %d", got)
	}
}
