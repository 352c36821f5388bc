package membership

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

const testRealm = "org.example.keyring"

// testKey returns a deterministic key of size bytes; different seeds give
// different keys.
func testKey(size int, seed byte) []byte {
	k := make([]byte, size)
	for i := range k {
		k[i] = seed ^ byte(i*31+7)
	}
	if size > 0 {
		k[0] = seed
	}
	return k
}

func mustKeyring(t testing.TB, realm string, primary []byte, others ...[]byte) *keyring {
	t.Helper()
	kr, err := newKeyring(realm, primary)
	require.NoError(t, err)
	for _, k := range others {
		require.NoError(t, kr.Install(k))
	}
	return kr
}

// mergeInto sends src's keyring to dst as the wire would (encode, then
// decode) and merges it; it returns merge's result.
func mergeInto(t testing.TB, dst, src *keyring) bool {
	t.Helper()
	r, err := decodeKeyring(src.encode())
	require.NoError(t, err)
	return dst.merge(r)
}

func holds(kr *keyring, k []byte) bool {
	return slices.ContainsFunc(kr.Info().Keys, func(x []byte) bool { return bytes.Equal(x, k) })
}

// byHash returns a and b ordered by SHA-256, smaller first: the first one
// wins a tie of generations.
func byHash(a, b []byte) (small, large []byte) {
	ha, hb := sha256.Sum256(a), sha256.Sum256(b)
	if bytes.Compare(ha[:], hb[:]) < 0 {
		return a, b
	}
	return b, a
}

// useTimes calls Use(k) n times, raising the generation by n.
func useTimes(t testing.TB, kr *keyring, k []byte, n int) {
	t.Helper()
	for range n {
		require.NoError(t, kr.Use(k))
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	require.Equal(t, 29, sealOverhead, "version byte + 12-byte nonce + 16-byte tag")
	for _, size := range []int{16, 24, 32} {
		for _, plainLen := range []int{0, 1, 100, 1400} {
			t.Run(fmt.Sprintf("key%d/plain%d", size, plainLen), func(t *testing.T) {
				kr := mustKeyring(t, testRealm, testKey(size, 1))
				plain := testKey(plainLen, 9)
				orig := slices.Clone(plain)
				p1, p2 := kr.seal(plain), kr.seal(plain)
				require.Equal(t, orig, plain, "seal must not modify its input")
				for _, p := range [][]byte{p1, p2} {
					require.Len(t, p, plainLen+sealOverhead)
					require.Equal(t, sealVersion, p[0])
					require.Less(t, p[0], byte(0x40), "quic-go must not take it for QUIC")
					got, ok := kr.open(p)
					require.True(t, ok)
					require.Equal(t, len(plain), len(got))
					require.True(t, bytes.Equal(plain, got))
				}
				require.NotEqual(t, p1, p2, "two seals of the same plaintext must differ")
				require.NotEqual(t, p1[1:1+nonceSize], p2[1:1+nonceSize], "nonces must be random")
				// Another keyring of the realm holding the same key opens it.
				other := mustKeyring(t, testRealm, testKey(size, 1))
				got, ok := other.open(p1)
				require.True(t, ok)
				require.True(t, bytes.Equal(plain, got))
			})
		}
	}
}

func TestSealOpenRejects(t *testing.T) {
	key := testKey(32, 1)
	plain := []byte("a gossip packet of some length")
	sender := mustKeyring(t, testRealm, key)
	packet := sender.seal(plain)
	receiver := mustKeyring(t, testRealm, key)
	_, ok := receiver.open(packet)
	require.True(t, ok, "control: the untouched packet opens")

	mutate := func(f func(p []byte) []byte) []byte { return f(slices.Clone(packet)) }
	cases := []struct {
		name   string
		packet []byte
		kr     *keyring
	}{
		{"other realm, same key", packet, mustKeyring(t, testRealm+".other", key)},
		{"empty realm, same key", packet, mustKeyring(t, "", key)},
		{"key not installed", packet, mustKeyring(t, testRealm, testKey(32, 2), testKey(16, 3))},
		{"same key bytes, shorter key", packet, mustKeyring(t, testRealm, key[:16])},
		{"nil", nil, receiver},
		{"empty", []byte{}, receiver},
		{"version 0", mutate(func(p []byte) []byte { p[0] = 0; return p }), receiver},
		{"version 2", mutate(func(p []byte) []byte { p[0] = 2; return p }), receiver},
		{"byte appended", mutate(func(p []byte) []byte { return append(p, 0) }), receiver},
		{"nonce swapped with another packet's", mutate(func(p []byte) []byte {
			copy(p[1:1+nonceSize], sender.seal(plain)[1:1+nonceSize])
			return p
		}), receiver},
		{"only overhead, zeroed", append([]byte{sealVersion}, make([]byte, sealOverhead-1)...), receiver},
	}
	// Every single-bit flip anywhere: version, nonce, ciphertext, tag.
	for i := range packet {
		part := "ciphertext"
		switch {
		case i == 0:
			part = "version"
		case i <= nonceSize:
			part = "nonce"
		case i >= len(packet)-16:
			part = "tag"
		}
		for _, bit := range []byte{0x01, 0x80} {
			cases = append(cases, struct {
				name   string
				packet []byte
				kr     *keyring
			}{fmt.Sprintf("%s byte %d bit %#x flipped", part, i, bit), mutate(func(p []byte) []byte { p[i] ^= bit; return p }), receiver})
		}
	}
	// Every truncation.
	for n := range len(packet) {
		cases = append(cases, struct {
			name   string
			packet []byte
			kr     *keyring
		}{fmt.Sprintf("truncated to %d", n), packet[:n], receiver})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.kr.open(tc.packet)
			require.False(t, ok)
			require.Nil(t, got)
		})
	}
}

