package membership

import (
	"bytes"
	"encoding/binary"
	"sync"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// memberlist keeps each member's SWIM state (suspect, incarnation) to
// itself: its API reports joins, departures and updates only, and the
// Nodes it returns point into state it keeps mutating. Every SWIM message
// passes through this package's transport, though, in both directions, so
// the transport reads the few it needs: liveness messages (alive, suspect,
// dead) for Member.State and Member.Incarnation, and pings and acks so that
// Close can end a probe in flight at once instead of waiting out its
// timer. The formats below are memberlist's wire protocol (its net.go),
// which is versioned and append-only; a message that does not parse is
// simply not observed — memberlist still handles it.

// swimType is memberlist's message type, the first byte of a message.
type swimType byte

// memberlist's message types that matter here (protocol values).
const (
	swimPing     swimType = 0
	swimIndirect swimType = 1
	swimAck      swimType = 2
	swimSuspect  swimType = 3
	swimAlive    swimType = 4
	swimDead     swimType = 5
	swimCompound swimType = 7
	swimHasCRC   swimType = 12
	swimLabel    swimType = 244
)

// swimPingMsg is memberlist's ping (and, with other fields, indirect ping
// request): only the sequence number is read.
type swimPingMsg struct {
	SeqNo uint32
}

// swimAckMsg is memberlist's ack.
type swimAckMsg struct {
	SeqNo   uint32
	Payload []byte
}

// swimLiveness carries memberlist's alive, suspect and dead messages: the
// member (Node, its name: our node ID in hex), its incarnation, and for
// suspect and dead the member that accused it (From; a dead message from
// the member itself is a graceful leave).
type swimLiveness struct {
	Incarnation uint32
	Node        string
	From        string
}

// swimAliveMsg is memberlist's alive message in full, with its field
// names (memberlist encodes structs as msgpack maps): decoding one and
// encoding it again gives the same bytes.
type swimAliveMsg struct {
	Incarnation uint32
	Node        string
	Addr        []byte
	Port        uint16
	Meta        []byte
	// Vsn: the protocol and delegate versions spoken, as memberlist
	// orders them (pmin, pmax, pcur, dmin, dmax, dcur).
	Vsn []uint8
}

// swimMessage is one message of a packet, as visit sees it.
type swimMessage struct {
	typ  swimType
	body []byte // the encoded message after its type byte
}

// eachSWIMMessage calls visit for every message in a memberlist packet:
// it unwraps a label header, a CRC header and compound messages. It
// returns false if the packet is malformed; messages before the fault
// have been visited.
func eachSWIMMessage(p []byte, visit func(swimMessage)) bool {
	if len(p) >= 2 && swimType(p[0]) == swimLabel {
		n := int(p[1])
		if len(p) < 2+n {
			return false
		}
		p = p[2+n:]
	}
	if len(p) >= 5 && swimType(p[0]) == swimHasCRC {
		p = p[5:]
	}
	return eachSWIMPart(p, visit, 0)
}

// eachSWIMPart visits one message, or the parts of a compound one.
// Compound messages do not nest in memberlist; depth bounds a hostile
// packet's recursion anyway.
func eachSWIMPart(p []byte, visit func(swimMessage), depth int) bool {
	if len(p) < 1 || depth > 1 {
		return false
	}
	typ, body := swimType(p[0]), p[1:]
	if typ != swimCompound {
		visit(swimMessage{typ: typ, body: body})
		return true
	}
	if len(body) < 1 {
		return false
	}
	n := int(body[0])
	body = body[1:]
	if len(body) < 2*n {
		return false
	}
	lengths := body[:2*n]
	body = body[2*n:]
	for i := range n {
		size := int(binary.BigEndian.Uint16(lengths[2*i:]))
		if len(body) < size {
			return false
		}
		if !eachSWIMPart(body[:size], visit, depth+1) {
			return false
		}
		body = body[size:]
	}
	return true
}

// swimHandle is memberlist's msgpack settings (its defaults). One handle
// serves every message: a handle caches what it learns of each type, and
// that setup, made afresh for each message (by memberlist too, which this
// package cannot change), took about 7 % of the CPU of a 300-node run in
// one process. A handle is safe for concurrent use once configured.
var swimHandle codec.MsgpackHandle

// swimDecoders recycles decoders: every SWIM message a node sends or
// receives is decoded here once more, and a fresh decoder per message was
// a good part of the garbage of hundreds of nodes in one process.
var swimDecoders = sync.Pool{New: func() any { return codec.NewDecoderBytes(nil, &swimHandle) }}

// decodeSWIM decodes a message body the way memberlist encodes it.
func decodeSWIM(body []byte, out any) error {
	dec := swimDecoders.Get().(*codec.Decoder)
	dec.ResetBytes(body)
	err := dec.Decode(out)
	dec.ResetBytes(nil) // do not keep body alive in the pool
	swimDecoders.Put(dec)
	return err
}

// encodeSWIM encodes a message with its type byte, as memberlist does.
func encodeSWIM(typ swimType, msg any) []byte {
	var buf bytes.Buffer
	buf.WriteByte(byte(typ))
	// Encoding these fixed structs into memory cannot fail.
	_ = codec.NewEncoder(&buf, &swimHandle).Encode(msg)
	return buf.Bytes()
}
