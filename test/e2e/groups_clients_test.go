package e2e

import (
	"testing"
)

// Consumer groups with each client library and assignor: see
// runGroupScenario.

func TestE2EGroupsFranz(t *testing.T) {
	t.Parallel()
	for _, bal := range []string{"range", "cooperative-sticky"} {
		t.Run(bal, func(t *testing.T) {
			t.Parallel()
			runGroupScenario(t, groupClient{owners: true, start: func(w *groupWatch, name string) {
				w.startGo(name, "franz", bal, "")
			}})
		})
	}
}

func TestE2EGroupsSarama(t *testing.T) {
	t.Parallel()
	for _, bal := range []string{"range", "roundrobin"} {
		t.Run(bal, func(t *testing.T) {
			t.Parallel()
			runGroupScenario(t, groupClient{owners: true, start: func(w *groupWatch, name string) {
				w.startGo(name, "sarama", bal, "")
			}})
		})
	}
}

// TestE2EGroupsKafkaGo uses kafka-go's Reader with a GroupID, which does
// not report its assignments: ownership is checked through
// DescribeGroups only.
func TestE2EGroupsKafkaGo(t *testing.T) {
	t.Parallel()
	runGroupScenario(t, groupClient{start: func(w *groupWatch, name string) {
		w.startGo(name, "kafkago", "range", "")
	}})
}

func TestE2EGroupsConfluent(t *testing.T) {
	t.Parallel()
	requirePythonModule(t, "confluent_kafka", "python3-confluent-kafka")
	for _, assignor := range []string{"range", "cooperative-sticky"} {
		t.Run(assignor, func(t *testing.T) {
			t.Parallel()
			runGroupScenario(t, groupClient{owners: true, start: func(w *groupWatch, name string) {
				w.startConfluent(name, assignor, "")
			}})
		})
	}
}

func TestE2EGroupsKcat(t *testing.T) {
	t.Parallel()
	kcat := lookTool(t, "kcat", "kafkacat")
	runGroupScenario(t, groupClient{owners: true, start: func(w *groupWatch, name string) {
		w.startKcat(kcat, name, "roundrobin")
	}})
}
