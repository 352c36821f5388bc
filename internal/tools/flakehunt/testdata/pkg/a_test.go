package pkg

import (
	"testing"
	"testing/synctest"
)

func TestDirect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {})
}

func TestThroughHelper(t *testing.T) { inBubble(t) }

func inBubble(t *testing.T) { deeper(t) }

func deeper(t *testing.T) { synctest.Test(t, func(t *testing.T) {}) }

func TestRealTime(t *testing.T) { notInBubble(t) }

func notInBubble(t *testing.T) { notInBubble2(t) }

func notInBubble2(t *testing.T) { notInBubble(t) }

func TestMain(m *testing.M) { synctest.Test(nil, nil) }
