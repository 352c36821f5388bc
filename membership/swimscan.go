package membership

import (
	"encoding/hex"

	"github.com/tinylib/msgp/msgp"

	"github.com/org/macula/security"
)

// Every SWIM message a node sends or receives passes the observer (see
// swimwire.go), so the observer must cost next to nothing: decoding each
// message into a Go struct with go-msgpack, as memberlist does, was a
// quarter of the CPU of a 500-member simulation, and its garbage a good
// part of the rest. The observer needs two or three fields, so it scans
// the msgpack map in place with tinylib/msgp's zero-copy readers (a
// well-kept msgpack library; its byte-slice API reads a value and returns
// the rest without allocating) and skips everything else.

// livenessView is what the observer reads of an alive, suspect or dead
// message. From points into the packet: it is valid only during the call
// that receives it.
type livenessView struct {
	Incarnation uint32
	Node        security.NodeID
	From        []byte // the accuser's name (hex node ID); empty in alive messages
}

// scanLiveness reads an alive, suspect or dead message's incarnation,
// member and accuser. It reports false if the message does not parse or
// does not name a member by a node ID.
func scanLiveness(body []byte) (livenessView, bool) {
	var v livenessView
	var node []byte
	n, b, err := msgp.ReadMapHeaderBytes(body)
	if err != nil {
		return v, false
	}
	for range n {
		var key []byte
		if key, b, err = msgp.ReadMapKeyZC(b); err != nil {
			return v, false
		}
		switch string(key) {
		case "Incarnation":
			v.Incarnation, b, err = msgp.ReadUint32Bytes(b)
		case "Node":
			node, b, err = msgp.ReadStringZC(b)
		case "From":
			v.From, b, err = msgp.ReadStringZC(b)
		default:
			b, err = msgp.Skip(b)
		}
		if err != nil {
			return v, false
		}
	}
	id, ok := parseNodeIDBytes(node)
	v.Node = id
	return v, ok
}

// scanSeqNo reads the sequence number of a ping or ack.
func scanSeqNo(body []byte) (uint32, bool) {
	n, b, err := msgp.ReadMapHeaderBytes(body)
	if err != nil {
		return 0, false
	}
	for range n {
		var key []byte
		if key, b, err = msgp.ReadMapKeyZC(b); err != nil {
			return 0, false
		}
		if string(key) == "SeqNo" {
			seq, _, err := msgp.ReadUint32Bytes(b)
			return seq, err == nil
		}
		if b, err = msgp.Skip(b); err != nil {
			return 0, false
		}
	}
	return 0, false
}

// parseNodeIDBytes parses a member name, a node ID in hex, without the
// copy that converting it to a string would make.
func parseNodeIDBytes(b []byte) (security.NodeID, bool) {
	var id security.NodeID
	if len(b) != 2*len(id) {
		return id, false
	}
	_, err := hex.Decode(id[:], b)
	return id, err == nil
}
