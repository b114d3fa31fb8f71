package config

import (
	"errors"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
)

const kafkaSample = "testdata/kafka-server.properties"

// Apache Kafka 4.x's single-node sample server.properties loads as it is.
func TestConfigKafkaSampleLoads(t *testing.T) {
	b, err := Load(LoadOptions{File: kafkaSample})
	if err != nil {
		t.Fatal(err)
	}
	if b.NodeID() != 1 || b.DataDir() != "/tmp/kraft-combined-logs" {
		t.Errorf("node %d, data dir %s", b.NodeID(), b.DataDir())
	}
	if b.ListenAddr() != ":9092" || b.ControllerListenAddr() != ":9093" || b.AdvertisedAddr() != "localhost:9092" {
		t.Errorf("listen %s, controller %s, advertised %s", b.ListenAddr(), b.ControllerListenAddr(), b.AdvertisedAddr())
	}
	if got := b.QuorumVoters(); !maps.Equal(got, map[int32]string{1: "localhost:9093"}) {
		t.Errorf("QuorumVoters = %v", got)
	}
	want := []string{
		"num.io.threads", "num.network.threads", "num.recovery.threads.per.data.dir",
		"share.coordinator.state.topic.min.isr", "share.coordinator.state.topic.replication.factor",
		"socket.receive.buffer.bytes", "socket.send.buffer.bytes",
		"transaction.state.log.min.isr", "transaction.state.log.replication.factor",
	}
	if got := b.WithoutEffect(); !slices.Equal(got, want) {
		t.Errorf("WithoutEffect = %q\nwant %q", got, want)
	}
	// Every key the file sets is described as set by it.
	es := entriesByName(b.Entries())
	for _, s := range parseProperties(readFile(t, kafkaSample), kafkaSample) {
		if e := es[s.key]; e.Source != SourceStaticBrokerConfig || e.Value == nil || *e.Value != s.value {
			t.Errorf("%s: entry %+v, want %q from the file", s.key, e, s.value)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// A sample with misspelt keys, and a misspelt --set, fails once, naming
// every unknown key where it was set, each with the key meant.
func TestConfigUnknownKeysReportedTogether(t *testing.T) {
	text := readFile(t, kafkaSample)
	for typo, key := range map[string]string{
		"log.retention.hour=":           "log.retention.hours=",
		"num.partiton=":                 "num.partitions=",
		"listners=":                     "listeners=",
		"socket_send_buffer_bytes=":     "socket.send.buffer.bytes=",
		"Controller.Listener.Names=":    "controller.listener.names=",
		"log.retention.check.interval=": "log.retention.check.interval.ms=",
	} {
		if !strings.Contains(text, key) {
			t.Fatalf("sample has no %s", key)
		}
		text = strings.Replace(text, key, typo, 1)
	}
	text += "retention.ms=1000\nfrobnicate=1\n"
	_, err := Load(LoadOptions{File: writeFile(t, text), Sets: []string{"auto.create.topic.enable=false", "num.io.threads=x"}})
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("err = %v, want Errors", err)
	}
	want := map[string]string{ // unknown key → suggestion
		"log.retention.hour":           "log.retention.hours",
		"num.partiton":                 "num.partitions",
		"listners":                     "listeners",
		"socket_send_buffer_bytes":     "socket.send.buffer.bytes",
		"Controller.Listener.Names":    "controller.listener.names",
		"log.retention.check.interval": "log.retention.check.interval.ms",
		"retention.ms":                 "log.retention.ms",
		"frobnicate":                   "",
		"auto.create.topic.enable":     "auto.create.topics.enable",
	}
	got := map[string]string{}
	for _, e := range es {
		if !errors.Is(e, ErrUnknownKey) {
			if e.Key != "num.io.threads" || e.Origin != "--set" {
				t.Errorf("unexpected error %v", e)
			}
			continue
		}
		got[e.Key] = e.Suggestion
		if e.Key == "auto.create.topic.enable" {
			if e.Origin != "--set" {
				t.Errorf("%s: origin %q", e.Key, e.Origin)
			}
		} else if !strings.Contains(e.Origin, "server.properties:") {
			t.Errorf("%s: origin %q, want file:line", e.Key, e.Origin)
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("unknown keys and suggestions:\n got %v\nwant %v", got, want)
	}
	msg := err.Error()
	for _, w := range []string{
		"config: 10 errors:",
		`unknown key "num.partiton" (` + "", `; did you mean "num.partitions"?`,
		`unknown key "frobnicate" (`,
		`unknown key "auto.create.topic.enable" (--set); did you mean "auto.create.topics.enable"?`,
		`num.io.threads: invalid value "x"`,
	} {
		if !strings.Contains(msg, w) {
			t.Errorf("message lacks %q:\n%s", w, msg)
		}
	}
	if !errors.Is(err, ErrUnknownKey) || !errors.Is(err, ErrInvalidValue) {
		t.Error("Errors does not unwrap to its errors")
	}
}

func TestConfigSuggestKey(t *testing.T) {
	tests := map[string]string{
		"log.retention.hours":           "log.retention.hours",
		"LOG.RETENTION.HOURS":           "log.retention.hours",
		"log-retention-hours":           "log.retention.hours",
		"log.retnetion.hours":           "log.retention.hours", // swapped letters
		"log.retention.hourss":          "log.retention.hours",
		"advertized.listeners":          "advertised.listeners",
		"node.idd":                      "node.id",
		"segment.bytes":                 "log.segment.bytes", // a topic key at broker level
		"min.insync.replica":            "min.insync.replicas",
		"listener.name.internal.ssl.x":  "",
		"zookeeper.connect":             "",
		"x":                             "",
		"":                              "",
		"controller.quorum.bootstrap":   "controller.quorum.bootstrap.servers",
		"group.initial.rebalance.delay": "group.initial.rebalance.delay.ms",
	}
	for key, want := range tests {
		if got := suggestKey(key, brokerNames); got != want {
			t.Errorf("suggestKey(%q) = %q, want %q", key, got, want)
		}
	}
	e := unknownKey("listener.name.internal.ssl.keystore.location", "f:1")
	if e.Suggestion != "ssl.keystore.location" || !strings.Contains(e.Error(), "per-listener settings") {
		t.Errorf("per-listener key: %v", e)
	}
}

func TestConfigSuggestEnv(t *testing.T) {
	tests := map[string]string{
		"GREGOR_NUM_PARTITONS":       "GREGOR_NUM_PARTITIONS",
		"GREGOR_LISTENER":            "GREGOR_LISTENERS",
		"GREGOR_ADVERTISED_LISTENER": "GREGOR_ADVERTISED_LISTENERS",
		"GREGOR_PORT":                "",
		"GREGOR_SERVICE_HOST":        "",
		"GREGOR_SERVICE_PORT_KAFKA":  "",
	}
	for name, want := range tests {
		if got := SuggestEnv(name); got != want {
			t.Errorf("SuggestEnv(%s) = %q, want %q", name, got, want)
		}
	}
}

func TestConfigEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"a", "", 1}, {"", "abc", 3}, {"abc", "abc", 0}, {"abc", "acb", 1},
		{"kitten", "sitting", 3}, {"ca", "abc", 3}, {"abcdef", "badcfe", 3},
	}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b, 10); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := editDistance(tt.a, tt.b, 1); got != min(tt.want, 1) {
			t.Errorf("editDistance(%q, %q, limit 1) = %d", tt.a, tt.b, got)
		}
	}
}

