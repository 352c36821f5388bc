// Package sentinel holds the few error values that several of Macula's
// packages share, so that one root sentinel matches them all.
//
// Each package keeps a sentinel of its own (rpc.ErrInvalidConfig reads
// "macula: invalid rpc config"), made with [Narrow] so that it also
// matches the shared base value here, which the root package re-exports
// (macula.ErrInvalidConfig). A caller can then test for the broad kind
// ("some config was invalid") or the narrow one ("the rpc config was").
//
// Why a package of its own, and internal: the shared values belong to no
// one area, so they cannot live in a public package such as protocol (the
// wire format) without every package importing the wire format for its
// errors; and the root package cannot hold them, since the subpackages
// cannot import the root. Being internal keeps the package out of the
// public API: users see these values only under the root's names.
package sentinel
