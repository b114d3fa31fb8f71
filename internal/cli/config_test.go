package cli

import (
	"strings"
	"testing"
)

func TestCLIConfigGetSet(t *testing.T) {
	b := startBroker(t)
	b.ok("", "topic", "create", "t")

	// Broker 1, then the cluster-wide default ("") that every broker inherits.
	var cr configResource
	b.okJSON(&cr, "", "config", "get", "broker", "1", "log.retention.ms", "num.partitions")
	if cr.ResourceType != "broker" || cr.ResourceName != "1" || len(cr.Configs) != 2 || cr.Configs[0].Name != "log.retention.ms" ||
		cr.Configs[1].Name != "num.partitions" || *cr.Configs[1].Value != "1" {
		t.Fatalf("config get broker 1: %+v", cr)
	}
	out := b.ok("", "config", "set", "broker", "", "log.retention.ms=86400000", "log.cleaner.backoff.ms=20000")
	if out != "BROKER  KEY                     OP   VALUE     STATUS\n"+
		`""      log.retention.ms        set  86400000  OK`+"\n"+
		`""      log.cleaner.backoff.ms  set  20000     OK`+"\n" {
		t.Fatalf("config set broker \"\":\n%s", out)
	}
	for _, name := range []string{"", "1"} {
		b.okJSON(&cr, "", "config", "get", "broker", name, "log.retention.ms")
		if c := cr.Configs[0]; *c.Value != "86400000" || c.Source != "DYNAMIC_DEFAULT_BROKER_CONFIG" {
			t.Fatalf("broker %q after set: %+v", name, c)
		}
	}
	if out := b.ok("", "config", "get", "broker", "1", "log.retention.ms"); out != "KEY               VALUE     SOURCE\nlog.retention.ms  86400000  DYNAMIC_DEFAULT_BROKER_CONFIG\n" {
		t.Fatalf("config get text:\n%s", out)
	}
	var res []alterResult
	b.okJSON(&res, "", "config", "set", "broker", "", "--delete", "log.retention.ms")
	if len(res) != 1 || res[0].ResourceName != "" || res[0].Changes[0].Op != "delete" || res[0].Changes[0].Value != nil || res[0].Error != "" {
		t.Fatalf("config set --delete json: %+v", res)
	}
	b.okJSON(&cr, "", "config", "get", "broker", "1", "log.retention.ms")
	if c := cr.Configs[0]; c.Source == "DYNAMIC_DEFAULT_BROKER_CONFIG" {
		t.Fatalf("after delete: %+v", c)
	}

	// Topic configs; a dry run changes nothing.
	b.okJSON(&res, "", "config", "set", "topic", "t", "retention.ms=1000", "--dry-run")
	if !res[0].DryRun {
		t.Fatalf("dry run: %+v", res)
	}
	b.okJSON(&cr, "", "config", "get", "topic", "t", "retention.ms")
	if c := cr.Configs[0]; c.Source != "DEFAULT_CONFIG" {
		t.Fatalf("after a dry run: %+v", c)
	}
	b.ok("", "config", "set", "topic", "t", "retention.ms=1000", "cleanup.policy=compact")
	b.okJSON(&cr, "", "config", "get", "topic", "t")
	if c := findConfig(cr.Configs, "cleanup.policy"); c == nil || *c.Value != "compact" || c.Source != "DYNAMIC_TOPIC_CONFIG" {
		t.Fatalf("cleanup.policy: %+v", c)
	}
	if len(cr.Configs) < 10 {
		t.Fatalf("config get topic t without keys lists %d configs", len(cr.Configs))
	}
	b.ok("", "config", "set", "topic", "t", "--append", "cleanup.policy=delete")
	b.okJSON(&cr, "", "config", "get", "topic", "t", "cleanup.policy")
	if v := *cr.Configs[0].Value; v != "compact,delete" {
		t.Fatalf("after --append: %q", v)
	}
	b.ok("", "config", "set", "topic", "t", "--subtract", "cleanup.policy=compact")
	b.okJSON(&cr, "", "config", "get", "topic", "t", "cleanup.policy")
	if v := *cr.Configs[0].Value; v != "delete" {
		t.Fatalf("after --subtract: %q", v)
	}

	// Errors.
	r := b.fails("has no config nope", "", "config", "get", "topic", "t", "retention.ms", "nope")
	if !strings.Contains(r.stdout, "retention.ms") {
		t.Fatalf("the keys found are still printed:\n%s", r.stdout)
	}
	b.fails("UNKNOWN_TOPIC_OR_PARTITION", "", "config", "get", "topic", "missing")
	b.fails("UNKNOWN_TOPIC_OR_PARTITION", "", "config", "set", "topic", "missing", "retention.ms=1")
	b.fails("INVALID_CONFIG", "", "config", "set", "topic", "t", "nope.key=1")
	b.fails(`broker "x": want a node id`, "", "config", "get", "broker", "x")
	b.fails(`resource type "group"`, "", "config", "get", "group", "g")
	b.fails("want key=value", "", "config", "set", "topic", "t", "retention.ms")
	b.fails("want a config key", "", "config", "set", "topic", "t", "--delete", "a=b")
}
