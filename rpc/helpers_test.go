package rpc

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/protocol"
	"github.com/org/macula/routing"
	"github.com/org/macula/security"
	"github.com/org/macula/transport"
)

// fakeNetwork connects to nobody; it records the RPC stream handler.
type fakeNetwork struct {
	mu      sync.Mutex
	handler transport.StreamHandler
	handled bool
}

func (f *fakeNetwork) Connect(context.Context, security.NodeID, []string) (transport.PeerInfo, error) {
	return transport.PeerInfo{}, transport.ErrUnreachable
}

func (f *fakeNetwork) Peer(security.NodeID) (transport.PeerInfo, bool) {
	return transport.PeerInfo{}, false
}

func (f *fakeNetwork) OpenStream(context.Context, security.NodeID, protocol.StreamType) (*transport.Stream, error) {
	return nil, transport.ErrNotConnected
}

func (f *fakeNetwork) Handle(typ protocol.StreamType, h transport.StreamHandler) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if typ == protocol.StreamRPC {
		f.handler, f.handled = h, h != nil
	}
}

// fakeRecords signs records with a real identity and remembers Puts and
// Removes; putErr fails every Put.
type fakeRecords struct {
	id *security.Identity

	mu      sync.Mutex
	putErr  error
	puts    []*routing.Record
	removes []string
}

func (f *fakeRecords) NewRecord(kind, name string, value []byte) (*routing.Record, error) {
	return routing.NewRecord(testRealm, kind, name, value, routing.DefaultTTL, 1, f.id)
}

func (f *fakeRecords) Put(_ context.Context, rec *routing.Record) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.puts = append(f.puts, rec)
	return f.putErr
}

func (f *fakeRecords) Remove(_ context.Context, kind, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removes = append(f.removes, kind+"/"+name)
	return nil
}

// fakeDirectory returns fixed records.
type fakeDirectory struct {
	recs []*routing.Record
	err  error
}

func (f *fakeDirectory) Lookup(context.Context, routing.Key) ([]*routing.Record, error) {
	return f.recs, f.err
}

func (f *fakeDirectory) LookupEach(_ context.Context, keys []routing.Key, fn func(int, []*routing.Record)) error {
	if f.err != nil {
		return f.err
	}
	for i := range keys {
		fn(i, f.recs)
	}
	return nil
}

// localService returns a Service with fake network, records and directory:
// only its own handlers can be called.
func localService(t *testing.T, adjust func(*Config)) (*Service, *fakeRecords, *fakeNetwork) {
	t.Helper()
	id, err := security.GenerateIdentity()
	require.NoError(t, err)
	nw := &fakeNetwork{}
	recs := &fakeRecords{id: id}
	cfg := Config{Self: id.ID(), Realm: testRealm, Network: nw, Records: recs, Directory: &fakeDirectory{}}
	if adjust != nil {
		adjust(&cfg)
	}
	s, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s, recs, nw
}
