package storage

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/gregor-dev/gregor/internal/record"
	"github.com/gregor-dev/gregor/internal/record/recordtest"
)

// cleanBenchBytes is the log size the cleaner benchmarks build: 64 MiB, or
// GREGOR_CLEAN_BENCH_BYTES (the figure is for 1 GiB:
// GREGOR_CLEAN_BENCH_BYTES=1073741824 go test ./internal/storage -run XXX
// -bench BenchmarkStorageClean -benchtime 1x).
func cleanBenchBytes(b *testing.B) int64 {
	if s := os.Getenv("GREGOR_CLEAN_BENCH_BYTES"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			b.Fatalf("GREGOR_CLEAN_BENCH_BYTES=%q", s)
		}
		return n
	}
	return 64 << 20
}

// BenchmarkStorageClean cleans a log of 1 KiB values written in batches of
// 10 records with random keys, one distinct key per 10 records (so about
// 90% of the records are older values), all of it in closed segments of 64
// MiB, with Kafka's default 128 MiB offset map, and with a 1 MiB map that
// holds fewer keys than the log has, so that cleaning takes several passes.
// One iteration cleans a freshly written log completely; throughput is log
// bytes cleaned per second.
func BenchmarkStorageClean(b *testing.B) {
	for _, codec := range []int8{0, 3, 4} {
		b.Run(fmt.Sprintf("codec=%d", codec), func(b *testing.B) { benchmarkClean(b, codec, 128<<20) })
	}
	b.Run("codec=0/map=1MiB", func(b *testing.B) { benchmarkClean(b, 0, 1<<20) })
}

func benchmarkClean(b *testing.B, codec int8, mapMemory int) {
	const (
		valueLen = 1024
		perBatch = 10
	)
	b.StopTimer()
	target := cleanBenchBytes(b)
	records := int(target / (valueLen + 30))
	keys := max(records/10, 1)
	m := NewOffsetMap(mapMemory)
	m.Reset() // allocated up front: the heap growth measured is the rest
	var st CleanStats
	var size int64
	var heapDelta uint64
	passes := 0
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		l, err := Open(OS, dir, Options{SegmentBytes: 64 << 20, Logger: quietLogger()})
		if err != nil {
			b.Fatal(err)
		}
		r := rand.New(rand.NewPCG(1, uint64(i)))
		value := make([]byte, valueLen)
		for j := range value {
			value[j] = byte('a' + j%23)
		}
		now := time.Now().UnixMilli()
		for n := 0; n < records; n += perBatch {
			bt := recordtest.Batch{ProducerID: -1, BaseSequence: -1}
			for k := 0; k < perBatch; k++ {
				v := append([]byte(nil), value...)
				binaryPutRand(v, r)
				bt.Records = append(bt.Records, recordtest.Record{Key: []byte(fmt.Sprintf("key-%08d", r.IntN(keys))), Value: v, Timestamp: now})
			}
			// Compressed with the record package's shared compressors:
			// recordtest makes new ones for every batch, which at this
			// scale costs gigabytes.
			raw, err := record.Recompress(bt.Encode(), record.Codec(codec))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := l.Append(raw); err != nil {
				b.Fatal(err)
			}
		}
		if err := l.Roll(); err != nil {
			b.Fatal(err)
		}
		if err := l.Flush(); err != nil {
			b.Fatal(err)
		}
		size = l.Size()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		b.StartTimer()
		for {
			st, err = l.Clean(context.Background(), CleanOptions{Map: m, DeleteRetentionMs: 1 << 40})
			if err != nil {
				b.Fatal(err)
			}
			passes++
			if !st.MapFull {
				break
			}
		}
		b.StopTimer()
		runtime.ReadMemStats(&after)
		heapDelta = max(heapDelta, after.HeapInuse-min(before.HeapInuse, after.HeapInuse))
		if st.SegmentsRewritten == 0 {
			b.Fatalf("the last pass cleaned nothing: %+v", st)
		}
		l.Close()
		os.RemoveAll(dir)
	}
	b.SetBytes(size)
	b.ReportMetric(float64(records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(records)*(valueLen+30)*float64(b.N)/b.Elapsed().Seconds()/1e6, "uncompressed-MB/s")
	b.ReportMetric(float64(size)/(1<<20), "log-MiB")
	b.ReportMetric(float64(st.SizeAfter)/(1<<20), "cleaned-MiB")
	b.ReportMetric(float64(keys), "keys")
	b.ReportMetric(float64(m.BufferCap())/(1<<20), "map-MiB")
	b.ReportMetric(float64(passes)/float64(b.N), "passes")
	b.ReportMetric(float64(heapDelta)/(1<<20), "heap-growth-MiB")
	b.Logf("%d records, %d keys, codec %d: %+v", records, keys, codec, st)
}

// binaryPutRand makes the first 16 bytes of v random, so that values
// differ but compress like typical payloads with some structure.
func binaryPutRand(v []byte, r *rand.Rand) {
	for i := 0; i < 16 && i < len(v); i += 8 {
		x := r.Uint64()
		for j := 0; j < 8 && i+j < len(v); j++ {
			v[i+j] = byte(x >> (8 * j))
		}
	}
}
