package cli

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

// completionTimeout bounds the broker round trip of a shell completion: a
// slow or absent broker must not hang the shell.
const completionTimeout = 2 * time.Second

// completeNames completes arguments with names a broker lists; cobra has
// parsed --brokers by then (no pre-run hook runs).
func completeNames(g *globals, list func(context.Context, *kadm.Client) ([]string, error)) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		ctx, cancel := context.WithTimeout(context.Background(), completionTimeout)
		defer cancel()
		adm, _, err := g.admin()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer adm.Close()
		names, err := list(ctx, adm)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, n := range names {
			if strings.HasPrefix(n, toComplete) {
				out = append(out, n)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeTopics completes topic names.
func completeTopics(g *globals) cobra.CompletionFunc {
	return completeNames(g, func(ctx context.Context, adm *kadm.Client) ([]string, error) {
		tds, err := adm.ListTopics(ctx)
		return tds.Names(), err
	})
}

// completeGroups completes consumer group names.
func completeGroups(g *globals) cobra.CompletionFunc {
	return completeNames(g, func(ctx context.Context, adm *kadm.Client) ([]string, error) {
		gs, err := adm.ListGroups(ctx)
		return gs.Groups(), err
	})
}
