package bench

import (
	"errors"
	"testing"
	"time"
)

func TestBenchParseAcks(t *testing.T) {
	for in, want := range map[string]Acks{"0": AcksNone, "1": AcksLeader, "all": AcksAll, "ALL": AcksAll, "-1": AcksAll} {
		got, err := ParseAcks(in)
		if err != nil || got != want {
			t.Errorf("ParseAcks(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "2", "leader"} {
		if _, err := ParseAcks(bad); !errors.Is(err, ErrConfig) {
			t.Errorf("ParseAcks(%q) error %v, want ErrConfig", bad, err)
		}
	}
}

func TestBenchProduceConfigValidate(t *testing.T) {
	good := func() ProduceConfig {
		c := ProduceConfig{Common: Common{Brokers: []string{"127.0.0.1:9092"}, Topic: "t", Duration: time.Second}, Acks: AcksAll, Idempotent: true}
		c.withDefaults()
		return c
	}
	if c := good(); c.validate() != nil || c.RecordSize != 1024 || c.BatchBytes != 1<<20 || c.Producers != 1 || c.Partitions != 1 {
		t.Fatalf("defaults: %+v err %v", c, c.validate())
	}
	for name, mutate := range map[string]func(*ProduceConfig){
		"no brokers":           func(c *ProduceConfig) { c.Brokers = nil },
		"no topic":             func(c *ProduceConfig) { c.Topic = "" },
		"record below header":  func(c *ProduceConfig) { c.RecordSize = HeaderSize - 1 },
		"records and duration": func(c *ProduceConfig) { c.Records = 5 },
		"neither":              func(c *ProduceConfig) { c.Duration = 0 },
		"idempotent acks=1":    func(c *ProduceConfig) { c.Acks = AcksLeader },
		"bad compression":      func(c *ProduceConfig) { c.Compression = "brotli" },
		"negative rate":        func(c *ProduceConfig) { c.Rate = -1 },
		"negative keys":        func(c *ProduceConfig) { c.Keys = -1 },
		"negative warmup":      func(c *ProduceConfig) { c.Warmup = -time.Second },
	} {
		c := good()
		mutate(&c)
		if err := c.validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: validate = %v, want ErrConfig", name, err)
		}
	}
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		c := good()
		c.Compression = codec
		if err := c.validate(); err != nil {
			t.Errorf("compression %s: %v", codec, err)
		}
	}
	c := good()
	c.Acks, c.Idempotent, c.MaxInflight = AcksLeader, false, 5
	if err := c.validate(); err != nil {
		t.Fatalf("acks=1 non-idempotent: %v", err)
	}
}

func TestBenchValueHeader(t *testing.T) {
	v := newPayload(64)
	tail := append([]byte(nil), v[HeaderSize:]...)
	encodeHeader(v, 1_700_000_000_123_456_789, 42)
	ts, seq, err := decodeHeader(v)
	if err != nil || ts != 1_700_000_000_123_456_789 || seq != 42 {
		t.Fatalf("decode = %d, %d, %v", ts, seq, err)
	}
	if string(v[HeaderSize:]) != string(tail) {
		t.Fatal("encodeHeader wrote past the header")
	}
	if _, _, err := decodeHeader(v[:HeaderSize-1]); !errors.Is(err, errBadHeaderLength) {
		t.Fatalf("short value: %v", err)
	}
}
