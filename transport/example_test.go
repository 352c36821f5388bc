package transport_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/org/macula/protocol"
	"github.com/org/macula/security"
	"github.com/org/macula/transport"
)

// listen starts a Transport with a new identity on a UDP socket on
// 127.0.0.1.
func listen(realm string) (*transport.Transport, error) {
	id, err := security.GenerateIdentity()
	if err != nil {
		return nil, err
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	tr, err := transport.New(transport.Config{Identity: id, Realm: realm, Conn: conn})
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	if err := tr.Start(); err != nil {
		_ = tr.Close()
		return nil, err
	}
	return tr, nil
}

// Two transports over real QUIC on 127.0.0.1: one dials the other, which
// proves its node ID in the handshake, and they exchange a frame on a
// stream.
func ExampleTransport_Dial() {
	const realm = "org.example.mesh"
	server, err := listen(realm)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer server.Close()
	client, err := listen(realm)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()

	// The server answers each ping on an RPC stream with the next nonce.
	server.Handle(protocol.StreamRPC, func(ctx context.Context, s *transport.Stream) {
		var env protocol.Envelope
		if err := s.ReadFrame(&env); err != nil {
			return
		}
		next := env.GetPing().GetNonce() + 1
		_ = s.WriteFrame(&protocol.Envelope{Body: &protocol.Envelope_Ping{Ping: &protocol.Ping{Nonce: next}}})
		_ = s.CloseWrite()
	})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	peer, err := client.Dial(ctx, server.Addr(), server.ID())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("connected to the server:", peer.ID == server.ID(), "realm:", peer.Realm)

	s, err := client.OpenStream(ctx, peer.ID, protocol.StreamRPC)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	if err := s.WriteFrame(&protocol.Envelope{Body: &protocol.Envelope_Ping{Ping: &protocol.Ping{Nonce: 41}}}); err != nil {
		fmt.Println(err)
		return
	}
	var reply protocol.Envelope
	if err := s.ReadFrame(&reply); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("reply:", reply.GetPing().GetNonce())

	// Dialing with the wrong expected ID fails: the peer cannot prove it.
	_, err = client.Dial(ctx, server.Addr(), client.ID())
	fmt.Println("wrong ID refused:", errors.Is(err, security.ErrUnexpectedPeer))
	// Output:
	// connected to the server: true realm: org.example.mesh
	// reply: 42
	// wrong ID refused: true
}
