package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ApiVersionsKey is the API whose responses always use header v0.
const ApiVersionsKey = 18

// controlledShutdownKey at version 0 is the one request with header v0.
const controlledShutdownKey = 7

// ErrMalformed marks a frame whose header or body cannot be parsed.
var ErrMalformed = errors.New("protocol: malformed frame")

// RequestHeader is the header of a request (v0, v1 or v2; the tagged
// fields of v2 are skipped, since no header tag is defined that a broker
// needs).
type RequestHeader struct {
	Key           int16
	Version       int16
	CorrelationID int32
	ClientID      *string // nil: null, or header v0
}

// RequestHeaderVersion is the header version of a request with the given
// key and version: 2 for flexible versions, 1 for others, 0 for
// ControlledShutdown v0. A key kmsg does not know gets 1.
func RequestHeaderVersion(key, version int16) int16 {
	switch {
	case key == controlledShutdownKey && version == 0:
		return 0
	case key < 0 || int(key) >= len(firstFlexible) || firstFlexible[key] < 0 || version < firstFlexible[key]:
		return 1
	}
	return 2
}

// firstFlexible is, per API key, the first flexible version (-1: none or
// unknown key), read once from kmsg so that framing a request needs no
// allocation to learn its header version.
var firstFlexible = func() (t [kmsg.MaxKey + 1]int16) {
	for key := range t {
		t[key] = -1
		req := kmsg.RequestForKey(int16(key))
		if req == nil {
			continue
		}
		for v := int16(0); v <= req.MaxVersion(); v++ {
			if req.SetVersion(v); req.IsFlexible() {
				t[key] = v
				break
			}
		}
	}
	return t
}()

// ResponseHeaderFlexible reports whether the response resp is framed with
// header v1 (with tagged fields): flexible bodies except ApiVersions.
func ResponseHeaderFlexible(resp kmsg.Response) bool {
	return resp.IsFlexible() && resp.Key() != ApiVersionsKey
}

// ParseRequestHeader reads a request header from the start of a frame
// (without its size prefix) and returns the body that follows. The header
// version is decided by the key and version it reads (RequestHeaderVersion).
func ParseRequestHeader(frame []byte) (RequestHeader, []byte, error) {
	var h RequestHeader
	if len(frame) < 8 {
		return h, nil, fmt.Errorf("%w: %d bytes is shorter than a request header", ErrMalformed, len(frame))
	}
	be := binary.BigEndian
	h.Key = int16(be.Uint16(frame[0:]))
	h.Version = int16(be.Uint16(frame[2:]))
	h.CorrelationID = int32(be.Uint32(frame[4:]))
	rest := frame[8:]
	hv := RequestHeaderVersion(h.Key, h.Version)
	if hv == 0 {
		return h, rest, nil
	}
	if len(rest) < 2 {
		return h, nil, fmt.Errorf("%w: missing client id", ErrMalformed)
	}
	n := int16(be.Uint16(rest))
	rest = rest[2:]
	switch {
	case n == -1:
	case n < -1 || int(n) > len(rest):
		return h, nil, fmt.Errorf("%w: client id length %d", ErrMalformed, n)
	default:
		s := string(rest[:n])
		h.ClientID = &s
		rest = rest[n:]
	}
	if hv == 2 {
		var err error
		if rest, err = SkipTags(rest); err != nil {
			if h.Key == ApiVersionsKey && h.Version > kmsg.NewPtrApiVersionsRequest().MaxVersion() {
				// A version newer than any we know may have a header
				// we cannot read; it is answered at v0 from the key,
				// version and correlation id alone, so that the
				// client learns what we serve.
				return h, nil, nil
			}
			return h, nil, fmt.Errorf("%w: request header: %w", ErrMalformed, err)
		}
	}
	return h, rest, nil
}

// AppendRequest appends a whole request frame to dst: size, the header
// version the request's key and version call for, and the body encoded by
// kmsg. The request's version must be set.
func AppendRequest(dst []byte, correlationID int32, clientID *string, req kmsg.Request) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint16(dst, uint16(req.Key()))
	dst = binary.BigEndian.AppendUint16(dst, uint16(req.GetVersion()))
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlationID))
	if hv := RequestHeaderVersion(req.Key(), req.GetVersion()); hv > 0 {
		if clientID == nil {
			dst = binary.BigEndian.AppendUint16(dst, 0xffff)
		} else {
			dst = binary.BigEndian.AppendUint16(dst, uint16(len(*clientID)))
			dst = append(dst, *clientID...)
		}
		if hv == 2 {
			dst = append(dst, 0) // no tagged fields
		}
	}
	dst = req.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

// AppendResponseHeader appends a size placeholder and the response header;
// the caller appends the body and then fills in the size with PutSize.
func AppendResponseHeader(dst []byte, correlationID int32, flexible bool) []byte {
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlationID))
	if flexible {
		dst = append(dst, 0) // no tagged fields
	}
	return dst
}

// PutSize writes the size prefix of the frame that starts at frame[0] and
// runs to its end.
func PutSize(frame []byte) {
	binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
}

// AppendResponse appends a whole response frame to dst: size, the header
// the response calls for (ResponseHeaderFlexible) and the body. The
// response's version must be set.
func AppendResponse(dst []byte, correlationID int32, resp kmsg.Response) []byte {
	start := len(dst)
	dst = AppendResponseHeader(dst, correlationID, ResponseHeaderFlexible(resp))
	dst = resp.AppendTo(dst)
	PutSize(dst[start:])
	return dst
}

// ParseResponse decodes a response frame (without its size prefix) to req,
// a request of the version that was sent. It returns the frame's
// correlation id even when the body fails to decode, so that a caller can
// tell a response to another request from a malformed one. Byte fields of
// the response alias frame.
func ParseResponse(frame []byte, req kmsg.Request) (correlationID int32, resp kmsg.Response, err error) {
	if len(frame) < 4 {
		return 0, nil, fmt.Errorf("%w: %d bytes is shorter than a response header", ErrMalformed, len(frame))
	}
	correlationID = int32(binary.BigEndian.Uint32(frame))
	body := frame[4:]
	resp = req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if ResponseHeaderFlexible(resp) {
		if body, err = SkipTags(body); err != nil {
			return correlationID, nil, fmt.Errorf("%w: response header: %w", ErrMalformed, err)
		}
	}
	if err := resp.ReadFrom(body); err != nil {
		return correlationID, nil, fmt.Errorf("%w: %s v%d response body: %w", ErrMalformed, kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return correlationID, resp, nil
}
