package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// MBUnit says what mb_per_s counts.
const MBUnit = "MiB/s (2^20 bytes of record values per second; keys and protocol overhead excluded)"

const mib = 1 << 20

// Result is the outcome of a run; its JSON form is the --json summary.
type Result struct {
	Workload string `json:"workload"` // produce, consume, e2e or omb
	// Config is the run's settings; the command line puts all its flags
	// here.
	Config      any     `json:"config"`
	Records     int64   `json:"records"` // measured (after warm-up), successfully produced or consumed
	Bytes       int64   `json:"bytes"`   // value bytes of those records
	DurationS   float64 `json:"duration_s"`
	RecordsPerS float64 `json:"records_per_s"`
	MBPerS      float64 `json:"mb_per_s"`
	MBUnit      string  `json:"mb_unit"`
	// Latency is produce latency, from intended send time to ack; nil for
	// consume.
	Latency *LatencySummary `json:"latency_us,omitempty"`
	// E2ELatency is consumer receive time minus the time in the record;
	// e2e only.
	E2ELatency *LatencySummary `json:"e2e_latency_us,omitempty"`
	// ConsumedRecords counts every record the e2e consumer received,
	// warm-up included (compare with produced_records).
	ConsumedRecords *int64 `json:"consumed_records,omitempty"`
	// ProducedRecords counts every record acknowledged, warm-up included;
	// e2e only.
	ProducedRecords *int64 `json:"produced_records,omitempty"`
	Errors          int64  `json:"errors"`
	// ErrorKinds counts each distinct error message.
	ErrorKinds map[string]int64 `json:"error_kinds,omitempty"`
	// LatencyClamped counts samples outside 0..60 s recorded at a bound.
	LatencyClamped int64 `json:"latency_clamped,omitempty"`
	// StoppedEarly says why the run ended before its records or duration
	// (interrupted, no progress, drain timeout); empty when it completed.
	StoppedEarly string `json:"stopped_early,omitempty"`
	// OMB is the consume side, the subscriptions and the backlog of an
	// OMB workload; omb only. The produce side is in the fields above.
	OMB *OMBSummary `json:"omb,omitempty"`

	// Setup is a one-line description for the table.
	Setup string `json:"-"`
}

// setThroughput fills the rates from records and bytes over elapsed.
func (r *Result) setThroughput(records, bytes int64, elapsed time.Duration) {
	r.Records, r.Bytes = records, bytes
	r.MBUnit = MBUnit
	r.DurationS = elapsed.Seconds()
	if elapsed > 0 {
		r.RecordsPerS = float64(records) / elapsed.Seconds()
		r.MBPerS = float64(bytes) / mib / elapsed.Seconds()
	}
}

func (r *Result) addErrors(logs ...*errorLog) {
	for _, l := range logs {
		r.Errors += l.count()
		for k, v := range l.kinds() {
			if r.ErrorKinds == nil {
				r.ErrorKinds = make(map[string]int64)
			}
			r.ErrorKinds[k] += v
		}
	}
}

// WriteJSON writes the summary as one indented JSON object.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the human-readable summary.
func (r *Result) WriteTable(w io.Writer) error {
	var err error
	p := func(format string, a ...any) {
		if err == nil {
			_, err = fmt.Fprintf(w, format, a...)
		}
	}
	p("%s  %s\n", r.Workload, r.Setup)
	p("  records     %d (measured, warm-up excluded)", r.Records)
	if r.ProducedRecords != nil && r.ConsumedRecords != nil {
		p("; produced %d, consumed %d in all", *r.ProducedRecords, *r.ConsumedRecords)
	}
	p("\n  bytes       %d (record values)\n", r.Bytes)
	p("  duration    %.3f s\n", r.DurationS)
	p("  throughput  %.0f records/s   %.2f MiB/s   (MiB = 2^20 bytes of record values)\n", r.RecordsPerS, r.MBPerS)
	if o := r.OMB; o != nil {
		p("  consumed    %.0f records/s   %.2f MiB/s   (%d subscription(s); duplicates %d, missing %d)\n",
			o.ConsumeRecordsPerS, o.ConsumeMBPerS, len(o.Subscriptions), o.Duplicates, o.Missing)
		if b := o.Backlog; b != nil {
			p("  backlog     %d records at resume (target %d) after %.1f s; ", b.RecordsAtResume, b.TargetRecords, b.BuildS)
			if b.Drained {
				p("drained to %d in %.1f s at %.0f records/s\n", b.DrainedLevel, b.DrainS, b.DrainRecordsPerS)
			} else {
				p("not drained\n")
			}
		}
		for _, c := range o.Plan.Changes {
			p("  scaled      %s\n", c)
		}
	}
	p("  errors      %d\n", r.Errors)
	for k, v := range r.ErrorKinds {
		p("    %6d × %s\n", v, k)
	}
	if r.StoppedEarly != "" {
		p("  stopped early: %s\n", r.StoppedEarly)
	}
	if r.Latency != nil || r.E2ELatency != nil {
		p("  latency (µs)        p50        p99      p99.9        max    samples\n")
		row := func(name string, s *LatencySummary) {
			if s != nil {
				p("  %-14s %10d %10d %10d %10d %10d\n", name, s.P50, s.P99, s.P999, s.Max, s.Count)
			}
		}
		row("produce ack", r.Latency)
		row("end-to-end", r.E2ELatency)
		if r.LatencyClamped > 0 {
			p("  %d samples outside 0..60 s were recorded at the bound\n", r.LatencyClamped)
		}
	}
	return err
}
