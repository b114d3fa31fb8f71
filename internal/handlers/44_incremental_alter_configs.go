package handlers

// IncrementalAlterConfigs, key 44, versions 0-1 (KIP-339).
//
// v1 is flexible.
//
// Each config carries an operation: SET (0) a value, DELETE (1) the override
// (a no-op when there is none), APPEND (2) elements missing from a LIST
// config, SUBTRACT (3) elements from it. APPEND and SUBTRACT start from the
// current override, or else from the key's built-in default (Kafka's schema
// default, not the value inherited from the broker), and are INVALID_CONFIG
// on a key that is not a LIST, or unknown. The new override set is then
// validated and applied as a whole, exactly as AlterConfigs applies one
// (33_alter_configs.go): the same resource types, name checks, error codes
// and validate_only; the same refusals first of a resource given twice, a
// key given twice, and a null value (except with DELETE); an unknown
// operation is INVALID_REQUEST. BROKER_LOGGER is refused as in
// DescribeConfigs: Gregor has no per-logger log levels.

import (
	"context"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/gregor-dev/gregor/internal/config"
	"github.com/gregor-dev/gregor/internal/server"
)

func (h *Handlers) incrementalAlterConfigs(_ context.Context, _ *server.Request, req *kmsg.IncrementalAlterConfigsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	dups := duplicateResources(req.Resources, func(r *kmsg.IncrementalAlterConfigsRequestResource) resourceKey {
		return resourceKey{r.ResourceType, r.ResourceName}
	})
	for i := range req.Resources {
		rr := &req.Resources[i]
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var err error
		if dups[resourceKey{rr.ResourceType, rr.ResourceName}] {
			err = errResourceTwice
		} else {
			err = h.incrementalAlterResource(rr, req.ValidateOnly)
		}
		if err != nil {
			sr.ErrorCode = h.errCode(err)
			sr.ErrorMessage = errMessage(err)
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}

func (h *Handlers) incrementalAlterResource(rr *kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) error {
	seen := make(map[string]bool, len(rr.Configs))
	var nulls []string
	for _, c := range rr.Configs {
		if seen[c.Name] {
			return errDuplicateKeys
		}
		seen[c.Name] = true
		if c.Op != kmsg.IncrementalAlterConfigOpDelete && c.Value == nil {
			nulls = append(nulls, c.Name)
		}
	}
	if err := nullValues(nulls); err != nil {
		return err
	}
	for _, c := range rr.Configs {
		if c.Op < kmsg.IncrementalAlterConfigOpSet || c.Op > kmsg.IncrementalAlterConfigOpSubtract {
			return apiErrorf(kerr.InvalidRequest, "Unknown operations type %d", c.Op)
		}
	}
	switch rr.ResourceType {
	case kmsg.ConfigResourceTypeBroker:
		level, err := h.brokerAlterLevel(rr.ResourceName)
		if err != nil {
			return err
		}
		cur := h.dynamicBrokerValues(rr.ResourceName)
		changes := make(map[string]*string, len(rr.Configs))
		err = applyOps(rr.Configs, cur, h.b.Config().Entries(), func(k string, v *string) { changes[k] = v })
		if err != nil {
			return err
		}
		return h.alterBrokerConfig(rr.ResourceName, level, changes, validateOnly)
	case kmsg.ConfigResourceTypeTopic:
		if err := checkTopicResource(rr.ResourceName); err != nil {
			return err
		}
		schema := config.NewTopic(h.b.Config(), nil).Entries()
		return h.b.UpdateTopicConfig(rr.ResourceName, func(overrides map[string]string) (map[string]string, error) {
			err := applyOps(rr.Configs, overrides, schema, func(k string, v *string) {
				if v == nil {
					delete(overrides, k)
				} else {
					overrides[k] = *v
				}
			})
			return overrides, err
		}, validateOnly)
	case kmsg.ConfigResourceTypeBrokerLogger:
		return h.brokerLoggerUnsupported(rr.ResourceName)
	}
	return apiErrorf(kerr.InvalidRequest, "Unknown resource type %d", rr.ResourceType)
}

// applyOps turns incremental operations into changes: set(k, &v) to set a
// value, set(k, nil) to remove one that cur holds. cur is the resource's
// current overrides; schema describes the keys (their type and default).
func applyOps(ops []kmsg.IncrementalAlterConfigsRequestResourceConfig, cur map[string]string, schema []config.Entry, set func(k string, v *string)) error {
	for _, c := range ops {
		switch c.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			set(c.Name, c.Value)
		case kmsg.IncrementalAlterConfigOpDelete:
			if _, ok := cur[c.Name]; ok {
				set(c.Name, nil)
			}
		default:
			i := slices.IndexFunc(schema, func(e config.Entry) bool { return e.Name == c.Name })
			if i < 0 || schema[i].Type != config.TypeList {
				return apiErrorf(kerr.InvalidConfig, "Can't %s to key %s because its type is not LIST.", opName(c.Op), c.Name)
			}
			old, ok := cur[c.Name]
			if !ok {
				old = schemaDefault(schema[i])
			}
			v := editList(old, *c.Value, c.Op == kmsg.IncrementalAlterConfigOpAppend)
			set(c.Name, &v)
		}
	}
	return nil
}

func opName(op kmsg.IncrementalAlterConfigOp) string {
	if op == kmsg.IncrementalAlterConfigOpAppend {
		return "APPEND"
	}
	return "SUBTRACT"
}

// schemaDefault is a key's built-in default: its DEFAULT_CONFIG synonym.
func schemaDefault(e config.Entry) string {
	for _, s := range e.Synonyms {
		if s.Source == config.SourceDefaultConfig {
			return s.Value
		}
	}
	return ""
}

// editList appends the elements of edit missing from list, or removes them
// from it; both are comma-separated.
func editList(list, edit string, add bool) string {
	elems := splitList(list)
	for _, e := range splitList(edit) {
		has := slices.Contains(elems, e)
		switch {
		case add && !has:
			elems = append(elems, e)
		case !add && has:
			elems = slices.DeleteFunc(elems, func(x string) bool { return x == e })
		}
	}
	return strings.Join(elems, ",")
}

func splitList(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}
