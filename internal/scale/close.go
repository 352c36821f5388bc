package scale

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync/atomic"
	"time"

	"github.com/org/macula"
)

// CloseTimes are Node.Close durations measured in two-node meshes on
// loopback QUIC, one mesh per measurement.
type CloseTimes struct {
	// Graceful: a node closes while its peer is up.
	Graceful []time.Duration
	// AfterCrash: a node closes once it suspects its crashed peer: the
	// peer's packets stopped flowing both ways, as when its process or
	// host dies, and the node has probed it in vain. It is then in the
	// middle of probing a silent node (its timers stretched by lost
	// health) and hears no answer to anything it says on the way out:
	// the case where Close could wait on the dead peer.
	AfterCrash []time.Duration
}

// Median returns the median of ds (the upper one for an even count), zero
// for none.
func Median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(ds))
	return s[len(s)/2]
}

// MeasureClose measures reps graceful closes and reps closes after the
// peer crashed (see CloseTimes), each in a new two-node mesh whose nodes
// get opts as well. It closes every node it starts.
func MeasureClose(ctx context.Context, reps int, opts ...macula.Option) (CloseTimes, error) {
	var ct CloseTimes
	for range reps {
		d, err := closeOnce(ctx, false, opts)
		if err != nil {
			return ct, fmt.Errorf("scale: graceful close: %w", err)
		}
		ct.Graceful = append(ct.Graceful, d)
		d, err = closeOnce(ctx, true, opts)
		if err != nil {
			return ct, fmt.Errorf("scale: close after the peer crashed: %w", err)
		}
		ct.AfterCrash = append(ct.AfterCrash, d)
	}
	return ct, nil
}

// closeOnce starts a pair, crashes the peer first when crash is set (and
// waits until the survivor suspects it), and returns how long the
// survivor's Close took.
func closeOnce(ctx context.Context, crash bool, opts []macula.Option) (time.Duration, error) {
	p, err := startPair(ctx, opts)
	if err != nil {
		return 0, err
	}
	defer p.close()
	if crash {
		p.crash()
		if err := p.waitSuspected(ctx); err != nil {
			return 0, err
		}
	}
	start := time.Now()
	err = p.a.Close()
	took := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("close: %w", err)
	}
	return took, nil
}

// pair is a two-node mesh on loopback: a on a UDP socket, b on a socket
// that crash can silence.
type pair struct {
	a, b  *macula.Node
	bConn *crashConn
}

// startPair starts a and b, makes b join a, and waits until each sees
// both alive.
func startPair(ctx context.Context, opts []macula.Option) (*pair, error) {
	common := append([]macula.Option{macula.WithRealm("org.example.scale")}, opts...)
	a, err := macula.New(append([]macula.Option{macula.WithListenAddr("127.0.0.1:0")}, common...)...)
	if err != nil {
		return nil, err
	}
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		_ = a.Close()
		return nil, err
	}
	cc := &crashConn{PacketConn: udp}
	b, err := macula.New(append([]macula.Option{macula.WithTransport(cc)}, common...)...)
	if err != nil {
		_ = udp.Close()
		_ = a.Close()
		return nil, err
	}
	p := &pair{a: a, b: b, bConn: cc}
	wctx, cancel := context.WithTimeout(ctx, DefaultOpTimeout)
	defer cancel()
	if err := b.Join(wctx, a.Addr().String()); err != nil {
		p.close()
		return nil, fmt.Errorf("join: %w", err)
	}
	for alive(a) < 2 || alive(b) < 2 {
		select {
		case <-wctx.Done():
			p.close()
			return nil, fmt.Errorf("the pair did not see each other alive: %w", wctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return p, nil
}

// crash stops b's packets both ways at once, like a process or host that
// died: nothing b sends afterwards, its Close's goodbyes included,
// reaches a.
func (p *pair) crash() { p.bConn.crashed.Store(true) }

// waitSuspected waits until a suspects b (or has declared it dead).
func (p *pair) waitSuspected(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, DefaultOpTimeout)
	defer cancel()
	for {
		if mem, ok := p.a.Member(p.b.ID()); ok && (mem.State == macula.MemberSuspect || mem.State == macula.MemberDead) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the survivor did not suspect its crashed peer: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// close closes both nodes; Close is idempotent, so a closed one is fine.
func (p *pair) close() {
	_ = p.a.Close()
	_ = p.b.Close()
}

// crashConn is a net.PacketConn whose traffic can be stopped: once
// crashed, writes are dropped (reported as sent, as a host's network
// stack would before the packet is lost) and received packets discarded.
// It hides the UDP socket's optional interfaces, so quic-go uses it as a
// plain PacketConn.
type crashConn struct {
	net.PacketConn
	crashed atomic.Bool
}

// WriteTo sends p unless the connection crashed.
func (c *crashConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if c.crashed.Load() {
		return len(p), nil
	}
	return c.PacketConn.WriteTo(p, addr)
}

// ReadFrom returns the next packet received before the crash; after it,
// it discards packets until the socket is closed.
func (c *crashConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil || !c.crashed.Load() {
			return n, addr, err
		}
	}
}
