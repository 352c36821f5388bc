package security

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"
)

// aclFile is the document ParseACL reads.
type aclFile struct {
	Default Effect `json:"default" yaml:"default"`
	Rules   []Rule `json:"rules" yaml:"rules"`
}

// ParseACL parses an ACL document, in JSON or YAML, and builds it with
// [NewACL]. A document whose first non-space character is '{' is read as
// JSON, anything else as YAML. Its shape, in YAML:
//
//	default: deny            # required: allow or deny
//	rules:                   # in order; the first matching rule wins
//	  - effect: allow        # allow or deny
//	    subject: role:sensor # "*", node:<id>, <id>, realm:<name> or role:<name>
//	    action: publish      # publish, subscribe, register, call or "*"
//	    pattern: sensors.#   # a topic pattern (see package topic)
//	  - effect: deny
//	    subject: "*"
//	    action: "*"
//	    pattern: "#"
//
// In YAML, quote a value that is just "*" or starts with "#": unquoted,
// "*" is an alias and "#" starts a comment. The same document in JSON is
// {"default": "deny", "rules": [{"effect": "allow", "subject":
// "role:sensor", "action": "publish", "pattern": "sensors.#"}, ...]}.
//
// Unlike [NewACL] callers, a file must state its default: an ACL written
// to restrict a realm that silently allowed everything it forgot would be a
// hole. Unknown fields, a second document, a missing field and every
// problem [NewACL] reports are errors wrapping [ErrInvalidACL]; problems
// with a rule name it as rules[i], counted from 0.
func ParseACL(data []byte) (*ACL, error) {
	var f aclFile
	var err error
	if trimmed := bytes.TrimLeft(data, " \t\r\n"); len(trimmed) > 0 && trimmed[0] == '{' {
		err = decodeACLJSON(data, &f)
	} else {
		err = decodeACLYAML(data, &f)
	}
	if err != nil {
		return nil, err
	}
	if f.Default == "" {
		return nil, fmt.Errorf("%w: missing default (allow or deny)", ErrInvalidACL)
	}
	for i, r := range f.Rules {
		if err := checkRuleFields(r); err != nil {
			return nil, fmt.Errorf("%w: rules[%d]: %s", ErrInvalidACL, i, err)
		}
	}
	return NewACL(f.Default, f.Rules...)
}

// LoadACL reads and parses the ACL file at path (see [ParseACL]). A missing
// file yields an error matching [fs.ErrNotExist]; bad contents one
// wrapping [ErrInvalidACL].
func LoadACL(path string) (*ACL, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("macula: load acl: %w", err)
	}
	acl, err := ParseACL(data)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return acl, nil
}

// decodeACLJSON decodes a JSON ACL document strictly.
func decodeACLJSON(data []byte, f *aclFile) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(f); err != nil {
		return fmt.Errorf("%w: json: %w", ErrInvalidACL, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: json: data after the document", ErrInvalidACL)
	}
	return nil
}

// decodeACLYAML decodes a single YAML ACL document strictly.
func decodeACLYAML(data []byte, f *aclFile) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	switch err := dec.Decode(f); {
	case errors.Is(err, io.EOF):
		return fmt.Errorf("%w: empty document", ErrInvalidACL)
	case err != nil:
		return fmt.Errorf("%w: yaml: %w", ErrInvalidACL, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: yaml: more than one document", ErrInvalidACL)
	}
	return nil
}

// checkRuleFields reports a field missing from a rule read from a file,
// with a hint for the usual YAML mistakes.
func checkRuleFields(r Rule) error {
	switch {
	case r.Effect == "":
		return fmt.Errorf("missing effect (allow or deny)")
	case r.Subject == "":
		return fmt.Errorf(`missing subject (in YAML write "*" with quotes)`)
	case r.Action == "":
		return fmt.Errorf(`missing action (in YAML write "*" with quotes)`)
	case r.Pattern == "":
		return fmt.Errorf(`missing pattern (in YAML quote a pattern starting with "#" or "*")`)
	}
	return nil
}
