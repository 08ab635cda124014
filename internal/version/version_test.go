package version

import (
	"strings"
	"testing"
)

// TestString: the version names trm and what the toolchain recorded (a test
// binary is "(devel)").
func TestString(t *testing.T) {
	v := String()
	if !strings.HasPrefix(v, "trm ") || len(v) <= len("trm ") {
		t.Errorf("String() = %q, want \"trm <version>\"", v)
	}
}