func TestSealOpenWithNonPrimaryKey(t *testing.T) {
	oldKey, newKey := testKey(32, 1), testKey(24, 2)
	receiver := mustKeyring(t, testRealm, oldKey, newKey)
	withNew := mustKeyring(t, testRealm, newKey)
	withOld := mustKeyring(t, testRealm, oldKey)

	got, ok := receiver.open(withNew.seal([]byte("sealed with the non-primary key")))
	require.True(t, ok, "an installed non-primary key opens packets")
	require.Equal(t, []byte("sealed with the non-primary key"), got)

	// After a switch the old key still opens, and the receiver seals with
	// the new one.
	require.NoError(t, receiver.Use(newKey))
	got, ok = receiver.open(withOld.seal([]byte("old")))
	require.True(t, ok)
	require.Equal(t, []byte("old"), got)
	p := receiver.seal([]byte("new"))
	_, ok = withNew.open(p)
	require.True(t, ok, "seal uses the new primary")
	_, ok = withOld.open(p)
	require.False(t, ok, "seal no longer uses the old primary")
}

func TestKeyringConcurrentSealOpenUse(t *testing.T) {
	keys := [][]byte{testKey(32, 1), testKey(16, 2), testKey(24, 3)}
	kr := mustKeyring(t, testRealm, keys[0], keys[1:]...)
	peer := mustKeyring(t, testRealm, keys[2], keys[0], keys[1])
	var failures atomic.Int64
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Go(func() {
			for i := range 200 {
				plain := []byte{byte(g), byte(i)}
				if got, ok := kr.open(kr.seal(plain)); !ok || !bytes.Equal(got, plain) {
					failures.Add(1)
				}
				_ = kr.Info()
				_ = kr.encode()
			}
		})
	}
	wg.Go(func() {
		for i := range 200 {
			if kr.Use(keys[i%len(keys)]) != nil {
				failures.Add(1)
			}
			if i%20 == 0 {
				r, err := decodeKeyring(peer.encode())
				if err != nil {
					failures.Add(1)
					continue
				}
				kr.merge(r)
			}
		}
	})
	wg.Wait()
	require.Zero(t, failures.Load(), "no key is ever removed, so every packet opens")
	require.GreaterOrEqual(t, kr.Info().Generation, uint64(200))
}

func TestKeyringInvalidKeySizes(t *testing.T) {
	for _, size := range []int{0, 1, 8, 15, 17, 20, 23, 25, 31, 33, 48, 64} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			k := testKey(size, 5)
			kr, err := newKeyring(testRealm, k)
			require.ErrorIs(t, err, ErrInvalidKey)
			require.Nil(t, kr)

			kr = mustKeyring(t, testRealm, testKey(32, 1))
			before := kr.Info()
			require.ErrorIs(t, kr.Install(k), ErrInvalidKey)
			require.Equal(t, before, kr.Info(), "a refused key changes nothing")
			require.ErrorIs(t, kr.Use(k), ErrInvalidKey)
			require.ErrorIs(t, kr.Remove(k), ErrInvalidKey)
		})
	}
	for _, size := range []int{16, 24, 32} {
		kr, err := newKeyring(testRealm, testKey(size, 5))
		require.NoError(t, err, "size %d", size)
		require.NoError(t, kr.Install(testKey(size, 6)), "size %d", size)
	}
}

func TestKeyringInstallUseRemove(t *testing.T) {
	p, k1, k2 := testKey(32, 1), testKey(16, 2), testKey(24, 3)
	kr := mustKeyring(t, testRealm, p)
	require.Equal(t, KeyringInfo{Primary: p, Keys: [][]byte{p}}, kr.Info())

	require.NoError(t, kr.Install(k1))
	require.NoError(t, kr.Install(k2))
	require.NoError(t, kr.Install(k1), "installing twice is a no-op")
	require.Equal(t, KeyringInfo{Primary: p, Keys: [][]byte{p, k1, k2}}, kr.Info(), "install never changes the primary")

	// Use of a key not installed fails and changes nothing.
	before := kr.Info()
	err := kr.Use(testKey(32, 99))
	require.ErrorIs(t, err, ErrInvalidKey)
	require.Equal(t, before, kr.Info())

	// Use moves the key first and bumps the generation, every time.
	require.NoError(t, kr.Use(k2))
	require.Equal(t, KeyringInfo{Primary: k2, Keys: [][]byte{k2, p, k1}, Generation: 1}, kr.Info())
	require.NoError(t, kr.Use(k2))
	require.Equal(t, uint64(2), kr.Info().Generation, "Use of the current primary still bumps the generation")
	require.NoError(t, kr.Use(k1))
	require.Equal(t, KeyringInfo{Primary: k1, Keys: [][]byte{k1, k2, p}, Generation: 3}, kr.Info())

	// The primary cannot be removed; a key not installed neither.
	require.ErrorIs(t, kr.Remove(k1), ErrInvalidKey)
	require.True(t, holds(kr, k1))
	require.ErrorIs(t, kr.Remove(testKey(32, 99)), ErrInvalidKey)
	require.Len(t, kr.Info().Keys, 3)

	// Remove: the key no longer opens packets and its removal is recorded.
	sealedWithP := mustKeyring(t, testRealm, p).seal([]byte("x"))
	_, ok := kr.open(sealedWithP)
	require.True(t, ok)
	require.NoError(t, kr.Remove(p))
	require.Equal(t, KeyringInfo{Primary: k1, Keys: [][]byte{k1, k2}, Generation: 3}, kr.Info())
	_, ok = kr.open(sealedWithP)
	require.False(t, ok, "a removed key opens nothing")
	require.Equal(t, [][sha256.Size]byte{sha256.Sum256(p)}, kr.removed)
	require.ErrorIs(t, kr.Remove(p), ErrInvalidKey, "removing twice fails")
	require.ErrorIs(t, kr.Use(p), ErrInvalidKey, "a removed key cannot be used")

	// Installing it again forgets the removal.
	require.NoError(t, kr.Install(p))
	require.Empty(t, kr.removed)
	_, ok = kr.open(sealedWithP)
	require.True(t, ok)
}

