// Package version reports which trm build is running, for --version and
// for the provenance recorded in every dataset manifest.
package version

import "runtime/debug"

// String is the module version recorded by the Go toolchain, with the VCS
// revision when the binary was built from a checkout.
func String() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "trm (unknown version)"
	}
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return "trm " + v
}
