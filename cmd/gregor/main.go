// Command gregor runs a Kafka-compatible broker (gregor serve) and its tools:
// bench, and the Kafka client commands of internal/cli (topic, produce,
// consume, group, cluster, config).
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/gregor-dev/gregor/internal/cli"
)

func main() {
	root := &cobra.Command{
		Use:           "gregor",
		Short:         "Gregor: a Kafka-compatible distributed commit log",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version(),
	}
	root.SetVersionTemplate("gregor {{.Version}}\n")
	root.AddCommand(serveCmd())
	root.AddCommand(benchCmd())
	root.AddCommand(readyCmd())
	cli.AddCommands(root)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "gregor:", err)
		os.Exit(1)
	}
}
