package routing

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
)

// Limits on record fields, checked by [NewRecord] and [Record.Verify].
const (
	// MaxKindLen is the maximum length of a record kind in bytes.
	MaxKindLen = 32
	// MaxNameLen is the maximum length of a record name in bytes.
	MaxNameLen = 1024
	// MaxValueLen is the maximum length of a record value in bytes.
	MaxValueLen = 16 << 10
	// MaxRecordLifetime is how far in the future a record may expire. A
	// record expiring later is refused, so a stolen or buggy signature
	// cannot pin a record in the mesh for years.
	MaxRecordLifetime = 24 * time.Hour
)

// signingContext starts the signed bytes of every record, so a record
// signature can never be mistaken for the signature of anything else.
const signingContext = "macula/1/record\x00"

// Record is one signed entry under a key. Several owners may store records
// under one key (for example every subscriber of a topic anchor); one
// owner has at most one live record per key: the one with the highest
// Seq, and at equal Seq the one that expires last.
//
// Records are values: build them with [NewRecord] (or [DHT.NewRecord]),
// receive them from [RecordFromProto] or [DHT.Get], and do not modify a
// record after it was signed: the signature covers every field.
type Record struct {
	// Key is KeyFor(realm, Kind, Name).
	Key Key
	// Kind is the record kind, such as [KindSub] or [KindRPC]: 1 to
	// [MaxKindLen] bytes of [a-z0-9_-].
	Kind string
	// Name is the record name within its kind, such as a topic anchor or a
	// procedure; at most [MaxNameLen] bytes, may be empty.
	Name string
	// Owner is the node ID of the node that made and signed the record.
	Owner security.NodeID
	// OwnerKey is the owner's Ed25519 public key; its SHA-256 is Owner.
	OwnerKey ed25519.PublicKey
	// Value is the kind-specific payload, at most [MaxValueLen] bytes.
	Value []byte
	// Seq is the owner's version of the record: owner-chosen and
	// increasing, a higher Seq replaces a lower one from the same owner.
	Seq uint64
	// Expires is when every node drops the record.
	Expires time.Time
	// Tombstone marks an explicit removal. A tombstone is stored and
	// passed on like a record, until Expires, so it beats older copies;
	// [DHT.Get] never returns one.
	Tombstone bool
	// Signature is the owner's Ed25519 signature over a canonical encoding
	// of every other field.
	Signature []byte
}

// NewRecord returns a record named name of the given kind in realm,
// holding value, expiring ttl from now, with version seq, signed by id.
// value is copied. It fails with an error wrapping [ErrInvalidRecord] if
// realm is not valid (see [security.ValidateRealm]), kind, name or value
// break the limits of [Record], ttl is not positive or above
// [MaxRecordLifetime], or id holds no key.
func NewRecord(realm, kind, name string, value []byte, ttl time.Duration, seq uint64, id *security.Identity) (*Record, error) {
	if err := security.ValidateRealm(realm); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRecord, err)
	}
	if ttl <= 0 || ttl > MaxRecordLifetime {
		return nil, fmt.Errorf("%w: ttl %v not in (0, %v]", ErrInvalidRecord, ttl, MaxRecordLifetime)
	}
	if id.ID().IsZero() {
		return nil, fmt.Errorf("%w: no identity to sign with", ErrInvalidRecord)
	}
	r := &Record{
		Key:      KeyFor(realm, kind, name),
		Kind:     kind,
		Name:     name,
		Owner:    id.ID(),
		OwnerKey: id.PublicKey(),
		Value:    bytes.Clone(value),
		Seq:      seq,
		Expires:  unixNano(time.Now().Add(ttl).UnixNano()),
	}
	if err := r.checkFields(); err != nil {
		return nil, err
	}
	r.sign(id)
	return r, nil
}

// unixNano returns the time n nanoseconds after the Unix epoch, without a
// monotonic clock reading, as a record carries it on the wire.
func unixNano(n int64) time.Time {
	return time.Unix(0, n)
}

// sign sets r.Signature with id's key.
func (r *Record) sign(id *security.Identity) {
	r.Signature = id.Sign(r.signedBytes())
}

// signedBytes is the canonical encoding the signature covers: a context
// string, then every field except Signature in a fixed order, variable
// length fields prefixed by their length.
func (r *Record) signedBytes() []byte {
	b := make([]byte, 0, len(signingContext)+128+len(r.Kind)+len(r.Name)+len(r.Value))
	b = append(b, signingContext...)
	b = append(b, r.Key[:]...)
	b = appendBytes(b, []byte(r.Kind))
	b = appendBytes(b, []byte(r.Name))
	b = append(b, r.Owner[:]...)
	b = appendBytes(b, r.OwnerKey)
	b = appendBytes(b, r.Value)
	b = binary.BigEndian.AppendUint64(b, r.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Expires.UnixNano()))
	if r.Tombstone {
		return append(b, 1)
	}
	return append(b, 0)
}

