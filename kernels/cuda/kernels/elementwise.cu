// Elementwise kernels over flat arrays of n elements. Launch with any grid:
// each thread strides over the array.

template <typename T> __device__ void add_impl(T* out, const T* a, const T* b, long long n) {
    for (long long i = global_index(); i < n; i += global_stride())
        out[i] = from_f32<T>(to_f32(a[i]) + to_f32(b[i]));
}
template <typename T> __device__ void mul_impl(T* out, const T* a, const T* b, long long n) {
    for (long long i = global_index(); i < n; i += global_stride())
        out[i] = from_f32<T>(to_f32(a[i]) * to_f32(b[i]));
}
template <typename T> __device__ void scale_impl(T* out, const T* x, float s, long long n) {
    for (long long i = global_index(); i < n; i += global_stride())
        out[i] = from_f32<T>(s * to_f32(x[i]));
}

// out = a + b
extern "C" __global__ void add_f32(float* out, const float* a, const float* b, long long n) { add_impl(out, a, b, n); }
extern "C" __global__ void add_bf16(bf16* out, const bf16* a, const bf16* b, long long n) { add_impl(out, a, b, n); }
// out = a * b
extern "C" __global__ void mul_f32(float* out, const float* a, const float* b, long long n) { mul_impl(out, a, b, n); }
extern "C" __global__ void mul_bf16(bf16* out, const bf16* a, const bf16* b, long long n) { mul_impl(out, a, b, n); }
// out = s * x
extern "C" __global__ void scale_f32(float* out, const float* x, float s, long long n) { scale_impl(out, x, s, n); }
extern "C" __global__ void scale_bf16(bf16* out, const bf16* x, float s, long long n) { scale_impl(out, x, s, n); }

// Casts between the master (fp32) and forward (bf16) dtypes.
extern "C" __global__ void cast_f32_bf16(bf16* out, const float* x, long long n) {
    for (long long i = global_index(); i < n; i += global_stride()) out[i] = from_f32<bf16>(x[i]);
}
extern "C" __global__ void cast_bf16_f32(float* out, const bf16* x, long long n) {
    for (long long i = global_index(); i < n; i += global_stride()) out[i] = to_f32(x[i]);
}

// transpose: out[b][c][r] = in[b][r][c] for a batch of R x C matrices, in
// 32 x 32 tiles through shared memory. Grid (ceil(C/32), ceil(R/32), batch),
// block (32, 8).
template <typename T> __device__ void transpose_impl(T* out, const T* in, int R, int C) {
    __shared__ float tile[32][33];
    long long base = (long long)blockIdx.z * R * C;
    int c0 = blockIdx.x * 32, r0 = blockIdx.y * 32;
    for (int k = threadIdx.y; k < 32; k += 8) {
        int r = r0 + k, c = c0 + threadIdx.x;
        if (r < R && c < C) tile[k][threadIdx.x] = to_f32(in[base + (long long)r * C + c]);
    }
    __syncthreads();
    for (int k = threadIdx.y; k < 32; k += 8) {
        int c = c0 + k, r = r0 + threadIdx.x;
        if (r < R && c < C) out[base + (long long)c * R + r] = from_f32<T>(tile[threadIdx.x][k]);
    }
}
extern "C" __global__ void transpose_f32(float* out, const float* in, int R, int C) { transpose_impl(out, in, R, C); }
extern "C" __global__ void transpose_bf16(bf16* out, const bf16* in, int R, int C) { transpose_impl(out, in, R, C); }
