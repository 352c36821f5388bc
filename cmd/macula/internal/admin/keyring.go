package admin

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/org/macula"
)

// ParseGossipKey decodes a gossip key given in standard base64 (padding
// optional, surrounding white space ignored) and checks its size. It
// fails with an error wrapping macula.ErrInvalidGossipKey that says what
// is wrong, so that a typo is reported as such and not as "not
// installed".
func ParseGossipKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("%w: empty; want 16, 24 or 32 bytes in base64 (macula keyring generate makes one)", macula.ErrInvalidGossipKey)
	}
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		// Keys copied without their padding are still keys.
		var rerr error
		if k, rerr = base64.RawStdEncoding.DecodeString(s); rerr != nil {
			return nil, fmt.Errorf("%w: not base64 (%v)", macula.ErrInvalidGossipKey, err)
		}
	}
	// The AES key sizes, which the node's keyring (AES-GCM) accepts.
	switch len(k) {
	case 16, 24, 32:
		return k, nil
	}
	return nil, fmt.Errorf("%w: %d bytes, want 16, 24 or 32 (macula keyring generate makes one)", macula.ErrInvalidGossipKey, len(k))
}

// KeyFingerprint names a gossip key without revealing it: the first 8
// bytes of its SHA-256, in hex. Keys are random, so the hash gives
// nothing away, and 64 bits tell a keyring's few keys apart.
func KeyFingerprint(k []byte) string {
	h := sha256.Sum256(k)
	return hex.EncodeToString(h[:8])
}

// keyringOf describes a keyring for the API, with the keys themselves
// only when withKeys is set.
func keyringOf(kr macula.GossipKeyring, st macula.GossipStats, withKeys bool) Keyring {
	out := Keyring{Keys: make([]GossipKey, 0, len(kr.Keys)), Generation: kr.Generation, Packets: gossipStatsOf(st)}
	for i, k := range kr.Keys {
		gk := GossipKey{Fingerprint: KeyFingerprint(k), Primary: i == 0, Bits: 8 * len(k)}
		if withKeys {
			gk.Key = base64.StdEncoding.EncodeToString(k)
		}
		out.Keys = append(out.Keys, gk)
	}
	return out
}

func gossipStatsOf(st macula.GossipStats) GossipStats {
	return GossipStats{Sent: st.Sent, Received: st.Received, Refused: st.Refused, Dropped: st.Dropped}
}

func (s *Server) keyring(w http.ResponseWriter, r *http.Request) {
	withKeys := false
	if v := r.URL.Query().Get("keys"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, &Error{Code: CodeBadRequest, Message: fmt.Sprintf("keys=%q: want true or false", v)})
			return
		}
		withKeys = b
	}
	writeJSON(w, http.StatusOK, keyringOf(s.b.GossipKeyring(), s.b.GossipStats(), withKeys))
}

// keyChange serves the endpoints that change the keyring: it decodes the
// key, applies change to it and answers with the keyring as it is then,
// without the keys. verb names the change in messages and logs.
func (s *Server) keyChange(verb string, change func(Backend, []byte) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req KeyRequest
		if !readJSON(w, r, &req) {
			return
		}
		k, err := ParseGossipKey(req.Key)
		if err != nil {
			s.fail(w, err, CodeInvalidKey)
			return
		}
		fp := KeyFingerprint(k)
		if err := change(s.b, k); err != nil {
			s.fail(w, fmt.Errorf("%s gossip key %s: %w", verb, fp, err), CodeInternal)
			return
		}
		// A key change decides who can talk to the realm: leave a trace in
		// the node's log.
		s.log.Info("gossip keyring changed through the admin API", zap.String("change", verb), zap.String("key", fp))
		writeJSON(w, http.StatusOK, keyringOf(s.b.GossipKeyring(), s.b.GossipStats(), false))
	}
}