// appendBytes appends v preceded by its length as a uvarint.
func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// checkFields checks the limits on the fields that need no realm, clock
// or signature check.
func (r *Record) checkFields() error {
	if len(r.Kind) == 0 || len(r.Kind) > MaxKindLen {
		return fmt.Errorf("%w: kind is %d bytes, want 1 to %d", ErrInvalidRecord, len(r.Kind), MaxKindLen)
	}
	for i := 0; i < len(r.Kind); i++ {
		c := r.Kind[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return fmt.Errorf("%w: kind %q has invalid character %q (allowed: a-z 0-9 - _)", ErrInvalidRecord, r.Kind, c)
		}
	}
	if len(r.Name) > MaxNameLen {
		return fmt.Errorf("%w: name is %d bytes, max %d", ErrInvalidRecord, len(r.Name), MaxNameLen)
	}
	if len(r.Value) > MaxValueLen {
		return fmt.Errorf("%w: value is %d bytes, max %d", ErrInvalidRecord, len(r.Value), MaxValueLen)
	}
	if len(r.OwnerKey) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: owner key is %d bytes, want %d", ErrInvalidRecord, len(r.OwnerKey), ed25519.PublicKeySize)
	}
	if len(r.Signature) != 0 && len(r.Signature) != ed25519.SignatureSize {
		return fmt.Errorf("%w: signature is %d bytes, want %d", ErrInvalidRecord, len(r.Signature), ed25519.SignatureSize)
	}
	return nil
}

// Verify checks r as a record of realm at time now. It returns an error
// wrapping
//   - [ErrInvalidRecord] if a field breaks the limits of [Record] or r
//     expires more than [MaxRecordLifetime] after now;
//   - [ErrWrongKey] if r.Key is not KeyFor(realm, r.Kind, r.Name);
//   - [ErrBadSignature] if r.OwnerKey does not hash to r.Owner or the
//     signature does not verify;
//   - [ErrExpired] if r.Expires is not after now.
//
// A nil record is invalid.
func (r *Record) Verify(realm string, now time.Time) error {
	if r == nil {
		return fmt.Errorf("%w: nil", ErrInvalidRecord)
	}
	if err := r.checkFields(); err != nil {
		return err
	}
	if r.Key != KeyFor(realm, r.Kind, r.Name) {
		return fmt.Errorf("%w: key %s, realm %q kind %q name %q", ErrWrongKey, r.Key, realm, r.Kind, r.Name)
	}
	if security.NodeIDFromPublicKey(r.OwnerKey) != r.Owner {
		return fmt.Errorf("%w: owner key does not belong to owner %s", ErrBadSignature, r.Owner.Short())
	}
	if !now.Before(r.Expires) {
		return fmt.Errorf("%w: at %v, %v ago", ErrExpired, r.Expires.UTC(), now.Sub(r.Expires))
	}
	if r.Expires.Sub(now) > MaxRecordLifetime {
		return fmt.Errorf("%w: expires in %v, max %v", ErrInvalidRecord, r.Expires.Sub(now), MaxRecordLifetime)
	}
	if !ed25519.Verify(r.OwnerKey, r.signedBytes(), r.Signature) {
		return fmt.Errorf("%w: record %s/%s of %s", ErrBadSignature, r.Kind, r.Name, r.Owner.Short())
	}
	return nil
}

// ToProto returns r as its wire message. The message shares no memory
// with r.
func (r *Record) ToProto() *protocol.Record {
	return &protocol.Record{
		Key:             bytes.Clone(r.Key[:]),
		Owner:           bytes.Clone(r.Owner[:]),
		Kind:            r.Kind,
		Name:            r.Name,
		Value:           bytes.Clone(r.Value),
		ExpiresUnixNano: r.Expires.UnixNano(),
		Seq:             r.Seq,
		Signature:       bytes.Clone(r.Signature),
		Tombstone:       r.Tombstone,
		OwnerKey:        bytes.Clone(r.OwnerKey),
	}
}

// RecordFromProto converts a wire message into a Record, copying its
// bytes. It checks only the shape (key and owner 32 bytes, the field
// limits of [Record]); call [Record.Verify] before trusting the result.
// Errors wrap [ErrInvalidRecord].
func RecordFromProto(p *protocol.Record) (*Record, error) {
	if p == nil {
		return nil, fmt.Errorf("%w: nil", ErrInvalidRecord)
	}
	r := &Record{
		Kind:      p.GetKind(),
		Name:      p.GetName(),
		OwnerKey:  ed25519.PublicKey(bytes.Clone(p.GetOwnerKey())),
		Value:     bytes.Clone(p.GetValue()),
		Seq:       p.GetSeq(),
		Expires:   unixNano(p.GetExpiresUnixNano()),
		Tombstone: p.GetTombstone(),
		Signature: bytes.Clone(p.GetSignature()),
	}
	if len(p.GetKey()) != len(r.Key) {
		return nil, fmt.Errorf("%w: key is %d bytes, want %d", ErrInvalidRecord, len(p.GetKey()), len(r.Key))
	}
	if len(p.GetOwner()) != len(r.Owner) {
		return nil, fmt.Errorf("%w: owner is %d bytes, want %d", ErrInvalidRecord, len(p.GetOwner()), len(r.Owner))
	}
	copy(r.Key[:], p.GetKey())
	copy(r.Owner[:], p.GetOwner())
	if err := r.checkFields(); err != nil {
		return nil, err
	}
	return r, nil
}

// clone returns a deep copy of r.
func (r *Record) clone() *Record {
	c := *r
	c.OwnerKey = bytes.Clone(r.OwnerKey)
	c.Value = bytes.Clone(r.Value)
	c.Signature = bytes.Clone(r.Signature)
	return &c
}

// supersedes reports whether r replaces old, a record of the same owner
// under the same key: a higher Seq wins, and at equal Seq the later
// expiry (a republished copy).
func (r *Record) supersedes(old *Record) bool {
	if r.Seq != old.Seq {
		return r.Seq > old.Seq
	}
	return r.Expires.After(old.Expires)
}