func TestKeyringInfoReturnsCopies(t *testing.T) {
	p, k := testKey(32, 1), testKey(16, 2)
	pIn, kIn := slices.Clone(p), slices.Clone(k)
	kr := mustKeyring(t, testRealm, pIn, kIn)
	// The keyring keeps copies of what it is given, too.
	pIn[0]++
	kIn[0]++
	require.Equal(t, KeyringInfo{Primary: p, Keys: [][]byte{p, k}}, kr.Info())

	info := kr.Info()
	info.Primary[0]++
	info.Keys[0][1]++
	info.Keys[1][0]++
	info.Keys[1] = testKey(16, 77)
	info.Keys = append(info.Keys, testKey(16, 78))
	require.Equal(t, KeyringInfo{Primary: p, Keys: [][]byte{p, k}}, kr.Info())
	got, ok := kr.open(mustKeyring(t, testRealm, p).seal([]byte("x")))
	require.True(t, ok, "mutating Info's slices must not change the sealing keys")
	require.Equal(t, []byte("x"), got)
	require.Equal(t, p, kr.encode()[10:10+32], "the encoded primary is unchanged")
}

func TestKeyringLimit(t *testing.T) {
	kr := mustKeyring(t, testRealm, testKey(32, 0))
	for i := 1; i < maxKeys; i++ {
		require.NoError(t, kr.Install(testKey(16, byte(i))))
	}
	require.Len(t, kr.Info().Keys, maxKeys)
	err := kr.Install(testKey(16, 200))
	require.ErrorIs(t, err, ErrInvalidKey)
	require.Len(t, kr.Info().Keys, maxKeys)
	require.False(t, holds(kr, testKey(16, 200)))
	require.NoError(t, kr.Install(testKey(16, 3)), "an installed key is accepted again when full")

	require.NoError(t, kr.Remove(testKey(16, 3)))
	require.NoError(t, kr.Install(testKey(16, 200)), "a removal makes room")
	require.Len(t, kr.Info().Keys, maxKeys)
	require.ErrorIs(t, kr.Install(testKey(16, 201)), ErrInvalidKey)
}

func TestKeyringRemovalsAreBounded(t *testing.T) {
	kr := mustKeyring(t, testRealm, testKey(32, 0))
	var removed [][sha256.Size]byte
	for i := range maxRemoved + 5 {
		k := testKey(16, byte(i+1))
		require.NoError(t, kr.Install(k))
		require.NoError(t, kr.Remove(k))
		removed = append(removed, sha256.Sum256(k))
	}
	require.Equal(t, removed[5:], kr.removed, "the oldest removals are forgotten first")
	r, err := decodeKeyring(kr.encode())
	require.NoError(t, err)
	require.Len(t, r.removed, maxRemoved)
}

func TestKeyringWins(t *testing.T) {
	small, large := byHash(testKey(32, 1), testKey(32, 2))
	cases := []struct {
		name   string
		g1     uint64
		k1     []byte
		g2     uint64
		k2     []byte
		expect bool
	}{
		{"same generation, smaller hash", 0, small, 0, large, true},
		{"same generation, larger hash", 0, large, 0, small, false},
		{"higher generation beats smaller hash", 1, large, 0, small, true},
		{"lower generation loses despite smaller hash", 4, small, 5, large, false},
		{"max generation", math.MaxUint64, large, math.MaxUint64 - 1, small, true},
		{"same key does not win over itself", 3, small, 3, small, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.expect, wins(tc.g1, tc.k1, tc.g2, tc.k2))
		})
	}
}

