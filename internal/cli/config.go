package cli

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

// Config resource types as the commands name them.
const (
	resourceTopic  = "topic"
	resourceBroker = "broker"
)

func configCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Read and change broker and topic configs",
		Long: `Read (DescribeConfigs) and change (IncrementalAlterConfigs) configs.

A broker is named by its node id; "" names the cluster-wide default of every
broker (kafka-configs.sh --entity-default).`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(configGetCmd(g), configSetCmd(g))
	return cmd
}

// configEntry is one config in JSON.
type configEntry struct {
	Name      string  `json:"name"`
	Value     *string `json:"value"` // null: unset or sensitive
	Source    string  `json:"source"`
	Sensitive bool    `json:"sensitive"`
}

func configEntries(cs []kadm.Config) []configEntry {
	out := make([]configEntry, 0, len(cs))
	for _, c := range cs {
		out = append(out, configEntry{Name: c.Key, Value: c.Value, Source: c.Source.String(), Sensitive: c.Sensitive})
	}
	slices.SortFunc(out, func(a, b configEntry) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (c configEntry) shownValue() string {
	switch {
	case c.Sensitive:
		return "(sensitive)"
	case c.Value == nil:
		return "(unset)"
	}
	return *c.Value
}

func printConfigTable(w io.Writer, cs []configEntry) error {
	t := newTable(w, "KEY", "VALUE", "SOURCE")
	for _, c := range cs {
		t.row(c.Name, c.shownValue(), c.Source)
	}
	return t.flush()
}

// configResource is the JSON of config get.
type configResource struct {
	ResourceType string        `json:"resource_type"` // topic or broker
	ResourceName string        `json:"resource_name"` // "" for the cluster-wide broker default
	Configs      []configEntry `json:"configs"`
}

// parseResource checks the resource type and name of config get/set; a
// broker name is a node id or "".
func parseResource(typ, name string) ([]int32, error) {
	switch typ {
	case resourceTopic:
		if name == "" {
			return nil, fmt.Errorf("topic: empty name")
		}
		return nil, nil
	case resourceBroker:
		if name == "" {
			return nil, nil
		}
		id, err := strconv.ParseInt(name, 10, 32)
		if err != nil || id < 0 {
			return nil, fmt.Errorf("broker %q: want a node id, or \"\" for the cluster-wide default", name)
		}
		return []int32{int32(id)}, nil
	}
	return nil, fmt.Errorf("resource type %q: want broker or topic", typ)
}

func completeResource(g *globals) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		switch len(args) {
		case 0:
			return []cobra.Completion{resourceBroker, resourceTopic}, cobra.ShellCompDirectiveNoFileComp
		case 1:
			if args[0] == resourceTopic {
				return completeTopics(g)(cmd, nil, toComplete)
			}
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}

func configGetCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "get broker|topic NAME [KEY...]",
		Short: "Show configs with their values and sources",
		Example: `  gregor config get topic orders retention.ms
  gregor config get broker 1
  gregor config get broker "" log.retention.ms`,
		Args:              cobra.MinimumNArgs(2),
		ValidArgsFunction: completeResource(g),
		RunE: run(g, func(s *session, adm *kadm.Client, args []string) error {
			typ, name, keys := args[0], args[1], args[2:]
			brokers, err := parseResource(typ, name)
			if err != nil {
				return err
			}
			var rcs kadm.ResourceConfigs
			if typ == resourceTopic {
				rcs, err = adm.DescribeTopicConfigs(s.ctx, name)
			} else {
				rcs, err = adm.DescribeBrokerConfigs(s.ctx, brokers...)
			}
			if err != nil {
				return fmt.Errorf("describe configs: %w", err)
			}
			rc, err := rcs.On(name, nil)
			if err != nil {
				return fmt.Errorf("%s %q: %w", typ, name, err)
			}
			if err := kafkaErr(rc.Err, rc.ErrMessage); err != nil {
				return fmt.Errorf("%s %q: %w", typ, name, err)
			}
			entries := configEntries(rc.Configs)
			var missing []string
			if len(keys) > 0 {
				var kept []configEntry
				for _, k := range keys {
					i := slices.IndexFunc(entries, func(c configEntry) bool { return c.Name == k })
					if i < 0 {
						missing = append(missing, k)
						continue
					}
					kept = append(kept, entries[i])
				}
				entries = nonNil(kept)
			}
			if s.asJSON {
				err = writeJSON(s.out, configResource{ResourceType: typ, ResourceName: name, Configs: entries})
			} else {
				err = printConfigTable(s.out, entries)
			}
			if err != nil {
				return err
			}
			if len(missing) > 0 {
				return fmt.Errorf("%s %q has no config %s", typ, name, strings.Join(missing, ", "))
			}
			return nil
		}),
	}
}

func configSetCmd(g *globals) *cobra.Command {
	var a alterFlags
	cmd := &cobra.Command{
		Use:   "set broker|topic NAME [KEY=VALUE...] [--delete KEY]...",
		Short: "Set or delete configs (IncrementalAlterConfigs)",
		Long: `Set or delete configs with IncrementalAlterConfigs. A deleted config returns
to its default (for a broker: the cluster-wide value, then the static one).`,
		Example: `  gregor config set topic orders retention.ms=3600000 --delete cleanup.policy
  gregor config set broker "" log.retention.ms=86400000`,
		Args:              cobra.MinimumNArgs(2),
		ValidArgsFunction: completeResource(g),
		RunE: run(g, func(s *session, adm *kadm.Client, args []string) error {
			typ, name := args[0], args[1]
			if _, err := parseResource(typ, name); err != nil {
				return err
			}
			ops, err := a.ops(args[2:])
			if err != nil {
				return err
			}
			return alterConfigs(s, adm, typ, []string{name}, ops, a.dryRun)
		}),
	}
	a.register(cmd, false)
	return cmd
}

