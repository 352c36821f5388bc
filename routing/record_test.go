package routing

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
)

func TestKeyFor(t *testing.T) {
	k := KeyFor("org.example.mesh", KindSub, "orders.eu")
	require.Equal(t, k, KeyFor("org.example.mesh", KindSub, "orders.eu"))
	require.NotEqual(t, k, KeyFor("org.example.other", KindSub, "orders.eu"))
	require.NotEqual(t, k, KeyFor("org.example.mesh", KindRPC, "orders.eu"))
	require.NotEqual(t, k, KeyFor("org.example.mesh", KindSub, "orders.us"))
	// The documented preimage.
	// The documented preimage: every node must agree on it.
	require.Equal(t, Key(sha256.Sum256([]byte("macula/1/org.example.mesh/sub/orders.eu"))), k)
	require.Len(t, k.String(), 64)
}

func TestRecordSignVerify(t *testing.T) {
	id := newIdentity(t)
	r := newTestRecord(t, id, KindRPC, "billing.charge", "provider", 7)
	now := time.Now()
	require.NoError(t, r.Verify(testRealm, now))
	require.Equal(t, id.ID(), r.Owner)
	require.Equal(t, KeyFor(testRealm, KindRPC, "billing.charge"), r.Key)
	require.WithinDuration(t, now.Add(time.Minute), r.Expires, time.Second)
	require.Equal(t, uint64(7), r.Seq)
	require.False(t, r.Tombstone)

	t.Run("value is copied", func(t *testing.T) {
		v := []byte("abc")
		r, err := NewRecord(testRealm, KindSub, "a", v, time.Minute, 1, id)
		require.NoError(t, err)
		v[0] = 'x'
		require.NoError(t, r.Verify(testRealm, now))
	})
}

func TestRecordTampered(t *testing.T) {
	id := newIdentity(t)
	other := newIdentity(t)
	base := newTestRecord(t, id, KindSub, "orders", "v", 3)
	now := time.Now()
	for name, edit := range map[string]func(r *Record){
		"value":     func(r *Record) { r.Value = []byte("w") },
		"seq":       func(r *Record) { r.Seq++ },
		"expires":   func(r *Record) { r.Expires = r.Expires.Add(time.Second) },
		"tombstone": func(r *Record) { r.Tombstone = true },
		"signature": func(r *Record) { r.Signature[0] ^= 1 },
		"no signature": func(r *Record) {
			r.Signature = nil
		},
		"other owner": func(r *Record) {
			r.Owner, r.OwnerKey = other.ID(), other.PublicKey()
		},
	} {
		t.Run(name, func(t *testing.T) {
			r := base.clone()
			edit(r)
			require.ErrorIs(t, r.Verify(testRealm, now), ErrBadSignature)
		})
	}
	t.Run("kind and key", func(t *testing.T) {
		r := base.clone()
		r.Kind = KindRPC
		r.Key = KeyFor(testRealm, KindRPC, r.Name)
		require.ErrorIs(t, r.Verify(testRealm, now), ErrBadSignature)
	})
	t.Run("name and key", func(t *testing.T) {
		r := base.clone()
		r.Name = "payments"
		r.Key = KeyFor(testRealm, KindSub, r.Name)
		require.ErrorIs(t, r.Verify(testRealm, now), ErrBadSignature)
	})
}

func TestRecordOwnerKeyMismatch(t *testing.T) {
	id := newIdentity(t)
	other := newIdentity(t)
	r := newTestRecord(t, id, KindSub, "orders", "v", 1)
	// Signed by other with other's key, but claiming id as owner.
	forged := resign(r, other, func(r *Record) { r.OwnerKey = other.PublicKey() })
	require.ErrorIs(t, forged.Verify(testRealm, time.Now()), ErrBadSignature)
	// Owner's key, other's signature.
	forged = resign(r, other, func(*Record) {})
	require.ErrorIs(t, forged.Verify(testRealm, time.Now()), ErrBadSignature)
}