func TestMergeConvergesOnOnePrimary(t *testing.T) {
	// Random primaries, generation 0: whichever merges first, both end
	// with the key of the smaller SHA-256.
	for i := range 8 {
		for _, aFirst := range []bool{true, false} {
			ka, kb := RandomKey(), RandomKey()
			a, b := mustKeyring(t, testRealm, ka), mustKeyring(t, testRealm, kb)
			if aFirst {
				mergeInto(t, a, b)
				mergeInto(t, b, a)
			} else {
				mergeInto(t, b, a)
				mergeInto(t, a, b)
			}
			want, other := byHash(ka, kb)
			require.Equal(t, want, a.Info().Primary, "pair %d, a first %v", i, aFirst)
			require.Equal(t, want, b.Info().Primary, "pair %d, a first %v", i, aFirst)
			require.Equal(t, [][]byte{want, other}, a.Info().Keys, "pair %d, a first %v", i, aFirst)
			require.Equal(t, [][]byte{want, other}, b.Info().Keys, "pair %d, a first %v", i, aFirst)
			require.Zero(t, a.Info().Generation)
			require.Zero(t, b.Info().Generation)
			// A packet either seals now opens on the other.
			_, ok := a.open(b.seal([]byte("x")))
			require.True(t, ok)
			_, ok = b.open(a.seal([]byte("x")))
			require.True(t, ok)
		}
	}

	// Whoever merges first, one exchange leaves both with both keys: the
	// loser keeps its old key after the new primary, and the winner installs
	// the loser's primary, so packets still sealed with it open there.
	w, l := byHash(testKey(32, 1), testKey(32, 2))
	cases := []struct {
		name string
		// exchange merges the loser's keyring into the winner's and the
		// winner's into the loser's, returning merge's results.
		exchange func(t *testing.T, winner, loser *keyring) (winnerChanged, loserChanged bool)
	}{
		{
			name: "loser merges first",
			exchange: func(t *testing.T, winner, loser *keyring) (bool, bool) {
				lc := mergeInto(t, loser, winner)
				return mergeInto(t, winner, loser), lc
			},
		},
		{
			name: "winner merges first",
			exchange: func(t *testing.T, winner, loser *keyring) (bool, bool) {
				wc := mergeInto(t, winner, loser)
				return wc, mergeInto(t, loser, winner)
			},
		},
		{
			// Both merge what the other sent before merging.
			name: "simultaneous",
			exchange: func(t *testing.T, winner, loser *keyring) (bool, bool) {
				rw, err := decodeKeyring(winner.encode())
				require.NoError(t, err)
				rl, err := decodeKeyring(loser.encode())
				require.NoError(t, err)
				return winner.merge(rl), loser.merge(rw)
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			winner, loser := mustKeyring(t, testRealm, w), mustKeyring(t, testRealm, l)
			wc, lc := tc.exchange(t, winner, loser)
			require.False(t, wc, "the winner keeps its primary")
			require.True(t, lc, "the loser switches primary")
			require.Equal(t, w, winner.Info().Primary)
			require.Equal(t, w, loser.Info().Primary)
			require.Equal(t, [][]byte{w, l}, loser.Info().Keys, "the loser keeps its old key after the new primary")
			require.Equal(t, [][]byte{w, l}, winner.Info().Keys, "the winner installs the losing primary")
			_, ok := winner.open(mustKeyring(t, testRealm, l).seal([]byte("x")))
			require.True(t, ok, "the winner opens packets still sealed with the loser's key")
			_, ok = loser.open(mustKeyring(t, testRealm, w).seal([]byte("x")))
			require.True(t, ok)

			// A second exchange, in any order, changes nothing.
			require.False(t, mergeInto(t, winner, loser))
			require.False(t, mergeInto(t, loser, winner))
			require.Equal(t, [][]byte{w, l}, winner.Info().Keys)
			require.Equal(t, [][]byte{w, l}, loser.Info().Keys)
			require.Empty(t, winner.removed)
			require.Empty(t, loser.removed)
		})
	}
}

func TestMergeGenerations(t *testing.T) {
	small, large := byHash(testKey(32, 1), testKey(16, 2))
	cases := []struct {
		name         string
		localKey     []byte
		localGen     int
		remoteKey    []byte
		remoteGen    int
		remoteWins   bool
		expectGenAft uint64
	}{
		{"same generation, remote smaller hash", large, 0, small, 0, true, 0},
		{"same generation, local smaller hash", small, 0, large, 0, false, 0},
		{"remote higher generation beats smaller hash", small, 0, large, 1, true, 1},
		{"local higher generation beats smaller hash", large, 3, small, 2, false, 3},
		{"remote much higher generation", small, 1, large, 7, true, 7},
		{"same key, remote higher generation", small, 1, small, 4, false, 4},
		{"same key, local higher generation", small, 4, small, 1, false, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			local := mustKeyring(t, testRealm, tc.localKey)
			useTimes(t, local, tc.localKey, tc.localGen)
			remote := mustKeyring(t, testRealm, tc.remoteKey)
			useTimes(t, remote, tc.remoteKey, tc.remoteGen)
			changed := mergeInto(t, local, remote)
			require.Equal(t, tc.remoteWins, changed)
			want := tc.localKey
			if tc.remoteWins {
				want = tc.remoteKey
			}
			require.Equal(t, want, local.Info().Primary)
			require.Equal(t, tc.expectGenAft, local.Info().Generation)

			// The other direction agrees on the primary.
			require.Equal(t, !bytes.Equal(tc.remoteKey, want), mergeInto(t, remote, local))
			require.Equal(t, want, remote.Info().Primary)
			require.Equal(t, local.Info().Generation, remote.Info().Generation)

			// Use after a merge wins over everything seen.
			k := testKey(24, 50)
			require.NoError(t, remote.Install(k))
			require.NoError(t, remote.Use(k))
			require.True(t, mergeInto(t, local, remote))
			require.Equal(t, k, local.Info().Primary)
			require.Equal(t, tc.expectGenAft+1, local.Info().Generation)
		})
	}
}

