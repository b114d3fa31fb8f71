package broker

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gregor-dev/gregor/internal/storage"
)

// On-disk broker metadata, under the data directory:
//
//	meta.properties          Kafka-style: version, cluster.id, node.id
//	metadata/topics.json     every topic (name, id, partition count, config
//	                         overrides), the producer-id block and the
//	                         dynamic broker configs; replaced
//	                         atomically (temp file, fsync, rename, fsync dir)
//
// Partition directories sit beside them as <topic>-<partition>; a deleted
// topic's directories are first renamed to <topic>-<partition>.<id>-delete,
// which start-up removes if a crash interrupted the deletion.
const (
	metaPropertiesFile = "meta.properties"
	metadataDir        = "metadata"
	topicsFile         = "topics.json"
	deleteSuffix       = "-delete"
	producerIDBlock    = 1000
)

// TopicID is a Kafka topic UUID.
type TopicID [16]byte

func (id TopicID) String() string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// MarshalText encodes the id as hex in topics.json.
func (id TopicID) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(id[:])), nil }

// UnmarshalText decodes the hex form.
func (id *TopicID) UnmarshalText(b []byte) error {
	if hex.DecodedLen(len(b)) != len(id) {
		return fmt.Errorf("broker: topic id %q: want %d hex bytes", b, len(id))
	}
	_, err := hex.Decode(id[:], b)
	return err
}

// newTopicID returns a random version-4 UUID that Kafka would accept: not
// zero, not the metadata topic's reserved id, not printing with a leading '-'.
func newTopicID() TopicID {
	for {
		var id TopicID
		if _, err := rand.Read(id[:]); err != nil {
			panic(err) // crypto/rand never fails on Linux
		}
		id[6] = id[6]&0x0f | 0x40
		id[8] = id[8]&0x3f | 0x80
		if id == (TopicID{}) || id == (TopicID{15: 1}) || strings.HasPrefix(id.String(), "-") {
			continue
		}
		return id
	}
}

// newClusterID returns a Kafka-style cluster id: a UUID in URL-safe base64.
func newClusterID() string { return newTopicID().String() }

type topicRecord struct {
	Name       string            `json:"name"`
	ID         TopicID           `json:"id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
}

type metadataFile struct {
	Topics []topicRecord `json:"topics"`
	// ProducerIDBlockEnd is the first producer id not yet handed out in
	// blocks: ids below it may have been used before a restart.
	ProducerIDBlockEnd int64 `json:"producer_id_block_end"`
	// Dynamic broker configs set with AlterConfigs: this broker's and the
	// cluster-wide defaults.
	DynamicBroker  map[string]string `json:"dynamic_broker_configs,omitempty"`
	DynamicDefault map[string]string `json:"dynamic_default_broker_configs,omitempty"`
}

func readFile(fsys storage.FS, name string) ([]byte, error) {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.NewSectionReader(f, 0, 1<<40))
}

func loadMetadata(fsys storage.FS, dataDir string) (metadataFile, error) {
	var m metadataFile
	b, err := readFile(fsys, filepath.Join(dataDir, metadataDir, topicsFile))
	if os.IsNotExist(err) {
		return m, nil
	}
	if err != nil {
		return m, fmt.Errorf("broker: read topic metadata: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("broker: topic metadata %s is corrupt: %w", topicsFile, err)
	}
	return m, nil
}

func saveMetadata(fsys storage.FS, dataDir string, m metadataFile) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Join(dataDir, metadataDir)
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return storage.WriteFileAtomic(fsys, filepath.Join(dir, topicsFile), b)
}

// loadMetaProperties reads or creates meta.properties and returns the
// cluster id. A node id different from the configured one is refused, as
// Kafka does: the directory belongs to another broker.
func loadMetaProperties(fsys storage.FS, dataDir string, nodeID int32) (string, error) {
	path := filepath.Join(dataDir, metaPropertiesFile)
	b, err := readFile(fsys, path)
	if os.IsNotExist(err) {
		id := newClusterID()
		content := fmt.Sprintf("#Written by gregor\nversion=1\ncluster.id=%s\nnode.id=%d\n", id, nodeID)
		return id, storage.WriteFileAtomic(fsys, path, []byte(content))
	}
	if err != nil {
		return "", fmt.Errorf("broker: read %s: %w", metaPropertiesFile, err)
	}
	props := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			props[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if props["cluster.id"] == "" {
		return "", fmt.Errorf("broker: %s has no cluster.id", path)
	}
	if s := props["node.id"]; s != "" {
		if n, err := strconv.ParseInt(s, 10, 32); err != nil || int32(n) != nodeID {
			return "", fmt.Errorf("broker: %s belongs to node.id %s, but this broker is configured with node.id %d", path, s, nodeID)
		}
	}
	return props["cluster.id"], nil
}
