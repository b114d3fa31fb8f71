package handlers

import (
	"encoding/binary"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/controller"
	"github.com/gregor-dev/gregor/internal/protocol"
)

// The answers kept for one image are bounded in number and in bytes:
// clients ask for all topics or for the few they use, so a few shapes cover
// them; a request beyond either bound is answered uncached.
const (
	metadataCacheEntries = 256
	metadataCacheBytes   = 16 << 20
)

// metadataCache keeps encoded Metadata answers. An answer is a function of
// the metadata image (immutable; a change publishes a new one), the
// controller id and cluster id (which live outside the image) and the
// request's shape (metadataCacheKey): all entries are dropped as soon as
// any of the first three differs from what they were built from.
type metadataCache struct {
	mu           sync.Mutex
	img          *controller.Image // guarded by mu, with the fields below
	controllerID int32
	clusterID    string
	entries      map[string]*protocol.Encoded
	bytes        int // of the entries' keys and bodies
}

// get returns the answer to the request shape key as of img, nil if none
// is cached.
func (c *metadataCache) get(img *controller.Image, controllerID int32, clusterID, key string) *protocol.Encoded {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.img != img || c.controllerID != controllerID || c.clusterID != clusterID {
		return nil
	}
	return c.entries[key]
}

// put caches e as the answer to key as of img, first dropping the answers
// of any other image.
func (c *metadataCache) put(img *controller.Image, controllerID int32, clusterID, key string, e *protocol.Encoded) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.img != img || c.controllerID != controllerID || c.clusterID != clusterID {
		c.img, c.controllerID, c.clusterID = img, controllerID, clusterID
		c.entries, c.bytes = make(map[string]*protocol.Encoded), 0
	}
	size := len(key) + len(e.Body)
	if _, ok := c.entries[key]; !ok && len(c.entries) < metadataCacheEntries && c.bytes+size <= metadataCacheBytes {
		c.entries[key] = e
		c.bytes += size
	}
}

// metadataCacheKey is everything of a Metadata request its answer depends
// on: the version, the flags and the topics asked for, by name (or null)
// and id, in order.
func metadataCacheKey(req *kmsg.MetadataRequest) string {
	var flags byte
	for i, f := range []bool{req.Topics == nil, req.AllowAutoTopicCreation,
		req.IncludeClusterAuthorizedOperations, req.IncludeTopicAuthorizedOperations} {
		if f {
			flags |= 1 << i
		}
	}
	b := make([]byte, 0, 3+len(req.Topics)*24)
	b = binary.BigEndian.AppendUint16(b, uint16(req.Version))
	b = append(b, flags)
	for _, t := range req.Topics {
		b = append(b, t.TopicID[:]...)
		if t.Topic == nil {
			b = append(b, 0)
			continue
		}
		b = append(b, 1)
		b = binary.AppendUvarint(b, uint64(len(*t.Topic)))
		b = append(b, *t.Topic...)
	}
	return string(b)
}