func TestRecordExpired(t *testing.T) {
	id := newIdentity(t)
	r := newTestRecord(t, id, KindSub, "orders", "v", 1)
	require.ErrorIs(t, r.Verify(testRealm, r.Expires), ErrExpired)
	require.ErrorIs(t, r.Verify(testRealm, r.Expires.Add(time.Hour)), ErrExpired)
	require.NoError(t, r.Verify(testRealm, r.Expires.Add(-time.Nanosecond)))
	old := resign(r, id, func(r *Record) { r.Expires = unixNano(time.Now().Add(-time.Second).UnixNano()) })
	require.ErrorIs(t, old.Verify(testRealm, time.Now()), ErrExpired)

	far := resign(r, id, func(r *Record) { r.Expires = unixNano(time.Now().Add(MaxRecordLifetime + time.Hour).UnixNano()) })
	require.ErrorIs(t, far.Verify(testRealm, time.Now()), ErrInvalidRecord)
}

func TestRecordWrongKey(t *testing.T) {
	id := newIdentity(t)
	r := newTestRecord(t, id, KindSub, "orders", "v", 1)
	require.ErrorIs(t, r.Verify("org.example.other", time.Now()), ErrWrongKey)
	bad := resign(r, id, func(r *Record) { r.Key[0] ^= 1 })
	require.ErrorIs(t, bad.Verify(testRealm, time.Now()), ErrWrongKey)
}

func TestRecordInvalid(t *testing.T) {
	id := newIdentity(t)
	for name, f := range map[string]func() error{
		"bad realm": func() error {
			_, err := NewRecord("Bad Realm", KindSub, "a", nil, time.Minute, 1, id)
			return err
		},
		"empty kind": func() error {
			_, err := NewRecord(testRealm, "", "a", nil, time.Minute, 1, id)
			return err
		},
		"kind with slash": func() error {
			_, err := NewRecord(testRealm, "a/b", "a", nil, time.Minute, 1, id)
			return err
		},
		"long name": func() error {
			_, err := NewRecord(testRealm, KindSub, string(make([]byte, MaxNameLen+1)), nil, time.Minute, 1, id)
			return err
		},
		"long value": func() error {
			_, err := NewRecord(testRealm, KindSub, "a", make([]byte, MaxValueLen+1), time.Minute, 1, id)
			return err
		},
		"zero ttl": func() error {
			_, err := NewRecord(testRealm, KindSub, "a", nil, 0, 1, id)
			return err
		},
		"long ttl": func() error {
			_, err := NewRecord(testRealm, KindSub, "a", nil, MaxRecordLifetime+1, 1, id)
			return err
		},
		"no identity": func() error {
			_, err := NewRecord(testRealm, KindSub, "a", nil, time.Minute, 1, nil)
			return err
		},
		"nil record": func() error {
			var r *Record
			return r.Verify(testRealm, time.Now())
		},
		"short owner key": func() error {
			r := newTestRecord(t, id, KindSub, "a", "", 1)
			r.OwnerKey = r.OwnerKey[:31]
			return r.Verify(testRealm, time.Now())
		},
		"short signature": func() error {
			r := newTestRecord(t, id, KindSub, "a", "", 1)
			r.Signature = r.Signature[:63]
			return r.Verify(testRealm, time.Now())
		},
	} {
		t.Run(name, func(t *testing.T) {
			require.ErrorIs(t, f(), ErrInvalidRecord)
		})
	}
}

