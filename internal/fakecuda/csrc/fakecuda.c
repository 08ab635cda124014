/*
 * A stand-in for libcuda.so.1, libcublas and libcublasLt that runs on the
 * host, so that the Go side of the CUDA backend (library discovery, purego
 * calls, context, allocator, pinned memory, copies, error names, and the
 * row-major to column-major mapping of every GEMM) runs in CI without a GPU.
 *
 * "Device" memory is host memory: a CUdeviceptr is a host address, copies
 * are memcpy. GEMMs are computed here from cuBLAS's documented column-major
 * semantics, with the argument checks cuBLAS makes (leading dimensions,
 * data types), in double and rounded to the output type.
 *
 * Kernels run when the tests have built the embedded kernel sources with g++
 * into libfakekernels.so beside this library (emucuda.h says how):
 * cuModuleGetFunction finds each kernel's emu_launch_<name> there, and
 * cuLaunchKernel runs it on the host. Without that library, loading a module
 * fails with CUDA_ERROR_NOT_SUPPORTED.
 *
 * Built by internal/fakecuda (Build). With -DTRM_REAL_HEADERS and the CUDA
 * toolkit's include directory it includes cuda.h, cublas_v2.h and cublasLt.h,
 * so the compiler checks every definition below against NVIDIA's prototypes:
 * what the Go side passes is then checked against the real argument order.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef TRM_REAL_HEADERS
#include <cuda.h>
#include <cublas_v2.h>
#include <cublasLt.h>
#else
typedef int CUresult;
typedef int CUdevice;
typedef int CUdevice_attribute;
typedef unsigned long long CUdeviceptr;
typedef struct CUctx_st *CUcontext;
typedef struct CUstream_st *CUstream;
typedef struct CUevent_st *CUevent;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef int cublasStatus_t;
typedef struct cublasContext *cublasHandle_t;
typedef int cublasOperation_t;
typedef int cublasMath_t;
typedef int cudaDataType;
typedef int cublasComputeType_t;
typedef int cublasGemmAlgo_t;
typedef struct CUDA_MEMCPY2D_st {
	size_t srcXInBytes, srcY;
	int srcMemoryType;
	const void *srcHost;
	CUdeviceptr srcDevice;
	void *srcArray;
	size_t srcPitch;
	size_t dstXInBytes, dstY;
	int dstMemoryType;
	void *dstHost;
	CUdeviceptr dstDevice;
	void *dstArray;
	size_t dstPitch;
	size_t WidthInBytes, Height;
} CUDA_MEMCPY2D;
#endif

enum {
	fakeSuccess = 0,
	fakeInvalidValue = 1,
	fakeOutOfMemory = 2,
	fakeNoDevice = 100,
	fakeNotFound = 500,
	fakeLaunchFailed = 719,
	fakeNotSupported = 801,

	fakeBlasInvalidValue = 7,
	fakeBlasNotSupported = 15,

	fakeR32F = 0,
	fakeR16BF = 14,
	fakeCompute32F = 68,
	fakeCompute32FFastBF16 = 75,
	fakeCompute32FFastTF32 = 77,
};

/* Distinct non-null handles for contexts, streams, events. */
static char handles[4];

/* ---------------------------------------------------------------- driver */

CUresult cuInit(unsigned int flags) { return flags == 0 ? fakeSuccess : fakeInvalidValue; }

CUresult cuDriverGetVersion(int *version) {
	*version = 12040;
	return fakeSuccess;
}

static const char *errorName(int code) {
	switch (code) {
	case fakeSuccess: return "CUDA_SUCCESS";
	case fakeInvalidValue: return "CUDA_ERROR_INVALID_VALUE";
	case fakeOutOfMemory: return "CUDA_ERROR_OUT_OF_MEMORY";
	case fakeNoDevice: return "CUDA_ERROR_NO_DEVICE";
	case fakeNotFound: return "CUDA_ERROR_NOT_FOUND";
	case fakeLaunchFailed: return "CUDA_ERROR_LAUNCH_FAILED";
	case fakeNotSupported: return "CUDA_ERROR_NOT_SUPPORTED";
	}
	return NULL;
}

