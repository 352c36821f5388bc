package benchmarks

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
)

// quicALPN is the raw quic-go ceiling's application protocol.
const quicALPN = "macula-bench-raw"

// quicPair is a raw quic-go connection between two UDP sockets of
// 127.0.0.1 with TLS 1.3, and the server's goroutines.
type quicPair struct {
	srvTr, cliTr *quic.Transport
	ln           *quic.Listener
	client       *quic.Conn
	server       *quic.Conn
	wg           sync.WaitGroup
}

// newQUICPair connects a client to a server with default quic-go
// configurations.
func newQUICPair(ctx context.Context, cert *testCert) (*quicPair, error) {
	srvConn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	cliConn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		_ = srvConn.Close()
		return nil, err
	}
	p := &quicPair{srvTr: &quic.Transport{Conn: srvConn}, cliTr: &quic.Transport{Conn: cliConn}}
	p.ln, err = p.srvTr.Listen(cert.serverTLS(quicALPN), &quic.Config{})
	if err != nil {
		p.Close()
		return nil, err
	}
	accepted := make(chan *quic.Conn, 1)
	go func() {
		c, err := p.ln.Accept(ctx)
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	p.client, err = p.cliTr.Dial(ctx, srvConn.LocalAddr(), cert.clientTLS(quicALPN), &quic.Config{})
	if err != nil {
		p.Close()
		<-accepted
		return nil, fmt.Errorf("quic dial: %w", err)
	}
	var ok bool
	if p.server, ok = <-accepted; !ok {
		p.Close()
		return nil, errors.New("quic accept failed")
	}
	return p, nil
}

// Close closes both connections and sockets and waits for the server's
// goroutines.
func (p *quicPair) Close() {
	if p.client != nil {
		_ = p.client.CloseWithError(0, "")
	}
	if p.server != nil {
		_ = p.server.CloseWithError(0, "")
	}
	if p.ln != nil {
		_ = p.ln.Close()
	}
	p.wg.Wait()
	_ = p.cliTr.Close()
	_ = p.srvTr.Close()
	_ = p.cliTr.Conn.Close()
	_ = p.srvTr.Conn.Close()
}

// quicThroughput sends msgs messages of size bytes on one stream, each
// with a 4-byte length prefix, through 64 KiB bufio buffers on both ends,
// and measures until the receiver has read the last one.
func quicThroughput(ctx context.Context, cert *testCert, size, msgs int) (Result, error) {
	p, err := newQUICPair(ctx, cert)
	if err != nil {
		return Result{}, err
	}
	defer p.Close()
	type outcome struct {
		n   int64
		end time.Time
		err error
	}
	got := make(chan outcome, 1)
	p.wg.Go(func() {
		s, err := p.server.AcceptStream(ctx)
		if err != nil {
			got <- outcome{err: err}
			return
		}
		r := bufio.NewReaderSize(s, 64<<10)
		buf := make([]byte, 64<<10)
		var n int64
		for {
			if _, err := io.ReadFull(r, buf[:4]); err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				got <- outcome{n: n, end: time.Now(), err: err}
				return
			}
			l := binary.BigEndian.Uint32(buf[:4])
			if _, err := io.ReadFull(r, buf[:l]); err != nil {
				got <- outcome{n: n, end: time.Now(), err: err}
				return
			}
			n++
		}
	})
	payload := make([]byte, size)
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(size))
	allocs := startAllocs()
	start := time.Now()
	s, err := p.client.OpenStreamSync(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("quic open stream: %w", err)
	}
	w := bufio.NewWriterSize(s, 64<<10)
	for range msgs {
		if _, err := w.Write(hdr[:]); err != nil {
			return Result{}, err
		}
		if _, err := w.Write(payload); err != nil {
			return Result{}, err
		}
	}
	if err := w.Flush(); err != nil {
		return Result{}, err
	}
	_ = s.Close()
	var o outcome
	select {
	case o = <-got:
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	mallocs := allocs.stop()
	if o.err != nil {
		return Result{}, fmt.Errorf("quic receive: %w", o.err)
	}
	return Result{Expected: int64(msgs), Delivered: o.n, Elapsed: o.end.Sub(start), Mallocs: mallocs}, nil
}

// quicEchoLatency makes calls sequential echoes of size bytes, each on a
// new bidirectional stream (open, write, close, read the echo), and
// records each one's latency.
func quicEchoLatency(ctx context.Context, cert *testCert, size, calls int) (Result, error) {
	p, err := newQUICPair(ctx, cert)
	if err != nil {
		return Result{}, err
	}
	defer p.Close()
	p.wg.Go(func() {
		buf := make([]byte, size)
		for {
			s, err := p.server.AcceptStream(context.Background())
			if err != nil {
				return // the connection closed
			}
			if _, err := io.ReadFull(s, buf); err == nil {
				_, _ = s.Write(buf)
			}
			_ = s.Close()
		}
	})
	payload := make([]byte, size)
	reply := make([]byte, size)
	echo := func() error {
		s, err := p.client.OpenStreamSync(ctx)
		if err != nil {
			return fmt.Errorf("quic open stream: %w", err)
		}
		if _, err := s.Write(payload); err != nil {
			return err
		}
		_ = s.Close()
		if _, err := io.ReadFull(s, reply); err != nil {
			return fmt.Errorf("quic echo: %w", err)
		}
		return nil
	}
	if err := echo(); err != nil { // warm-up
		return Result{}, err
	}
	return measureSequential(calls, func() error { return echo() })
}
