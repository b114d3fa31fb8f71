// Package protocol is Kafka's framing, shared by the broker's server and
// its inter-broker client: request and response headers, tagged-field
// sections, frames that grow with the bytes that arrive, and response
// bodies streamed with file ranges spliced in. Bodies themselves are
// franz-go's kmsg types; this package only puts them in and takes them out
// of frames.
//
// Framing (every integer big-endian):
//
//	frame    = size:int32 payload            (size counts the payload only)
//	request  = frame of: request_header body
//	response = frame of: response_header body
//
//	request header v0 = api_key:int16 api_version:int16 correlation_id:int32
//	request header v1 = v0 client_id:nullable_string (int16 length, -1 = null)
//	request header v2 = v1 tagged_fields
//	response header v0 = correlation_id:int32
//	response header v1 = v0 tagged_fields
//
//	tagged_fields = count:uvarint { tag:uvarint size:uvarint bytes[size] }
//
// A request uses header v2 when its body version is flexible (KIP-482),
// v1 otherwise, and v0 only for ControlledShutdown v0. The client id stays
// a classic int16-length string even in v2, so that a broker can read the
// header of a request whose version it does not know. A response uses
// header v1 when its body is flexible, except ApiVersions, which always
// answers with header v0: a client that does not know the broker's
// versions yet must still be able to read the answer (KIP-511).
//
// Invariants: parsing never reads past its input and never allocates in
// proportion to a length field it has not checked against the bytes
// present; ReadFrame grows a frame's buffer with the bytes received, never
// to the announced size up front (the server reads requests with it; the
// wire client allocates a response at its size, see wire.Conn).
package protocol
