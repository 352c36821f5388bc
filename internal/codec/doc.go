// Package codec turns the payloads of events, call arguments and results
// into bytes and back, by one rule shared by pub/sub and RPC: a []byte is
// sent as is, a proto.Message as protobuf, anything else as JSON; the
// content type travels with the bytes so the receiver decodes them the
// same way.
package codec
