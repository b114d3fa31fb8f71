package handlers

// AlterConfigs, key 33, versions 0-2.
//
// v1 is the same as v0 (answered before throttling); v2 is flexible.
//
// The legacy, non-incremental API: the configs given become the resource's
// whole set of overrides, and any override not given is removed.
//   - TOPIC: the topic's overrides are replaced. Validation follows Kafka's
//     controller: an empty name is INVALID_REQUEST, a bad name
//     INVALID_TOPIC_EXCEPTION, a bad key or value INVALID_CONFIG, and only
//     then an unknown topic UNKNOWN_TOPIC_OR_PARTITION.
//   - BROKER: named by this broker's id, its per-broker dynamic configs;
//     with an empty name, the cluster-wide dynamic defaults. As Kafka (see
//     KAFKA-13609), a config that cannot be applied is INVALID_REQUEST: a
//     read-only key ("Cannot update these configs dynamically: …", naming
//     every one), an unknown key or a bad value.
//   - anything else, BROKER_LOGGER included: INVALID_REQUEST.
//
// As Kafka's broker does first: a resource given twice is INVALID_REQUEST
// for every copy, as is a config key given twice in one resource or a null
// value. validate_only checks everything and changes nothing.

import (
	"context"
	"errors"
	"maps"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/broker"
	"github.com/gregor-dev/gregor/internal/config"
	"github.com/gregor-dev/gregor/internal/server"
)

func (h *Handlers) alterConfigs(_ context.Context, _ *server.Request, req *kmsg.AlterConfigsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	dups := duplicateResources(req.Resources, func(r *kmsg.AlterConfigsRequestResource) resourceKey {
		return resourceKey{r.ResourceType, r.ResourceName}
	})
	for i := range req.Resources {
		rr := &req.Resources[i]
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var err error
		if dups[resourceKey{rr.ResourceType, rr.ResourceName}] {
			err = errResourceTwice
		} else {
			err = h.alterResource(rr, req.ValidateOnly)
		}
		if err != nil {
			sr.ErrorCode = h.errCode(err)
			sr.ErrorMessage = errMessage(err)
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}

func (h *Handlers) alterResource(rr *kmsg.AlterConfigsRequestResource, validateOnly bool) error {
	given := make(map[string]string, len(rr.Configs))
	var nulls []string
	for _, c := range rr.Configs {
		if _, dup := given[c.Name]; dup {
			return errDuplicateKeys
		}
		given[c.Name] = ""
		if c.Value == nil {
			nulls = append(nulls, c.Name)
		} else {
			given[c.Name] = *c.Value
		}
	}
	if err := nullValues(nulls); err != nil {
		return err
	}
	switch rr.ResourceType {
	case kmsg.ConfigResourceTypeBroker:
		level, err := h.brokerAlterLevel(rr.ResourceName)
		if err != nil {
			return err
		}
		changes := make(map[string]*string, len(given))
		for k := range h.dynamicBrokerValues(rr.ResourceName) {
			changes[k] = nil
		}
		for k, v := range given {
			changes[k] = &v
		}
		return h.alterBrokerConfig(rr.ResourceName, level, changes, validateOnly)
	case kmsg.ConfigResourceTypeTopic:
		if err := checkTopicResource(rr.ResourceName); err != nil {
			return err
		}
		return h.alterTopicConfig(rr.ResourceName, given, validateOnly)
	}
	return apiErrorf(kerr.InvalidRequest, "Unknown resource type %d", rr.ResourceType)
}

// Errors both alter APIs answer with Kafka's messages.
var (
	errResourceTwice = apiErrorf(kerr.InvalidRequest, "Each resource must appear at most once.")
	errDuplicateKeys = apiErrorf(kerr.InvalidRequest, "Error due to duplicate config keys")
)

func nullValues(names []string) error {
	if len(names) == 0 {
		return nil
	}
	return apiErrorf(kerr.InvalidRequest, "Null value not supported for : %s", strings.Join(names, ", "))
}

// resourceKey identifies a config resource within a request.
type resourceKey struct {
	typ  kmsg.ConfigResourceType
	name string
}

// duplicateResources returns the resources that appear more than once.
func duplicateResources[R any](rs []R, key func(*R) resourceKey) map[resourceKey]bool {
	seen := make(map[resourceKey]bool, len(rs))
	dups := map[resourceKey]bool{}
	for i := range rs {
		k := key(&rs[i])
		if seen[k] {
			dups[k] = true
		}
		seen[k] = true
	}
	return dups
}

// checkTopicResource checks a TOPIC resource's name as Kafka's controller
// does before looking at its configs.
func checkTopicResource(name string) error {
	if name == "" {
		return apiErrorf(kerr.InvalidRequest, "Default topic resources are not allowed.")
	}
	return broker.ValidateTopicName(name)
}

// alterTopicConfig makes overrides the topic's whole set of overrides. The
// set is validated as a whole before the topic's existence is checked, in
// Kafka's order.
func (h *Handlers) alterTopicConfig(name string, overrides map[string]string, validateOnly bool) error {
	if err := config.ValidateTopicConfigs(h.b.Config(), overrides); err != nil {
		return err
	}
	return h.b.SetTopicConfig(name, overrides, validateOnly)
}

// dynamicBrokerValues is a copy of the committed dynamic configs of a
// BROKER resource ("" the cluster-wide defaults, else a broker id).
func (h *Handlers) dynamicBrokerValues(resource string) map[string]string {
	v := maps.Clone(h.cluster.Image().BrokerConfigs[resource])
	if v == nil {
		v = map[string]string{}
	}
	return v
}

// alterBrokerConfig applies changes (a nil value removes the key) to the
// dynamic broker configs of resource (at level), all or nothing, through
// the metadata log. Read-only keys are named together, as Kafka does; any
// refusal is INVALID_REQUEST, as in Kafka.
func (h *Handlers) alterBrokerConfig(resource string, level config.Source, changes map[string]*string, validateOnly bool) error {
	cfg := h.b.Config()
	readOnly := map[string]bool{}
	for _, e := range cfg.Entries() {
		readOnly[e.Name] = e.ReadOnly
	}
	var ro []string
	for _, k := range sortedKeys(changes) {
		if readOnly[k] {
			ro = append(ro, k)
		}
	}
	if len(ro) > 0 {
		return apiErrorf(kerr.InvalidRequest, "Cannot update these configs dynamically: %s", strings.Join(ro, ", "))
	}
	values := h.dynamicBrokerValues(resource)
	for k, v := range changes {
		if v == nil {
			delete(values, k)
		} else {
			values[k] = *v
		}
	}
	if err := h.b.UpdateDynamicConfig(resource, level, values, validateOnly); err != nil {
		if errors.Is(err, broker.ErrNotController) {
			return err
		}
		return &apiError{code: kerr.InvalidRequest, msg: err.Error()}
	}
	if !validateOnly {
		h.logger.Info("dynamic broker config changed", "level", level.String(), "keys", sortedKeys(changes))
	}
	return nil
}
