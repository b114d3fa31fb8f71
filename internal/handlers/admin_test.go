package handlers_test

import (
	"errors"
	"github.com/gregor-dev/gregor/internal/handlers"
	"maps"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Helpers for the admin API tests. request, rawRequest and createTopic live
// in core_test.go, the harness in harness_test.go.

func nodeName(tb *testBroker) string { return strconv.Itoa(int(tb.b.NodeID())) }

func wantErr(t *testing.T, what string, got, want error) {
	t.Helper()
	if !errors.Is(got, want) {
		t.Fatalf("%s: got error %v, want %v", what, got, want)
	}
}

func wantCode(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	var wantCode int16
	if want != nil {
		wantCode = want.Code
	}
	if got != wantCode {
		t.Fatalf("%s: got error code %d (%v), want %d (%v)", what, got, kerr.ErrorForCode(got), wantCode, want)
	}
}

// overridesOf returns a topic's config overrides as the broker holds them.
func overridesOf(t *testing.T, tb *testBroker, topic string) map[string]string {
	t.Helper()
	top, ok := tb.b.Topic(topic)
	if !ok {
		t.Fatalf("topic %s does not exist", topic)
	}
	return tb.b.TopicConfig(top).Overrides()
}

func partitionCount(t *testing.T, tb *testBroker, topic string) int {
	t.Helper()
	top, ok := tb.b.Topic(topic)
	if !ok {
		t.Fatalf("topic %s does not exist", topic)
	}
	return len(tb.b.Partitions(top))
}

func describeTopicConfigs(t *testing.T, tb *testBroker, topic string) kadm.ResourceConfig {
	t.Helper()
	rcs, err := tb.admin(t).DescribeTopicConfigs(testCtx(t), topic)
	if err != nil || len(rcs) != 1 {
		t.Fatalf("describe %s: %v (%d resources)", topic, err, len(rcs))
	}
	return rcs[0]
}

func describeBrokerConfigs(t *testing.T, tb *testBroker, brokers ...int32) kadm.ResourceConfig {
	t.Helper()
	rcs, err := tb.admin(t).DescribeBrokerConfigs(testCtx(t), brokers...)
	if err != nil || len(rcs) != 1 {
		t.Fatalf("describe brokers %v: %v (%d resources)", brokers, err, len(rcs))
	}
	return rcs[0]
}

// configOf finds key in rc, failing the test if it is absent.
func configOf(t *testing.T, rc kadm.ResourceConfig, key string) kadm.Config {
	t.Helper()
	for _, c := range rc.Configs {
		if c.Key == key {
			return c
		}
	}
	t.Fatalf("%s: no config %s among %d", rc.Name, key, len(rc.Configs))
	return kadm.Config{}
}

func wantConfig(t *testing.T, c kadm.Config, value string, src kmsg.ConfigSource) {
	t.Helper()
	if c.MaybeValue() != value || c.Source != src {
		t.Fatalf("%s = %q (%v), want %q (%v)", c.Key, c.MaybeValue(), c.Source, value, src)
	}
}

func TestHandlersCreateTopics(t *testing.T) {
	tb := startBroker(t, "num.partitions=2")
	adm := tb.admin(t)
	ctx := testCtx(t)

	resp, err := adm.CreateTopic(ctx, 3, 1, map[string]*string{"retention.ms": kadm.StringPtr("1000")}, "events")
	if err != nil {
		t.Fatal(err)
	}
	if resp.NumPartitions != 3 || resp.ReplicationFactor != 1 || resp.ID == (kadm.TopicID{}) {
		t.Fatalf("created: %+v", resp)
	}
	if top, _ := tb.b.Topic("events"); top == nil || [16]byte(top.ID) != [16]byte(resp.ID) || partitionCount(t, tb, "events") != 3 {
		t.Fatalf("broker does not hold the topic the response describes")
	}
	wantConfig(t, resp.Configs["retention.ms"], "1000", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, resp.Configs["segment.bytes"], "1073741824", kmsg.ConfigSourceDefaultConfig)

	_, err = adm.CreateTopic(ctx, 1, 1, nil, "events")
	wantErr(t, "create existing", err, kerr.TopicAlreadyExists)

	// Defaults: -1 takes num.partitions and default.replication.factor.
	resp, err = adm.CreateTopic(ctx, -1, -1, nil, "defaults")
	if err != nil || resp.NumPartitions != 2 || resp.ReplicationFactor != 1 {
		t.Fatalf("defaults: %+v %v", resp, err)
	}

	if _, err := adm.CreateTopic(ctx, 1, 1, nil, strings.Repeat("x", 249)); err != nil {
		t.Fatalf("249-character name: %v", err)
	}
	for _, name := range []string{"", ".", "..", strings.Repeat("a", 250), "bad/name", "bad name", "ümlaut"} {
		_, err := adm.CreateTopic(ctx, 1, 1, nil, name)
		wantErr(t, "create "+strconv.Quote(name), err, kerr.InvalidTopicException)
	}
	createTopic(t, tb, "metrics.cpu", 1, nil)
	_, err = adm.CreateTopic(ctx, 1, 1, nil, "metrics_cpu")
	wantErr(t, "'.'/'_' collision", err, kerr.InvalidTopicException)

	// validate_only answers as a creation would and creates nothing.
	vr, err := adm.ValidateCreateTopics(ctx, 4, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, "dry")
	if err != nil || vr["dry"].Err != nil || vr["dry"].NumPartitions != 4 {
		t.Fatalf("validate only: %+v %v", vr, err)
	}
	wantConfig(t, vr["dry"].Configs["cleanup.policy"], "compact", kmsg.ConfigSourceDynamicTopicConfig)
	if _, ok := tb.b.Topic("dry"); ok {
		t.Fatal("validate_only created the topic")
	}
	vr, _ = adm.ValidateCreateTopics(ctx, 1, 1, nil, "events")
	wantErr(t, "validate existing", vr["events"].Err, kerr.TopicAlreadyExists)

	for _, bad := range []map[string]*string{
		{"retention.ms": kadm.StringPtr("soon")},
		{"no.such.config": kadm.StringPtr("1")},
		{"retention.ms": nil},
	} {
		r, _ := adm.CreateTopic(ctx, 1, 1, bad, "badconfig")
		wantErr(t, "bad config", r.Err, kerr.InvalidConfig)
		for k := range bad {
			if !strings.Contains(r.ErrMessage, k) {
				t.Fatalf("INVALID_CONFIG message %q does not name %s", r.ErrMessage, k)
			}
		}
	}
	if _, ok := tb.b.Topic("badconfig"); ok {
		t.Fatal("a topic with a bad config was created")
	}
	_, err = adm.CreateTopic(ctx, 1, 3, nil, "rf3")
	wantErr(t, "replication factor 3", err, kerr.InvalidReplicationFactor)
	_, err = adm.CreateTopic(ctx, 0, 1, nil, "zero")
	wantErr(t, "0 partitions", err, kerr.InvalidPartitions)

	// What kadm cannot send: duplicates, manual assignments, reserved names.
	self := tb.b.NodeID()
	topic := func(name string, partitions int32, rf int16, assignment ...[]int32) kmsg.CreateTopicsRequestTopic {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, rf
		for i, replicas := range assignment {
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Partition, a.Replicas = int32(i), replicas
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
		}
		return rt
	}
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 5000
	req.Topics = []kmsg.CreateTopicsRequestTopic{
		topic("twice", 1, 1), topic("twice", 2, 1),
		topic("manual", -1, -1, []int32{self}, []int32{self}),
		topic("manual-other-broker", -1, -1, []int32{self, self + 1}),
		topic("manual-twice", -1, -1, []int32{self, self}),
		topic("manual-with-rf", -1, 1, []int32{self}),
		topic("__cluster_metadata", 1, 1),
	}
	cr := request[*kmsg.CreateTopicsResponse](t, tb.client(t), req)
	want := map[string]*kerr.Error{
		"twice": kerr.InvalidRequest, "manual": nil,
		"manual-other-broker": kerr.InvalidReplicaAssignment, "manual-twice": kerr.InvalidReplicaAssignment,
		"manual-with-rf": kerr.InvalidRequest, "__cluster_metadata": kerr.InvalidRequest,
	}
	if len(cr.Topics) != len(want) {
		t.Fatalf("%d topics answered, want %d (one per distinct name)", len(cr.Topics), len(want))
	}
	for _, st := range cr.Topics {
		wantCode(t, st.Topic, st.ErrorCode, want[st.Topic])
		if st.ErrorCode != 0 && st.ErrorMessage == nil {
			t.Fatalf("%s: error without a message", st.Topic)
		}
	}
	if n := partitionCount(t, tb, "manual"); n != 2 {
		t.Fatalf("manual assignment: %d partitions, want 2", n)
	}
	if _, ok := tb.b.Topic("twice"); ok {
		t.Fatal("a topic named twice in one request was created")
	}

	// v0, which has no error message field, creates all the same.
	old := kmsg.NewPtrCreateTopicsRequest()
	old.Version, old.TimeoutMillis = 0, 5000
	old.Topics = []kmsg.CreateTopicsRequestTopic{topic("old-client", 2, 1)}
	or := rawRequest(t, tb.addr, old).(*kmsg.CreateTopicsResponse)
	wantCode(t, "v0 create", or.Topics[0].ErrorCode, nil)
	if n := partitionCount(t, tb, "old-client"); n != 2 {
		t.Fatalf("v0 create: %d partitions", n)
	}
}

func TestHandlersDeleteTopics(t *testing.T) {
	tb := startBroker(t)
	adm := tb.admin(t)
	ctx := testCtx(t)
	for _, n := range []string{"a", "b", "c", "d"} {
		createTopic(t, tb, n, 2, nil)
	}
	topA, _ := tb.b.Topic("a")

	r, err := adm.DeleteTopic(ctx, "a")
	if err != nil || r.ID != kadm.TopicID(topA.ID) {
		t.Fatalf("delete a: %+v %v", r, err)
	}
	if _, ok := tb.b.Topic("a"); ok {
		t.Fatal("a still exists")
	}
	_, err = adm.DeleteTopic(ctx, "a")
	wantErr(t, "delete deleted", err, kerr.UnknownTopicOrPartition)

	// Recreating gives a new topic with a new id and no old data.
	createTopic(t, tb, "a", 1, nil)
	if again, _ := tb.b.Topic("a"); again.ID == topA.ID {
		t.Fatal("recreated topic kept the old id")
	}

	// v6: by id, unknown id, both, neither, duplicates.
	topB, _ := tb.b.Topic("b")
	byID := func(id [16]byte) kmsg.DeleteTopicsRequestTopic {
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.TopicID = id
		return rt
	}
	byName := func(name string) kmsg.DeleteTopicsRequestTopic {
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.Topic = &name
		return rt
	}
	both := byName("c")
	both.TopicID = topB.ID
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.Version, req.TimeoutMillis = 6, 5000
	req.Topics = []kmsg.DeleteTopicsRequestTopic{byID(topB.ID), byID([16]byte{1, 2, 3}), both, byID([16]byte{}), byName("d"), byName("d")}
	resp := rawRequest(t, tb.addr, req).(*kmsg.DeleteTopicsResponse)
	if len(resp.Topics) != 5 {
		t.Fatalf("%d answers, want 5: %+v", len(resp.Topics), resp.Topics)
	}
	wantCode(t, "by id", resp.Topics[0].ErrorCode, nil)
	if resp.Topics[0].Topic == nil || *resp.Topics[0].Topic != "b" || resp.Topics[0].TopicID != [16]byte(topB.ID) {
		t.Fatalf("by id answered %+v", resp.Topics[0])
	}
	wantCode(t, "unknown id", resp.Topics[1].ErrorCode, kerr.UnknownTopicID)
	wantCode(t, "name and id", resp.Topics[2].ErrorCode, kerr.InvalidRequest)
	wantCode(t, "neither", resp.Topics[3].ErrorCode, kerr.InvalidRequest)
	wantCode(t, "name twice", resp.Topics[4].ErrorCode, kerr.InvalidRequest)
	if _, ok := tb.b.Topic("b"); ok {
		t.Fatal("b was not deleted by id")
	}
	// The same topic by name and by id: Kafka deletes neither.
	topC, _ := tb.b.Topic("c")
	req.Topics = []kmsg.DeleteTopicsRequestTopic{byName("c"), byID(topC.ID)}
	for _, st := range rawRequest(t, tb.addr, req).(*kmsg.DeleteTopicsResponse).Topics {
		wantCode(t, "name and id of one topic", st.ErrorCode, kerr.InvalidRequest)
	}
	for _, n := range []string{"c", "d"} {
		if _, ok := tb.b.Topic(n); !ok {
			t.Fatalf("%s was deleted by an invalid entry", n)
		}
	}

	// delete.topic.enable=false: TOPIC_DELETION_DISABLED, INVALID_REQUEST
	// before v3.
	off := startBroker(t, "delete.topic.enable=false")
	createTopic(t, off, "kept", 1, nil)
	_, err = off.admin(t).DeleteTopic(ctx, "kept")
	wantErr(t, "deletion disabled", err, kerr.TopicDeletionDisabled)
	v2 := kmsg.NewPtrDeleteTopicsRequest()
	v2.Version, v2.TimeoutMillis, v2.TopicNames = 2, 5000, []string{"kept"}
	wantCode(t, "deletion disabled v2", rawRequest(t, off.addr, v2).(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode, kerr.InvalidRequest)
	if _, ok := off.b.Topic("kept"); !ok {
		t.Fatal("topic deleted although deletion is disabled")
	}
}

func TestHandlersCreatePartitions(t *testing.T) {
	tb := startBroker(t)
	adm := tb.admin(t)
	ctx := testCtx(t)
	createTopic(t, tb, "grow", 1, nil)

	rs, err := adm.UpdatePartitions(ctx, 3, "grow")
	if err != nil || rs.Error() != nil {
		t.Fatalf("grow to 3: %v %v", err, rs.Error())
	}
	if n := partitionCount(t, tb, "grow"); n != 3 {
		t.Fatalf("%d partitions after growing to 3", n)
	}
	// The new partitions take records.
	cl := tb.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "grow", Partition: 2, Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatalf("produce to a new partition: %v", err)
	}

	for _, count := range []int{2, 3} {
		rs, err = adm.UpdatePartitions(ctx, count, "grow")
		if err != nil {
			t.Fatal(err)
		}
		r := rs["grow"]
		wantErr(t, "set "+strconv.Itoa(count), r.Err, kerr.InvalidPartitions)
		if !strings.Contains(r.ErrMessage, "3") {
			t.Fatalf("message %q does not say the current count", r.ErrMessage)
		}
	}
	rs, _ = adm.ValidateUpdatePartitions(ctx, 5, "grow")
	if rs.Error() != nil || partitionCount(t, tb, "grow") != 3 {
		t.Fatalf("validate only: %v, %d partitions", rs.Error(), partitionCount(t, tb, "grow"))
	}
	rs, _ = adm.UpdatePartitions(ctx, 2, "nope")
	wantErr(t, "unknown topic", rs["nope"].Err, kerr.UnknownTopicOrPartition)

	self := tb.b.NodeID()
	grow := func(name string, count int32, assignment ...[]int32) kmsg.CreatePartitionsRequestTopic {
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = name, count
		for _, replicas := range assignment {
			a := kmsg.NewCreatePartitionsRequestTopicAssignment()
			a.Replicas = replicas
			rt.Assignment = append(rt.Assignment, a)
		}
		return rt
	}
	createTopic(t, tb, "manual", 1, nil)
	createTopic(t, tb, "wrong-count", 1, nil)
	createTopic(t, tb, "other-broker", 1, nil)
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.TimeoutMillis = 5000
	req.Topics = []kmsg.CreatePartitionsRequestTopic{
		grow("manual", 3, []int32{self}, []int32{self}),
		grow("wrong-count", 3, []int32{self}),
		grow("other-broker", 2, []int32{self + 1}),
		grow("grow", 4), grow("grow", 5),
	}
	resp := request[*kmsg.CreatePartitionsResponse](t, tb.client(t), req)
	want := map[string]*kerr.Error{"manual": nil, "wrong-count": kerr.InvalidReplicaAssignment, "other-broker": kerr.InvalidReplicaAssignment, "grow": kerr.InvalidRequest}
	if len(resp.Topics) != len(want) {
		t.Fatalf("%d answers, want %d", len(resp.Topics), len(want))
	}
	for _, st := range resp.Topics {
		wantCode(t, st.Topic, st.ErrorCode, want[st.Topic])
	}
	for name, n := range map[string]int{"manual": 3, "wrong-count": 1, "other-broker": 1, "grow": 3} {
		if got := partitionCount(t, tb, name); got != n {
			t.Fatalf("%s: %d partitions, want %d", name, got, n)
		}
	}
}

func TestHandlersDescribeConfigs(t *testing.T) {
	tb := startBroker(t, "log.segment.bytes=2000000")
	createTopic(t, tb, "described", 1, map[string]*string{"retention.ms": kadm.StringPtr("12345")})

	rc := describeTopicConfigs(t, tb, "described")
	if rc.Err != nil {
		t.Fatal(rc.Err)
	}
	ret := configOf(t, rc, "retention.ms")
	wantConfig(t, ret, "12345", kmsg.ConfigSourceDynamicTopicConfig)
	if len(ret.Synonyms) == 0 || ret.Synonyms[0].Key != "retention.ms" || ret.Synonyms[0].Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("retention.ms synonyms: %+v", ret.Synonyms)
	}
	seg := configOf(t, rc, "segment.bytes")
	wantConfig(t, seg, "2000000", kmsg.ConfigSourceStaticBrokerConfig)
	if len(seg.Synonyms) != 2 || seg.Synonyms[0].Key != "log.segment.bytes" || seg.Synonyms[0].Source != kmsg.ConfigSourceStaticBrokerConfig ||
		seg.Synonyms[1].Source != kmsg.ConfigSourceDefaultConfig || *seg.Synonyms[1].Value != "1073741824" {
		t.Fatalf("segment.bytes synonyms: %+v", seg.Synonyms)
	}
	pol := configOf(t, rc, "cleanup.policy")
	wantConfig(t, pol, "delete", kmsg.ConfigSourceDefaultConfig)
	if len(pol.Synonyms) != 1 || pol.Synonyms[0].Key != "log.cleanup.policy" || pol.Synonyms[0].Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("cleanup.policy synonyms: %+v", pol.Synonyms)
	}

	rc = describeTopicConfigs(t, tb, "missing")
	wantErr(t, "unknown topic", rc.Err, kerr.UnknownTopicOrPartition)
	rc = describeTopicConfigs(t, tb, "bad/name")
	wantErr(t, "invalid topic", rc.Err, kerr.InvalidTopicException)

	self := tb.b.NodeID()
	br := describeBrokerConfigs(t, tb, self)
	if br.Err != nil {
		t.Fatal(br.Err)
	}
	wantConfig(t, configOf(t, br, "log.dirs"), tb.cfg.DataDir(), kmsg.ConfigSourceStaticBrokerConfig)
	wantConfig(t, configOf(t, br, "log.segment.bytes"), "2000000", kmsg.ConfigSourceStaticBrokerConfig)
	wantConfig(t, configOf(t, br, "message.max.bytes"), "1048588", kmsg.ConfigSourceDefaultConfig)
	if cd := describeBrokerConfigs(t, tb); cd.Err != nil || len(cd.Configs) != 0 {
		t.Fatalf("cluster defaults with none set: %v, %d configs", cd.Err, len(cd.Configs))
	}

	// What kadm does not ask: filters, documentation, types, other brokers,
	// v0. Raw requests: kgo would route a resource for another broker id to
	// a broker that does not exist.
	res := func(typ kmsg.ConfigResourceType, name string, keys ...string) kmsg.DescribeConfigsRequestResource {
		r := kmsg.NewDescribeConfigsRequestResource()
		r.ResourceType, r.ResourceName, r.ConfigNames = typ, name, keys
		return r
	}
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.Version, req.IncludeDocumentation = 4, true
	req.Resources = []kmsg.DescribeConfigsRequestResource{
		res(kmsg.ConfigResourceTypeTopic, "described", "retention.ms", "no.such.config"),
		res(kmsg.ConfigResourceTypeBroker, nodeName(tb), "node.id", "message.max.bytes"),
		res(kmsg.ConfigResourceTypeBrokerLogger, nodeName(tb)),
		res(kmsg.ConfigResourceTypeGroupConfig, "g"),
		res(kmsg.ConfigResourceTypeBroker, strconv.Itoa(int(self)+1)),
	}
	resp := rawRequest(t, tb.addr, req).(*kmsg.DescribeConfigsResponse)
	if len(resp.Resources) != 5 {
		t.Fatalf("%d resources answered", len(resp.Resources))
	}
	topicRes := resp.Resources[0]
	if len(topicRes.Configs) != 1 || topicRes.Configs[0].Name != "retention.ms" {
		t.Fatalf("filtered topic configs: %+v", topicRes.Configs)
	}
	c := topicRes.Configs[0]
	if c.ConfigType != kmsg.ConfigTypeLong || c.Documentation == nil || *c.Documentation == "" || len(c.ConfigSynonyms) != 0 || c.ReadOnly {
		t.Fatalf("retention.ms: type %v, doc %v, %d synonyms without asking, read-only %v", c.ConfigType, c.Documentation, len(c.ConfigSynonyms), c.ReadOnly)
	}
	brokerRes := resp.Resources[1]
	if len(brokerRes.Configs) != 2 {
		t.Fatalf("filtered broker configs: %+v", brokerRes.Configs)
	}
	for _, c := range brokerRes.Configs {
		if wantRO := c.Name == "node.id"; c.ReadOnly != wantRO {
			t.Fatalf("%s read-only %v, want %v", c.Name, c.ReadOnly, wantRO)
		}
	}
	wantCode(t, "broker logger", resp.Resources[2].ErrorCode, kerr.InvalidRequest)
	wantCode(t, "group resource", resp.Resources[3].ErrorCode, kerr.InvalidRequest)
	wantCode(t, "other broker", resp.Resources[4].ErrorCode, kerr.InvalidRequest)

	v0 := kmsg.NewPtrDescribeConfigsRequest()
	v0.Version = 0
	v0.Resources = []kmsg.DescribeConfigsRequestResource{res(kmsg.ConfigResourceTypeTopic, "described", "retention.ms", "compression.type")}
	for _, c := range rawRequest(t, tb.addr, v0).(*kmsg.DescribeConfigsResponse).Resources[0].Configs {
		if wantDefault := c.Name == "compression.type"; c.IsDefault != wantDefault {
			t.Fatalf("v0 %s is_default %v, want %v", c.Name, c.IsDefault, wantDefault)
		}
	}
}

