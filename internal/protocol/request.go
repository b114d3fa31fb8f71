package protocol

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Versions reports the range of versions served for an API key.
type Versions func(key int16) (min, max int16, ok bool)

// Request is one parsed request frame.
type Request struct {
	RequestHeader
	Body kmsg.Request
	// UnsupportedVersion is set for an ApiVersions request at a version
	// that is not served; Body is then an empty v0 request, so that the
	// answer (UNSUPPORTED_VERSION and the table) is one every client reads.
	UnsupportedVersion bool
}

// ParseRequest parses a request frame (without its size prefix): the
// header, then the body with kmsg at the header's version, which must be
// one served says it serves, except for ApiVersions (see Request). Every
// error wraps ErrMalformed. The header is filled in whenever it was read,
// even if the body was not. Byte fields of the body alias frame.
func ParseRequest(frame []byte, served Versions) (Request, error) {
	var r Request
	h, body, err := ParseRequestHeader(frame)
	r.RequestHeader = h
	if err != nil {
		return r, err
	}
	req := kmsg.RequestForKey(h.Key)
	min, max, ok := served(h.Key)
	if req == nil || !ok {
		return r, fmt.Errorf("%w: api key %d is not served", ErrMalformed, h.Key)
	}
	if h.Version < min || h.Version > max {
		if h.Key != ApiVersionsKey {
			return r, fmt.Errorf("%w: %s version %d is outside the served range %d-%d", ErrMalformed, kmsg.NameForKey(h.Key), h.Version, min, max)
		}
		req.SetVersion(0)
		r.Body, r.UnsupportedVersion = req, true
		return r, nil
	}
	req.SetVersion(h.Version)
	if err := req.ReadFrom(body); err != nil {
		return r, fmt.Errorf("%w: %s v%d body: %w", ErrMalformed, kmsg.NameForKey(h.Key), h.Version, err)
	}
	r.Body = req
	return r, nil
}