func TestMergeRemovalsSpread(t *testing.T) {
	p, k, x := testKey(32, 1), testKey(16, 2), testKey(16, 5)
	a := mustKeyring(t, testRealm, p, k)
	b := mustKeyring(t, testRealm, p)
	c := mustKeyring(t, testRealm, p)
	require.False(t, mergeInto(t, b, a))
	require.False(t, mergeInto(t, c, a))
	require.True(t, holds(b, k))
	require.True(t, holds(c, k))
	sealedWithK := mustKeyring(t, testRealm, k).seal([]byte("k"))

	require.NoError(t, a.Remove(k))
	require.False(t, mergeInto(t, b, a), "a removal does not change the primary")
	require.Equal(t, [][]byte{p}, b.Info().Keys, "the removal spread to b")
	require.Equal(t, [][sha256.Size]byte{sha256.Sum256(k)}, b.removed, "b remembers it")
	_, ok := b.open(sealedWithK)
	require.False(t, ok)

	// c has not heard of the removal: merging it does not bring k back,
	// though c's other keys spread.
	require.NoError(t, c.Install(x))
	require.True(t, holds(c, k))
	require.False(t, mergeInto(t, b, c))
	require.Equal(t, [][]byte{p, x}, b.Info().Keys, "a removed key is not re-added by a keyring that still has it")
	require.False(t, mergeInto(t, a, c))
	require.Equal(t, [][]byte{p, x}, a.Info().Keys)
	require.Equal(t, [][sha256.Size]byte{sha256.Sum256(k)}, a.removed)

	// b passes the removal on without a.
	require.False(t, mergeInto(t, c, b))
	require.Equal(t, [][]byte{p, x}, c.Info().Keys)
	require.Equal(t, [][sha256.Size]byte{sha256.Sum256(k)}, c.removed)
	_, ok = c.open(sealedWithK)
	require.False(t, ok)

	// A removal spreads after a primary switch in the same message: the
	// old primary, demoted, is removed too. Keys still spread both ways,
	// but the removed ones do not come back, not even as a losing
	// primary.
	q, e := testKey(24, 3), testKey(32, 4)
	for _, dFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("switch and removal, d merges first %v", dFirst), func(t *testing.T) {
			a := mustKeyring(t, testRealm, p, k, x, q)
			require.NoError(t, a.Remove(k))
			require.NoError(t, a.Use(q))
			require.NoError(t, a.Remove(p))
			require.Equal(t, [][]byte{q, x}, a.Info().Keys)
			d := mustKeyring(t, testRealm, p, e)
			if dFirst {
				require.True(t, mergeInto(t, d, a))
				require.False(t, mergeInto(t, a, d))
			} else {
				require.False(t, mergeInto(t, a, d), "d's primary loses and is not installed: a removed it")
				require.True(t, mergeInto(t, d, a))
			}
			wantRemoved := [][sha256.Size]byte{sha256.Sum256(k), sha256.Sum256(p)}
			require.Equal(t, [][]byte{q, e, x}, d.Info().Keys, "d switched to q, dropped p and learned x")
			require.ElementsMatch(t, wantRemoved, d.removed, "d remembers both removals")
			require.Equal(t, [][]byte{q, x, e}, a.Info().Keys, "a learned e, not p")
			require.ElementsMatch(t, wantRemoved, a.removed)
			require.Equal(t, uint64(1), d.Info().Generation)
			_, ok := d.open(mustKeyring(t, testRealm, p).seal([]byte("p")))
			require.False(t, ok, "d no longer opens packets sealed with the removed key")
			_, ok = d.open(a.seal([]byte("x")))
			require.True(t, ok)
			_, ok = a.open(d.seal([]byte("x")))
			require.True(t, ok)

			// Another exchange changes nothing.
			require.False(t, mergeInto(t, d, a))
			require.False(t, mergeInto(t, a, d))
			require.Equal(t, [][]byte{q, e, x}, d.Info().Keys)
			require.Equal(t, [][]byte{q, x, e}, a.Info().Keys)
		})
	}
}

func TestMergeNeverRemovesThePrimary(t *testing.T) {
	p, q := testKey(32, 1), testKey(16, 2)
	// a removed q; b uses q with a higher generation.
	a := mustKeyring(t, testRealm, p, q)
	require.NoError(t, a.Remove(q))
	b := mustKeyring(t, testRealm, p, q)
	useTimes(t, b, q, 2)

	require.False(t, mergeInto(t, b, a), "b's primary wins")
	require.Equal(t, q, b.Info().Primary, "a removal of the primary is not applied")
	require.Empty(t, b.removed, "nor remembered, so it does not spread from b")
	require.Equal(t, [][]byte{q, p}, b.Info().Keys)

	// The winning primary revives the removed key where it was removed.
	require.True(t, mergeInto(t, a, b))
	require.Equal(t, [][]byte{q, p}, a.Info().Keys)
	require.Empty(t, a.removed, "installing the winning primary forgets its removal")
	require.Equal(t, uint64(2), a.Info().Generation)
	_, ok := a.open(b.seal([]byte("x")))
	require.True(t, ok)
}

func TestMergeFullKeyringKeepsWhatItHas(t *testing.T) {
	full := func(t *testing.T) *keyring {
		kr := mustKeyring(t, testRealm, testKey(32, 0))
		for i := 1; i < maxKeys; i++ {
			require.NoError(t, kr.Install(testKey(16, byte(i))))
		}
		return kr
	}
	n := testKey(24, 100)

	t.Run("winning primary", func(t *testing.T) {
		local := full(t)
		before := local.Info()
		remote := mustKeyring(t, testRealm, n, testKey(16, 101))
		useTimes(t, remote, n, 1)
		require.False(t, mergeInto(t, local, remote))
		require.Equal(t, before, local.Info(), "a full keyring keeps its primary, keys and generation")
	})

	t.Run("winning primary and a removal", func(t *testing.T) {
		// The remote removed a key the local keyring holds: merge applies
		// removals first, so that frees the slot the winning primary
		// takes, in the same exchange.
		local := full(t)
		before := local.Info()
		remote := mustKeyring(t, testRealm, testKey(32, 0), testKey(16, 5), n)
		require.NoError(t, remote.Remove(testKey(16, 5)))
		require.NoError(t, remote.Use(n))

		require.True(t, mergeInto(t, local, remote), "the primary switches at once")
		after := local.Info()
		require.Equal(t, n, after.Primary)
		require.Equal(t, uint64(1), after.Generation)
		require.Len(t, after.Keys, maxKeys)
		require.False(t, holds(local, testKey(16, 5)))
		require.Equal(t, [][sha256.Size]byte{sha256.Sum256(testKey(16, 5))}, local.removed)
		kept := slices.DeleteFunc(slices.Clone(before.Keys), func(k []byte) bool { return bytes.Equal(k, testKey(16, 5)) })
		require.Equal(t, append([][]byte{n}, kept...), after.Keys, "the old primary and every other key stay, after the new primary")

		require.False(t, mergeInto(t, local, remote), "the next exchange changes nothing")
		require.Equal(t, after, local.Info())
	})

	t.Run("extra keys", func(t *testing.T) {
		local := full(t)
		before := local.Info()
		remote := mustKeyring(t, testRealm, testKey(32, 0), testKey(16, 150), testKey(16, 151))
		require.False(t, mergeInto(t, local, remote))
		require.Equal(t, before, local.Info(), "keys that do not fit are dropped")
	})
}

