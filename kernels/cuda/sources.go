package cuda

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strings"
)

//go:embed kernels/*.cu kernels/common.cuh
var kernelFS embed.FS

// Source is one embedded kernel file, ready for NVRTC: the shared prelude
// (kernels/common.cuh) followed by the file, with a #line directive so that
// compiler messages name the file's own lines.
type Source struct {
	Name    string   // file name, e.g. "swiglu.cu"
	Code    string   // prelude + file
	Kernels []string // the extern "C" __global__ entry points it defines
}

// Hash identifies the source text, for the kernel cache.
func (s Source) Hash() string {
	h := sha256.Sum256([]byte(s.Code))
	return hex.EncodeToString(h[:])
}

var entryRE = regexp.MustCompile(`extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(`)

// Sources returns every embedded kernel file, sorted by name.
func Sources() ([]Source, error) {
	prelude, err := kernelFS.ReadFile("kernels/common.cuh")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(kernelFS, "kernels/*.cu")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []Source
	for _, n := range names {
		b, err := kernelFS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		base := strings.TrimPrefix(n, "kernels/")
		var entries []string
		for _, m := range entryRE.FindAllStringSubmatch(string(b), -1) {
			entries = append(entries, m[1])
		}
		if len(entries) == 0 {
			return nil, fmt.Errorf("%s: no extern \"C\" __global__ kernels", n)
		}
		code := "#line 1 \"common.cuh\"\n" + string(prelude) + "\n#line 1 \"" + base + "\"\n" + string(b)
		out = append(out, Source{Name: base, Code: code, Kernels: entries})
	}
	return out, nil
}
