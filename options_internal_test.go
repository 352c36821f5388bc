package macula

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestEveryOptionHasADefault fails when a config field is added without a
// decision about its default: either defaultConfig sets it, or it is listed
// here with what its zero value means.
func TestEveryOptionHasADefault(t *testing.T) {
	zeroMeans := map[string]string{
		"bootstrap":      "no bootstrap addresses",
		"identity":       "generate or load one",
		"identityFile":   "identity kept in memory",
		"realmCA":        "dev mode",
		"certificate":    "self-signed",
		"packetConn":     "bind a UDP socket at listenAddr",
		"keepAlive":      "a third of the idle timeout",
		"advertiseAddrs": "the bound address",
		"discovery":      "no discovery sources",
		"mdns":           "no mDNS",
		"auditWriter":    "no audit log",
		"acl":            "dev mode: every action allowed",
		"signing":        "unsigned messages, unsigned accepted",
		"gossipKey":      "derived from the realm in dev mode, random with a realm CA",
	}
	v := reflect.ValueOf(*defaultConfig())
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		_, documented := zeroMeans[name]
		if v.Field(i).IsZero() {
			require.True(t, documented, "config.%s has no default and no documented zero value", name)
		} else {
			require.False(t, documented, "config.%s has a default but is listed as zero-valued", name)
		}
	}
}