// alterFlags are the flags of config set and topic alter-config.
type alterFlags struct {
	sets, deletes, appends, subtracts []string
	dryRun                            bool
}

func (a *alterFlags) register(cmd *cobra.Command, withSet bool) {
	fl := cmd.Flags()
	if withSet {
		fl.StringArrayVarP(&a.sets, "set", "s", nil, "set a config, key=value (repeatable)")
	}
	fl.StringArrayVarP(&a.deletes, "delete", "d", nil, "delete a config, back to its default (repeatable)")
	fl.StringArrayVar(&a.appends, "append", nil, "append to a list config, key=value (repeatable)")
	fl.StringArrayVar(&a.subtracts, "subtract", nil, "remove from a list config, key=value (repeatable)")
	fl.BoolVar(&a.dryRun, "dry-run", false, "validate only")
}

// configChange is one operation in JSON.
type configChange struct {
	Name  string  `json:"name"`
	Op    string  `json:"op"`    // set, delete, append, subtract
	Value *string `json:"value"` // null for delete
}

// ops gathers every operation asked, with extra key=value pairs to set;
// a key may appear in one operation only.
func (a *alterFlags) ops(extraSets []string) ([]configChange, error) {
	var out []configChange
	seen := map[string]string{}
	add := func(flag, op string, kvs []string, withValue bool) error {
		for _, kv := range kvs {
			c := configChange{Name: kv, Op: op}
			if withValue {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return fmt.Errorf("%s %q: want key=value", flag, kv)
				}
				c.Name, c.Value = k, &v
			} else if kv == "" || strings.Contains(kv, "=") {
				return fmt.Errorf("%s %q: want a config key", flag, kv)
			}
			if prev, ok := seen[c.Name]; ok {
				return fmt.Errorf("config %q: given to %s and %s; one operation per key", c.Name, prev, op)
			}
			seen[c.Name] = op
			out = append(out, c)
		}
		return nil
	}
	if err := firstErr(
		add("KEY=VALUE", "set", extraSets, true),
		add("--set", "set", a.sets, true),
		add("--delete", "delete", a.deletes, false),
		add("--append", "append", a.appends, true),
		add("--subtract", "subtract", a.subtracts, true),
	); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("nothing to change: give key=value pairs or --delete/--append/--subtract")
	}
	return out, nil
}

// alterResult is the JSON of config set and topic alter-config, one per
// resource.
type alterResult struct {
	ResourceType string         `json:"resource_type"`
	ResourceName string         `json:"resource_name"`
	Changes      []configChange `json:"changes"`
	DryRun       bool           `json:"dry_run"`
	Error        string         `json:"error,omitempty"`
}

// alterConfigs applies the changes to every named resource of one type.
func alterConfigs(s *session, adm *kadm.Client, typ string, names []string, changes []configChange, dryRun bool) error {
	alters := make([]kadm.AlterConfig, 0, len(changes))
	for _, c := range changes {
		op := map[string]kadm.IncrementalOp{"set": kadm.SetConfig, "delete": kadm.DeleteConfig,
			"append": kadm.AppendConfig, "subtract": kadm.SubtractConfig}[c.Op]
		alters = append(alters, kadm.AlterConfig{Op: op, Name: c.Name, Value: c.Value})
	}
	var (
		resp kadm.AlterConfigsResponses
		err  error
	)
	if typ == resourceTopic {
		alter := adm.AlterTopicConfigs
		if dryRun {
			alter = adm.ValidateAlterTopicConfigs
		}
		resp, err = alter(s.ctx, alters, names...)
	} else {
		brokers, perr := parseResource(typ, names[0])
		if perr != nil {
			return perr
		}
		alter := adm.AlterBrokerConfigs
		if dryRun {
			alter = adm.ValidateAlterBrokerConfigs
		}
		resp, err = alter(s.ctx, alters, brokers...)
	}
	if err != nil {
		return fmt.Errorf("alter configs: %w", err)
	}
	f := failures{what: typ + "s"}
	var results []alterResult
	for _, name := range names {
		r, err := resp.On(name, nil)
		if err == nil {
			err = kafkaErr(r.Err, r.ErrMessage)
		}
		if err != nil {
			err = fmt.Errorf("%s %q: %w", typ, name, err)
		}
		f.add(err)
		results = append(results, alterResult{ResourceType: typ, ResourceName: name, Changes: changes, DryRun: dryRun, Error: errString(err)})
	}
	if s.asJSON {
		err = writeJSON(s.out, results)
	} else {
		t := newTable(s.out, strings.ToUpper(typ), "KEY", "OP", "VALUE", "STATUS")
		for _, r := range results {
			status := orElse(r.Error, "OK")
			if r.Error == "" && dryRun {
				status = "OK (dry run)"
			}
			for _, c := range r.Changes {
				v := "-"
				if c.Value != nil {
					v = *c.Value
				}
				t.row(orElse(r.ResourceName, `""`), c.Name, c.Op, v, status)
			}
		}
		err = t.flush()
	}
	if err != nil {
		return err
	}
	return f.err()
}
