package cuda

import (
	"fmt"
	"path/filepath"
	"strings"
	"unsafe"

	"github.com/ebitengine/purego"
)

// cublasAPI holds cuBLAS and cuBLASLt entry points.
type cublasAPI struct {
	lib, lt *library

	create, destroy, setStream, getVersion, setMathMode, setWorkspace uintptr
	gemmEx, gemmStridedBatchedEx, sgemm, sgemmStridedBatched          uintptr
	ltVersion                                                         uintptr
	statusName                                                        func(code int32) string
	version                                                           int
}

// loadCublas opens cuBLASLt and then cuBLAS of the same major version from
// the same directory: libcublas needs libcublasLt, and the dynamic loader
// finds it by soname among libraries already open even when the directory
// (a wheel's nvidia/cublas/lib, say) is not on its search path.
func loadCublas(env searchEnv, maxMajor int) (*cublasAPI, error) {
	cands := candidates(searchDirs(env), cublasSonames, maxMajor)
	var tried []string
	for _, c := range cands {
		ltSoname := strings.Replace(c.Soname, "libcublas.", "libcublasLt.", 1)
		ltPath := ltSoname
		if strings.ContainsRune(c.Path, '/') {
			ltPath = filepath.Join(filepath.Dir(c.Path), ltSoname)
		}
		lt, err := openLibrary("cuBLASLt", []candidate{{ltPath, ltSoname}})
		if err != nil {
			tried = append(tried, fmt.Sprintf("  %s: needs %s: %v", c.Path, ltSoname, err))
			continue
		}
		lib, err := openLibrary("cuBLAS", []candidate{c})
		if err != nil {
			tried = append(tried, err.(*NotFoundError).Tried...)
			continue
		}
		return bindCublas(lib, lt)
	}
	return nil, &NotFoundError{Name: "cuBLAS", Tried: tried}
}

func bindCublas(lib, lt *library) (*cublasAPI, error) {
	b := &cublasAPI{lib: lib, lt: lt}
	syms := []struct {
		p    *uintptr
		name string
	}{
		{&b.create, "cublasCreate_v2"}, {&b.destroy, "cublasDestroy_v2"},
		{&b.setStream, "cublasSetStream_v2"}, {&b.getVersion, "cublasGetVersion_v2"},
		{&b.setMathMode, "cublasSetMathMode"},
		{&b.gemmEx, "cublasGemmEx"}, {&b.gemmStridedBatchedEx, "cublasGemmStridedBatchedEx"},
		{&b.sgemm, "cublasSgemm_v2"}, {&b.sgemmStridedBatched, "cublasSgemmStridedBatched"},
	}
	var err error
	for _, s := range syms {
		if *s.p, err = lib.sym(s.name); err != nil {
			return nil, err
		}
	}
	b.setWorkspace = lib.optSym("cublasSetWorkspace_v2") // cuBLAS 11.4+
	b.ltVersion = lt.optSym("cublasLtGetVersion")
	if p := lib.optSym("cublasGetStatusName"); p != 0 { // cuBLAS 11.4+
		purego.RegisterFunc(&b.statusName, p)
	}
	return b, nil
}

func (b *cublasAPI) check(fn string, code int) error {
	if code == 0 {
		return nil
	}
	name := ""
	if b.statusName != nil {
		name = b.statusName(int32(code))
	}
	if name == "" || strings.Contains(name, "UNKNOWN") {
		name = cublasStatusName(code)
	}
	return &Error{Lib: "cublas", Func: fn, Code: code, Name: name}
}

func (b *cublasAPI) infos() []LibraryInfo {
	// Both libraries report major*10000 + minor*100 + patch (120402 = 12.4.2).
	v := fmt.Sprintf("%d.%d.%d", b.version/10000, b.version/100%100, b.version%100)
	out := []LibraryInfo{{Name: "cuBLAS", Path: b.lib.Path, Version: v}}
	lv := ""
	if b.ltVersion != 0 {
		r, _, _ := purego.SyscallN(b.ltVersion)
		lv = fmt.Sprintf("%d.%d.%d", r/10000, r/100%100, r%100)
	}
	return append(out, LibraryInfo{Name: "cuBLASLt", Path: b.lt.Path, Version: lv})
}

