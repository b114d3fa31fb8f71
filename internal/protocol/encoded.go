package protocol

import "github.com/twmb/franz-go/pkg/kmsg"

// Encoded is a response whose body was encoded ahead of time, such as a
// cached answer served to many requests: AppendTo appends Body, and the
// embedded Response (of the same key and version, its fields unused)
// tells the key, version and header flexibility. An Encoded is never
// modified once built, so one value may be written by many connections at
// once.
type Encoded struct {
	kmsg.Response
	Body []byte
}

// NewEncoded encodes resp (its version set) once.
func NewEncoded(resp kmsg.Response) *Encoded {
	return &Encoded{Response: resp, Body: resp.AppendTo(nil)}
}

// AppendTo appends the encoded body.
func (e *Encoded) AppendTo(dst []byte) []byte { return append(dst, e.Body...) }
