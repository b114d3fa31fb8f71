package record

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
)

// compressors are franz-go's, one per codec (safe for concurrent use).
var compressors = func() [CodecZstd + 1]kgo.Compressor {
	var cs [CodecZstd + 1]kgo.Compressor
	for c, codec := range map[Codec]kgo.CompressionCodec{
		CodecGzip: kgo.GzipCompression(), CodecSnappy: kgo.SnappyCompression(),
		CodecLZ4: kgo.Lz4Compression(), CodecZstd: kgo.ZstdCompression(),
	} {
		comp, err := kgo.DefaultCompressor(codec)
		if err != nil {
			panic(err)
		}
		cs[c] = comp
	}
	return cs
}()

// ParseCodec maps a compression.type value to a codec; ok is false for
// "producer" (keep the client's codec) and unknown names.
func ParseCodec(name string) (c Codec, ok bool) {
	switch name {
	case "uncompressed":
		return CodecNone, true
	case "gzip":
		return CodecGzip, true
	case "snappy":
		return CodecSnappy, true
	case "lz4":
		return CodecLZ4, true
	case "zstd":
		return CodecZstd, true
	}
	return 0, false
}

// Recompress returns the batch with its records compressed by codec (or
// left uncompressed for CodecNone), as a topic with compression.type other
// than producer stores them. A batch already in that codec is returned as
// it is. Off the fast path: only topics that ask for it pay for it.
func Recompress(batch []byte, codec Codec) ([]byte, error) {
	h, err := ReadHeader(batch)
	if err != nil {
		return nil, err
	}
	if h.Codec() == codec {
		return batch, nil
	}
	records, err := Records(batch)
	if err != nil {
		return nil, err
	}
	if codec != CodecNone {
		comp, got := compressors[codec].Compress(new(bytes.Buffer), records)
		if Codec(got) != codec {
			return nil, fmt.Errorf("%w: compressing with %s gave %s", ErrInvalid, codec, Codec(got))
		}
		records = comp
	}
	out := make([]byte, HeaderSize, HeaderSize+len(records))
	copy(out, batch[:HeaderSize])
	out = append(out, records...)
	be := binary.BigEndian
	be.PutUint32(out[offLength:], uint32(len(out)-LogOverhead))
	attrs := be.Uint16(out[offAttributes:])&^codecMask | uint16(codec)
	be.PutUint16(out[offAttributes:], attrs)
	be.PutUint32(out[offCRC:], ComputeCRC(out))
	return out, nil
}