CUresult cuGetErrorName(CUresult error, const char **str) {
	*str = errorName(error);
	return *str ? fakeSuccess : fakeInvalidValue;
}

CUresult cuGetErrorString(CUresult error, const char **str) {
	*str = error == fakeNotSupported ? "the fake driver runs no kernels without libfakekernels.so beside it" : errorName(error);
	return *str ? fakeSuccess : fakeInvalidValue;
}

CUresult cuDeviceGetCount(int *count) {
	*count = 1;
	return fakeSuccess;
}

CUresult cuDeviceGet(CUdevice *device, int ordinal) {
	if (ordinal != 0) return fakeInvalidValue;
	*device = 0;
	return fakeSuccess;
}

CUresult cuDeviceGetName(char *name, int len, CUdevice dev) {
	static const char fake[] = "trm fake GPU (host memory)";
	if (dev != 0 || len < (int)sizeof fake) return fakeInvalidValue;
	memcpy(name, fake, sizeof fake);
	return fakeSuccess;
}

CUresult cuDeviceGetAttribute(int *value, CUdevice_attribute attrib, CUdevice dev) {
	if (dev != 0) return fakeInvalidValue;
	switch ((int)attrib) {
	case 75: *value = 9; break;    /* compute capability major */
	case 76: *value = 0; break;    /* minor */
	case 16: *value = 132; break;  /* multiprocessors */
	case 1: *value = 1024; break;  /* threads per block */
	case 8: *value = 49152; break; /* shared memory per block */
	case 97: *value = 232448; break;
	default: *value = 1; break;
	}
	return fakeSuccess;
}

CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev) {
	if (dev != 0) return fakeInvalidValue;
	*bytes = (size_t)16 << 30;
	return fakeSuccess;
}

CUresult cuDevicePrimaryCtxRetain(CUcontext *ctx, CUdevice dev) {
	if (dev != 0) return fakeInvalidValue;
	*ctx = (CUcontext)&handles[0];
	return fakeSuccess;
}

CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev) { return dev == 0 ? fakeSuccess : fakeInvalidValue; }

CUresult cuCtxSetCurrent(CUcontext ctx) { return ctx == (CUcontext)&handles[0] ? fakeSuccess : fakeInvalidValue; }

CUresult cuCtxSynchronize(void) { return fakeSuccess; }

CUresult cuMemGetInfo_v2(size_t *free, size_t *total) {
	*free = (size_t)8 << 30;
	*total = (size_t)16 << 30;
	return fakeSuccess;
}

CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize) {
	if (bytesize == 0) return fakeInvalidValue;
	if (bytesize > ((size_t)16 << 30)) return fakeOutOfMemory;
	void *p = aligned_alloc(256, (bytesize + 255) / 256 * 256);
	if (!p) return fakeOutOfMemory;
	*dptr = (CUdeviceptr)(uintptr_t)p;
	return fakeSuccess;
}

CUresult cuMemFree_v2(CUdeviceptr dptr) {
	free((void *)(uintptr_t)dptr);
	return fakeSuccess;
}

CUresult cuMemHostAlloc(void **pp, size_t bytesize, unsigned int flags) {
	if (bytesize == 0 || flags > 0x0f) return fakeInvalidValue;
	*pp = aligned_alloc(4096, (bytesize + 4095) / 4096 * 4096);
	return *pp ? fakeSuccess : fakeOutOfMemory;
}

CUresult cuMemFreeHost(void *p) {
	free(p);
	return fakeSuccess;
}

static int isStream(CUstream s) { return s == NULL || s == (CUstream)&handles[1]; }

CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t n, CUstream s) {
	if (!isStream(s)) return fakeInvalidValue;
	memcpy((void *)(uintptr_t)dst, src, n);
	return fakeSuccess;
}

CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t n, CUstream s) {
	if (!isStream(s)) return fakeInvalidValue;
	memcpy(dst, (const void *)(uintptr_t)src, n);
	return fakeSuccess;
}

CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s) {
	if (!isStream(s)) return fakeInvalidValue;
	memmove((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, n);
	return fakeSuccess;
}

/* Device to device only (memory type 2), as trm copies; pitches as the
 * driver checks them. */
CUresult cuMemcpy2DAsync_v2(const CUDA_MEMCPY2D *p, CUstream s) {
	if (!isStream(s) || p->srcMemoryType != 2 || p->dstMemoryType != 2 || p->srcPitch < p->WidthInBytes ||
	    p->dstPitch < p->WidthInBytes)
		return fakeInvalidValue;
	for (size_t r = 0; r < p->Height; r++)
		memmove((char *)(uintptr_t)p->dstDevice + p->dstXInBytes + (p->dstY + r) * p->dstPitch,
			(const char *)(uintptr_t)p->srcDevice + p->srcXInBytes + (p->srcY + r) * p->srcPitch, p->WidthInBytes);
	return fakeSuccess;
}

CUresult cuMemsetD8Async(CUdeviceptr dst, unsigned char value, size_t n, CUstream s) {
	if (!isStream(s)) return fakeInvalidValue;
	memset((void *)(uintptr_t)dst, value, n);
	return fakeSuccess;
}

CUresult cuStreamCreate(CUstream *s, unsigned int flags) {
	(void)flags;
	*s = (CUstream)&handles[1];
	return fakeSuccess;
}

CUresult cuStreamDestroy_v2(CUstream s) { return s == (CUstream)&handles[1] ? fakeSuccess : fakeInvalidValue; }

CUresult cuStreamSynchronize(CUstream s) { return isStream(s) ? fakeSuccess : fakeInvalidValue; }

CUresult cuStreamWaitEvent(CUstream s, CUevent e, unsigned int flags) {
	return isStream(s) && e == (CUevent)&handles[2] && flags == 0 ? fakeSuccess : fakeInvalidValue;
}

CUresult cuEventCreate(CUevent *e, unsigned int flags) {
	(void)flags;
	*e = (CUevent)&handles[2];
	return fakeSuccess;
}

CUresult cuEventDestroy_v2(CUevent e) { return e == (CUevent)&handles[2] ? fakeSuccess : fakeInvalidValue; }

CUresult cuEventRecord(CUevent e, CUstream s) {
	return e == (CUevent)&handles[2] && isStream(s) ? fakeSuccess : fakeInvalidValue;
}

CUresult cuEventSynchronize(CUevent e) { return e == (CUevent)&handles[2] ? fakeSuccess : fakeInvalidValue; }

CUresult cuEventElapsedTime(float *ms, CUevent start, CUevent end) {
	if (start != (CUevent)&handles[2] || end != (CUevent)&handles[2]) return fakeInvalidValue;
	*ms = 1.0f;
	return fakeSuccess;
}

/* The emulated kernels: libfakekernels.so in this library's directory,
 * opened on the first module load; NULL when the tests built none. */
static void *kernelLib;

static void *openKernels(void) {
	if (kernelLib) return kernelLib;
	Dl_info self;
	if (!dladdr((void *)openKernels, &self) || !self.dli_fname) return NULL;
	char path[4096];
	const char *slash = strrchr(self.dli_fname, '/');
	int dirLen = slash ? (int)(slash - self.dli_fname) : 1;
	snprintf(path, sizeof path, "%.*s/libfakekernels.so", dirLen, slash ? self.dli_fname : ".");
	kernelLib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	return kernelLib;
}

CUresult cuModuleLoadData(CUmodule *module, const void *image) {
	if (!image || !*(const char *)image) return fakeInvalidValue;
	if (!openKernels()) return fakeNotSupported;
	*module = (CUmodule)&handles[3];
	return fakeSuccess;
}

CUresult cuModuleUnload(CUmodule module) { return module == (CUmodule)&handles[3] ? fakeSuccess : fakeInvalidValue; }

typedef int (*emuLaunch)(const unsigned int *dims, unsigned int sharedBytes, void **params);

CUresult cuModuleGetFunction(CUfunction *f, CUmodule module, const char *name) {
	if (module != (CUmodule)&handles[3] || !kernelLib) return fakeInvalidValue;
	char symbol[256];
	snprintf(symbol, sizeof symbol, "emu_launch_%s", name);
	void *launch = dlsym(kernelLib, symbol);
	if (!launch) return fakeNotFound;
	*f = (CUfunction)launch;
	return fakeSuccess;
}

CUresult cuLaunchKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,
			unsigned int by, unsigned int bz, unsigned int shared, CUstream s, void **params, void **extra) {
	if (!kernelLib) return fakeNotSupported;
	if (!f || !isStream(s) || extra) return fakeInvalidValue;
	const unsigned int dims[6] = {gx, gy, gz, bx, by, bz};
	return ((emuLaunch)(void *)f)(dims, shared, params);
}

