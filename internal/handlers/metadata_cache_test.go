package handlers

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/controller"
	"github.com/gregor-dev/gregor/internal/protocol"
)

// TestHandlersMetadataCacheFollowsTheImage: an answer is served from the
// cache only for the image, controller and cluster id it was built from,
// and only for the same request shape.
func TestHandlersMetadataCacheFollowsTheImage(t *testing.T) {
	var c metadataCache
	img1, img2 := controller.NewImage(), controller.NewImage()
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(12)
	key := metadataCacheKey(req)
	e := protocol.NewEncoded(req.ResponseKind())
	c.put(img1, 1, "c", key, e)
	if got := c.get(img1, 1, "c", key); got != e {
		t.Fatalf("same image: got %p, want the cached %p", got, e)
	}
	for name, miss := range map[string]func() *protocol.Encoded{
		"another image":      func() *protocol.Encoded { return c.get(img2, 1, "c", key) },
		"another controller": func() *protocol.Encoded { return c.get(img1, 2, "c", key) },
		"another cluster id": func() *protocol.Encoded { return c.get(img1, 1, "d", key) },
	} {
		if got := miss(); got != nil {
			t.Errorf("%s: served a cached answer", name)
		}
	}
	c.put(img2, 1, "c", key, protocol.NewEncoded(req.ResponseKind()))
	if c.get(img1, 1, "c", key) != nil {
		t.Error("an answer of the previous image survived a newer image's put")
	}
}

// TestHandlersMetadataCacheBounded: the cache keeps at most
// metadataCacheEntries answers and metadataCacheBytes bytes per image.
func TestHandlersMetadataCacheBounded(t *testing.T) {
	var c metadataCache
	img := controller.NewImage()
	req := kmsg.NewPtrMetadataRequest()
	small := &protocol.Encoded{Response: req.ResponseKind(), Body: make([]byte, 10)}
	for i := range metadataCacheEntries + 10 {
		c.put(img, 1, "c", fmt.Sprint(i), small)
	}
	if len(c.entries) != metadataCacheEntries {
		t.Errorf("%d entries cached, want the bound %d", len(c.entries), metadataCacheEntries)
	}
	c = metadataCache{}
	big := &protocol.Encoded{Response: req.ResponseKind(), Body: make([]byte, metadataCacheBytes/3)}
	for i := range 5 {
		c.put(img, 1, "c", fmt.Sprint(i), big)
	}
	if c.bytes > metadataCacheBytes || len(c.entries) != 2 {
		t.Errorf("%d entries of %d bytes cached, want 2 within %d", len(c.entries), c.bytes, metadataCacheBytes)
	}
}

// TestHandlersMetadataCacheKeyShapes: requests whose answers may differ
// have different keys.
func TestHandlersMetadataCacheKeyShapes(t *testing.T) {
	name := func(s string) *string { return &s }
	reqs := map[string]func(*kmsg.MetadataRequest){
		"all":         func(r *kmsg.MetadataRequest) { r.Topics = nil },
		"none":        func(r *kmsg.MetadataRequest) { r.Topics = []kmsg.MetadataRequestTopic{} },
		"v11":         func(r *kmsg.MetadataRequest) { r.Topics = nil; r.SetVersion(11) },
		"auto-create": func(r *kmsg.MetadataRequest) { r.Topics = nil; r.AllowAutoTopicCreation = true },
		"cluster-ops": func(r *kmsg.MetadataRequest) { r.Topics = nil; r.IncludeClusterAuthorizedOperations = true },
		"topic-ops":   func(r *kmsg.MetadataRequest) { r.Topics = nil; r.IncludeTopicAuthorizedOperations = true },
		"a":           func(r *kmsg.MetadataRequest) { r.Topics = []kmsg.MetadataRequestTopic{{Topic: name("a")}} },
		"ab":          func(r *kmsg.MetadataRequest) { r.Topics = []kmsg.MetadataRequestTopic{{Topic: name("ab")}} },
		"a,b": func(r *kmsg.MetadataRequest) {
			r.Topics = []kmsg.MetadataRequestTopic{{Topic: name("a")}, {Topic: name("b")}}
		},
		"b,a": func(r *kmsg.MetadataRequest) {
			r.Topics = []kmsg.MetadataRequestTopic{{Topic: name("b")}, {Topic: name("a")}}
		},
		"empty name":    func(r *kmsg.MetadataRequest) { r.Topics = []kmsg.MetadataRequestTopic{{Topic: name("")}} },
		"null name":     func(r *kmsg.MetadataRequest) { r.Topics = []kmsg.MetadataRequestTopic{{}} },
		"by id":         func(r *kmsg.MetadataRequest) { r.Topics = []kmsg.MetadataRequestTopic{{TopicID: [16]byte{1}}} },
		"by another id": func(r *kmsg.MetadataRequest) { r.Topics = []kmsg.MetadataRequestTopic{{TopicID: [16]byte{2}}} },
	}
	seen := map[string]string{}
	for shape, set := range reqs {
		r := kmsg.NewPtrMetadataRequest()
		r.SetVersion(12)
		set(r)
		k := metadataCacheKey(r)
		if other, ok := seen[k]; ok {
			t.Errorf("%q and %q share a cache key", shape, other)
		}
		seen[k] = shape
	}
}
