package routing

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// closestNodes returns the k nodes closest to key, closest first.
func closestNodes(nodes []*quicNode, key Key, k int) []*quicNode {
	pos := keyPosition(key)
	sorted := slices.Clone(nodes)
	slices.SortFunc(sorted, func(a, b *quicNode) int {
		return compareDistance(xor(nodePosition(a.id.ID()), pos), xor(nodePosition(b.id.ID()), pos))
	})
	return sorted[:k]
}

// TestDHTForgedRecordsOverQUIC has a mesh node send records in another
// node's name over QUIC to each of the K nodes closest to their key, the
// nodes that store the genuine record: one signed with its own key, one
// with its own signature over the victim's key, and a genuine record of
// the victim's replayed after it expired. Every storing node refuses each
// with a refusal that crosses the wire ([ErrInvalidRecord]; the node
// itself names the reason), reports the attacker and the reason to
// OnRecordRefused and counts it, keeps the genuine record, and every
// lookup returns only that.
func TestDHTForgedRecordsOverQUIC(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := newRefusalLog()
		nodes := quicMeshWith(t, 30, log.hook)
		ctx := context.Background()
		victim := nodes[1]
		// The victim signs a record with a 10 s lifetime, which the
		// attacker captures; it has expired when the attack starts.
		early, err := NewRecord(victim.dht.Realm(), KindRPC, "billing", []byte("early"), 10*time.Second, uint64(time.Now().UnixNano()), victim.id)
		require.NoError(t, err)
		time.Sleep(10 * time.Second)
		synctest.Wait()

		targets := closestNodes(nodes, early.Key, DefaultK)
		var attacker *quicNode
		for _, nd := range nodes {
			if nd != victim && !slices.Contains(targets, nd) {
				attacker = nd
				break
			}
		}
		q := NewQUICQuerier(attacker.tr)
		refused := func(rec *Record, reason error) {
			t.Helper()
			for i, nd := range targets {
				before := len(log.from(nd.id.ID(), attacker.id.ID()))
				err := q.Store(ctx, nd.dht.Self(), rec)
				require.ErrorIs(t, err, ErrInvalidRecord, "storing node %d", i)
				require.ErrorIs(t, nd.dht.HandleStore(attacker.dht.Self(), rec), reason, "storing node %d", i)
				// Both refusals, over QUIC and direct, are reported with
				// the attacker as sender and the precise reason.
				got := log.from(nd.id.ID(), attacker.id.ID())
				require.Len(t, got, before+2, "storing node %d", i)
				for _, r := range got[before:] {
					require.ErrorIs(t, r.err, reason, "storing node %d", i)
					require.Equal(t, rec.Signature, r.rec.Signature, "storing node %d", i)
					require.Equal(t, victim.id.ID(), r.rec.Owner, "storing node %d", i)
				}
			}
		}

		// Refused even where nothing conflicts with it: no node holds a
		// record under the key yet.
		refused(early, ErrExpired)
		for _, nd := range nodes {
			require.Zero(t, nd.dht.store.len())
		}

		genuine, err := victim.dht.NewRecord(KindRPC, "billing", []byte("genuine"))
		require.NoError(t, err)
		require.NoError(t, victim.dht.Put(ctx, genuine))
		holds := func(nd *quicNode) bool {
			got := nd.dht.store.get(genuine.Key, time.Now())
			return len(got) == 1 && string(got[0].Value) == "genuine" && got[0].Seq == genuine.Seq
		}
		for i, nd := range targets {
			require.True(t, holds(nd), "storing node %d holds the genuine record", i)
		}

		// Newer than the genuine record, so either would replace it if
		// stored: the victim's ID with the attacker's key, and the
		// victim's key with the attacker's signature.
		forgedKey := resign(genuine, attacker.id, func(r *Record) {
			r.Seq++
			r.Value = []byte("evil")
			r.OwnerKey = attacker.id.PublicKey()
		})
		forgedSig := resign(genuine, attacker.id, func(r *Record) {
			r.Seq++
			r.Value = []byte("evil")
		})
		refused(forgedKey, ErrBadSignature)
		refused(forgedSig, ErrBadSignature)
		refused(early, ErrExpired)
		for i, nd := range targets {
			require.True(t, holds(nd), "storing node %d still holds only the genuine record", i)
			// Two forgeries and two replays, each over QUIC and direct.
			st := nd.dht.Stats().Refused
			require.EqualValues(t, 4, st.BadSignature, "storing node %d", i)
			require.EqualValues(t, 4, st.Expired, "storing node %d", i)
		}

		for i, nd := range nodes {
			got, err := nd.dht.Get(ctx, genuine.Key)
			require.NoError(t, err, "node %d", i)
			require.Len(t, got, 1, "node %d", i)
			require.Equal(t, "genuine", string(got[0].Value), "node %d", i)
			require.Equal(t, genuine.Signature, got[0].Signature, "node %d", i)
		}
	})
}
