package record

// Records returns the batch's record bytes, decompressed, through the
// decoders Validate uses (inflate.go): records past the same bound are an
// error wrapping ErrInvalid, undecodable ones ErrCorrupt. The result is
// the batch's own bytes when uncompressed, a new slice otherwise. Off the
// fetch path: used by offset-for-timestamp lookups, the cleaner and
// Recompress.
func Records(batch []byte) ([]byte, error) {
	h, err := ReadHeader(batch)
	if err != nil {
		return nil, err
	}
	if h.Size() > int64(len(batch)) {
		return nil, ErrTruncated
	}
	body := batch[HeaderSize:h.Size()]
	if h.Codec() == CodecNone {
		return body, nil
	}
	return inflate(h.Codec(), body)
}

// EachRecordTime calls fn with the offset and timestamp of each record of the
// batch, in order, until fn returns false. Under LogAppendTime every record
// carries the batch's max timestamp.
func EachRecordTime(batch []byte, fn func(offset, timestamp int64) bool) error {
	return EachRecord(batch, func(r *Record) bool { return fn(r.Offset, r.Timestamp) })
}

// FindTimestamp returns the offset and timestamp of the batch's first record
// whose timestamp is at least target.
func FindTimestamp(batch []byte, target int64) (offset, timestamp int64, ok bool, err error) {
	err = EachRecordTime(batch, func(off, ts int64) bool {
		if ts >= target {
			offset, timestamp, ok = off, ts, true
			return false
		}
		return true
	})
	return offset, timestamp, ok, err
}
