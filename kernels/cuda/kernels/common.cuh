// Prelude that the Go loader puts in front of every kernel file. NVRTC ships
// without the toolkit's headers (cuda_bf16.h and friends), so the few
// helpers the kernels need are defined here from the built-in intrinsics.
//
// Conventions for every kernel:
//  - extern "C" names, one per dtype: <op>_f32 and <op>_bf16;
//  - element counts are long long (TRM's activations exceed 2^31 elements);
//  - arithmetic in fp32 (fp64 where the reference computes in fp64), storage
//    in the named dtype;
//  - no atomics on floating point: results do not depend on scheduling.

// bf16 is bfloat16 as raw bits: the upper half of an IEEE binary32 (a
// struct of one unsigned short: size and alignment 2, like __nv_bfloat16).
struct bf16 {
    unsigned short bits;
};

__device__ __forceinline__ float to_f32(float x) { return x; }
__device__ __forceinline__ float to_f32(bf16 x) { return __uint_as_float(((unsigned int)x.bits) << 16); }

template <typename T> __device__ T from_f32(float x);
template <> __device__ __forceinline__ float from_f32<float>(float x) { return x; }
// Round to nearest, ties to even, as PyTorch's float->bfloat16 cast;
// NaN stays a quiet NaN of the same sign.
template <> __device__ __forceinline__ bf16 from_f32<bf16>(float x) {
    unsigned int u = __float_as_uint(x);
    bf16 r;
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        r.bits = (unsigned short)((u >> 16) | 0x0040u);
        return r;
    }
    u += 0x7fffu + ((u >> 16) & 1u);
    r.bits = (unsigned short)(u >> 16);
    return r;
}

__device__ __forceinline__ long long global_index() {
    return (long long)blockIdx.x * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ long long global_stride() {
    return (long long)gridDim.x * blockDim.x;
}

template <typename A> __device__ __forceinline__ A warp_sum(A v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// block_sum returns the sum of v over the block to every thread. scratch
// holds at least 32 values; blockDim.x is a multiple of 32.
template <typename A> __device__ A block_sum(A v, A* scratch) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    if (warp == 0) {
        A w = lane < warps ? scratch[lane] : (A)0;
        w = warp_sum(w);
        if (lane == 0) scratch[0] = w;
    }
    __syncthreads();
    return scratch[0];
}

__device__ float block_max(float v, float* scratch) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float w = lane < warps ? scratch[lane] : scratch[0];
        w = warp_max(w);
        if (lane == 0) scratch[0] = w;
    }
    __syncthreads();
    return scratch[0];
}

// -infinity without math.h.
#define NEG_INF __int_as_float(0xff800000)
