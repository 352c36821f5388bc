package membership_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/stretchr/testify/require"

	"github.com/org/macula"
	"github.com/org/macula/membership"
)

const gossipRealm = "org.example.gossip"

// sealGossip seals plain as a gossip packet of realm under key, written
// here from the wire format (version 1, 12-byte nonce, AES-GCM with the
// realm as additional data) rather than with the package's own code.
func sealGossip(t *testing.T, key []byte, realm string, plain []byte) []byte {
	t.Helper()
	block, err := aes.NewCipher(key)
	require.NoError(t, err)
	aead, err := cipher.NewGCM(block)
	require.NoError(t, err)
	nonce := make([]byte, 12)
	_, _ = rand.Read(nonce)
	return aead.Seal(append([]byte{1}, nonce...), nonce, plain, []byte(realm))
}

// deadMessage is memberlist's "dead" message (type 5, msgpack body)
// declaring node dead at incarnation inc, as another member would gossip.
func deadMessage(t *testing.T, node, from string, inc uint32) []byte {
	t.Helper()
	var buf bytes.Buffer
	buf.WriteByte(5)
	body := struct {
		Incarnation uint32
		Node        string
		From        string
	}{inc, node, from}
	require.NoError(t, codec.NewEncoder(&buf, &codec.MsgpackHandle{}).Encode(body))
	return buf.Bytes()
}

// TestForeignOrOldGossipKeyCannotAlterMembership runs two real nodes on
// loopback and, from a socket that is not a node, sends them memberlist's
// "node B is dead" message: sealed with a foreign key, with the realm's
// key removed in a rotation, and as noise. Each is refused and counted, and
// B stays alive; the same message sealed with the current key (the
// control) is believed, so the key is what stops it.
func TestForeignOrOldGossipKeyCannotAlterMembership(t *testing.T) {
	oldKey := bytes.Repeat([]byte{7}, 32)
	newKey := bytes.Repeat([]byte{9}, 32)
	start := func(opts ...macula.Option) *macula.Node {
		n, err := macula.New(append([]macula.Option{
			macula.WithRealm(gossipRealm), macula.WithListenAddr("127.0.0.1:0"), macula.WithGossipKey(oldKey),
			macula.WithMembershipConfig(macula.MembershipConfig{PushPullInterval: 500 * time.Millisecond}),
		}, opts...)...)
		require.NoError(t, err)
		t.Cleanup(func() { _ = n.Close() })
		return n
	}
	a := start()
	b := start()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, b.Join(ctx, a.Addr().String()))
	require.Eventually(t, func() bool {
		m, ok := a.Member(b.ID())
		return ok && m.State == macula.MemberAlive
	}, 5*time.Second, 10*time.Millisecond)

	// Rotate on A, as an operator would: install, use, remove. Each step
	// reaches B with the next state exchange between them.
	require.NoError(t, a.InstallGossipKey(newKey))
	require.NoError(t, a.UseGossipKey(newKey))
	require.NoError(t, a.RemoveGossipKey(oldKey))
	for _, n := range []*macula.Node{a, b} {
		require.Eventually(t, func() bool {
			kr := n.GossipKeyring()
			return bytes.Equal(kr.Primary, newKey) && len(kr.Keys) == 1
		}, 5*time.Second, 10*time.Millisecond, "the rotation reached %s", n.ID().Short())
	}
	require.ErrorIs(t, a.RemoveGossipKey(newKey), macula.ErrInvalidGossipKey, "the primary cannot be removed")
	require.ErrorIs(t, a.InstallGossipKey([]byte("short")), macula.ErrInvalidGossipKey)

	rogue, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer rogue.Close()
	events := a.WatchMembers(ctx)
	kill := deadMessage(t, b.ID().String(), a.ID().String(), 1<<20)
	foreign := make([]byte, 32)
	_, _ = rand.Read(foreign)
	attacks := [][]byte{
		sealGossip(t, foreign, gossipRealm, kill),                         // foreign key
		sealGossip(t, oldKey, gossipRealm, kill),                          // removed key
		sealGossip(t, newKey, "org.example.other", kill),                  // the key, another realm
		append(sealGossip(t, newKey, gossipRealm, kill)[:40], 0, 1, 2, 3), // tampered
		append([]byte{1}, bytes.Repeat([]byte{0xaa}, 100)...),             // noise
		kill, // unsealed
	}
	before := a.GossipStats().Refused
	for _, p := range attacks {
		_, err := rogue.WriteTo(p, a.Addr())
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return a.GossipStats().Refused-before == uint64(len(attacks)) },
		5*time.Second, 10*time.Millisecond, "every attack packet refused and counted")
	// Long enough for a believed message to have been handled.
	time.Sleep(200 * time.Millisecond)
	m, ok := a.Member(b.ID())
	require.True(t, ok)
	require.Equal(t, macula.MemberAlive, m.State, "B is still alive to A")
	select {
	case ev := <-events:
		require.NotEqual(t, b.ID(), ev.Member.ID, "no membership event about B: %v", ev)
	default:
	}

	// Control: the same message under the current key is believed (B
	// refutes it afterwards), so the refusals above were the keys' doing.
	_, err = rogue.WriteTo(sealGossip(t, newKey, gossipRealm, kill), a.Addr())
	require.NoError(t, err)
	for {
		select {
		case ev := <-events:
			if ev.Member.ID == b.ID() && ev.Type == membership.EventFail {
				return
			}
		case <-ctx.Done():
			t.Fatal("the control message under the current key had no effect")
		}
	}
}