// cuBLAS enum values (cublas_api.h, library_types.h).
const (
	cublasOpN                = 0
	cublasOpT                = 1
	cudaR32F                 = 0
	cudaR16BF                = 14
	cublasCompute32F         = 68
	cublasCompute32FFastBF16 = 75
	cublasCompute32FFastTF32 = 77
	cublasDefaultMath        = 0
	blasWorkspaceBytes       = 32 << 20 // NVIDIA recommends 32 MiB on Hopper
)

// blasHandle creates the cuBLAS handle on first use (context thread only).
func (c *Context) blasHandle() (uintptr, error) {
	if c.blasH != 0 {
		return c.blasH, nil
	}
	if c.blas == nil {
		b, err := loadCublas(currentSearchEnv(), c.DriverVersion/1000)
		if err != nil {
			return 0, err
		}
		c.blas = b
	}
	b := c.blas
	var h uintptr
	if err := b.check("cublasCreate_v2", call(b.create, uintptr(unsafe.Pointer(&h)))); err != nil {
		return 0, err
	}
	var v int32
	if err := b.check("cublasGetVersion_v2", call(b.getVersion, h, uintptr(unsafe.Pointer(&v)))); err != nil {
		return 0, err
	}
	b.version = int(v)
	// Default math: fp32 GEMMs stay in full fp32 (no TF32), bf16 GEMMs use
	// the tensor cores with fp32 accumulation as the compute type says.
	if err := b.check("cublasSetMathMode", call(b.setMathMode, h, cublasDefaultMath)); err != nil {
		return 0, err
	}
	if b.setWorkspace != 0 {
		ws, err := c.alloc.get(blasWorkspaceBytes)
		if err != nil {
			return 0, err
		}
		if err := b.check("cublasSetWorkspace_v2", call(b.setWorkspace, h, uintptr(ws.Ptr), blasWorkspaceBytes)); err != nil {
			return 0, err
		}
		c.blasWS = ws
	}
	c.blasH = h
	return h, nil
}

func (c *Context) blasClose() error {
	if c.blasH == 0 {
		return nil
	}
	err := c.blas.check("cublasDestroy_v2", call(c.blas.destroy, c.blasH))
	c.blasH = 0
	c.alloc.put(c.blasWS)
	c.blasWS = DeviceBuffer{}
	return err
}

// LoadBLAS loads cuBLAS and creates its handle now rather than at the first
// GEMM, so that a missing library is reported early.
func (c *Context) LoadBLAS() error {
	return c.Do(func() error { _, err := c.blasHandle(); return err })
}

// GemmArgs describe C = alpha * op(A) * op(B) + beta * C on ROW-MAJOR
// matrices, as kernels/cpu's Sgemm: op(A) is M x K (A stored M x K, or
// K x M when TransA), op(B) is K x N (stored K x N, or N x K when TransB);
// Lda, Ldb, Ldc are row strides in elements. A and B share one dtype; C may
// be fp32 or the input dtype. Accumulation is fp32 in every case. For the
// strided-batched form, Batch > 1 matrices follow each other at the given
// element strides.
type GemmArgs struct {
	TransA, TransB   bool
	M, N, K          int
	Alpha, Beta      float32
	A, B, C          DevPtr
	AB, CType        DType
	Lda, Ldb, Ldc    int
	Batch            int // 0 or 1: a single GEMM
	StrideA, StrideB int64
	StrideC          int64
	// Math is how fp32 inputs are multiplied: in full fp32, or on the
	// tensor cores after rounding (bf16 inputs always use the tensor
	// cores, so they take MathFP32).
	Math Math
}

// Math is how a GEMM multiplies fp32 inputs; every mode accumulates in fp32.
type Math int

const (
	// MathFP32 multiplies in full fp32 (cublasSgemm), the CPU backend's
	// arithmetic.
	MathFP32 Math = iota
	// MathTF32 rounds the inputs to TF32 (10-bit mantissas) on the tensor
	// cores (CUBLAS_COMPUTE_32F_FAST_TF32): several times the fp32 rate,
	// about 1e-3 relative error.
	MathTF32
	// MathBF16 lets cuBLAS round the inputs to bfloat16 (7-bit mantissas)
	// for the tensor cores' bf16 rate (CUBLAS_COMPUTE_32F_FAST_16BF, which
	// may also choose TF32): the precision of the reference's bf16 forward
	// in its products, about 4e-3 relative error, while the operands and
	// results stay fp32 in memory.
	MathBF16
)

func (m Math) known() bool { return m >= MathFP32 && m <= MathBF16 }

