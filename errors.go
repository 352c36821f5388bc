package macula

import (
	"errors"

	"github.com/org/macula/internal/sentinel"
	"github.com/org/macula/membership"
	"github.com/org/macula/protocol"
	"github.com/org/macula/rpc"
	"github.com/org/macula/security"
	"github.com/org/macula/topic"
	"github.com/org/macula/transport"
)

// Sentinel errors. Every error Macula returns for bad input wraps one of
// these (with %w), and keeps its cause wrapped too, whether it arose
// locally or was reported by a peer, so callers test them with errors.Is.
// The errors of the subpackages match the root sentinel of their kind:
// rpc.ErrInvalidOption and pubsub.ErrInvalidOption match ErrInvalidOption,
// every package's ErrInvalidConfig matches ErrInvalidConfig, and so on.
// errors_contract_test.go checks the contract for every method.
var (
	// ErrClosed is returned by every method of a closed Node. It also
	// matches net.ErrClosed.
	ErrClosed = transport.ErrClosed
	// ErrInvalidOption is matched by every invalid option of every kind:
	// an Option given to New, a PublishOption, SubscribeOption, CallOption
	// or RegisterOption. The error names the option and wraps the cause
	// (e.g. ErrInvalidAddress, ErrInvalidTopic, ErrInvalidRealm).
	ErrInvalidOption = sentinel.ErrInvalidOption
	// ErrInvalidConfig is matched by the error of every subpackage's
	// constructor given a Config it cannot use (rpc.ErrInvalidConfig,
	// transport.ErrInvalidConfig, ...). New reports such an error as
	// ErrInvalidOption, still matching ErrInvalidConfig and the
	// subpackage's sentinel.
	ErrInvalidConfig = sentinel.ErrInvalidConfig
	// ErrInvalidAddress means an address given to Join, WithBootstrap,
	// WithListenAddr or WithAdvertiseAddrs is not a valid "host:port" (or,
	// where URIs are accepted, macula:// URI: those errors also match
	// ErrInvalidURI), that Join was given no address, or that a host name
	// does not resolve (the *net.DNSError stays wrapped).
	ErrInvalidAddress = errors.New("macula: invalid address")
	// ErrRealmMismatch means a peer belongs to another realm.
	ErrRealmMismatch = security.ErrRealmMismatch
	// ErrIdentityMismatch means a peer's certificate names a node ID that is
	// not the hash of its key, or its Hello names another node.
	ErrIdentityMismatch = security.ErrIdentityMismatch
	// ErrUntrustedCertificate means a peer's certificate does not chain to
	// the realm CA.
	ErrUntrustedCertificate = security.ErrUntrustedCertificate
	// ErrCertificateExpired means a certificate is outside its validity period.
	ErrCertificateExpired = security.ErrCertificateExpired
	// ErrInvalidCertificate means a certificate is not a valid Macula node
	// certificate (no Ed25519 key, no macula:// URI SAN, unparsable).
	ErrInvalidCertificate = security.ErrInvalidCertificate
	// ErrUnexpectedPeer means the node reached is not the one that was asked
	// for (a macula:// URI names the node ID to expect).
	ErrUnexpectedPeer = security.ErrUnexpectedPeer
	// ErrPeerRefused means the remote node refused our certificate during the
	// TLS handshake; the remote node logs why.
	ErrPeerRefused = transport.ErrPeerRefused
	// ErrBanned means a connection was refused because one node banned
	// the other for going over its per-peer limits again and again (see
	// [WithLimits]). The banning node's dials to the peer fail with it at
	// once; the banned node's first dial after the ban fails with it, and
	// its later dials from the same address are refused before TLS with
	// an error matching only the transport's ErrRateLimited, which
	// ErrBanned also matches.
	ErrBanned = transport.ErrBanned
	// ErrNotConnected means there is no connection to the requested peer.
	ErrNotConnected = transport.ErrNotConnected
	// ErrSelfConnection means an address given to Join or WithBootstrap is
	// this node's own.
	ErrSelfConnection = transport.ErrSelfConnection
	// ErrMessageTooLarge means a frame, or a payload given to Publish or
	// Call, is over the maximum size.
	ErrMessageTooLarge = protocol.ErrFrameTooLarge
	// ErrMalformedFrame means a peer sent bytes that are not a valid frame.
	ErrMalformedFrame = protocol.ErrMalformedFrame
	// ErrVersionMismatch means a peer speaks an incompatible protocol version.
	ErrVersionMismatch = protocol.ErrVersionMismatch
	// ErrInvalidTopic means a topic or pattern is not valid.
	ErrInvalidTopic = topic.ErrInvalidTopic
	// ErrInvalidRealm means a realm name is not a valid reverse-DNS name.
	ErrInvalidRealm = security.ErrInvalidRealm
	// ErrInvalidNodeID means a string is not a 64-digit hex node ID.
	ErrInvalidNodeID = security.ErrInvalidNodeID
	// ErrInvalidURI means a string is not a valid macula:// URI.
	ErrInvalidURI = security.ErrInvalidURI
	// ErrBadSignature means an event or call result carried a signature
	// that does not verify (see WithMessageSigning); it was refused.
	ErrBadSignature = protocol.ErrBadSignature
	// ErrUnsigned means an unsigned event or call result reached a node
	// that requires signatures (WithMessageSigning(true)); it was refused.
	ErrUnsigned = protocol.ErrUnsigned
	// ErrACLDenied means the ACL (WithACL) refused an action, on this node
	// or on the node where it landed.
	ErrACLDenied = security.ErrACLDenied
	// ErrInvalidCallOption is matched by an invalid CallOption or
	// RegisterOption, which also match ErrInvalidOption.
	//
	// Deprecated: every option error matches ErrInvalidOption; use it.
	ErrInvalidCallOption = rpc.ErrInvalidOption
	// ErrInvalidGossipKey means a gossip key is not a valid AES key (16,
	// 24 or 32 bytes), is not installed, or is the primary and cannot be
	// removed.
	ErrInvalidGossipKey = membership.ErrInvalidKey
	// ErrInvalidHandler means Register or Subscribe was given a nil
	// handler; rpc.ErrInvalidHandler and pubsub.ErrInvalidHandler match it.
	ErrInvalidHandler = sentinel.ErrInvalidHandler
	// ErrInvalidProcedure means a procedure name given to Register, Call,
	// Cast or CallTo is not valid: procedure names follow the syntax of
	// topics, without wildcards. It also matches ErrInvalidTopic.
	ErrInvalidProcedure = rpc.ErrInvalidProcedure
	// ErrReservedProcedure means a procedure name starting with '_' was
	// given to Register.
	ErrReservedProcedure = rpc.ErrReservedProcedure
	// ErrEncode means a payload given to Publish, Call, Cast or CallTo
	// cannot be encoded (e.g. a channel or a function given to JSON). It
	// is rpc.ErrEncode and pubsub.ErrEncode.
	ErrEncode = rpc.ErrEncode
	// ErrDecode means a payload does not fit the value given to Decode
	// (Event.Decode, Reply.Decode, Invocation.Decode). It is rpc.ErrDecode
	// and pubsub.ErrDecode.
	ErrDecode = rpc.ErrDecode
)
