// Command gregor runs a Kafka-compatible broker (gregor serve) and its tools.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
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
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "gregor:", err)
		os.Exit(1)
	}
}
