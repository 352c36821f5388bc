package security

import (
	"fmt"
	"strings"
)

// DefaultRealm is the realm a node joins when none is configured.
const DefaultRealm = "org.example.mesh"

// Limits on realm names, as for DNS names.
const (
	maxRealmLen      = 253
	maxRealmLabelLen = 63
)

// ValidateRealm checks that realm is a reverse-DNS name such as
// "org.example.mesh": 1 to 253 bytes of dot-separated labels, each 1 to 63
// characters from [a-z0-9-] that neither starts nor ends with '-'. A single
// label is allowed. Upper case is rejected rather than folded, so a realm
// has exactly one spelling. The error wraps [ErrInvalidRealm] and says
// which rule was broken.
func ValidateRealm(realm string) error {
	switch {
	case realm == "":
		return fmt.Errorf("%w: empty", ErrInvalidRealm)
	case len(realm) > maxRealmLen:
		return fmt.Errorf("%w: %d bytes long, max %d", ErrInvalidRealm, len(realm), maxRealmLen)
	}
	for n, label := range strings.Split(realm, ".") {
		if err := validateRealmLabel(label); err != nil {
			return fmt.Errorf("%w: %q: label %d %s", ErrInvalidRealm, realm, n+1, err)
		}
	}
	return nil
}

// realmLabelError is a reason a label is invalid, phrased to follow
// "label N".
type realmLabelError string

func (e realmLabelError) Error() string { return string(e) }

// validateRealmLabel checks one dot-separated label of a realm.
func validateRealmLabel(label string) error {
	switch {
	case label == "":
		return realmLabelError("is empty")
	case len(label) > maxRealmLabelLen:
		return realmLabelError(fmt.Sprintf("is %d characters long, max %d", len(label), maxRealmLabelLen))
	case label[0] == '-':
		return realmLabelError("starts with '-'")
	case label[len(label)-1] == '-':
		return realmLabelError("ends with '-'")
	}
	for i := 0; i < len(label); i++ {
		c := label[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return realmLabelError(fmt.Sprintf("has invalid character %q (allowed: a-z 0-9 -)", c))
		}
	}
	return nil
}
