package handlers_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/broker"
	"github.com/gregor-dev/gregor/internal/record/recordtest"
	"github.com/gregor-dev/gregor/internal/server"
)

// seedRequests are well-formed requests of every served API, the starting
// points of FuzzHandlersRequest.
func seedRequests() []kmsg.Request {
	topic := "fuzz"
	var reqs []kmsg.Request

	av := kmsg.NewPtrApiVersionsRequest()
	av.ClientSoftwareName, av.ClientSoftwareVersion = "gregor-fuzz", "1.0"
	av.SetVersion(3)
	reqs = append(reqs, av)

	md := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = &topic
	md.Topics = append(md.Topics, mt)
	md.SetVersion(12)
	reqs = append(reqs, md)

	pr := kmsg.NewPtrProduceRequest()
	pr.Acks = -1
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = topic
	pp := kmsg.NewProduceRequestTopicPartition()
	b := recordtest.Simple(3, time.Now().UnixMilli())
	b.ProducerID, b.BaseSequence = 1, 0
	pp.Records = b.Encode()
	pt.Partitions = append(pt.Partitions, pp)
	pr.Topics = append(pr.Topics, pt)
	pr.SetVersion(9)
	reqs = append(reqs, pr)

	fr := kmsg.NewPtrFetchRequest()
	fr.MaxWaitMillis, fr.MinBytes, fr.MaxBytes = 10, 1, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	fr.Topics = append(fr.Topics, ft)
	fr.SetVersion(12)
	reqs = append(reqs, fr)

	lo := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = topic
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Timestamp = -3
	lt.Partitions = append(lt.Partitions, lp)
	lo.Topics = append(lo.Topics, lt)
	lo.SetVersion(7)
	reqs = append(reqs, lo)

	ct := kmsg.NewPtrCreateTopicsRequest()
	ctt := kmsg.NewCreateTopicsRequestTopic()
	ctt.Topic, ctt.NumPartitions, ctt.ReplicationFactor = "fuzz-new", 2, 1
	ct.Topics = append(ct.Topics, ctt)
	ct.ValidateOnly = true
	ct.SetVersion(5)
	reqs = append(reqs, ct)

	cp := kmsg.NewPtrCreatePartitionsRequest()
	cpt := kmsg.NewCreatePartitionsRequestTopic()
	cpt.Topic, cpt.Count = topic, 3
	cp.Topics = append(cp.Topics, cpt)
	cp.ValidateOnly = true
	cp.SetVersion(3)
	reqs = append(reqs, cp)

	dr := kmsg.NewPtrDeleteRecordsRequest()
	drt := kmsg.NewDeleteRecordsRequestTopic()
	drt.Topic = topic
	drp := kmsg.NewDeleteRecordsRequestTopicPartition()
	drp.Offset = 0
	drt.Partitions = append(drt.Partitions, drp)
	dr.Topics = append(dr.Topics, drt)
	dr.SetVersion(2)
	reqs = append(reqs, dr)

	ip := kmsg.NewPtrInitProducerIDRequest()
	ip.SetVersion(4)
	reqs = append(reqs, ip)

	oe := kmsg.NewPtrOffsetForLeaderEpochRequest()
	oet := kmsg.NewOffsetForLeaderEpochRequestTopic()
	oet.Topic = topic
	oep := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	oet.Partitions = append(oet.Partitions, oep)
	oe.Topics = append(oe.Topics, oet)
	oe.SetVersion(4)
	reqs = append(reqs, oe)

	dc := kmsg.NewPtrDescribeConfigsRequest()
	dcr := kmsg.NewDescribeConfigsRequestResource()
	dcr.ResourceType, dcr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	dc.Resources = append(dc.Resources, dcr)
	dc.IncludeSynonyms = true
	dc.SetVersion(4)
	reqs = append(reqs, dc)

	ia := kmsg.NewPtrIncrementalAlterConfigsRequest()
	iar := kmsg.NewIncrementalAlterConfigsRequestResource()
	iar.ResourceType, iar.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	iac := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	v := "86400000"
	iac.Name, iac.Value = "retention.ms", &v
	iar.Configs = append(iar.Configs, iac)
	ia.Resources = append(ia.Resources, iar)
	ia.ValidateOnly = true
	ia.SetVersion(1)
	reqs = append(reqs, ia)

	ac := kmsg.NewPtrAlterConfigsRequest()
	acr := kmsg.NewAlterConfigsRequestResource()
	acr.ResourceType, acr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	ac.Resources = append(ac.Resources, acr)
	ac.ValidateOnly = true
	ac.SetVersion(2)
	reqs = append(reqs, ac)

	dcl := kmsg.NewPtrDescribeClusterRequest()
	dcl.SetVersion(1)
	reqs = append(reqs, dcl)

	group := "fuzz-group"
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKeys = []string{group}
	fc.SetVersion(4)
	reqs = append(reqs, fc)

	jg := kmsg.NewPtrJoinGroupRequest()
	jg.Group, jg.SessionTimeoutMillis, jg.RebalanceTimeoutMillis, jg.ProtocolType = group, 10000, 10000, "consumer"
	jp := kmsg.NewJoinGroupRequestProtocol()
	jp.Name, jp.Metadata = "range", []byte{0, 1, 0, 0, 0, 1, 0, 4, 'f', 'u', 'z', 'z', 0, 0, 0, 0}
	jg.Protocols = append(jg.Protocols, jp)
	jg.SetVersion(9)
	reqs = append(reqs, jg)

	sg := kmsg.NewPtrSyncGroupRequest()
	sg.Group, sg.Generation, sg.MemberID = group, 1, "m-1"
	sg.SetVersion(5)
	reqs = append(reqs, sg)

	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.Generation, hb.MemberID = group, 1, "m-1"
	hb.SetVersion(4)
	reqs = append(reqs, hb)

	lg := kmsg.NewPtrLeaveGroupRequest()
	lg.Group = group
	lm := kmsg.NewLeaveGroupRequestMember()
	lm.MemberID = "m-1"
	lg.Members = append(lg.Members, lm)
	lg.SetVersion(5)
	reqs = append(reqs, lg)

	oc := kmsg.NewPtrOffsetCommitRequest()
	oc.Group, oc.Generation = group, -1
	oct := kmsg.NewOffsetCommitRequestTopic()
	oct.Topic = topic
	ocp := kmsg.NewOffsetCommitRequestTopicPartition()
	ocp.Offset = 1
	oct.Partitions = append(oct.Partitions, ocp)
	oc.Topics = append(oc.Topics, oct)
	oc.SetVersion(8)
	reqs = append(reqs, oc)

	of := kmsg.NewPtrOffsetFetchRequest()
	ofg := kmsg.NewOffsetFetchRequestGroup()
	ofg.Group = group
	of.Groups = append(of.Groups, ofg)
	of.SetVersion(8)
	reqs = append(reqs, of)

	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Groups = []string{group}
	dg.SetVersion(5)
	reqs = append(reqs, dg)

	lgs := kmsg.NewPtrListGroupsRequest()
	lgs.StatesFilter = []string{"Empty"}
	lgs.SetVersion(4)
	reqs = append(reqs, lgs)

	dgs := kmsg.NewPtrDeleteGroupsRequest()
	dgs.Groups = []string{group}
	dgs.SetVersion(2)
	reqs = append(reqs, dgs)

	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = group
	odt := kmsg.NewOffsetDeleteRequestTopic()
	odt.Topic = topic
	odp := kmsg.NewOffsetDeleteRequestTopicPartition()
	odt.Partitions = append(odt.Partitions, odp)
	od.Topics = append(od.Topics, odt)
	reqs = append(reqs, od)

	dt := kmsg.NewPtrDeleteTopicsRequest()
	dtt := kmsg.NewDeleteTopicsRequestTopic()
	gone := "fuzz-gone"
	dtt.Topic = &gone
	dt.Topics = append(dt.Topics, dtt)
	dt.SetVersion(6)
	reqs = append(reqs, dt)
	return reqs
}

