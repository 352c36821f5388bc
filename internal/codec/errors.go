package codec

import "errors"

// ErrEncode is wrapped by every error Encode returns: the value could not
// be turned into bytes (for example a channel or a function given to
// JSON).
var ErrEncode = errors.New("macula: cannot encode payload")

// ErrDecode is wrapped by every error Decode returns: the bytes do not fit
// the target, or the target cannot take them.
var ErrDecode = errors.New("macula: cannot decode payload")
