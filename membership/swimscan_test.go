package membership

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/security"
)

// randomID returns a node ID made of rng's bytes.
func randomID(rng *rand.Rand) security.NodeID {
	var id security.NodeID
	for i := range id {
		id[i] = byte(rng.Uint32())
	}
	return id
}

// TestScanReadsWhatMemberlistWrites: the scanner reads the fields the
// observer needs from messages encoded exactly as memberlist encodes them
// (go-msgpack, its handle), at every integer and string width msgpack has.
func TestScanReadsWhatMemberlistWrites(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	incs := []uint32{0, 1, 127, 128, 255, 256, 65535, 65536, math.MaxInt32, math.MaxUint32}
	for i := range 200 {
		inc := incs[i%len(incs)]
		if i >= len(incs) {
			inc = rng.Uint32() >> (rng.IntN(32))
		}
		node, from := randomID(rng), randomID(rng)
		meta := []byte(strings.Repeat("m", rng.IntN(600))) // fixstr, str8/16 widths
		alive := encodeSWIM(swimAlive, swimAliveMsg{
			Incarnation: inc, Node: node.String(), Addr: []byte{127, 0, 0, 1}, Port: uint16(rng.Uint32()),
			Meta: meta, Vsn: []uint8{1, 5, 2, 0, 0, 0},
		})
		v, ok := scanLiveness(alive[1:])
		require.True(t, ok, "alive %d", i)
		require.Equal(t, livenessView{Incarnation: inc, Node: node}, v)

		for _, typ := range []swimType{swimSuspect, swimDead} {
			msg := encodeSWIM(typ, swimLiveness{Incarnation: inc, Node: node.String(), From: from.String()})
			v, ok := scanLiveness(msg[1:])
			require.True(t, ok)
			require.Equal(t, inc, v.Incarnation)
			require.Equal(t, node, v.Node)
			require.Equal(t, from.String(), string(v.From))
		}

		for _, typ := range []swimType{swimPing, swimAck} {
			var msg []byte
			if typ == swimPing {
				msg = encodeSWIM(typ, swimPingMsg{SeqNo: inc})
			} else {
				msg = encodeSWIM(typ, swimAckMsg{SeqNo: inc, Payload: meta})
			}
			seq, ok := scanSeqNo(msg[1:])
			require.True(t, ok)
			require.Equal(t, inc, seq)
		}
	}
}

// TestScanRefusesWhatIsNotAMessage: truncated messages, other types and
// names that are not node IDs are refused, never misread.
func TestScanRefusesWhatIsNotAMessage(t *testing.T) {
	node := randomID(rand.New(rand.NewPCG(3, 4)))
	msg := encodeSWIM(swimSuspect, swimLiveness{Incarnation: 9, Node: node.String(), From: "x"})[1:]
	for cut := range len(msg) {
		_, ok := scanLiveness(msg[:cut])
		require.False(t, ok, "cut at %d of %d", cut, len(msg))
	}
	_, ok := scanLiveness(encodeSWIM(swimSuspect, swimLiveness{Incarnation: 9, Node: "not-an-id"})[1:])
	require.False(t, ok)
	_, ok = scanLiveness(encodeSWIM(swimSuspect, swimLiveness{Incarnation: 9, Node: strings.ToUpper(node.String())[:63] + "g"})[1:])
	require.False(t, ok)
	_, ok = scanSeqNo(encodeSWIM(swimPing, []uint32{1, 2})[1:])
	require.False(t, ok)
	_, ok = scanSeqNo(encodeSWIM(swimPing, map[string]string{"Other": "x"})[1:])
	require.False(t, ok)
	_, ok = scanSeqNo(nil)
	require.False(t, ok)
}

// TestScanAllocatesNothing: the observer runs on every SWIM message sent
// and received.
func TestScanAllocatesNothing(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	alive := encodeSWIM(swimAlive, swimAliveMsg{Incarnation: 300, Node: randomID(rng).String(), Meta: make([]byte, 200), Vsn: []uint8{1, 5, 2, 0, 0, 0}})[1:]
	suspect := encodeSWIM(swimSuspect, swimLiveness{Incarnation: 300, Node: randomID(rng).String(), From: randomID(rng).String()})[1:]
	ping := encodeSWIM(swimPing, swimPingMsg{SeqNo: 70000})[1:]
	allocs := testing.AllocsPerRun(100, func() {
		_, _ = scanLiveness(alive)
		_, _ = scanLiveness(suspect)
		_, _ = scanSeqNo(ping)
	})
	require.Zero(t, allocs)
}