func TestMergeChangedOnlyWhenPrimaryChanges(t *testing.T) {
	p, k, x := testKey(32, 1), testKey(16, 2), testKey(24, 3)
	small, large := byHash(p, x)
	cases := []struct {
		name          string
		local, remote func(t *testing.T) *keyring
		changed       bool
		check         func(t *testing.T, local *keyring)
	}{
		{
			name:    "identical",
			local:   func(t *testing.T) *keyring { return mustKeyring(t, testRealm, p, k) },
			remote:  func(t *testing.T) *keyring { return mustKeyring(t, testRealm, p, k) },
			changed: false,
			check: func(t *testing.T, local *keyring) {
				require.Equal(t, KeyringInfo{Primary: p, Keys: [][]byte{p, k}}, local.Info())
			},
		},
		{
			name:    "extra key",
			local:   func(t *testing.T) *keyring { return mustKeyring(t, testRealm, p) },
			remote:  func(t *testing.T) *keyring { return mustKeyring(t, testRealm, p, k) },
			changed: false,
			check: func(t *testing.T, local *keyring) {
				require.Equal(t, [][]byte{p, k}, local.Info().Keys)
			},
		},
		{
			name:  "removal",
			local: func(t *testing.T) *keyring { return mustKeyring(t, testRealm, p, k) },
			remote: func(t *testing.T) *keyring {
				kr := mustKeyring(t, testRealm, p, k)
				require.NoError(t, kr.Remove(k))
				return kr
			},
			changed: false,
			check: func(t *testing.T, local *keyring) {
				require.Equal(t, [][]byte{p}, local.Info().Keys)
			},
		},
		{
			name:  "same primary, higher generation",
			local: func(t *testing.T) *keyring { return mustKeyring(t, testRealm, p) },
			remote: func(t *testing.T) *keyring {
				kr := mustKeyring(t, testRealm, p)
				useTimes(t, kr, p, 3)
				return kr
			},
			changed: false,
			check: func(t *testing.T, local *keyring) {
				require.Equal(t, uint64(3), local.Info().Generation)
			},
		},
		{
			name:    "remote primary loses",
			local:   func(t *testing.T) *keyring { return mustKeyring(t, testRealm, small) },
			remote:  func(t *testing.T) *keyring { return mustKeyring(t, testRealm, large) },
			changed: false,
			check: func(t *testing.T, local *keyring) {
				require.Equal(t, small, local.Info().Primary)
			},
		},
		{
			name:    "remote primary wins by hash",
			local:   func(t *testing.T) *keyring { return mustKeyring(t, testRealm, large) },
			remote:  func(t *testing.T) *keyring { return mustKeyring(t, testRealm, small) },
			changed: true,
			check: func(t *testing.T, local *keyring) {
				require.Equal(t, [][]byte{small, large}, local.Info().Keys)
			},
		},
		{
			name:  "remote primary wins by generation",
			local: func(t *testing.T) *keyring { return mustKeyring(t, testRealm, small) },
			remote: func(t *testing.T) *keyring {
				kr := mustKeyring(t, testRealm, large)
				useTimes(t, kr, large, 1)
				return kr
			},
			changed: true,
			check: func(t *testing.T, local *keyring) {
				require.Equal(t, KeyringInfo{Primary: large, Keys: [][]byte{large, small}, Generation: 1}, local.Info())
			},
		},
		{
			name:  "remote switched to a key the local keyring already holds",
			local: func(t *testing.T) *keyring { return mustKeyring(t, testRealm, p, k) },
			remote: func(t *testing.T) *keyring {
				kr := mustKeyring(t, testRealm, p, k)
				require.NoError(t, kr.Use(k))
				return kr
			},
			changed: true,
			check: func(t *testing.T, local *keyring) {
				require.Equal(t, KeyringInfo{Primary: k, Keys: [][]byte{k, p}, Generation: 1}, local.Info())
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			local, remote := tc.local(t), tc.remote(t)
			before := local.Info().Primary
			changed := mergeInto(t, local, remote)
			require.Equal(t, tc.changed, changed)
			require.Equal(t, changed, !bytes.Equal(before, local.Info().Primary))
			tc.check(t, local)
			require.False(t, mergeInto(t, local, remote), "merging the same keyring again changes nothing")
		})
	}
}

// validKeyringEncoding returns the encoding of a keyring with a 16-byte
// primary, a 32-byte key, one removal and generation 2.
func validKeyringEncoding(t testing.TB) []byte {
	kr := mustKeyring(t, testRealm, testKey(16, 1), testKey(32, 2), testKey(24, 9))
	require.NoError(t, kr.Remove(testKey(24, 9)))
	useTimes(t, kr, testKey(16, 1), 2)
	return kr.encode()
}