func (m Math) String() string {
	switch m {
	case MathFP32:
		return "fp32"
	case MathTF32:
		return "tf32"
	case MathBF16:
		return "bf16"
	}
	return fmt.Sprintf("Math(%d)", int(m))
}

func (g GemmArgs) dtypes() (uintptr, uintptr, error) {
	ab, cc := uintptr(cudaR32F), uintptr(cudaR32F)
	switch g.AB {
	case F32:
	case BF16:
		ab = cudaR16BF
	default:
		return 0, 0, fmt.Errorf("gemm: input dtype %v", g.AB)
	}
	switch g.CType {
	case F32:
	case BF16:
		cc = cudaR16BF
	default:
		return 0, 0, fmt.Errorf("gemm: output dtype %v", g.CType)
	}
	if g.AB == F32 && g.CType != F32 {
		return 0, 0, fmt.Errorf("gemm: fp32 inputs need an fp32 output")
	}
	switch {
	case !g.Math.known():
		return 0, 0, fmt.Errorf("gemm: unknown math mode %v", g.Math)
	case g.Math != MathFP32 && g.AB != F32:
		return 0, 0, fmt.Errorf("gemm: %v math is for fp32 inputs, not %v", g.Math, g.AB)
	}
	return ab, cc, nil
}

// computeType is cuBLAS's compute type for g.Math: fp32 accumulation,
// with the inputs rounded as the mode says.
func (g GemmArgs) computeType() uintptr {
	switch g.Math {
	case MathTF32:
		return cublasCompute32FFastTF32
	case MathBF16:
		return cublasCompute32FFastBF16
	}
	return cublasCompute32F
}

// Gemm enqueues the matrix product on s. fp32 inputs go to cublasSgemm
// (full fp32), or with MathTF32 or MathBF16 to cublasGemmEx with the
// matching fast compute type; bf16 inputs to cublasGemmEx with fp32 compute. Row-major C =
// op(A) op(B) is the column-major product C^T = op(B)^T op(A)^T, so the
// operands are swapped on the way to cuBLAS.
func (c *Context) Gemm(s *Stream, g GemmArgs) error {
	if g.M == 0 || g.N == 0 {
		return nil
	}
	ab, cc, err := g.dtypes()
	if err != nil {
		return err
	}
	opA, opB := uintptr(cublasOpN), uintptr(cublasOpN)
	if g.TransA {
		opA = cublasOpT
	}
	if g.TransB {
		opB = cublasOpT
	}
	return c.Do(func() error {
		h, err := c.blasHandle()
		if err != nil {
			return err
		}
		b := c.blas
		if err := b.check("cublasSetStream_v2", call(b.setStream, h, s.handle())); err != nil {
			return err
		}
		c.scalars = [2]float32{g.Alpha, g.Beta}
		alpha, beta := uintptr(unsafe.Pointer(&c.scalars[0])), uintptr(unsafe.Pointer(&c.scalars[1]))
		m, n, k := uintptr(g.N), uintptr(g.M), uintptr(g.K)
		lda, ldb, ldc := uintptr(g.Ldb), uintptr(g.Lda), uintptr(g.Ldc)
		A, B, C := uintptr(g.B), uintptr(g.A), uintptr(g.C)
		batched := g.Batch > 1
		algo := ^uintptr(0) // CUBLAS_GEMM_DEFAULT (-1)
		compute := g.computeType()
		plainFP32 := g.AB == F32 && g.Math == MathFP32
		switch {
		case plainFP32 && !batched:
			return b.check("cublasSgemm_v2", call(b.sgemm, h, opB, opA, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc))
		case plainFP32:
			return b.check("cublasSgemmStridedBatched", call(b.sgemmStridedBatched, h, opB, opA, m, n, k, alpha,
				A, lda, uintptr(g.StrideB), B, ldb, uintptr(g.StrideA), beta, C, ldc, uintptr(g.StrideC), uintptr(g.Batch)))
		case !batched:
			return b.check("cublasGemmEx", call(b.gemmEx, h, opB, opA, m, n, k, alpha,
				A, ab, lda, B, ab, ldb, beta, C, cc, ldc, compute, algo))
		default:
			return b.check("cublasGemmStridedBatchedEx", call(b.gemmStridedBatchedEx, h, opB, opA, m, n, k, alpha,
				A, ab, lda, uintptr(g.StrideB), B, ab, ldb, uintptr(g.StrideA), beta, C, cc, ldc, uintptr(g.StrideC),
				uintptr(g.Batch), compute, algo))
		}
	})
}
