package broker

import (
	"fmt"
	"strings"
)

// maxTopicNameLen is Kafka's limit: a partition directory name (topic, '-',
// partition number, and a deletion suffix) must fit in 255 bytes.
const maxTopicNameLen = 249

// ValidateTopicName applies Kafka's topic name rules.
func ValidateTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: topic name is empty", ErrInvalidTopic)
	case name == "." || name == "..":
		return fmt.Errorf("%w: topic name cannot be %q", ErrInvalidTopic, name)
	case len(name) > maxTopicNameLen:
		return fmt.Errorf("%w: topic name is %d characters, the limit is %d", ErrInvalidTopic, len(name), maxTopicNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: topic name %q has an illegal character %q (legal: ASCII alphanumerics, '.', '_', '-')", ErrInvalidTopic, name, c)
		}
	}
	return nil
}

// collisionKey is the name with '.' mapped to '_': Kafka refuses two topics
// whose names differ only there, since metric names would collide.
func collisionKey(name string) string { return strings.ReplaceAll(name, ".", "_") }

// IsInternalTopic reports Kafka's internal topics.
func IsInternalTopic(name string) bool {
	return name == "__consumer_offsets" || name == "__transaction_state"
}
