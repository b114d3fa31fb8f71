// Command kfake-server runs franz-go's kfake as a standalone single-broker
// Kafka-protocol server on 127.0.0.1, the Kafka-protocol peer of the
// side-by-side benchmarks (bench/run.sh).
//
// With --data-dir kfake persists every batch to segment files on disk
// (kfake.DataDir); with --sync as well it fsyncs the segment and index
// after every batch before answering (kfake.SyncWrites), which is
// durability mode B. Without --data-dir it is purely in memory.
//
// It prints "kfake-server ready addr=HOST:PORT" on stdout when it serves
// and closes the cluster (flushing its files) on SIGTERM or SIGINT.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	port := flag.Int("port", 9092, "port on 127.0.0.1 (0: any free port)")
	dataDir := flag.String("data-dir", "", "persist to this directory (empty: in memory only)")
	syncWrites := flag.Bool("sync", false, "fsync every batch before acknowledging (needs --data-dir)")
	partitions := flag.Int("default-partitions", 1, "partitions of auto-created topics")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if *syncWrites && *dataDir == "" {
		log.Error("kfake-server: --sync needs --data-dir")
		os.Exit(2)
	}
	opts := []kfake.Opt{
		kfake.Ports(*port), // one port: one broker
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(*partitions),
	}
	if *dataDir != "" {
		opts = append(opts, kfake.DataDir(*dataDir))
	}
	if *syncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		log.Error("kfake-server: start", "err", err)
		os.Exit(1)
	}
	addrs := c.ListenAddrs()
	fmt.Printf("kfake-server ready addr=%s data-dir=%q sync=%t\n", addrs[0], *dataDir, *syncWrites)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	<-sigs
	done := make(chan struct{})
	go func() { c.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		log.Error("kfake-server: close did not finish in 30s; exiting")
		os.Exit(1)
	}
}