func TestDecodeKeyringRejectsMalformed(t *testing.T) {
	valid := validKeyringEncoding(t)
	// generation (8) | 2 | 16 key(16) | 32 key(32) | 1 | hash(32)
	require.Len(t, valid, 8+1+17+33+1+32)
	_, err := decodeKeyring(valid)
	require.NoError(t, err, "control")

	gen := binary.BigEndian.AppendUint64(nil, 7)
	withCount := func(n byte, rest ...byte) []byte {
		return append(append(slices.Clone(gen), n), rest...)
	}
	key := func(size int) []byte { return append([]byte{byte(size)}, testKey(size, 4)...) }
	cat := func(parts ...[]byte) []byte { return slices.Concat(parts...) }
	hash := sha256.Sum256([]byte("x"))
	edit := func(f func(b []byte) []byte) []byte { return f(slices.Clone(valid)) }

	var many []byte
	for range maxKeys + 1 {
		many = append(many, key(16)...)
	}
	cases := []struct {
		name string
		b    []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"generation only", gen},
		{"short", valid[:9]},
		{"zero keys", withCount(0, 0)},
		{"zero keys with a key after", withCount(0, cat(key(16), []byte{0})...)},
		{"key count over maxKeys", withCount(maxKeys+1, cat(many, []byte{0})...)},
		{"key count 255", withCount(255, cat(key(16), []byte{0})...)},
		{"key size 0", withCount(1, 0, 0)},
		{"key size 15", withCount(1, cat(key(15), []byte{0})...)},
		{"key size 17", withCount(1, cat(key(17), []byte{0})...)},
		{"key size 33", withCount(1, cat(key(33), []byte{0})...)},
		{"second key size bad", withCount(2, cat(key(16), key(20), []byte{0})...)},
		{"truncated key", withCount(1, key(32)[:20]...)},
		{"key length byte only", withCount(1, 32)},
		{"fewer keys than counted", edit(func(b []byte) []byte { b[8] = 3; return b })},
		{"no removal count", withCount(1, key(16)...)},
		{"removal count over maxRemoved", withCount(1, cat(key(16), []byte{maxRemoved + 1}, bytes.Repeat(hash[:], maxRemoved+1))...)},
		{"removal count 255", withCount(1, cat(key(16), []byte{255})...)},
		{"fewer removals than counted", edit(func(b []byte) []byte { b[8+1+17+33]++; return b })},
		{"removal hash truncated", valid[:len(valid)-1]},
		{"removals missing", valid[:len(valid)-32]},
		{"zero removals, trailing bytes", withCount(1, cat(key(16), []byte{0, 1})...)},
		{"trailing byte", append(slices.Clone(valid), 0)},
		{"trailing hash", append(slices.Clone(valid), hash[:]...)},
		{"key size first byte", edit(func(b []byte) []byte { b[9] = 32; return b })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := decodeKeyring(tc.b)
			require.ErrorIs(t, err, ErrInvalidKeyring)
			require.Zero(t, r)
		})
	}
}

func TestDecodeKeyringRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		kr   func(t *testing.T) *keyring
	}{
		{"one 16-byte key", func(t *testing.T) *keyring { return mustKeyring(t, testRealm, testKey(16, 1)) }},
		{"mixed sizes", func(t *testing.T) *keyring {
			return mustKeyring(t, testRealm, testKey(24, 1), testKey(32, 2), testKey(16, 3))
		}},
		{"after use and removals", func(t *testing.T) *keyring {
			kr := mustKeyring(t, testRealm, testKey(32, 1), testKey(32, 2), testKey(16, 3), testKey(24, 4))
			require.NoError(t, kr.Use(testKey(32, 2)))
			require.NoError(t, kr.Remove(testKey(16, 3)))
			require.NoError(t, kr.Remove(testKey(32, 1)))
			return kr
		}},
		{"full, max removals, max generation", func(t *testing.T) *keyring {
			kr := mustKeyring(t, testRealm, testKey(32, 0))
			for i := range maxRemoved {
				k := testKey(32, byte(100+i))
				require.NoError(t, kr.Install(k))
				require.NoError(t, kr.Remove(k))
			}
			for i := 1; i < maxKeys; i++ {
				require.NoError(t, kr.Install(testKey(32, byte(i))))
			}
			kr.generation = math.MaxUint64
			return kr
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			kr := tc.kr(t)
			b := kr.encode()
			require.LessOrEqual(t, len(b), maxKeyringMessage)
			r, err := decodeKeyring(b)
			require.NoError(t, err)
			info := kr.Info()
			require.Equal(t, info.Generation, r.generation)
			require.Equal(t, info.Keys, r.keys)
			require.Equal(t, kr.removed, r.removed)

			// The decoded keys do not alias the message.
			clear(b)
			require.Equal(t, info.Keys, r.keys)
		})
	}

	// The largest keyring is exactly maxKeyringMessage bytes.
	kr := mustKeyring(t, testRealm, testKey(32, 0))
	for i := range maxRemoved {
		k := testKey(32, byte(100+i))
		require.NoError(t, kr.Install(k))
		require.NoError(t, kr.Remove(k))
	}
	for i := 1; i < maxKeys; i++ {
		require.NoError(t, kr.Install(testKey(32, byte(i))))
	}
	require.Len(t, kr.encode(), maxKeyringMessage)
}

