package broker

import (
	"context"
	"maps"
	"strconv"
	"sync"
	"testing"

	"github.com/gregor-dev/gregor/internal/config"
	"github.com/gregor-dev/gregor/internal/storage"
)

// fakeController stands in for the metadata quorum of a single broker: it
// applies every admin change at once, with this broker the leader of every
// partition (the real applier lives in internal/cluster, tested there and
// through internal/node).
type fakeController struct {
	b       *Broker
	mu      sync.Mutex
	topics  map[string]TopicState
	configs map[string]map[string]string
	nextPID int64
	pidErr  error
}

func newFakeController(b *Broker) *fakeController {
	c := &fakeController{b: b, topics: map[string]TopicState{}, configs: map[string]map[string]string{}}
	b.SetController(c)
	return c
}

func (c *fakeController) apply(s TopicState) error {
	s.Local = func(int32) bool { return true }
	c.topics[s.Name] = s
	if err := c.b.ApplyTopic(s); err != nil {
		return err
	}
	self := c.b.NodeID()
	t, _ := c.b.Topic(s.Name)
	for _, p := range c.b.Partitions(t) {
		if !p.IsLeader() {
			if err := p.BecomeLeader(max(p.LeaderEpoch(), 0), []int32{self}, []int32{self}); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *fakeController) CreateTopic(spec TopicSpec) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.topics[spec.Name]; ok {
		return ErrTopicExists
	}
	return c.apply(TopicState{Name: spec.Name, ID: NewTopicID(), Configs: maps.Clone(spec.Configs), Partitions: spec.Partitions})
}

func (c *fakeController) DeleteTopic(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.topics, name)
	c.b.RemoveTopic(name)
	return nil
}

func (c *fakeController) CreatePartitions(name string, total int32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.topics[name]
	s.Partitions = total
	return c.apply(s)
}

func (c *fakeController) SetTopicConfig(name string, overrides map[string]string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.topics[name]
	s.Configs = maps.Clone(overrides)
	return c.apply(s)
}

func (c *fakeController) SetBrokerConfig(resource string, values map[string]string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.configs[resource] = maps.Clone(values)
	return c.b.ApplyBrokerConfigs(c.configs[""], c.configs[strconv.Itoa(int(c.b.NodeID()))])
}

func (c *fakeController) LiveBrokers() int { return 1 }

func (c *fakeController) AllocateProducerIDs(context.Context) (int64, int32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pidErr != nil {
		return 0, 0, c.pidErr
	}
	start := c.nextPID
	c.nextPID += 10
	return start, 10, nil
}

// openBroker opens a broker on dir with the fake controller.
func openBroker(t *testing.T, dir string, fsys storage.FS, sets ...string) *Broker {
	t.Helper()
	b, _ := openBrokerCtl(t, dir, fsys, sets...)
	return b
}

func openBrokerCtl(t *testing.T, dir string, fsys storage.FS, sets ...string) (*Broker, *fakeController) {
	t.Helper()
	cfg, err := config.Load(config.LoadOptions{Sets: append([]string{"log.dirs=" + dir}, sets...)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(cfg, Options{FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	return b, newFakeController(b)
}
