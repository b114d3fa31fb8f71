package broker

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gregor-dev/gregor/internal/storage"
)

// Partition directories sit in the data directory as <topic>-<partition>,
// each with a partition.metadata naming its topic id. A deleted topic's
// directories are first renamed to <topic>-<partition>.<id>-delete, which
// start-up removes if a crash interrupted the deletion; a directory of an
// older topic of the same name is kept as <topic>-<partition>.<id>-stray.
const (
	deleteSuffix = "-delete"
	straySuffix  = "-stray"
)

// TopicID is a Kafka topic UUID.
type TopicID [16]byte

func (id TopicID) String() string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// ParseTopicID reads the String form.
func ParseTopicID(s string) (TopicID, error) {
	var id TopicID
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("broker: %q is not a topic id", s)
	}
	copy(id[:], b)
	return id, nil
}

// MarshalText encodes the id as hex (the legacy topics.json form).
func (id TopicID) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(id[:])), nil }

// UnmarshalText decodes the hex form.
func (id *TopicID) UnmarshalText(b []byte) error {
	if hex.DecodedLen(len(b)) != len(id) {
		return fmt.Errorf("broker: topic id %q: want %d hex bytes", b, len(id))
	}
	_, err := hex.Decode(id[:], b)
	return err
}

// NewTopicID returns a random version-4 UUID that Kafka would accept: not
// zero, not the metadata topic's reserved id, not printing with a leading '-'.
func NewTopicID() TopicID {
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

// NewClusterID returns a Kafka-style cluster id: a UUID in URL-safe base64.
func NewClusterID() string { return NewTopicID().String() }

func readFile(fsys storage.FS, name string) ([]byte, error) {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.NewSectionReader(f, 0, 1<<40))
}

// Before the metadata log, a single broker kept its topics in
// metadata/topics.json (replaced atomically): every topic (name, id,
// partition count, config overrides), the producer-id block end and the
// dynamic broker configs. LegacyMetadata reads it so that its content can
// be written to the metadata log once, at the first start of this version.
const (
	legacyMetadataDir = "metadata"
	legacyTopicsFile  = "topics.json"
)

// LegacyTopic is one topic of topics.json.
type LegacyTopic struct {
	Name       string            `json:"name"`
	ID         TopicID           `json:"id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
}

// Legacy is the content of topics.json.
type Legacy struct {
	Topics []LegacyTopic `json:"topics"`
	// ProducerIDBlockEnd is the first producer id not yet handed out in
	// blocks: ids below it may have been used.
	ProducerIDBlockEnd int64 `json:"producer_id_block_end"`
	// Dynamic broker configs set with AlterConfigs: this broker's and the
	// cluster-wide defaults.
	DynamicBroker  map[string]string `json:"dynamic_broker_configs,omitempty"`
	DynamicDefault map[string]string `json:"dynamic_default_broker_configs,omitempty"`
}

// LegacyMetadataPath is where topics.json lives under a data directory.
func LegacyMetadataPath(dataDir string) string {
	return filepath.Join(dataDir, legacyMetadataDir, legacyTopicsFile)
}

// ReadLegacyMetadata reads topics.json; ok is false when there is none.
func ReadLegacyMetadata(fsys storage.FS, dataDir string) (m Legacy, ok bool, err error) {
	b, err := readFile(fsys, LegacyMetadataPath(dataDir))
	if os.IsNotExist(err) {
		return m, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("broker: read %s: %w", legacyTopicsFile, err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, false, fmt.Errorf("broker: %s is corrupt: %w", legacyTopicsFile, err)
	}
	return m, true, nil
}

// RetireLegacyMetadata renames topics.json to topics.json.migrated once its
// content is in the metadata log.
func RetireLegacyMetadata(fsys storage.FS, dataDir string) error {
	p := LegacyMetadataPath(dataDir)
	if err := fsys.Rename(p, p+".migrated"); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("broker: retiring %s: %w", legacyTopicsFile, err)
	}
	return nil
}
