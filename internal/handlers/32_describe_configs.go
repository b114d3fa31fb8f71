package handlers

// DescribeConfigs, key 32, versions 0-4.
//
// v1 (KIP-226) adds include_synonyms and each config's source (v0 has
// is_default instead, true here when the source is DEFAULT_CONFIG); v2
// answers before throttling; v3 (KIP-569) adds include_documentation and
// each config's type; v4 is flexible.
//
// Resources, as Kafka's ConfigHelper serves them:
//   - TOPIC (2): every topic config with its effective value and source
//     (DYNAMIC_TOPIC_CONFIG for an override, else the source of the broker
//     key it falls back to); an invalid name is INVALID_TOPIC_EXCEPTION, an
//     unknown topic UNKNOWN_TOPIC_OR_PARTITION.
//   - BROKER (4): named by this broker's node id, every broker config; with
//     an empty name, only the cluster-wide dynamic defaults that are set.
//     Any other name is INVALID_REQUEST.
//   - BROKER_LOGGER (8): Kafka lists its log4j loggers; Gregor logs through
//     one slog handler with no per-logger levels to list or change, so a
//     valid request for this broker is INVALID_REQUEST with a message saying
//     so (name checks as Kafka's).
//   - anything else: INVALID_REQUEST.
//
// A null or empty config_names asks for every config; unknown names are
// skipped. Sensitive values (passwords) are null, in synonyms too.

import (
	"context"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/broker"
	"github.com/gregor-dev/gregor/internal/config"
	"github.com/gregor-dev/gregor/internal/server"
)

func (h *Handlers) describeConfigs(_ context.Context, _ *server.Request, req *kmsg.DescribeConfigsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for i := range req.Resources {
		rr := &req.Resources[i]
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		entries, err := h.describeResource(rr.ResourceType, rr.ResourceName)
		if err != nil {
			sr.ErrorCode = h.errCode(err)
			// Kafka sends no message with UNKNOWN_TOPIC_OR_PARTITION here.
			if sr.ErrorCode != kerr.UnknownTopicOrPartition.Code {
				sr.ErrorMessage = errMessage(err)
			}
		}
		for _, e := range entries {
			if len(rr.ConfigNames) > 0 && !slices.Contains(rr.ConfigNames, e.Name) {
				continue
			}
			sr.Configs = append(sr.Configs, describedConfig(e, req.IncludeSynonyms, req.IncludeDocumentation))
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}

func (h *Handlers) describeResource(typ kmsg.ConfigResourceType, name string) ([]config.Entry, error) {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		if err := broker.ValidateTopicName(name); err != nil {
			return nil, err
		}
		t, ok := h.b.Topic(name)
		if !ok {
			return nil, broker.ErrUnknownTopic
		}
		return h.b.TopicConfig(t).Entries(), nil
	case kmsg.ConfigResourceTypeBroker:
		level, err := h.brokerLevel(name)
		if err != nil {
			return nil, err
		}
		if level == config.SourceDynamicDefaultBrokerConfig {
			return h.b.Config().ClusterDefaultEntries(), nil
		}
		return h.b.Config().Entries(), nil
	case kmsg.ConfigResourceTypeBrokerLogger:
		return nil, h.brokerLoggerUnsupported(name)
	}
	return nil, apiErrorf(kerr.InvalidRequest, "Unsupported resource type: %v", typ)
}

// brokerLevel maps a BROKER resource name to the dynamic config level it
// addresses: "" the cluster-wide defaults, this broker's id its own.
func (h *Handlers) brokerLevel(name string) (config.Source, error) {
	if name == "" {
		return config.SourceDynamicDefaultBrokerConfig, nil
	}
	if err := h.checkBrokerID(name); err != nil {
		return config.SourceUnknown, err
	}
	return config.SourceDynamicBrokerConfig, nil
}

// brokerAlterLevel is brokerLevel for changes: they go to the metadata log,
// so, as in KRaft, any registered broker's configs may be changed through
// any broker.
func (h *Handlers) brokerAlterLevel(name string) (config.Source, error) {
	if name == "" {
		return config.SourceDynamicDefaultBrokerConfig, nil
	}
	id, err := strconv.ParseInt(name, 10, 32)
	if err == nil {
		if _, ok := h.cluster.Image().Brokers[int32(id)]; ok {
			return config.SourceDynamicBrokerConfig, nil
		}
	}
	return h.brokerLevel(name)
}

// checkBrokerID refuses a resource name that is not this broker's node id.
func (h *Handlers) checkBrokerID(name string) error {
	self := h.b.NodeID()
	id, err := strconv.ParseInt(name, 10, 32)
	if err != nil {
		return apiErrorf(kerr.InvalidRequest, "Node id must be an integer, but it is: %s", name)
	}
	if int32(id) != self {
		return apiErrorf(kerr.InvalidRequest, "Unexpected broker id, expected %d or empty string, but received %s", self, name)
	}
	return nil
}

// brokerLoggerUnsupported answers a BROKER_LOGGER resource: Kafka's name
// checks first, then the reason Gregor has nothing to describe or alter.
func (h *Handlers) brokerLoggerUnsupported(name string) error {
	if name == "" {
		return apiErrorf(kerr.InvalidRequest, "Broker id must not be empty")
	}
	if err := h.checkBrokerID(name); err != nil {
		return err
	}
	return apiErrorf(kerr.InvalidRequest, "BROKER_LOGGER resources are not supported: Gregor has no per-logger log levels")
}

// describedConfig converts one config entry to its DescribeConfigs form.
func describedConfig(e config.Entry, synonyms, docs bool) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name, c.ReadOnly, c.IsSensitive = e.Name, e.ReadOnly, e.Sensitive
	if !e.Sensitive {
		c.Value = e.Value
	}
	c.Source = kmsg.ConfigSource(e.Source)
	c.IsDefault = e.Source == config.SourceDefaultConfig
	c.ConfigType = kmsg.ConfigType(e.Type)
	if docs && e.Doc != "" {
		doc := e.Doc
		c.Documentation = &doc
	}
	if synonyms {
		for _, s := range e.Synonyms {
			cs := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
			cs.Name, cs.Source = s.Name, kmsg.ConfigSource(s.Source)
			if !e.Sensitive {
				v := s.Value
				cs.Value = &v
			}
			c.ConfigSynonyms = append(c.ConfigSynonyms, cs)
		}
	}
	return c
}