/* ---------------------------------------------------------------- cuBLAS */

static char blasHandle;

cublasStatus_t cublasCreate_v2(cublasHandle_t *handle) {
	*handle = (cublasHandle_t)&blasHandle;
	return 0;
}

cublasStatus_t cublasDestroy_v2(cublasHandle_t handle) { return handle == (cublasHandle_t)&blasHandle ? 0 : fakeBlasInvalidValue; }

cublasStatus_t cublasGetVersion_v2(cublasHandle_t handle, int *version) {
	if (handle != (cublasHandle_t)&blasHandle) return fakeBlasInvalidValue;
	*version = 120405;
	return 0;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
	(void)mode;
	return handle == (cublasHandle_t)&blasHandle ? 0 : fakeBlasInvalidValue;
}

cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t handle, void *workspace, size_t bytes) {
	return handle == (cublasHandle_t)&blasHandle && workspace && bytes > 0 ? 0 : fakeBlasInvalidValue;
}

cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, CUstream stream) {
	return handle == (cublasHandle_t)&blasHandle && isStream(stream) ? 0 : fakeBlasInvalidValue;
}

const char *cublasGetStatusName(cublasStatus_t status) {
	switch ((int)status) {
	case 0: return "CUBLAS_STATUS_SUCCESS";
	case fakeBlasInvalidValue: return "CUBLAS_STATUS_INVALID_VALUE";
	case fakeBlasNotSupported: return "CUBLAS_STATUS_NOT_SUPPORTED";
	}
	return "CUBLAS_STATUS_UNKNOWN";
}

size_t cublasLtGetVersion(void) { return 120405; }

/* TF32 keeps 10 of fp32's 23 mantissa bits: round to nearest, ties away
 * from zero, as the tensor cores' conversion does (finite values). */
static float toTF32(float f) {
	uint32_t bits;
	memcpy(&bits, &f, 4);
	bits = (bits + 0x1000u) & ~0x1fffu;
	memcpy(&f, &bits, 4);
	return f;
}

/* CUBLAS_COMPUTE_32F_FAST_16BF may round fp32 inputs to bf16 or to TF32;
 * the fake takes bf16, the coarser, rounding to nearest even as the
 * conversion instructions do (finite values). */
static float toBF16(float f) {
	uint32_t bits;
	memcpy(&bits, &f, 4);
	bits = (bits + 0x7fffu + ((bits >> 16) & 1u)) & 0xffff0000u;
	memcpy(&f, &bits, 4);
	return f;
}

static float loadValue(const void *p, int type, long long i) {
	if (type == fakeR32F) return ((const float *)p)[i];
	uint32_t bits = (uint32_t)((const uint16_t *)p)[i] << 16;
	float f;
	memcpy(&f, &bits, 4);
	return f;
}

static void storeValue(void *p, int type, long long i, double v) {
	float f = (float)v;
	if (type == fakeR32F) {
		((float *)p)[i] = f;
		return;
	}
	uint32_t bits;
	memcpy(&bits, &f, 4);
	bits += 0x7fff + ((bits >> 16) & 1); /* round to nearest even (finite values) */
	((uint16_t *)p)[i] = (uint16_t)(bits >> 16);
}

/*
 * C = alpha·op(A)·op(B) + beta·C in column-major order, as cuBLAS defines
 * it: op(A) is m×k (A is lda×k, or lda×m when transposed), op(B) k×n, C
 * ldc×n. Leading dimensions are checked as cuBLAS checks them.
 */
