package protocol

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrBadSignature is returned when a signed event or call result fails
// verification: the key does not belong to the claimed signer, or the
// signature does not match the content.
var ErrBadSignature = errors.New("macula: bad message signature")

// ErrUnsigned is returned when a receiver that requires signatures gets an
// unsigned event or call result.
var ErrUnsigned = errors.New("macula: message is not signed")

// Context strings put in front of what a signature covers, so that a
// signature over one kind of message can never pass for another kind.
const (
	eventSigningContext  = "macula event signature v1\x00"
	resultSigningContext = "macula rpc result signature v1\x00"
)

// EventSigningBytes is the canonical encoding an event signature covers:
// the topic, data, content type, publisher, sequence number, time and
// QoS, in a fixed order with variable-length fields prefixed by their
// length. Queue groups, the signature and the key are left out: the
// first is chosen per receiver, the others carry the signature itself.
// An Event and the Publish that asked for it encode the same.
func EventSigningBytes(topic string, data []byte, contentType string, publisher []byte, seq uint64, timeUnixNano int64, qos QoS) []byte {
	b := make([]byte, 0, len(eventSigningContext)+len(topic)+len(data)+len(contentType)+len(publisher)+40)
	b = append(b, eventSigningContext...)
	b = appendField(b, []byte(topic))
	b = appendField(b, data)
	b = appendField(b, []byte(contentType))
	b = appendField(b, publisher)
	b = binary.BigEndian.AppendUint64(b, seq)
	b = binary.BigEndian.AppendUint64(b, uint64(timeUnixNano))
	return append(b, byte(qos))
}

// ResultSigningBytes is the canonical encoding a call-result signature
// covers: the caller, the procedure, the call ID and the result, so that a
// result cannot be replayed as the answer to another call.
func ResultSigningBytes(caller []byte, procedure string, callID uint64, data []byte, contentType string) []byte {
	b := make([]byte, 0, len(resultSigningContext)+len(caller)+len(procedure)+len(data)+len(contentType)+24)
	b = append(b, resultSigningContext...)
	b = appendField(b, caller)
	b = appendField(b, []byte(procedure))
	b = binary.BigEndian.AppendUint64(b, callID)
	b = appendField(b, data)
	return appendField(b, []byte(contentType))
}

// VerifySignature checks that sig is key's signature over msg and that
// key belongs to signer (a node ID: the SHA-256 of the key). Errors wrap
// ErrBadSignature.
func VerifySignature(signer, key, msg, sig []byte) error {
	if len(key) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: key is %d bytes, want %d", ErrBadSignature, len(key), ed25519.PublicKeySize)
	}
	if len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: signature is %d bytes, want %d", ErrBadSignature, len(sig), ed25519.SignatureSize)
	}
	sum := sha256.Sum256(key)
	if len(signer) != len(sum) || [32]byte(signer) != sum {
		return fmt.Errorf("%w: key does not belong to the signer", ErrBadSignature)
	}
	if !ed25519.Verify(key, msg, sig) {
		return fmt.Errorf("%w: signature does not match the content", ErrBadSignature)
	}
	return nil
}

// appendField appends v preceded by its length as a uvarint.
func appendField(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}
