// RMSNorm without weight over the last axis, computed in fp32:
// y = x * rstd, rstd = 1 / sqrt(mean(x^2) + eps). One block per row;
// blockDim.x a multiple of 32.

template <typename T> __device__ void rmsnorm_fwd_impl(T* y, float* rstd, const T* x, int D, float eps) {
    __shared__ float scratch[32];
    long long row = blockIdx.x;
    const T* xr = x + row * D;
    float ss = 0.0f;
    for (int j = threadIdx.x; j < D; j += blockDim.x) {
        float v = to_f32(xr[j]);
        ss += v * v;
    }
    ss = block_sum(ss, scratch);
    float r = 1.0f / sqrtf(ss / (float)D + eps);
    for (int j = threadIdx.x; j < D; j += blockDim.x) y[row * D + j] = from_f32<T>(to_f32(xr[j]) * r);
    if (rstd != 0 && threadIdx.x == 0) rstd[row] = r;
}

// Backward from the saved output y and rstd, as the CPU backend takes it
// (the input need not be kept): dx = rstd * (dy - y * mean(dy * y)).
template <typename T> __device__ void rmsnorm_bwd_impl(T* dx, const T* dy, const T* y, const float* rstd, int D) {
    __shared__ float scratch[32];
    long long row = blockIdx.x;
    float r = rstd[row];
    float dot = 0.0f;
    for (int j = threadIdx.x; j < D; j += blockDim.x) dot += to_f32(dy[row * D + j]) * to_f32(y[row * D + j]);
    dot = block_sum(dot, scratch) / (float)D;
    for (int j = threadIdx.x; j < D; j += blockDim.x)
        dx[row * D + j] = from_f32<T>(r * (to_f32(dy[row * D + j]) - to_f32(y[row * D + j]) * dot));
}

extern "C" __global__ void rmsnorm_fwd_f32(float* y, float* rstd, const float* x, int D, float eps) { rmsnorm_fwd_impl(y, rstd, x, D, eps); }
extern "C" __global__ void rmsnorm_fwd_bf16(bf16* y, float* rstd, const bf16* x, int D, float eps) { rmsnorm_fwd_impl(y, rstd, x, D, eps); }
extern "C" __global__ void rmsnorm_bwd_f32(float* dx, const float* dy, const float* y, const float* rstd, int D) { rmsnorm_bwd_impl(dx, dy, y, rstd, D); }
extern "C" __global__ void rmsnorm_bwd_bf16(bf16* dx, const bf16* dy, const bf16* y, const float* rstd, int D) { rmsnorm_bwd_impl(dx, dy, y, rstd, D); }
