/*
 * emucuda.h: what a kernel source needs from CUDA C, so that g++ compiles
 * the embedded kernels unchanged and the fake driver (fakecuda.c) runs them
 * on the host, one block at a time, every CUDA thread a fiber (emucuda.cpp).
 *
 * This is a test of the kernels' logic (indexing, grid-stride loops, block
 * reductions, warp shuffles, the host's launch shapes and arguments), not of
 * the hardware: fp32 arithmetic follows the host's rounding (no fused
 * multiply-adds unless the source asks for fmaf) and timings mean nothing.
 *
 * How the CUDA constructs map:
 *  - __shared__ is `static`: blocks run one after another, and the fibers
 *    of a block share the function's statics as a block shares its memory
 *    (poisoned before each block, see below);
 *  - threadIdx is the running fiber's index; blockIdx, blockDim and gridDim
 *    are the launch's, set by the scheduler;
 *  - __syncthreads() waits for every thread of the block still running, a
 *    warp shuffle for the 32 threads of its warp; a barrier that some
 *    threads never reach stops the launch with an error instead of hanging.
 *
 * Only the built-ins the kernels use are here; a kernel that starts using
 * another (atomicAdd, __ldg, warpSize, ...) fails to compile in the test,
 * naming it, until it is added below.
 */
#ifndef EMUCUDA_H
#define EMUCUDA_H

#include <math.h>
#include <stddef.h>
#include <string.h>

#include <utility>

struct emu_dim3 {
	unsigned int x, y, z;
};

extern emu_dim3 emu_grid_dim, emu_block_dim, emu_block_idx;
extern const emu_dim3 *emu_thread_idx;

void emu_syncthreads();
void emu_shfl_xor(const void *in, void *out, size_t size, unsigned int mask, int laneMask, int width);

// emu_run runs body(params) once per thread of the launch. dims holds the
// grid's x, y, z and then the block's. It returns 0, or a CUresult code
// (CUDA_ERROR_INVALID_VALUE for shapes a GPU refuses,
// CUDA_ERROR_LAUNCH_FAILED for a deadlock or a misused shuffle, after
// printing why on stderr).
int emu_run(const char *kernel, const unsigned int *dims, unsigned int sharedBytes, void (*body)(void **), void **params);

#define __global__
#define __device__
#define __forceinline__ inline
// Every __shared__ variable goes to the section emu_shared, which the
// scheduler fills with 0xff bytes (NaN, -1) before each block: a read of
// shared memory that no thread of the block wrote shows up in the results
// instead of passing with the last block's value.
#define __shared__ static __attribute__((section("emu_shared")))
#define threadIdx (*emu_thread_idx)
#define blockIdx emu_block_idx
#define blockDim emu_block_dim
#define gridDim emu_grid_dim
#define __syncthreads() emu_syncthreads()

inline float __uint_as_float(unsigned int u) {
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}
inline float __int_as_float(int i) {
	float f;
	memcpy(&f, &i, sizeof f);
	return f;
}
inline unsigned int __float_as_uint(float f) {
	unsigned int u;
	memcpy(&u, &f, sizeof u);
	return u;
}

template <typename T> inline T __shfl_xor_sync(unsigned int mask, T v, int laneMask, int width = 32) {
	static_assert(sizeof(T) <= 8, "shuffles move at most 8 bytes");
	T out;
	emu_shfl_xor(&v, &out, sizeof(T), mask, laneMask, width);
	return out;
}

// emu_invoke calls kernel k with the arguments cuLaunchKernel's params
// point at, each read as the kernel's own parameter type.
template <typename... A, size_t... I> inline void emu_invoke_seq(void (*k)(A...), void **p, std::index_sequence<I...>) {
	(void)p;
	k(*static_cast<A *>(p[I])...);
}
template <typename... A> inline void emu_invoke(void (*k)(A...), void **p) {
	emu_invoke_seq(k, p, std::index_sequence_for<A...>{});
}

// EMU_KERNEL(name) exports emu_launch_<name>, which the fake driver's
// cuModuleGetFunction finds by name.
#define EMU_KERNEL(name)                                                                                               \
	extern "C" int emu_launch_##name(const unsigned int *dims, unsigned int sharedBytes, void **params) {          \
		return emu_run(#name, dims, sharedBytes, [](void **p) { emu_invoke(name, p); }, params);                  \
	}

#endif
