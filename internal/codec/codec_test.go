package codec

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestBytesAsIs(t *testing.T) {
	in := []byte{0, 1, 2, 255}
	b, ct, err := Encode(in)
	require.NoError(t, err)
	require.Equal(t, Bytes, ct)
	require.Equal(t, in, b)
	var out []byte
	require.NoError(t, Decode(b, ct, &out))
	require.Equal(t, in, out)
	out[0] = 9
	require.Equal(t, byte(0), b[0], "Decode copies")

	var text string
	require.NoError(t, Decode([]byte("hi"), ct, &text))
	require.Equal(t, "hi", text)

	var n int
	err = Decode(b, ct, &n)
	require.ErrorIs(t, err, ErrDecode)
}

func TestProtobuf(t *testing.T) {
	b, ct, err := Encode(wrapperspb.String("21.5"))
	require.NoError(t, err)
	require.Equal(t, "application/x-protobuf; proto=google.protobuf.StringValue", ct)
	var out wrapperspb.StringValue
	require.NoError(t, Decode(b, ct, &out))
	require.Equal(t, "21.5", out.GetValue())

	var wrong wrapperspb.Int64Value
	require.ErrorIs(t, Decode(b, ct, &wrong), ErrDecode)
	var notProto struct{}
	require.ErrorIs(t, Decode(b, ct, &notProto), ErrDecode)
	require.ErrorIs(t, Decode([]byte{0xff}, ct, &out), ErrDecode)
	// Without the parameter the bytes are trusted to fit.
	var again wrapperspb.StringValue
	require.NoError(t, Decode(b, Protobuf, &again))
	require.True(t, proto.Equal(wrapperspb.String("21.5"), &again))
}

func TestJSON(t *testing.T) {
	type reading struct {
		Sensor string  `json:"sensor"`
		Value  float64 `json:"value"`
	}
	b, ct, err := Encode(reading{"t1", 21.5})
	require.NoError(t, err)
	require.Equal(t, JSON, ct)
	require.JSONEq(t, `{"sensor":"t1","value":21.5}`, string(b))
	var out reading
	require.NoError(t, Decode(b, ct, &out))
	require.Equal(t, reading{"t1", 21.5}, out)

	// A string is JSON too, so that it decodes into a string on any side.
	b, ct, err = Encode("hello")
	require.NoError(t, err)
	require.Equal(t, `"hello"`, string(b))
	var s string
	require.NoError(t, Decode(b, ct, &s))
	require.Equal(t, "hello", s)
	require.NoError(t, Decode([]byte(`{"a":1}`), JSON, &s))
	require.Equal(t, `{"a":1}`, s, "other JSON is taken as text")

	var m map[string]any
	require.NoError(t, Decode([]byte(`{"a":1}`), "", &m), "no content type means JSON")
	require.ErrorIs(t, Decode([]byte("{"), JSON, &m), ErrDecode)

	_, _, err = Encode(make(chan int))
	require.True(t, errors.Is(err, ErrEncode))
}
