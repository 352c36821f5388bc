package protocol_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/org/macula/protocol"
)

func Example() {
	var stream bytes.Buffer // stands in for a QUIC stream
	stream.WriteByte(byte(protocol.StreamControl))
	_ = protocol.WriteFrame(&stream, &protocol.Envelope{Body: &protocol.Envelope_Hello{Hello: &protocol.Hello{
		VersionMajor: protocol.VersionMajor,
		VersionMinor: protocol.VersionMinor,
		Realm:        "org.example.mesh",
	}}}, protocol.DefaultMaxFrameSize)
	_ = protocol.WriteFrame(&stream, &protocol.Envelope{Body: &protocol.Envelope_Ping{Ping: &protocol.Ping{Nonce: 7}}}, protocol.DefaultMaxFrameSize)

	typ, _ := stream.ReadByte()
	fmt.Println("stream:", protocol.StreamType(typ))

	fr := protocol.NewFrameReader(&stream, protocol.DefaultMaxFrameSize)
	var env protocol.Envelope
	for {
		err := fr.ReadFrame(&env)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Println("close with", protocol.CodeOf(err))
			return
		}
		switch body := env.Body.(type) {
		case *protocol.Envelope_Hello:
			fmt.Println("hello from", body.Hello.GetRealm(), "version check:", protocol.CheckVersion(body.Hello))
		case *protocol.Envelope_Ping:
			fmt.Println("ping", body.Ping.GetNonce())
		}
	}
	// Output:
	// stream: control
	// hello from org.example.mesh version check: <nil>
	// ping 7
}

func ExampleCodeError() {
	// A peer answered a call with RpcError{Code: TIMEOUT}.
	msg := &protocol.RpcError{CallId: 1, Code: protocol.CodeTimeout, Message: "handler deadline"}
	err := fmt.Errorf("call billing.charge: %w",
		&protocol.CodeError{Code: msg.GetCode(), Message: msg.GetMessage(), Remote: true})

	fmt.Println(err)
	fmt.Println(errors.Is(err, &protocol.CodeError{Code: protocol.CodeTimeout}))
	fmt.Println(protocol.CodeOf(err) == protocol.CodeTimeout)
	// Output:
	// call billing.charge: macula: remote error TIMEOUT: handler deadline
	// true
	// true
}

func ExampleWriteFrame_tooLarge() {
	env := &protocol.Envelope{Body: &protocol.Envelope_Event{Event: &protocol.Event{Data: make([]byte, 100)}}}
	err := protocol.WriteFrame(io.Discard, env, 64)
	fmt.Println(errors.Is(err, protocol.ErrFrameTooLarge), protocol.CodeOf(err))
	// Output:
	// true FRAME_TOO_LARGE
}