// frameOf encodes a request as the broker reads it (without the size).
func frameOf(req kmsg.Request, corr int32) []byte {
	return kmsg.NewRequestFormatter(kmsg.FormatterClientID("fuzz")).AppendRequest(nil, req, corr)[4:]
}

// TestHandlersWriteFuzzSeeds refreshes the checked-in seed corpus when
// GREGOR_WRITE_FUZZ_SEEDS=1; otherwise it checks the corpus is there.
func TestHandlersWriteFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzHandlersRequest")
	if os.Getenv("GREGOR_WRITE_FUZZ_SEEDS") != "1" {
		entries, err := os.ReadDir(dir)
		if err != nil || len(entries) < len(seedRequests()) {
			t.Fatalf("seed corpus %s has %d files, want at least %d (err %v); regenerate with GREGOR_WRITE_FUZZ_SEEDS=1", dir, len(entries), len(seedRequests()), err)
		}
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, req := range seedRequests() {
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", frameOf(req, int32(i)))
		name := fmt.Sprintf("seed-%02d-%s-v%d", req.Key(), kmsg.NameForKey(req.Key()), req.GetVersion())
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// creates counts the partitions a request would create.
func creates(req kmsg.Request) int64 {
	var n int64
	switch r := req.(type) {
	case *kmsg.CreateTopicsRequest:
		for _, t := range r.Topics {
			n += int64(max(t.NumPartitions, int32(len(t.ReplicaAssignment))))
		}
	case *kmsg.CreatePartitionsRequest:
		for _, t := range r.Topics {
			n += int64(t.Count)
		}
	}
	return n
}

// FuzzHandlersRequest feeds arbitrary frames through request parsing and the
// handlers of a real broker: nothing may panic, and every answer must encode
// into a response its own decoder reads back.
func FuzzHandlersRequest(f *testing.F) {
	for i, req := range seedRequests() {
		f.Add(frameOf(req, int32(i)))
	}
	tb := startBroker(f, "auto.create.topics.enable=false")
	if _, _, err := tb.b.CreateTopic(broker.TopicSpec{Name: "fuzz", Partitions: 2, ReplicationFactor: 1}, false); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		req, err := server.ParseRequest(frame, tb.h)
		if err != nil || creates(req.Body) > 64 {
			// Thousands of partitions are legal but take seconds of
			// file creation: not what this target is looking for.
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		resp, err := tb.h.Handle(ctx, req)
		if err != nil || resp == nil {
			return
		}
		out := server.AppendResponse(nil, req, resp)
		back := req.Body.ResponseKind()
		skip := 8 // size and correlation id
		if resp.IsFlexible() && req.Key != server.ApiVersionsKey {
			skip++ // empty tagged fields
		}
		if err := back.ReadFrom(out[skip:]); err != nil {
			t.Fatalf("%s v%d response does not decode: %v", kmsg.NameForKey(req.Key), req.Version, err)
		}
	})
}
