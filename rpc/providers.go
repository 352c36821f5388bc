package rpc

import (
	"context"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/org/macula/protocol"
	"github.com/org/macula/routing"
	"github.com/org/macula/security"
)

// remoteProviders returns the other nodes that provide procedure, sorted by
// node ID, from the provider records in the directory. Records whose value
// does not decode, or names another procedure, are skipped, and so is this
// node's own record (local handlers are found in process).
func (s *Service) remoteProviders(ctx context.Context, procedure string) ([]candidate, error) {
	recs, err := s.cfg.Directory.Lookup(ctx, routing.KeyFor(s.cfg.Realm, routing.KindRPC, procedure))
	if err != nil {
		return nil, err
	}
	out := make([]candidate, 0, len(recs))
	for _, rec := range recs {
		if rec.Owner == s.cfg.Self {
			continue
		}
		p, ok := s.provider(rec, procedure)
		if !ok {
			s.log.Debug("skipping bad provider record", zapProc(procedure), zapNode(rec.Owner))
			continue
		}
		out = append(out, candidate{id: rec.Owner, addrs: p.GetAddrs()})
	}
	return out, nil
}

// maxDecoded bounds the cache of decoded provider records.
const maxDecoded = 4096

// provider returns the decoded Provider value of rec, a record of
// procedure, from the cache of decoded records: the directory hands out
// the same record values until they change, so each is decoded once.
func (s *Service) provider(rec *routing.Record, procedure string) (*protocol.Provider, bool) {
	s.decodedMu.Lock()
	p, ok := s.decoded[rec]
	s.decodedMu.Unlock()
	if ok {
		return p, p != nil
	}
	p, ok = decodeProvider(rec, procedure)
	if !ok {
		p = nil
	}
	s.decodedMu.Lock()
	if len(s.decoded) >= maxDecoded {
		clear(s.decoded)
	}
	s.decoded[rec] = p
	s.decodedMu.Unlock()
	return p, ok
}

// decodeProvider reads the Provider value of rec, a record of procedure.
func decodeProvider(rec *routing.Record, procedure string) (*protocol.Provider, bool) {
	if rec == nil || rec.Kind != routing.KindRPC || rec.Name != procedure {
		return nil, false
	}
	var p protocol.Provider
	if err := proto.Unmarshal(rec.Value, &p); err != nil || p.GetProcedure() != procedure {
		return nil, false
	}
	return &p, true
}

// addrsOf returns where to dial node for CallTo: the addresses in its
// provider record of procedure, if the directory has one, else Resolve's.
func (s *Service) addrsOf(ctx context.Context, node security.NodeID, procedure string, reserved bool) []string {
	if !reserved {
		if cands, err := s.remoteProviders(ctx, procedure); err == nil {
			for _, c := range cands {
				if c.id == node && len(c.addrs) > 0 {
					return c.addrs
				}
			}
		}
	}
	return s.resolve(ctx, node)
}

// resolve asks Config.Resolve for node's addresses, if set.
func (s *Service) resolve(ctx context.Context, node security.NodeID) []string {
	if s.cfg.Resolve == nil {
		return nil
	}
	addrs, err := s.cfg.Resolve(ctx, node)
	if err != nil {
		s.log.Debug("cannot resolve node", zapNode(node), zapErr(err))
		return nil
	}
	return addrs
}

// rtt reports the round-trip time to id: Config.RTT, or the transport's
// estimate for a connected peer.
func (s *Service) rtt(id security.NodeID) (d time.Duration, ok bool) {
	if s.cfg.RTT != nil {
		return s.cfg.RTT(id)
	}
	p, ok := s.cfg.Network.Peer(id)
	if !ok || p.RTT <= 0 {
		return 0, false
	}
	return p.RTT, true
}

func zapNode(id security.NodeID) zap.Field { return zap.String("node", id.Short()) }
