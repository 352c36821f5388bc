package transport

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/security"
)

func TestSimultaneousDialsConvergeOnOneConnection(t *testing.T) {
	onBoth(t, func(t *testing.T, nw network) {
		const pairs = 5
		conns := nw.conns(2 * pairs)
		for i := range pairs {
			a, b := newNode(t, conns[2*i]), newNode(t, conns[2*i+1])
			var wg sync.WaitGroup
			var errA, errB error
			wg.Go(func() { _, errA = a.Dial(context.Background(), b.Addr(), security.NodeID{}) })
			wg.Go(func() { _, errB = b.Dial(context.Background(), a.Addr(), security.NodeID{}) })
			wg.Wait()
			require.NoError(t, errA)
			require.NoError(t, errB)

			// Both keep the connection dialed by the lower node ID.
			lower, higher := a, b
			if b.ID().Compare(a.ID()) < 0 {
				lower, higher = b, a
			}
			eventually(t, 3*time.Second, func() bool {
				pl, okl := lower.peers.get(higher.ID()), higher.peers.get(lower.ID())
				return pl != nil && okl != nil && pl.outbound && !okl.outbound &&
					len(lower.Peers()) == 1 && len(higher.Peers()) == 1
			}, "one connection, dialed by the lower ID")
			// It is the same connection at both ends, and it works.
			pl, ph := lower.peers.get(higher.ID()), higher.peers.get(lower.ID())
			require.Equal(t, lower.ID(), pl.dialer)
			require.Equal(t, lower.ID(), ph.dialer)
			require.Equal(t, pl.dialSeq, ph.dialSeq)
			_, err := lower.Ping(context.Background(), higher.ID())
			require.NoError(t, err)
			_, err = higher.Ping(context.Background(), lower.ID())
			require.NoError(t, err)
		}
	})
}

func TestPreferredRule(t *testing.T) {
	lo, hi := security.NodeID{1}, security.NodeID{2}
	cases := []struct {
		name string
		a, b *peerConn
		want bool
	}{
		{"newer instance wins", &peerConn{remoteInstance: 2, dialer: hi}, &peerConn{remoteInstance: 1, dialer: lo}, true},
		{"older instance loses", &peerConn{remoteInstance: 1, dialer: lo}, &peerConn{remoteInstance: 2, dialer: hi}, false},
		{"lower dialer wins", &peerConn{remoteInstance: 1, dialer: lo}, &peerConn{remoteInstance: 1, dialer: hi}, true},
		{"higher dialer loses", &peerConn{remoteInstance: 1, dialer: hi}, &peerConn{remoteInstance: 1, dialer: lo}, false},
		{"later dial of one dialer wins", &peerConn{remoteInstance: 1, dialer: lo, dialSeq: 3}, &peerConn{remoteInstance: 1, dialer: lo, dialSeq: 2}, true},
		{"earlier dial of one dialer loses", &peerConn{remoteInstance: 1, dialer: lo, dialSeq: 2}, &peerConn{remoteInstance: 1, dialer: lo, dialSeq: 3}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, preferred(tc.a, tc.b))
			// The rule is antisymmetric, so both ends agree.
			require.Equal(t, !tc.want, preferred(tc.b, tc.a))
		})
	}
}
