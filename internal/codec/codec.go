package codec

import (
	"encoding/json"
	"fmt"
	"mime"

	"google.golang.org/protobuf/proto"
)

// Content types set by Encode.
const (
	// Bytes is the content type of a []byte payload, sent as is.
	Bytes = "application/octet-stream"
	// Protobuf is the content type of a proto.Message payload; Encode adds
	// the message's full name as the "proto" parameter.
	Protobuf = "application/x-protobuf"
	// JSON is the content type of every other payload.
	JSON = "application/json"
)

// Encode returns v's bytes and content type: a []byte as is ([Bytes]; nil
// gives an empty payload), a proto.Message as protobuf ([Protobuf] with a
// "proto" parameter naming the message), anything else as JSON ([JSON]).
// Errors wrap [ErrEncode].
func Encode(v any) ([]byte, string, error) {
	switch v := v.(type) {
	case []byte:
		return v, Bytes, nil
	case proto.Message:
		b, err := proto.Marshal(v)
		if err != nil {
			return nil, "", fmt.Errorf("%w: %w", ErrEncode, err)
		}
		return b, Protobuf + "; proto=" + string(v.ProtoReflect().Descriptor().FullName()), nil
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, "", fmt.Errorf("%w: %w", ErrEncode, err)
		}
		return b, JSON, nil
	}
}

// Decode fills v, a pointer, from data of the given content type:
//   - into a *[]byte a copy of data, whatever the content type;
//   - into a *string a JSON string's text, or else data as text;
//   - protobuf into a proto.Message (the "proto" parameter, when present,
//     must name v's message type);
//   - JSON, or an empty or unknown content type, with encoding/json.
//
// Errors wrap [ErrDecode].
func Decode(data []byte, contentType string, v any) error {
	switch v := v.(type) {
	case *[]byte:
		if v == nil {
			return fmt.Errorf("%w: nil *[]byte", ErrDecode)
		}
		*v = append([]byte(nil), data...)
		return nil
	}
	media, params, _ := mime.ParseMediaType(contentType)
	if s, ok := v.(*string); ok {
		if s == nil {
			return fmt.Errorf("%w: nil *string", ErrDecode)
		}
		if media == JSON && len(data) > 0 && data[0] == '"' {
			if err := json.Unmarshal(data, s); err != nil {
				return fmt.Errorf("%w: %w", ErrDecode, err)
			}
			return nil
		}
		*s = string(data)
		return nil
	}
	switch media {
	case Protobuf:
		m, ok := v.(proto.Message)
		if !ok {
			return fmt.Errorf("%w: protobuf payload into %T, not a proto.Message", ErrDecode, v)
		}
		if name := params["proto"]; name != "" && name != string(m.ProtoReflect().Descriptor().FullName()) {
			return fmt.Errorf("%w: payload is %s, target is %s", ErrDecode, name, m.ProtoReflect().Descriptor().FullName())
		}
		if err := proto.Unmarshal(data, m); err != nil {
			return fmt.Errorf("%w: %w", ErrDecode, err)
		}
		return nil
	case Bytes:
		return fmt.Errorf("%w: binary payload into %T (use *[]byte)", ErrDecode, v)
	default:
		if err := json.Unmarshal(data, v); err != nil {
			return fmt.Errorf("%w: %w", ErrDecode, err)
		}
		return nil
	}
}
