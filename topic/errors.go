package topic

import "errors"

// ErrInvalidTopic is the sentinel wrapped by every error that [Validate] and
// [ValidatePattern] return. Match it with errors.Is; the wrapping error's text
// names the offending topic and says what is wrong and where.
var ErrInvalidTopic = errors.New("macula: invalid topic")