func TestHandlersAlterConfigs(t *testing.T) {
	tb := startBroker(t)
	adm := tb.admin(t)
	ctx := testCtx(t)
	createTopic(t, tb, "legacy", 1, map[string]*string{
		"retention.ms":  kadm.StringPtr("1000"),
		"segment.bytes": kadm.StringPtr("2000000"),
	})

	set := []kadm.AlterConfig{{Name: "cleanup.policy", Value: kadm.StringPtr("compact")}}
	rs, err := adm.AlterTopicConfigsState(ctx, set, "legacy")
	if err != nil || rs[0].Err != nil {
		t.Fatalf("alter: %v %+v", err, rs)
	}
	if got, want := overridesOf(t, tb, "legacy"), map[string]string{"cleanup.policy": "compact"}; !maps.Equal(got, want) {
		t.Fatalf("overrides %v, want %v (full replacement)", got, want)
	}
	rc := describeTopicConfigs(t, tb, "legacy")
	wantConfig(t, configOf(t, rc, "cleanup.policy"), "compact", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, configOf(t, rc, "segment.bytes"), "1073741824", kmsg.ConfigSourceDefaultConfig)

	rs, _ = adm.ValidateAlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: kadm.StringPtr("5")}}, "legacy")
	if rs[0].Err != nil || overridesOf(t, tb, "legacy")["retention.ms"] != "" {
		t.Fatalf("validate only: %v, overrides %v", rs[0].Err, overridesOf(t, tb, "legacy"))
	}
	rs, _ = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: kadm.StringPtr("-5")}}, "legacy")
	wantErr(t, "bad value", rs[0].Err, kerr.InvalidConfig)
	rs, _ = adm.AlterTopicConfigsState(ctx, set, "missing")
	wantErr(t, "unknown topic", rs[0].Err, kerr.UnknownTopicOrPartition)
	if got := overridesOf(t, tb, "legacy"); len(got) != 1 {
		t.Fatalf("refused alterations changed the overrides: %v", got)
	}

	// Broker: replacement of this broker's dynamic configs.
	self := tb.b.NodeID()
	rs, err = adm.AlterBrokerConfigsState(ctx, []kadm.AlterConfig{{Name: "message.max.bytes", Value: kadm.StringPtr("2000000")}}, self)
	if err != nil || rs[0].Err != nil {
		t.Fatalf("alter broker: %v %+v", err, rs)
	}
	wantConfig(t, configOf(t, describeBrokerConfigs(t, tb, self), "message.max.bytes"), "2000000", kmsg.ConfigSourceDynamicBrokerConfig)
	rs, _ = adm.AlterBrokerConfigsState(ctx, []kadm.AlterConfig{{Name: "log.cleaner.backoff.ms", Value: kadm.StringPtr("1000")}}, self)
	if rs[0].Err != nil {
		t.Fatal(rs[0].Err)
	}
	br := describeBrokerConfigs(t, tb, self)
	wantConfig(t, configOf(t, br, "message.max.bytes"), "1048588", kmsg.ConfigSourceDefaultConfig)
	wantConfig(t, configOf(t, br, "log.cleaner.backoff.ms"), "1000", kmsg.ConfigSourceDynamicBrokerConfig)

	rs, _ = adm.AlterBrokerConfigsState(ctx, []kadm.AlterConfig{{Name: "num.partitions", Value: kadm.StringPtr("3")}, {Name: "log.dirs", Value: kadm.StringPtr("/x")}}, self)
	wantErr(t, "read-only keys", rs[0].Err, kerr.InvalidRequest)
	if !strings.Contains(rs[0].ErrMessage, "num.partitions") || !strings.Contains(rs[0].ErrMessage, "log.dirs") {
		t.Fatalf("message %q does not name the read-only keys", rs[0].ErrMessage)
	}
	if tb.cfg.Int("num.partitions") != 1 {
		t.Fatal("a read-only key changed")
	}

	// Refusals before any config is looked at, each with Kafka's message.
	res := func(typ kmsg.ConfigResourceType, name string, kv ...*string) kmsg.AlterConfigsRequestResource {
		r := kmsg.NewAlterConfigsRequestResource()
		r.ResourceType, r.ResourceName = typ, name
		for i := 0; i < len(kv); i += 2 {
			c := kmsg.NewAlterConfigsRequestResourceConfig()
			c.Name, c.Value = *kv[i], kv[i+1]
			r.Configs = append(r.Configs, c)
		}
		return r
	}
	s := kadm.StringPtr
	req := kmsg.NewPtrAlterConfigsRequest()
	req.Version = 2
	req.Resources = []kmsg.AlterConfigsRequestResource{
		res(kmsg.ConfigResourceTypeTopic, "legacy", s("retention.ms"), nil),
		res(kmsg.ConfigResourceTypeBroker, nodeName(tb), s("log.cleaner.backoff.ms"), s("1"), s("log.cleaner.backoff.ms"), s("2")),
		res(kmsg.ConfigResourceTypeBrokerLogger, nodeName(tb)),
		res(kmsg.ConfigResourceTypeBroker, strconv.Itoa(int(self)+1), s("log.cleaner.backoff.ms"), s("1")),
		res(kmsg.ConfigResourceTypeTopic, "twice", s("retention.ms"), s("1")),
		res(kmsg.ConfigResourceTypeTopic, "twice", s("retention.ms"), s("2")),
	}
	messages := []string{"Null value", "duplicate config keys", "Unknown resource type", "Unexpected broker id", "at most once", "at most once"}
	resp := rawRequest(t, tb.addr, req).(*kmsg.AlterConfigsResponse)
	if len(resp.Resources) != len(req.Resources) {
		t.Fatalf("%d resources answered", len(resp.Resources))
	}
	for i, r := range resp.Resources {
		wantCode(t, "refused resource "+strconv.Itoa(i), r.ErrorCode, kerr.InvalidRequest)
		if r.ErrorMessage == nil || !strings.Contains(*r.ErrorMessage, messages[i]) {
			t.Fatalf("resource %d: message %v, want one containing %q", i, r.ErrorMessage, messages[i])
		}
	}
	if got := overridesOf(t, tb, "legacy"); len(got) != 1 {
		t.Fatalf("refused alterations changed the overrides: %v", got)
	}
}

