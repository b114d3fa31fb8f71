package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Decompression for validation, bounded and pooled.
//
// Kafka's LogValidator decompresses every compressed batch a producer
// sends and reads its records one at a time from the decompressing stream
// (skipping keys and values where it can); it sets no bound on what the
// records decompress to. Gregor reads them the same way, gzip, lz4 and
// zstd streamed through a buffer that holds one record at a time (snappy,
// which Kafka's clients send as one block or as snappy-java's framing of
// blocks, is decoded whole), and refuses with INVALID_RECORD a batch whose
// records decompress to more than maxRecordsSize, so that a small
// compressed batch cannot cost unbounded memory or time (a "decompression
// bomb"). Its records fail early too: validation stops at the first one
// that does not parse, before decompressing the rest. Per batch validated,
// memory is bounded by the largest record (the buffer grows as its bytes
// arrive, not as its length claims), the codec's state (zstd's window, at
// most maxZstdWindow; lz4's block, at most 4 MiB) and, for snappy, the
// decoded records (their claimed size is checked first against the bound
// and against what the compressed bytes could expand to).
//
// Decoders, their buffers and snappy's output are pooled, so a validation
// in steady state allocates nothing.

const (
	// maxRecordsSize bounds the decompressed records of one batch. One
	// record may legitimately be large (max.message.bytes bounds the
	// compressed batch, and a producer's max.request.size the record), so
	// the bound is not a multiple of the record count; 64 MiB is far past
	// what producers build (batch.size defaults to 16 KiB, librdkafka's
	// and franz-go's batches stop at 1 MB uncompressed) and below what
	// consumers accept (franz-go's MaxDecompressBatchBytes is 1 GiB).
	maxRecordsSize = 64 << 20
	// maxZstdWindow bounds a zstd frame's window (the history a streaming
	// decoder keeps). Producers' frames stay within 8 MiB: zstd's levels
	// up to 19 use windows of at most 8 MiB, smaller inputs smaller ones.
	maxZstdWindow = 8 << 20
	// windowSize is the buffer decompressed records are read through
	// (it grows for a larger record); maxPooledWindow the largest kept.
	windowSize      = 32 << 10
	maxPooledWindow = 4 << 20
	// maxPooledSnappy is the largest snappy output buffer kept for reuse.
	maxPooledSnappy = 4 << 20
	// snappyMaxExpansion bounds how much a snappy block can decode to per
	// input byte: its densest element is a 3-byte copy of 64 bytes.
	snappyMaxExpansion = 22
)

var (
	errSnappyClaim = errors.New("snappy: decoded length larger than the block could hold")
	errXerial      = errors.New("snappy: malformed xerial framing")
)

// An inflater decompresses one codec's records for checkRecords. Pooled
// per codec; not safe for concurrent use.
type inflater struct {
	in     bytes.Reader
	gz     gzip.Reader
	lz     *lz4.Reader
	zs     *zstd.Decoder
	window []byte
	snappy []byte // decoded snappy records
}

var inflaters [CodecZstd + 1]sync.Pool

var codecNames = [CodecZstd + 1]string{"", "gzip: ", "snappy: ", "lz4: ", "zstd: "}

func getInflater(c Codec) (*inflater, error) {
	if c <= CodecNone || c > CodecZstd {
		return nil, fmt.Errorf("unknown codec %d", c)
	}
	if f, ok := inflaters[c].Get().(*inflater); ok {
		return f, nil
	}
	f := &inflater{window: make([]byte, windowSize)}
	switch c {
	case CodecLZ4:
		f.lz = lz4.NewReader(nil)
	case CodecZstd:
		zs, err := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(1), // decodes in the caller's goroutine
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(maxZstdWindow),
			zstd.WithDecoderMaxMemory(maxRecordsSize))
		if err != nil {
			return nil, err
		}
		f.zs = zs
		runtime.AddCleanup(f, func(zs *zstd.Decoder) { zs.Close() }, zs)
	}
	return f, nil
}

// isLimit reports whether a decoder's error is one of the bounds above
// (INVALID_RECORD) rather than undecodable data (CORRUPT_MESSAGE).
func isLimit(err error) bool {
	return errors.Is(err, errRecordsLimit) || errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded)
}

func putInflater(c Codec, f *inflater) {
	f.in.Reset(nil)
	if cap(f.snappy) > maxPooledSnappy {
		f.snappy = nil
	}
	inflaters[c].Put(f)
}

// reset points f's decoder for c at body and returns the stream to read,
// or, for snappy, decodes body into f.snappy and returns nil.
func (f *inflater) reset(c Codec, body []byte) (io.Reader, error) {
	f.in.Reset(body)
	var err error
	switch c {
	case CodecGzip:
		if err = f.gz.Reset(&f.in); err == nil {
			return &f.gz, nil
		}
	case CodecLZ4:
		f.lz.Reset(&f.in)
		return f.lz, nil
	case CodecZstd:
		if err = f.zs.Reset(&f.in); err == nil { // fails only for a nil reader
			return f.zs, nil
		}
	case CodecSnappy:
		if f.snappy, err = decodeSnappy(f.snappy[:0], body); err == nil {
			return nil, nil
		}
	}
	return nil, codecError(c, err)
}

