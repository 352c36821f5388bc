package routing

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/security"
)

func TestStoreHighestSeqWins(t *testing.T) {
	id := newIdentity(t)
	s := newStore(10, 10)
	r1 := newTestRecord(t, id, KindSub, "a", "one", 1)
	r2 := newTestRecord(t, id, KindSub, "a", "two", 2)
	now := time.Now()

	kept, err := s.put(r2)
	require.NoError(t, err)
	require.True(t, kept)
	kept, err = s.put(r1)
	require.ErrorIs(t, err, ErrStale)
	require.False(t, kept)
	require.Equal(t, []*Record{r2}, s.get(r2.Key, now))

	// The same copy again is fine and changes nothing.
	kept, err = s.put(r2)
	require.NoError(t, err)
	require.False(t, kept)

	// A republished copy (same seq, later expiry) replaces it.
	r2b := resign(r2, id, func(r *Record) { r.Expires = r.Expires.Add(time.Second) })
	kept, err = s.put(r2b)
	require.NoError(t, err)
	require.True(t, kept)
	require.Equal(t, []*Record{r2b}, s.get(r2.Key, now))
	_, err = s.put(r2)
	require.ErrorIs(t, err, ErrStale)

	r3 := newTestRecord(t, id, KindSub, "a", "three", 3)
	_, err = s.put(r3)
	require.NoError(t, err)
	require.Equal(t, []*Record{r3}, s.get(r3.Key, now))
	require.Equal(t, 1, s.len())
}

func TestStoreOwnersShareAKey(t *testing.T) {
	s := newStore(10, 10)
	a, b := newIdentity(t), newIdentity(t)
	ra := newTestRecord(t, a, KindSub, "orders", "a", 5)
	rb := newTestRecord(t, b, KindSub, "orders", "b", 1)
	_, err := s.put(ra)
	require.NoError(t, err)
	_, err = s.put(rb)
	require.NoError(t, err)
	require.ElementsMatch(t, []*Record{ra, rb}, s.get(ra.Key, time.Now()))
	require.Equal(t, []Key{ra.Key}, s.storedKeys())
}

func TestStoreTombstone(t *testing.T) {
	id := newIdentity(t)
	s := newStore(10, 10)
	live := newTestRecord(t, id, KindRPC, "p", "v", 1)
	tomb := resign(live, id, func(r *Record) { r.Seq = 2; r.Tombstone = true; r.Value = nil })
	_, err := s.put(tomb)
	require.NoError(t, err)
	// The older live copy arriving late does not resurrect the record.
	_, err = s.put(live)
	require.ErrorIs(t, err, ErrStale)
	require.Equal(t, []*Record{tomb}, s.get(live.Key, time.Now()))
	// A newer live record replaces the tombstone.
	again := newTestRecord(t, id, KindRPC, "p", "back", 3)
	_, err = s.put(again)
	require.NoError(t, err)
	require.Equal(t, []*Record{again}, s.get(live.Key, time.Now()))
}

func TestStoreLimits(t *testing.T) {
	t.Run("per key", func(t *testing.T) {
		s := newStore(2, 10)
		ids := []*security.Identity{newIdentity(t), newIdentity(t), newIdentity(t)}
		for _, id := range ids[:2] {
			_, err := s.put(newTestRecord(t, id, KindSub, "k", "", 1))
			require.NoError(t, err)
		}
		_, err := s.put(newTestRecord(t, ids[2], KindSub, "k", "", 1))
		require.ErrorIs(t, err, ErrLimit)
		// Replacing an owner's record is not a new record.
		_, err = s.put(newTestRecord(t, ids[0], KindSub, "k", "", 2))
		require.NoError(t, err)
		// Other keys are not affected.
		_, err = s.put(newTestRecord(t, ids[2], KindSub, "other", "", 1))
		require.NoError(t, err)
	})
	t.Run("per owner", func(t *testing.T) {
		s := newStore(10, 2)
		id := newIdentity(t)
		_, err := s.put(newTestRecord(t, id, KindSub, "a", "", 1))
		require.NoError(t, err)
		_, err = s.put(newTestRecord(t, id, KindSub, "b", "", 1))
		require.NoError(t, err)
		_, err = s.put(newTestRecord(t, id, KindSub, "c", "", 1))
		require.ErrorIs(t, err, ErrLimit)
		_, err = s.put(newTestRecord(t, newIdentity(t), KindSub, "c", "", 1))
		require.NoError(t, err)
		_, err = s.put(newTestRecord(t, id, KindSub, "a", "", 2))
		require.NoError(t, err)
	})
	t.Run("expiry frees room", func(t *testing.T) {
		s := newStore(10, 1)
		id := newIdentity(t)
		r := newTestRecord(t, id, KindSub, "a", "", 1)
		_, err := s.put(r)
		require.NoError(t, err)
		_, err = s.put(newTestRecord(t, id, KindSub, "b", "", 1))
		require.ErrorIs(t, err, ErrLimit)
		require.Equal(t, 1, s.sweep(r.Expires))
		_, err = s.put(newTestRecord(t, id, KindSub, "b", "", 1))
		require.NoError(t, err)
	})
}

func TestStoreExpirySweep(t *testing.T) {
	id := newIdentity(t)
	s := newStore(10, 10)
	short, err := NewRecord(testRealm, KindSub, "short", nil, time.Second, 1, id)
	require.NoError(t, err)
	long, err := NewRecord(testRealm, KindSub, "long", nil, time.Hour, 1, id)
	require.NoError(t, err)
	for _, r := range []*Record{short, long} {
		_, err := s.put(r)
		require.NoError(t, err)
	}
	// Expired records are hidden at once and dropped by the sweep.
	require.Empty(t, s.get(short.Key, short.Expires))
	require.Equal(t, 2, s.len())
	require.Equal(t, 0, s.sweep(short.Expires.Add(-time.Nanosecond)))
	require.Equal(t, 1, s.sweep(short.Expires))
	require.Equal(t, 1, s.len())
	require.Equal(t, []Key{long.Key}, s.storedKeys())
	require.Equal(t, 1, s.sweep(long.Expires))
	require.Empty(t, s.storedKeys())
	require.Empty(t, s.perOwner)
}