static cublasStatus_t gemm(cublasHandle_t handle, int transa, int transb, int m, int n, int k, float alpha,
			   const void *A, int atype, int lda, long long strideA, const void *B, int btype, int ldb,
			   long long strideB, float beta, void *C, int ctype, int ldc, long long strideC, int batch,
			   int compute) {
	if (handle != (cublasHandle_t)&blasHandle || m < 0 || n < 0 || k < 0 || batch < 1 || transa < 0 ||
	    transa > 2 || transb < 0 || transb > 2)
		return fakeBlasInvalidValue;
	int ta = transa != 0, tb = transb != 0;
	if (lda < (ta ? k : m) || lda < 1 || ldb < (tb ? n : k) || ldb < 1 || ldc < m || ldc < 1)
		return fakeBlasInvalidValue;
	for (int b = 0; b < batch; b++) {
		long long oa = b * strideA, ob = b * strideB, oc = b * strideC;
		for (int j = 0; j < n; j++) {
			for (int i = 0; i < m; i++) {
				double acc = 0;
				for (int l = 0; l < k; l++) {
					float x = loadValue(A, atype, oa + (ta ? l + (long long)i * lda : i + (long long)l * lda));
					float y = loadValue(B, btype, ob + (tb ? j + (long long)l * ldb : l + (long long)j * ldb));
					if (compute == fakeCompute32FFastTF32) x = toTF32(x), y = toTF32(y);
					if (compute == fakeCompute32FFastBF16) x = toBF16(x), y = toBF16(y);
					acc += (double)x * y;
				}
				long long ci = oc + i + (long long)j * ldc;
				double v = (double)alpha * acc;
				if (beta != 0) v += (double)beta * loadValue(C, ctype, ci);
				storeValue(C, ctype, ci, v);
			}
		}
	}
	return 0;
}

static int typesSupported(int atype, int btype, int ctype, int compute) {
	if (atype != btype) return 0;
	if (compute == fakeCompute32FFastTF32 || compute == fakeCompute32FFastBF16)
		return atype == fakeR32F && ctype == fakeR32F;
	if (compute != fakeCompute32F) return 0;
	if (atype == fakeR32F) return ctype == fakeR32F;
	return atype == fakeR16BF && (ctype == fakeR32F || ctype == fakeR16BF);
}

cublasStatus_t cublasSgemm_v2(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
			      int k, const float *alpha, const float *A, int lda, const float *B, int ldb, const float *beta,
			      float *C, int ldc) {
	return gemm(handle, transa, transb, m, n, k, *alpha, A, fakeR32F, lda, 0, B, fakeR32F, ldb, 0, *beta, C, fakeR32F,
		    ldc, 0, 1, fakeCompute32F);
}

cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
					 int m, int n, int k, const float *alpha, const float *A, int lda,
					 long long int strideA, const float *B, int ldb, long long int strideB,
					 const float *beta, float *C, int ldc, long long int strideC, int batchCount) {
	return gemm(handle, transa, transb, m, n, k, *alpha, A, fakeR32F, lda, strideA, B, fakeR32F, ldb, strideB, *beta,
		    C, fakeR32F, ldc, strideC, batchCount, fakeCompute32F);
}

cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
			    int k, const void *alpha, const void *A, cudaDataType Atype, int lda, const void *B,
			    cudaDataType Btype, int ldb, const void *beta, void *C, cudaDataType Ctype, int ldc,
			    cublasComputeType_t computeType, cublasGemmAlgo_t algo) {
	if (!typesSupported(Atype, Btype, Ctype, computeType) || (int)algo != -1) return fakeBlasNotSupported;
	return gemm(handle, transa, transb, m, n, k, *(const float *)alpha, A, Atype, lda, 0, B, Btype, ldb, 0,
		    *(const float *)beta, C, Ctype, ldc, 0, 1, computeType);
}

cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
					  int m, int n, int k, const void *alpha, const void *A, cudaDataType Atype,
					  int lda, long long int strideA, const void *B, cudaDataType Btype, int ldb,
					  long long int strideB, const void *beta, void *C, cudaDataType Ctype, int ldc,
					  long long int strideC, int batchCount, cublasComputeType_t computeType,
					  cublasGemmAlgo_t algo) {
	if (!typesSupported(Atype, Btype, Ctype, computeType) || (int)algo != -1) return fakeBlasNotSupported;
	return gemm(handle, transa, transb, m, n, k, *(const float *)alpha, A, Atype, lda, strideA, B, Btype, ldb,
		    strideB, *(const float *)beta, C, Ctype, ldc, strideC, batchCount, computeType);
}