// codecError wraps a decoder's error: ErrInvalid past a bound, else
// ErrCorrupt.
func codecError(c Codec, err error) error {
	if isLimit(err) {
		return fmt.Errorf("%w: %s: %w", ErrInvalid, c, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrCorrupt, c, err)
}

// checkCompressed checks the records that body, compressed by c,
// decompresses to, as checkRecords does.
func checkCompressed(c Codec, body []byte, n, lastOffsetDelta int32, exact bool) error {
	f, err := getInflater(c)
	if err != nil {
		return codecError(c, err)
	}
	defer putInflater(c, f)
	src, err := f.reset(c, body)
	if err != nil {
		return err
	}
	var rr recordReader
	if src != nil {
		rr.resetStream(src, f.window, maxRecordsSize)
	} else {
		rr.resetSlice(f.snappy)
	}
	rr.what = codecNames[c]
	err = checkRecords(&rr, n, lastOffsetDelta, exact)
	if rr.src != nil && cap(rr.buf) <= maxPooledWindow {
		f.window = rr.buf[:0] // grown for a large record
	}
	return err
}

// inflate returns what body, compressed by c, decompresses to, in a new
// slice, within the same bound.
func inflate(c Codec, body []byte) ([]byte, error) {
	f, err := getInflater(c)
	if err != nil {
		return nil, codecError(c, err)
	}
	defer putInflater(c, f)
	src, err := f.reset(c, body)
	if err != nil {
		return nil, err
	}
	if src == nil {
		return slices.Clone(f.snappy), nil
	}
	// Into the pooled window, then copied out at its size: one allocation.
	out := f.window[:0]
	defer func() {
		if cap(out) <= maxPooledWindow {
			f.window = out[:0]
		}
	}()
	for {
		if len(out) == cap(out) {
			out = slices.Grow(out, len(out))
		}
		n, err := src.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		switch {
		case len(out) > maxRecordsSize:
			return nil, codecError(c, errRecordsLimit)
		case err == io.EOF:
			return slices.Clone(out), nil
		case err != nil:
			return nil, codecError(c, err)
		}
	}
}

// xerialHeader starts the snappy framing of Java's snappy-java
// (SnappyOutputStream), which the Java producer writes: the magic, then
// version and compatible version (int32 each); then blocks, each an int32
// length and a raw snappy block. Other clients send one raw block.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialHeaderSize = 16

// decodeSnappy appends the decoding of src, raw or xerial-framed snappy,
// to dst. It decodes strictly as the snappy format is (klauspost's default
// decoder also takes S2's extensions, which consumers' snappy rejects).
func decodeSnappy(dst, src []byte) ([]byte, error) {
	if len(src) < xerialHeaderSize || !bytes.HasPrefix(src, xerialMagic) {
		return decodeSnappyBlock(dst, src)
	}
	// Sum the blocks' claims first, so that dst grows once.
	total := 0
	for rest := src[xerialHeaderSize:]; len(rest) > 0; {
		block, r, err := nextXerialBlock(rest)
		if err != nil {
			return dst, err
		}
		l, err := snappyClaim(block)
		if err != nil {
			return dst, err
		}
		if total += l; total > maxRecordsSize {
			return dst, errRecordsLimit
		}
		rest = r
	}
	if cap(dst) < total {
		dst = make([]byte, 0, total)
	}
	for rest := src[xerialHeaderSize:]; len(rest) > 0; {
		block, r, _ := nextXerialBlock(rest)
		var err error
		if dst, err = decodeSnappyBlock(dst, block); err != nil {
			return dst, err
		}
		rest = r
	}
	return dst, nil
}

func nextXerialBlock(b []byte) (block, rest []byte, err error) {
	if len(b) < 4 {
		return nil, nil, errXerial
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return nil, nil, errXerial
	}
	return b[4 : 4+n], b[4+n:], nil
}

// snappyClaim is the decoded length a raw snappy block declares, checked
// against the bound and what the block could expand to.
func snappyClaim(block []byte) (int, error) {
	l, err := snappy.DecodedLen(block)
	switch {
	case err != nil:
		return 0, err
	case l > maxRecordsSize:
		return 0, errRecordsLimit
	case int64(l) > int64(len(block))*snappyMaxExpansion:
		return 0, errSnappyClaim
	}
	return l, nil
}

// decodeSnappyBlock appends the decoding of the raw snappy block to dst.
func decodeSnappyBlock(dst, block []byte) ([]byte, error) {
	l, err := snappyClaim(block)
	if err != nil {
		return dst, err
	}
	if len(dst)+l > maxRecordsSize {
		return dst, errRecordsLimit
	}
	n := len(dst)
	dst = slices.Grow(dst, l)[:n+l]
	out, err := snappy.DecodeStrict(dst[n:], block)
	if err != nil {
		return dst[:n], err
	}
	if len(out) > 0 && &out[0] != &dst[n] { // it decodes in place given the room; in case not
		copy(dst[n:], out)
	}
	return dst, nil
}