// Values set by a dedicated flag name the flag, not --set.
func TestConfigFlagOrigins(t *testing.T) {
	_, err := Load(LoadOptions{Flags: []Flag{{Name: "--listen", Key: "listeners", Value: "9092"}}})
	var ce *Error
	if !errors.As(err, &ce) || ce.Origin != "--listen" || !strings.HasSuffix(err.Error(), "(--listen)") {
		t.Errorf("err = %v, want one from --listen", err)
	}
	// Cross-key checks name where the offending value was set, too.
	_, err = Load(LoadOptions{
		File:  writeFile(t, "node.id=1\nlisteners=PLAINTEXT://:9092,CONTROLLER://:9093\n"),
		Flags: []Flag{{Name: "--advertise", Key: "advertised.listeners", Value: "CONTROLLER://h:9093"}},
	})
	if !errors.As(err, &ce) || ce.Key != "advertised.listeners" || ce.Origin != "--advertise" {
		t.Errorf("err = %v, want advertised.listeners from --advertise", err)
	}
	_, err = Load(LoadOptions{File: writeFile(t, "\nprocess.roles=broker\n")})
	if !errors.As(err, &ce) || !strings.HasSuffix(ce.Origin, "server.properties:2") {
		t.Errorf("err = %v, want it from server.properties:2", err)
	}
	_, err = Load(LoadOptions{Env: []string{"GREGOR_LISTENERS=SSL://:9093"}})
	if !errors.As(err, &ce) || ce.Origin != "environment variable GREGOR_LISTENERS" {
		t.Errorf("err = %v, want it from GREGOR_LISTENERS", err)
	}
	// Flags come last.
	b, err := Load(LoadOptions{Sets: []string{"node.id=3"}, Flags: []Flag{{Name: "--node-id", Key: "node.id", Value: "4"}}})
	if err != nil || b.NodeID() != 4 {
		t.Errorf("flag over --set: %v, node %d", err, b.NodeID())
	}
}

