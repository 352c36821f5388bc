package transport

import (
	"errors"
	"fmt"
	"net"

	"github.com/org/macula/internal/sentinel"
	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
)

var (
	// ErrClosed is returned by every method of a closed Transport. It matches
	// net.ErrClosed too.
	ErrClosed = fmt.Errorf("macula: transport closed: %w", net.ErrClosed)
	// ErrNotStarted is returned by the calls that use the network (Dial,
	// Connect, WritePacket, ...) before [Transport.Start].
	ErrNotStarted = errors.New("macula: transport not started")
	// ErrNotConnected means there is no connection to the requested peer.
	ErrNotConnected = errors.New("macula: peer not connected")
	// ErrUnreachable means Connect found no connection to a peer and
	// could dial none of its addresses.
	ErrUnreachable = errors.New("macula: peer unreachable")
	// ErrPeerRefused means the remote node aborted the TLS handshake, usually
	// because it did not accept our certificate (wrong realm, not signed by its
	// realm CA, expired). The remote side logs the precise reason.
	ErrPeerRefused = errors.New("macula: peer refused the handshake")
	// ErrHandshakeFailed means the connection was established but the Hello
	// exchange on the control stream failed.
	ErrHandshakeFailed = errors.New("macula: hello exchange failed")
	// ErrDuplicateConnection is the reason a connection is closed when another
	// connection to the same peer won.
	ErrDuplicateConnection = errors.New("macula: duplicate connection")
	// ErrUnknownStreamType means the remote side opened a stream of a type no
	// handler is registered for (or we opened one it does not handle).
	ErrUnknownStreamType = errors.New("macula: unknown stream type")
	// ErrSelfConnection means a dial reached this node itself, e.g. because
	// its own address is in its bootstrap list.
	ErrSelfConnection = errors.New("macula: connection to self")
	// ErrRateLimited means a peer refused a stream, or aborted it, because
	// a per-peer limit was hit (see [Config.MaxStreamsPerPeer],
	// [Config.StreamRate], [Config.FrameRate]); on the wire it is
	// [protocol.CodeRateLimited]. [Stream]'s reads and writes return errors
	// wrapping it on both sides: the refusing node's ReadFrame when the frame
	// limit aborts the stream, and the opener's reads and writes once the
	// refusal arrives (the open itself succeeds: QUIC opens streams without a
	// round trip). The QUIC error stays in the chain for [StreamCode].
	ErrRateLimited = errors.New("macula: rate limited")
	// ErrBanned means a connection was refused because one side has
	// banned the other for going over its per-peer limits again and again
	// (see [Config.StrikeLimit]). A banned peer's first dial after its ban
	// fails with it (the banning node closes the connection during the
	// Hello exchange with [protocol.CodeRateLimited]); its later dials from
	// the same address are refused before TLS, cheaply, and fail with
	// ErrRateLimited only, as over the handshake rate. The banning node's
	// own dials to the peer fail with it at once, as a [*BannedError] that
	// tells when the ban ends. It matches ErrRateLimited too, so code that
	// backs off on rate limits needs no new case.
	ErrBanned = fmt.Errorf("macula: peer banned for going over its limits: %w", ErrRateLimited)
	// ErrIdleClosed is the cause reported ([PeerEvent].Err) for a
	// connection the connection manager closed because it was idle.
	ErrIdleClosed = errors.New("macula: idle connection closed")
	// ErrInvalidPacket means [Transport.WritePacket] was given a packet a
	// receiver would take for QUIC (or an empty one).
	ErrInvalidPacket = errors.New("macula: invalid raw packet")
	// ErrInvalidConfig wraps every validation error of [Config].
	// It matches macula.ErrInvalidConfig, as every package's config
	// error does.
	ErrInvalidConfig = sentinel.Narrow(sentinel.ErrInvalidConfig, "macula: invalid transport config")
)

// codeOf is the protocol code sent to the peer when we refuse it for err.
func codeOf(err error) protocol.ErrorCode {
	switch {
	case errors.Is(err, security.ErrRealmMismatch):
		return protocol.CodeRealmMismatch
	case errors.Is(err, security.ErrIdentityMismatch), errors.Is(err, security.ErrUnexpectedPeer):
		return protocol.CodeIdentityMismatch
	case errors.Is(err, security.ErrUntrustedCertificate), errors.Is(err, security.ErrCertificateExpired),
		errors.Is(err, security.ErrInvalidCertificate), errors.Is(err, security.ErrNoCertificate):
		return protocol.CodeUntrustedCertificate
	case errors.Is(err, ErrHandshakeFailed):
		return protocol.CodeProtocol
	case errors.Is(err, ErrRateLimited):
		return protocol.CodeRateLimited
	}
	return protocol.CodeOf(err)
}

// sentinelFor maps a code received from a peer back to our sentinel, so a
// refusal that crossed the network is errors.Is-able like a local one.
func sentinelFor(code protocol.ErrorCode) error {
	switch code {
	case protocol.CodeRealmMismatch:
		return security.ErrRealmMismatch
	case protocol.CodeIdentityMismatch:
		return security.ErrIdentityMismatch
	case protocol.CodeUntrustedCertificate:
		return security.ErrUntrustedCertificate
	case protocol.CodeVersionMismatch:
		return protocol.ErrVersionMismatch
	case protocol.CodeFrameTooLarge:
		return protocol.ErrFrameTooLarge
	case protocol.CodeProtocol:
		return protocol.ErrMalformedFrame
	case protocol.CodeUnknownStreamType:
		return ErrUnknownStreamType
	case protocol.CodeDuplicateConnection:
		return ErrDuplicateConnection
	case protocol.CodeShutdown:
		return ErrNotConnected
	case protocol.CodeRateLimited:
		return ErrRateLimited
	}
	return nil
}

// streamErr adds ErrRateLimited to the error of a stream (or connection)
// that ended with protocol.CodeRateLimited, refused by either side. Only
// that code is mapped: other stream codes keep their errors as they were,
// which callers already test with StreamCode.
func streamErr(err error) error {
	if err == nil {
		return nil
	}
	if code, ok := StreamCode(err); ok && code == protocol.CodeRateLimited {
		return fmt.Errorf("%w: %w", ErrRateLimited, err)
	}
	return err
}