func TestRecordProtoRoundTrip(t *testing.T) {
	id := newIdentity(t)
	for _, r := range []*Record{
		newTestRecord(t, id, KindRPC, "billing.charge", "provider", 9),
		resign(newTestRecord(t, id, KindSub, "", "", 10), id, func(r *Record) { r.Tombstone = true; r.Value = nil }),
	} {
		p := r.ToProto()
		b, err := proto.Marshal(p)
		require.NoError(t, err)
		var q protocol.Record
		require.NoError(t, proto.Unmarshal(b, &q))
		got, err := RecordFromProto(&q)
		require.NoError(t, err)
		require.NoError(t, got.Verify(testRealm, time.Now()))
		require.Equal(t, r.Key, got.Key)
		require.Equal(t, r.Owner, got.Owner)
		require.Equal(t, r.OwnerKey, got.OwnerKey)
		require.Equal(t, r.Kind, got.Kind)
		require.Equal(t, r.Name, got.Name)
		require.True(t, bytes.Equal(r.Value, got.Value))
		require.Equal(t, r.Seq, got.Seq)
		require.True(t, r.Expires.Equal(got.Expires))
		require.Equal(t, r.Tombstone, got.Tombstone)
		require.Equal(t, r.Signature, got.Signature)
		// No shared memory.
		p.Signature[0] ^= 1
		require.NoError(t, r.Verify(testRealm, time.Now()))
	}
}

func TestRecordFromProtoInvalid(t *testing.T) {
	id := newIdentity(t)
	good := newTestRecord(t, id, KindRPC, "x", "", 1).ToProto()
	for name, edit := range map[string]func(p *protocol.Record){
		"short key":       func(p *protocol.Record) { p.Key = p.Key[:31] },
		"short owner":     func(p *protocol.Record) { p.Owner = nil },
		"no owner key":    func(p *protocol.Record) { p.OwnerKey = nil },
		"long signature":  func(p *protocol.Record) { p.Signature = make([]byte, 65) },
		"empty kind":      func(p *protocol.Record) { p.Kind = "" },
		"oversized value": func(p *protocol.Record) { p.Value = make([]byte, MaxValueLen+1) },
	} {
		t.Run(name, func(t *testing.T) {
			p := proto.CloneOf(good)
			edit(p)
			_, err := RecordFromProto(p)
			require.ErrorIs(t, err, ErrInvalidRecord)
		})
	}
	_, err := RecordFromProto(nil)
	require.ErrorIs(t, err, ErrInvalidRecord)
}

func TestContactProto(t *testing.T) {
	id := newIdentity(t).ID()
	c := Contact{ID: id, Addrs: []string{"10.0.0.1:4433"}}
	got, err := ContactFromProto(c.ToProto())
	require.NoError(t, err)
	require.Equal(t, c, got)
	_, err = ContactFromProto(&protocol.NodeInfo{NodeId: id[:31]})
	require.ErrorIs(t, err, security.ErrInvalidNodeID)
	_, err = ContactFromProto(&protocol.NodeInfo{NodeId: make([]byte, 32)})
	require.ErrorIs(t, err, security.ErrInvalidNodeID)
}

func FuzzRecordFromProto(f *testing.F) {
	id, err := security.GenerateIdentity()
	if err != nil {
		f.Fatal(err)
	}
	for _, r := range []*Record{
		mustRecord(f, KindSub, "orders.eu", "v", time.Minute, 1, id),
		mustRecord(f, KindRPC, "", "", time.Hour, 1<<60, id),
	} {
		b, err := proto.Marshal(r.ToProto())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x20})
	now := time.Now()
	f.Fuzz(func(t *testing.T, b []byte) {
		var p protocol.Record
		if proto.Unmarshal(b, &p) != nil {
			return
		}
		r, err := RecordFromProto(&p)
		if err != nil {
			return
		}
		_ = r.Verify(testRealm, now)
		_ = r.ToProto()
		if len(r.OwnerKey) != ed25519.PublicKeySize {
			t.Fatalf("accepted an owner key of %d bytes", len(r.OwnerKey))
		}
	})
}

// mustRecord is NewRecord for fuzz seeds.
func mustRecord(f *testing.F, kind, name, value string, ttl time.Duration, seq uint64, id *security.Identity) *Record {
	r, err := NewRecord(testRealm, kind, name, []byte(value), ttl, seq, id)
	if err != nil {
		f.Fatal(err)
	}
	return r
}
