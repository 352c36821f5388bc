package routing

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/security"
)

// refusal is one call of Config.OnRecordRefused.
type refusal struct {
	from Contact
	rec  *Record
	err  error
}

// refusalLog records the OnRecordRefused calls of every node of a test
// mesh, by refusing node.
type refusalLog struct {
	mu sync.Mutex
	at map[security.NodeID][]refusal
}

func newRefusalLog() *refusalLog {
	return &refusalLog{at: make(map[security.NodeID][]refusal)}
}

// hook makes cfg's node report its refusals to l; use it as (part of) a
// Config edit function.
func (l *refusalLog) hook(cfg *Config) {
	self := cfg.Identity.ID()
	cfg.OnRecordRefused = func(from Contact, rec *Record, err error) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.at[self] = append(l.at[self], refusal{from: from, rec: rec, err: err})
	}
}

// from returns the refusals node at made of records sent by sender.
func (l *refusalLog) from(at, sender security.NodeID) []refusal {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []refusal
	for _, r := range l.at[at] {
		if r.from.ID == sender {
			out = append(out, r)
		}
	}
	return out
}

// TestRefusalsReportedAndCounted refuses a STORE for each reason on one
// node and checks that each is reported to OnRecordRefused with its
// sender, record and sentinel, and counted under its reason.
func TestRefusalsReportedAndCounted(t *testing.T) {
	const burst = 9
	log := newRefusalLog()
	c := newCluster(t, 1, func(cfg *Config) {
		cfg.MaxRecordsPerKey = 2
		cfg.AuthorizeStore = denySecretSubs
		// No token comes back within the test.
		cfg.StoreRate, cfg.StoreBurst = 0.001, burst
		log.hook(cfg)
	})
	d := c.nodes[0]
	self := d.Self().ID
	from := Contact{ID: newIdentity(t).ID()}
	a, b := newIdentity(t), newIdentity(t)
	good := newTestRecord(t, a, KindSub, "t", "v", 1)
	otherRealm, err := NewRecord("org.example.other", KindSub, "t", nil, time.Minute, 2, a)
	require.NoError(t, err)

	// burst stores: the first and seventh are accepted, the others refused
	// for every reason but the rate.
	for i, tc := range []struct {
		rec  *Record
		want error // nil: accepted
	}{
		{good, nil},
		{resign(good, b, func(r *Record) { r.Seq = 2 }), ErrBadSignature},
		{resign(good, a, func(r *Record) { r.Seq = 2; r.Expires = unixNano(time.Now().Add(-time.Second).UnixNano()) }), ErrExpired},
		{otherRealm, ErrWrongKey},
		{nil, ErrInvalidRecord},
		{newTestRecord(t, a, KindSub, "t", "old", 0), ErrStale},
		{newTestRecord(t, b, KindSub, "t", "", 1), nil},
		{newTestRecord(t, newIdentity(t), KindSub, "t", "", 1), ErrLimit},
		{newTestRecord(t, a, KindSub, "secret.payroll", "", 1), ErrStoreRefused},
	} {
		before := len(log.from(self, from.ID))
		err := d.HandleStore(from, tc.rec)
		got := log.from(self, from.ID)
		if tc.want == nil {
			require.NoError(t, err, "store %d", i)
			require.Len(t, got, before, "store %d: not reported", i)
			continue
		}
		require.ErrorIs(t, err, tc.want, "store %d", i)
		require.Len(t, got, before+1, "store %d: reported once", i)
		last := got[len(got)-1]
		require.Equal(t, from.ID, last.from.ID, "store %d", i)
		require.Same(t, tc.rec, last.rec, "store %d", i)
		require.ErrorIs(t, last.err, tc.want, "store %d", i)
	}
	secret := log.from(self, from.ID)[len(log.from(self, from.ID))-1]
	require.ErrorIs(t, secret.err, errNoSecrets, "the authorizer's error is wrapped")

	// The sender's bucket is empty now; another sender's is full.
	rec := newTestRecord(t, a, KindRPC, "p", "", 1)
	require.ErrorIs(t, d.HandleStore(from, rec), ErrRateLimited)
	last := log.from(self, from.ID)
	require.ErrorIs(t, last[len(last)-1].err, ErrRateLimited)
	require.NoError(t, d.HandleStore(Contact{ID: newIdentity(t).ID()}, rec))

	require.Equal(t, RefusalCounts{
		Unauthorized: 1, RateLimited: 1, BadSignature: 1, Expired: 1,
		WrongKey: 1, Stale: 1, Limit: 1, Invalid: 1,
	}, d.Stats().Refused)
	require.EqualValues(t, 8, d.Stats().Refused.Total())
	require.Equal(t, 3, d.Stats().Records)
}
