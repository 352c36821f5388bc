package membership

import (
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/org/macula/security"
)

// compound builds a memberlist compound message of parts.
func compound(parts ...[]byte) []byte {
	out := []byte{byte(swimCompound), byte(len(parts))}
	for _, p := range parts {
		out = binary.BigEndian.AppendUint16(out, uint16(len(p)))
	}
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// withCRC prefixes memberlist's checksum header.
func withCRC(msg []byte) []byte {
	out := []byte{byte(swimHasCRC)}
	out = binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(msg))
	return append(out, msg...)
}

func TestEachSWIMMessageUnwrapsPackets(t *testing.T) {
	ping := encodeSWIM(swimPing, swimPingMsg{SeqNo: 7})
	suspect := encodeSWIM(swimSuspect, swimLiveness{Incarnation: 3, Node: "b", From: "a"})
	alive := encodeSWIM(swimAlive, swimLiveness{Incarnation: 4, Node: "c"})
	label := append([]byte{byte(swimLabel), 3}, "lab"...)
	for name, p := range map[string][]byte{
		"compound":           compound(ping, suspect, alive),
		"crc and compound":   withCRC(compound(ping, suspect, alive)),
		"label, crc, compnd": append(append([]byte{}, label...), withCRC(compound(ping, suspect, alive))...),
	} {
		t.Run(name, func(t *testing.T) {
			var got []swimType
			var live []swimLiveness
			require.True(t, eachSWIMMessage(p, func(m swimMessage) {
				got = append(got, m.typ)
				if m.typ == swimSuspect || m.typ == swimAlive {
					var l swimLiveness
					require.NoError(t, decodeSWIM(m.body, &l))
					live = append(live, l)
				}
				if m.typ == swimPing {
					var pm swimPingMsg
					require.NoError(t, decodeSWIM(m.body, &pm))
					require.Equal(t, uint32(7), pm.SeqNo)
				}
			}))
			require.Equal(t, []swimType{swimPing, swimSuspect, swimAlive}, got)
			require.Equal(t, []swimLiveness{{Incarnation: 3, Node: "b", From: "a"}, {Incarnation: 4, Node: "c"}}, live)
		})
	}
	// A single message, not compound.
	var one []swimType
	require.True(t, eachSWIMMessage(withCRC(ping), func(m swimMessage) { one = append(one, m.typ) }))
	require.Equal(t, []swimType{swimPing}, one)
}

func TestEachSWIMMessageRejectsMalformedPackets(t *testing.T) {
	ping := encodeSWIM(swimPing, swimPingMsg{SeqNo: 7})
	full := compound(ping, ping)
	for name, p := range map[string][]byte{
		"empty":               nil,
		"count, no lengths":   {byte(swimCompound), 2, 0},
		"part beyond the end": full[:len(full)-1],
		"nested compound":     compound(compound(ping)),
		"label beyond end":    {byte(swimLabel), 9, 'a'},
		"compound, no count":  {byte(swimCompound)},
	} {
		t.Run(name, func(t *testing.T) {
			require.False(t, eachSWIMMessage(p, func(swimMessage) {}))
		})
	}
}

// FuzzEachSWIMMessage: any bytes at all are read without panicking, and
// every message visited lies within the packet.
func FuzzEachSWIMMessage(f *testing.F) {
	ping := encodeSWIM(swimPing, swimPingMsg{SeqNo: 7})
	f.Add(withCRC(compound(ping, encodeSWIM(swimDead, swimLiveness{Incarnation: 1, Node: "x", From: "x"}))))
	f.Add([]byte{byte(swimCompound), 255})
	id := security.NodeID{1, 2, 3}
	f.Add(compound(encodeSWIM(swimSuspect, swimLiveness{Incarnation: 300, Node: id.String(), From: id.String()}), ping))
	f.Fuzz(func(t *testing.T, p []byte) {
		eachSWIMMessage(p, func(m swimMessage) {
			if len(m.body) > len(p) {
				t.Fatalf("a message of %d bytes in a packet of %d", len(m.body), len(p))
			}
			// The scanner never panics, and where go-msgpack reads a
			// liveness message naming a node ID, it reads the same.
			v, ok := scanLiveness(m.body)
			_, _ = scanSeqNo(m.body)
			var l swimLiveness
			if decodeSWIM(m.body, &l) == nil {
				if id, err := security.ParseNodeID(l.Node); err == nil && ok {
					if v.Node != id || v.Incarnation != l.Incarnation || string(v.From) != l.From {
						t.Fatalf("scanned %+v, decoded %+v", v, l)
					}
				}
			}
		})
	})
}