func TestHandlersIncrementalAlterConfigs(t *testing.T) {
	tb := startBroker(t)
	adm := tb.admin(t)
	ctx := testCtx(t)
	createTopic(t, tb, "inc", 1, nil)
	alter := func(topic string, ops ...kadm.AlterConfig) error {
		t.Helper()
		rs, err := adm.AlterTopicConfigs(ctx, ops, topic)
		if err != nil {
			t.Fatal(err)
		}
		return rs[0].Err
	}
	op := func(o kadm.IncrementalOp, name string, value ...string) kadm.AlterConfig {
		c := kadm.AlterConfig{Op: o, Name: name}
		if len(value) > 0 {
			c.Value = &value[0]
		}
		return c
	}
	wantOverrides := func(want map[string]string) {
		t.Helper()
		if got := overridesOf(t, tb, "inc"); !maps.Equal(got, want) {
			t.Fatalf("overrides %v, want %v", got, want)
		}
	}

	if err := alter("inc", op(kadm.SetConfig, "retention.ms", "5000"), op(kadm.SetConfig, "segment.bytes", "3000000")); err != nil {
		t.Fatal(err)
	}
	wantOverrides(map[string]string{"retention.ms": "5000", "segment.bytes": "3000000"})
	if err := alter("inc", op(kadm.DeleteConfig, "retention.ms"), op(kadm.DeleteConfig, "flush.ms")); err != nil {
		t.Fatal(err)
	}
	wantOverrides(map[string]string{"segment.bytes": "3000000"})

	// APPEND starts from the default "delete"; appending twice is a no-op.
	for range 2 {
		if err := alter("inc", op(kadm.AppendConfig, "cleanup.policy", "compact")); err != nil {
			t.Fatal(err)
		}
		wantOverrides(map[string]string{"segment.bytes": "3000000", "cleanup.policy": "delete,compact"})
	}
	if err := alter("inc", op(kadm.SubtractConfig, "cleanup.policy", "delete")); err != nil {
		t.Fatal(err)
	}
	wantOverrides(map[string]string{"segment.bytes": "3000000", "cleanup.policy": "compact"})
	wantConfig(t, configOf(t, describeTopicConfigs(t, tb, "inc"), "cleanup.policy"), "compact", kmsg.ConfigSourceDynamicTopicConfig)

	wantErr(t, "append to a LONG", alter("inc", op(kadm.AppendConfig, "retention.ms", "1")), kerr.InvalidConfig)
	wantErr(t, "append to an unknown key", alter("inc", op(kadm.AppendConfig, "no.such.config", "1")), kerr.InvalidConfig)
	wantErr(t, "bad value", alter("inc", op(kadm.SetConfig, "cleanup.policy", "shred")), kerr.InvalidConfig)
	wantErr(t, "unknown key", alter("inc", op(kadm.SetConfig, "no.such.config", "1")), kerr.InvalidConfig)
	wantErr(t, "unknown topic", alter("nope", op(kadm.SetConfig, "retention.ms", "1")), kerr.UnknownTopicOrPartition)
	wantErr(t, "duplicate key", alter("inc", op(kadm.SetConfig, "retention.ms", "1"), op(kadm.DeleteConfig, "retention.ms")), kerr.InvalidRequest)
	wantErr(t, "null value", alter("inc", op(kadm.SetConfig, "retention.ms")), kerr.InvalidRequest)
	rs, _ := adm.ValidateAlterTopicConfigs(ctx, []kadm.AlterConfig{op(kadm.SetConfig, "retention.ms", "1")}, "inc")
	if rs[0].Err != nil {
		t.Fatal(rs[0].Err)
	}
	wantOverrides(map[string]string{"segment.bytes": "3000000", "cleanup.policy": "compact"})

	// Broker levels: the cluster-wide default, then this broker's own
	// value, each showing through in the topic's resolved config.
	self := tb.b.NodeID()
	alterBroker := func(ops []kadm.AlterConfig, brokers ...int32) error {
		t.Helper()
		rs, err := adm.AlterBrokerConfigs(ctx, ops, brokers...)
		if err != nil {
			t.Fatal(err)
		}
		return rs[0].Err
	}
	if err := alterBroker([]kadm.AlterConfig{op(kadm.SetConfig, "log.retention.ms", "7200000")}); err != nil {
		t.Fatal(err)
	}
	cd := describeBrokerConfigs(t, tb)
	if len(cd.Configs) != 1 {
		t.Fatalf("cluster defaults: %+v", cd.Configs)
	}
	wantConfig(t, cd.Configs[0], "7200000", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
	wantConfig(t, configOf(t, describeTopicConfigs(t, tb, "inc"), "retention.ms"), "7200000", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
	if err := alterBroker([]kadm.AlterConfig{op(kadm.SetConfig, "log.retention.ms", "3600000")}, self); err != nil {
		t.Fatal(err)
	}
	wantConfig(t, configOf(t, describeTopicConfigs(t, tb, "inc"), "retention.ms"), "3600000", kmsg.ConfigSourceDynamicBrokerConfig)
	if err := alterBroker([]kadm.AlterConfig{op(kadm.AppendConfig, "log.cleanup.policy", "compact")}, self); err != nil {
		t.Fatal(err)
	}
	wantConfig(t, configOf(t, describeBrokerConfigs(t, tb, self), "log.cleanup.policy"), "delete,compact", kmsg.ConfigSourceDynamicBrokerConfig)
	if err := alterBroker([]kadm.AlterConfig{op(kadm.DeleteConfig, "log.retention.ms"), op(kadm.DeleteConfig, "log.cleanup.policy")}, self); err != nil {
		t.Fatal(err)
	}
	wantConfig(t, configOf(t, describeTopicConfigs(t, tb, "inc"), "retention.ms"), "7200000", kmsg.ConfigSourceDynamicDefaultBrokerConfig)

	wantErr(t, "read-only broker key", alterBroker([]kadm.AlterConfig{op(kadm.SetConfig, "num.partitions", "4")}, self), kerr.InvalidRequest)
	wantErr(t, "bad broker value", alterBroker([]kadm.AlterConfig{op(kadm.SetConfig, "message.max.bytes", "lots")}, self), kerr.InvalidRequest)
	wantErr(t, "append to a broker INT", alterBroker([]kadm.AlterConfig{op(kadm.AppendConfig, "message.max.bytes", "1")}, self), kerr.InvalidConfig)
	if tb.cfg.Int("num.partitions") != 1 || tb.cfg.Int("message.max.bytes") != 1048588 {
		t.Fatal("a refused broker alteration changed the config")
	}

	// Raw: a resource twice refuses both copies; another broker id; an
	// unknown operation.
	res := func(typ kmsg.ConfigResourceType, name string, o kmsg.IncrementalAlterConfigOp) kmsg.IncrementalAlterConfigsRequestResource {
		r := kmsg.NewIncrementalAlterConfigsRequestResource()
		r.ResourceType, r.ResourceName = typ, name
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op, c.Value = "retention.ms", o, kadm.StringPtr("1")
		r.Configs = append(r.Configs, c)
		return r
	}
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	req.Version = 1
	req.Resources = []kmsg.IncrementalAlterConfigsRequestResource{
		res(kmsg.ConfigResourceTypeTopic, "inc", kmsg.IncrementalAlterConfigOpSet),
		res(kmsg.ConfigResourceTypeTopic, "inc", kmsg.IncrementalAlterConfigOpSet),
		res(kmsg.ConfigResourceTypeBroker, strconv.Itoa(int(self)+1), kmsg.IncrementalAlterConfigOpSet),
		res(kmsg.ConfigResourceTypeTopic, "dr", 7),
	}
	for i, rr := range rawRequest(t, tb.addr, req).(*kmsg.IncrementalAlterConfigsResponse).Resources {
		wantCode(t, "refused resource "+strconv.Itoa(i), rr.ErrorCode, kerr.InvalidRequest)
	}
	wantOverrides(map[string]string{"segment.bytes": "3000000", "cleanup.policy": "compact"})
}

func TestHandlersDeleteRecords(t *testing.T) {
	tb := startBroker(t)
	adm := tb.admin(t)
	ctx := testCtx(t)
	createTopic(t, tb, "dr", 1, nil)
	createTopic(t, tb, "compacted", 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")})
	cl := tb.client(t, kgo.DefaultProduceTopic("dr"))
	for i := range 10 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte{byte(i)}, Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	deleteTo := func(topic string, partition int32, offset int64) kadm.DeleteRecordsResponse {
		t.Helper()
		var os kadm.Offsets
		os.AddOffset(topic, partition, offset, -1)
		rs, err := adm.DeleteRecords(ctx, os)
		if err != nil {
			t.Fatal(err)
		}
		return rs[topic][partition]
	}

	if r := deleteTo("dr", 0, 4); r.Err != nil || r.LowWatermark != 4 {
		t.Fatalf("delete to 4: %+v", r)
	}
	_, p, _ := tb.b.Partition("dr", 0)
	if p.LogStartOffset() != 4 {
		t.Fatalf("log start offset %d after deleting to 4", p.LogStartOffset())
	}
	starts, err := adm.ListStartOffsets(ctx, "dr")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := starts.Lookup("dr", 0); o.Offset != 4 {
		t.Fatalf("ListOffsets earliest %d, want 4", o.Offset)
	}
	if r := deleteTo("dr", 0, 2); r.Err != nil || r.LowWatermark != 4 {
		t.Fatalf("delete below the start: %+v", r)
	}
	r := deleteTo("dr", 0, 11)
	wantErr(t, "beyond the high watermark", r.Err, kerr.OffsetOutOfRange)
	if r.LowWatermark != -1 {
		t.Fatalf("failed deletion answered low watermark %d", r.LowWatermark)
	}
	if r := deleteTo("dr", 0, -1); r.Err != nil || r.LowWatermark != 10 {
		t.Fatalf("delete to the high watermark: %+v", r)
	}

	// Partitions the broker does not have go in a raw request: kadm would
	// fail to route them.
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.TimeoutMillis = 5000
	for _, tp := range []struct {
		topic string
		part  int32
	}{{"dr", 5}, {"nope", 0}, {"compacted", 0}, {"__consumer_offsets", 0}} {
		rt := kmsg.NewDeleteRecordsRequestTopic()
		rt.Topic = tp.topic
		rp := kmsg.NewDeleteRecordsRequestTopicPartition()
		rp.Partition, rp.Offset = tp.part, 0
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
	}
	resp := rawRequest(t, tb.addr, req).(*kmsg.DeleteRecordsResponse)
	want := []*kerr.Error{kerr.UnknownTopicOrPartition, kerr.UnknownTopicOrPartition, kerr.PolicyViolation, kerr.InvalidTopicException}
	for i, st := range resp.Topics {
		wantCode(t, st.Topic, st.Partitions[0].ErrorCode, want[i])
		if st.Partitions[0].LowWatermark != -1 {
			t.Fatalf("%s: low watermark %d on error", st.Topic, st.Partitions[0].LowWatermark)
		}
	}
}

func TestHandlersDescribeCluster(t *testing.T) {
	tb := startBroker(t, "broker.rack=r1")
	cl := tb.client(t)
	req := kmsg.NewPtrDescribeClusterRequest()
	req.IncludeClusterAuthorizedOperations = true
	resp := request[*kmsg.DescribeClusterResponse](t, cl, req)
	wantCode(t, "describe cluster", resp.ErrorCode, nil)
	self := tb.b.NodeID()
	if resp.ClusterID != tb.n.ClusterID() || resp.ClusterID == "" || resp.ControllerID != self || resp.EndpointType != 1 {
		t.Fatalf("cluster %q controller %d endpoint type %d", resp.ClusterID, resp.ControllerID, resp.EndpointType)
	}
	if len(resp.Brokers) != 1 {
		t.Fatalf("%d brokers", len(resp.Brokers))
	}
	b := resp.Brokers[0]
	if addr := b.Host + ":" + strconv.Itoa(int(b.Port)); b.NodeID != self || addr != tb.addr || b.Rack == nil || *b.Rack != "r1" || b.IsFenced {
		t.Fatalf("broker %+v, want node %d at %s in rack r1", b, self, tb.addr)
	}
	if resp.ClusterAuthorizedOperations != handlers.ClusterOperations {
		t.Fatalf("authorized operations %b", resp.ClusterAuthorizedOperations)
	}
	req.IncludeClusterAuthorizedOperations = false
	if ops := request[*kmsg.DescribeClusterResponse](t, cl, req).ClusterAuthorizedOperations; ops != handlers.OperationsOmitted {
		t.Fatalf("operations %d without asking", ops)
	}

	for typ, want := range map[int8]*kerr.Error{2: kerr.MismatchedEndpointType, 3: kerr.UnsupportedEndpointType} {
		req := kmsg.NewPtrDescribeClusterRequest()
		req.Version, req.EndpointType = 1, typ
		resp := rawRequest(t, tb.addr, req).(*kmsg.DescribeClusterResponse)
		wantCode(t, "endpoint type "+strconv.Itoa(int(typ)), resp.ErrorCode, want)
		if resp.ErrorMessage == nil || len(resp.Brokers) != 0 {
			t.Fatalf("endpoint type %d: message %v, %d brokers", typ, resp.ErrorMessage, len(resp.Brokers))
		}
	}

	// A broker without a rack reports none.
	plain := startBroker(t)
	if b := request[*kmsg.DescribeClusterResponse](t, plain.client(t), kmsg.NewPtrDescribeClusterRequest()).Brokers[0]; b.Rack != nil {
		t.Fatalf("rack %q without broker.rack", *b.Rack)
	}
}
