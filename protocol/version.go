package protocol

import "fmt"

// Protocol version spoken by this package, exchanged in [Hello].
const (
	// VersionMajor changes only with incompatible changes; peers with
	// different major versions refuse each other.
	VersionMajor = 1
	// VersionMinor changes with compatible additions; peers tolerate any
	// minor version.
	VersionMinor = 0
	// ALPN is the TLS application protocol negotiated on every Macula QUIC
	// connection.
	ALPN = "macula/1"
)

// CheckVersion returns nil if the peer that sent h speaks our major
// protocol version, and otherwise an error wrapping [ErrVersionMismatch]. A
// nil h counts as version 0.0 and is refused.
func CheckVersion(h *Hello) error {
	if h.GetVersionMajor() == VersionMajor {
		return nil
	}
	return fmt.Errorf("%w: peer speaks %d.%d, we speak %d.%d",
		ErrVersionMismatch, h.GetVersionMajor(), h.GetVersionMinor(), VersionMajor, VersionMinor)
}