func TestConfigWithoutEffect(t *testing.T) {
	b, err := Load(LoadOptions{
		File: writeFile(t, "ssl.keystore.location=/k\nlog.segment.bytes=2000000\nbroker.id=3\n"),
		Env:  []string{"GREGOR_QUOTA_WINDOW_NUM=5"},
		Sets: []string{"metric.reporters=com.example.Reporter", "num.partitions=3"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := b.WithoutEffect(), []string{"metric.reporters", "quota.window.num", "ssl.keystore.location"}; !slices.Equal(got, want) {
		t.Errorf("WithoutEffect = %q, want %q", got, want)
	}
	if err := b.UpdateDynamic(SourceDynamicBrokerConfig, map[string]*string{"ssl.cipher.suites": strp("TLS_AES_128_GCM_SHA256")}, false); err != nil {
		t.Fatal(err)
	}
	if err := b.UpdateDynamic(SourceDynamicDefaultBrokerConfig, map[string]*string{"background.threads": strp("4")}, false); err != nil {
		t.Fatal(err)
	}
	if got := b.WithoutEffect(); !slices.Contains(got, "ssl.cipher.suites") || !slices.Contains(got, "background.threads") {
		t.Errorf("dynamic keys missing: %q", got)
	}
	if len(Default().WithoutEffect()) != 0 {
		t.Errorf("defaults: %q", Default().WithoutEffect())
	}
	if !Implemented("broker.id") || !Implemented("log.segment.bytes") || Implemented("ssl.keystore.location") || Implemented("no.such.key") {
		t.Error("Implemented wrong")
	}
}

// Kafka's per-broker keys (SSL, SASL …) may not be cluster-wide defaults.
func TestConfigPerBrokerKeys(t *testing.T) {
	b := Default()
	err := b.UpdateDynamic(SourceDynamicDefaultBrokerConfig, map[string]*string{"ssl.keystore.location": strp("/k")}, false)
	if !errors.Is(err, ErrInvalidValue) || !strings.Contains(err.Error(), "for one broker only") {
		t.Errorf("per-broker key as a cluster default: err = %v", err)
	}
	if err := b.UpdateDynamic(SourceDynamicBrokerConfig, map[string]*string{"ssl.keystore.location": strp("/k")}, false); err != nil {
		t.Errorf("per-broker key for this broker: %v", err)
	}
	e := entriesByName(b.Entries())["ssl.keystore.location"]
	if e.ReadOnly || e.Source != SourceDynamicBrokerConfig {
		t.Errorf("entry = %+v", e)
	}
	if e := entriesByName(b.Entries())["ssl.keystore.password"]; !e.Sensitive || e.Type != TypePassword {
		t.Errorf("password entry = %+v", e)
	}
}
