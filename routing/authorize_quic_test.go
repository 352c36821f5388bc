package routing

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// errNoSecrets is the error of denySecretSubs.
var errNoSecrets = errors.New("test acl: secret topics are off limits")

// denySecretSubs is an AuthorizeStore that refuses subscription records
// of topics under "secret.", as an access-control list would.
func denySecretSubs(_ Contact, rec *Record) error {
	if rec.Kind == KindSub && strings.HasPrefix(rec.Name, "secret.") {
		return fmt.Errorf("%w: %s may not subscribe to %q", errNoSecrets, rec.Owner.Short(), rec.Name)
	}
	return nil
}

// TestAuthorizeStoreOverQUIC has every node of a mesh refuse
// subscriptions to secret topics. A node (modified, ignoring its own
// rules) stores one on every other node: each refuses it with
// ErrStoreRefused and the authorizer's reason, stores nothing and reports
// the sender to OnRecordRefused. Put as well, which keeps the record on
// the sender itself (it is among the K closest in a mesh of 8): lookups
// and watches of the other nodes drop it from its answers, so none of
// them ever sees it. An allowed subscription of the same node is stored
// everywhere and found by every node.
func TestAuthorizeStoreOverQUIC(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := newRefusalLog()
		nodes := quicMeshWith(t, 8, func(c *Config) {
			c.AuthorizeStore = denySecretSubs
			log.hook(c)
		})
		ctx := context.Background()
		sender := nodes[3]
		others := make([]*quicNode, 0, len(nodes)-1)
		for _, nd := range nodes {
			if nd != sender {
				others = append(others, nd)
			}
		}
		denied, err := sender.dht.NewRecord(KindSub, "secret.payroll", []byte("sub"))
		require.NoError(t, err)
		allowed, err := sender.dht.NewRecord(KindSub, "public.news", []byte("sub"))
		require.NoError(t, err)

		q := NewQUICQuerier(sender.tr)
		for i, nd := range others {
			err := q.Store(ctx, nd.dht.Self(), denied)
			require.ErrorIs(t, err, ErrStoreRefused, "node %d", i)
			require.ErrorContains(t, err, "secret topics are off limits", "node %d: the authorizer's reason", i)
			require.Empty(t, nd.dht.store.get(denied.Key, time.Now()), "node %d", i)

			got := log.from(nd.id.ID(), sender.id.ID())
			require.Len(t, got, 1, "node %d", i)
			require.Equal(t, "secret.payroll", got[0].rec.Name, "node %d", i)
			require.Equal(t, denied.Signature, got[0].rec.Signature, "node %d", i)
			require.ErrorIs(t, got[0].err, ErrStoreRefused, "node %d", i)
			require.ErrorIs(t, got[0].err, errNoSecrets, "node %d", i)
			require.Equal(t, RefusalCounts{Unauthorized: 1}, nd.dht.Stats().Refused, "node %d", i)
		}

		require.NoError(t, sender.dht.Put(ctx, denied), "stored on the sender itself")
		require.Len(t, sender.dht.store.get(denied.Key, time.Now()), 1)
		require.NoError(t, sender.dht.Put(ctx, allowed))
		for i, nd := range others {
			require.Empty(t, nd.dht.store.get(denied.Key, time.Now()), "node %d", i)
			require.Len(t, log.from(nd.id.ID(), sender.id.ID()), 2, "node %d: Put's STORE refused too", i)

			got, err := nd.dht.Get(ctx, denied.Key)
			require.NoError(t, err, "node %d", i)
			require.Empty(t, got, "node %d finds no denied subscription", i)
			got, err = nd.dht.Get(ctx, allowed.Key)
			require.NoError(t, err, "node %d", i)
			require.Len(t, got, 1, "node %d finds the allowed subscription", i)
			require.Equal(t, allowed.Signature, got[0].Signature, "node %d", i)
		}

		watcher := others[4]
		wctx, cancel := context.WithCancel(ctx)
		deniedSets, err := watcher.dht.Watch(wctx, denied.Key)
		require.NoError(t, err)
		allowedSets, err := watcher.dht.Watch(wctx, allowed.Key)
		require.NoError(t, err)
		require.Empty(t, <-deniedSets, "watches drop the denied subscription")
		require.Len(t, <-allowedSets, 1)
		cancel()
		for range deniedSets {
		}
		for range allowedSets {
		}
	})
}

// TestAuthorizeAnswerIsSeparate: a node whose answer check is more lenient
// than its store check (as when the owner's credentials are unknown)
// uses a record found in an answer that a STORE of the same record to it
// would be refused.
func TestAuthorizeAnswerIsSeparate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nodes := quicMeshWith(t, 4, func(c *Config) {
			c.AuthorizeStore = denySecretSubs
			c.AuthorizeAnswer = func(Contact, *Record) error { return nil }
		})
		ctx := context.Background()
		sender, reader := nodes[1], nodes[2]
		denied, err := sender.dht.NewRecord(KindSub, "secret.payroll", []byte("sub"))
		require.NoError(t, err)
		require.NoError(t, sender.dht.Put(ctx, denied), "kept by the sender only")
		require.Empty(t, reader.dht.store.get(denied.Key, time.Now()), "the STORE was refused")
		got, err := reader.dht.Get(ctx, denied.Key)
		require.NoError(t, err)
		require.Len(t, got, 1, "the sender's own answer passes the lenient answer check")
	})
}