func FuzzDecodeKeyring(f *testing.F) {
	f.Add(validKeyringEncoding(f))
	f.Add(mustKeyring(f, testRealm, testKey(16, 1)).encode())
	f.Add(mustKeyring(f, testRealm, testKey(32, 7), testKey(24, 8), testKey(16, 9)).encode())
	full := mustKeyring(f, testRealm, testKey(32, 0))
	for i := 1; i < maxKeys; i++ {
		require.NoError(f, full.Install(testKey(16, byte(i))))
	}
	f.Add(full.encode())
	f.Add([]byte{})
	f.Add(make([]byte, 10))

	localKey := testKey(32, 200)
	localOther := testKey(16, 201)
	localRemoved := testKey(24, 202)

	// Remote keyrings that meet the local one below (primary localKey,
	// localOther installed, localRemoved removed, generation 0).
	seed := func(primary []byte, gen int, keys, removed [][]byte) {
		kr := mustKeyring(f, testRealm, primary, keys...)
		for _, k := range removed {
			require.NoError(f, kr.Install(k))
			require.NoError(f, kr.Remove(k))
		}
		useTimes(f, kr, primary, gen)
		f.Add(kr.encode())
	}
	// A primary that loses to localKey at generation 0, and one that wins.
	var losing, winning []byte
	for i := byte(60); losing == nil || winning == nil; i++ {
		k := testKey(32, i)
		h, hl := sha256.Sum256(k), sha256.Sum256(localKey)
		switch {
		case bytes.Compare(h[:], hl[:]) > 0 && losing == nil:
			losing = k
		case bytes.Compare(h[:], hl[:]) < 0 && winning == nil:
			winning = k
		}
	}
	seed(losing, 0, nil, nil)                                                   // the losing primary is installed
	seed(winning, 0, [][]byte{localOther}, nil)                                 // the winning primary is installed
	seed(losing, 0, [][]byte{localRemoved}, nil)                                // a removed key does not come back
	seed(winning, 2, [][]byte{localRemoved}, nil)                               // not even along with a winning primary
	seed(localRemoved, 0, nil, nil)                                             // nor as a primary, unless it wins
	seed(localRemoved, 1, nil, nil)                                             // a winning primary revives its removal
	seed(localKey, 0, [][]byte{testKey(16, 70)}, [][]byte{localOther})          // a removal spreads
	seed(winning, 1, [][]byte{testKey(16, 70)}, [][]byte{localKey, localOther}) // so does one of the primary it replaces
	seed(losing, 0, nil, [][]byte{localKey})                                    // but not one of the primary that stays

	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeKeyring(data)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidKeyring)
			require.Zero(t, r)
			return
		}
		require.NotEmpty(t, r.keys)
		require.LessOrEqual(t, len(r.keys), maxKeys)
		require.LessOrEqual(t, len(r.removed), maxRemoved)
		for _, k := range r.keys {
			require.NoError(t, checkKey(k))
		}

		// Rebuild a keyring from it, encode it and decode that again.
		kr, err := newKeyring(testRealm, r.keys[0])
		require.NoError(t, err)
		var uniq [][]byte
		for _, k := range r.keys {
			require.NoError(t, kr.addLocked(k))
			if !slices.ContainsFunc(uniq, func(x []byte) bool { return bytes.Equal(x, k) }) {
				uniq = append(uniq, k)
			}
		}
		kr.generation = r.generation
		kr.removed = slices.Clone(r.removed)
		enc := kr.encode()
		r2, err := decodeKeyring(enc)
		require.NoError(t, err)
		require.Equal(t, uniq, r2.keys)
		require.Equal(t, r.generation, r2.generation)
		require.Equal(t, r.removed, r2.removed)
		if len(uniq) == len(r.keys) {
			require.Equal(t, data, enc, "a keyring without duplicate keys has one encoding")
		}

		// Merging it keeps the keyring's invariants and picks the winner.
		local, err := newKeyring(testRealm, localKey)
		require.NoError(t, err)
		require.NoError(t, local.addLocked(localOther))
		require.NoError(t, local.addLocked(localRemoved))
		local.removeAtLocked(2)
		before := local.Info()
		beforeRemoved := slices.Clone(local.removed)
		changed := local.merge(r)
		after := local.Info()

		want := before.Primary
		hr, hl := sha256.Sum256(r.keys[0]), sha256.Sum256(before.Primary)
		if r.generation > before.Generation || (r.generation == before.Generation && bytes.Compare(hr[:], hl[:]) < 0) {
			want = r.keys[0]
		}
		require.Equal(t, want, after.Primary)
		require.Equal(t, !bytes.Equal(before.Primary, after.Primary), changed)
		require.Equal(t, max(before.Generation, r.generation), after.Generation)
		require.LessOrEqual(t, len(after.Keys), maxKeys)
		require.Len(t, local.aeads, len(local.keys))
		require.LessOrEqual(t, len(local.removed), maxRemoved)

		in := func(ks [][]byte, k []byte) bool {
			return slices.ContainsFunc(ks, func(x []byte) bool { return bytes.Equal(x, k) })
		}
		removedBy := func(hs [][sha256.Size]byte, k []byte) bool { return slices.Contains(hs, sha256.Sum256(k)) }
		for _, k := range after.Keys {
			require.NotContains(t, local.removed, sha256.Sum256(k), "an installed key is never also removed")
			require.True(t, in(before.Keys, k) || in(r.keys, k), "only known keys are installed")
			if !bytes.Equal(k, after.Primary) {
				require.False(t, removedBy(r.removed, k), "a key the remote removed is not kept, unless it is the primary")
				require.False(t, removedBy(beforeRemoved, k), "a removed key does not come back, unless as the winning primary")
			}
		}
		for _, k := range before.Keys {
			if bytes.Equal(k, after.Primary) || !removedBy(r.removed, k) {
				require.True(t, holds(local, k), "a key is only dropped when the remote removed it")
			}
		}
		for _, k := range r.keys {
			if !removedBy(r.removed, k) && !removedBy(beforeRemoved, k) {
				// Every key the remote holds and neither side removed is
				// installed, its primary too, unless the keyring is full.
				require.True(t, holds(local, k) || len(after.Keys) == maxKeys)
			}
		}
		// Removals: the local ones and the remote's, except that of the
		// primary.
		var wantRemoved [][sha256.Size]byte
		for _, h := range slices.Concat(beforeRemoved, r.removed) {
			if h != sha256.Sum256(after.Primary) && !slices.Contains(wantRemoved, h) {
				wantRemoved = append(wantRemoved, h)
			}
		}
		for _, h := range r.removed {
			if h != sha256.Sum256(after.Primary) {
				require.Contains(t, local.removed, h, "remote removals are remembered")
			}
		}
		if len(wantRemoved) <= maxRemoved {
			require.ElementsMatch(t, wantRemoved, local.removed)
		} else {
			require.Len(t, local.removed, maxRemoved)
			require.Subset(t, wantRemoved, local.removed)
		}
		got, ok := local.open(local.seal(data))
		require.True(t, ok)
		require.Equal(t, len(data), len(got))
	})
}
