package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/org/macula/security"
)

// Connect returns the connection to the peer id, dialing its addrs
// ("host:port", tried in order) when there is none yet. It fails with an
// error wrapping [ErrUnreachable] (and the dial errors) when no address
// works; ctx bounds the dials.
func (t *Transport) Connect(ctx context.Context, id security.NodeID, addrs []string) (PeerInfo, error) {
	if pc := t.peers.get(id); pc != nil {
		return pc.info(), nil
	}
	var errs []error
	for _, a := range addrs {
		ap, err := netip.ParseAddrPort(a)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		info, err := t.Dial(ctx, net.UDPAddrFromAddrPort(ap), id)
		if err == nil {
			return info, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil || errors.Is(err, ErrClosed) {
			break
		}
	}
	if len(errs) == 0 {
		return PeerInfo{}, fmt.Errorf("%w: %s: no address", ErrUnreachable, id.Short())
	}
	return PeerInfo{}, fmt.Errorf("%w: %s: %w", ErrUnreachable, id.Short(), errors.Join(errs...))
}
