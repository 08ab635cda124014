// Row softmax for attention probabilities: y = softmax(scale * x) over the
// last axis of C elements, fp32 math. One block per row; blockDim.x a
// multiple of 32.

template <typename T> __device__ void softmax_fwd_impl(T* y, const T* x, int C, float scale) {
    __shared__ float scratch[32];
    long long row = blockIdx.x;
    const T* xr = x + row * C;
    float m = NEG_INF;
    for (int j = threadIdx.x; j < C; j += blockDim.x) m = fmaxf(m, scale * to_f32(xr[j]));
    m = block_max(m, scratch);
    float s = 0.0f;
    for (int j = threadIdx.x; j < C; j += blockDim.x) s += expf(scale * to_f32(xr[j]) - m);
    s = block_sum(s, scratch);
    float inv = 1.0f / s;
    for (int j = threadIdx.x; j < C; j += blockDim.x) y[row * C + j] = from_f32<T>(expf(scale * to_f32(xr[j]) - m) * inv);
}

// Backward from the saved output: dx = scale * y * (dy - sum(dy * y)).
template <typename T> __device__ void softmax_bwd_impl(T* dx, const T* dy, const T* y, int C, float scale) {
    __shared__ float scratch[32];
    long long row = blockIdx.x;
    float dot = 0.0f;
    for (int j = threadIdx.x; j < C; j += blockDim.x) dot += to_f32(dy[row * C + j]) * to_f32(y[row * C + j]);
    dot = block_sum(dot, scratch);
    for (int j = threadIdx.x; j < C; j += blockDim.x) {
        long long o = row * C + j;
        dx[o] = from_f32<T>(scale * to_f32(y[o]) * (to_f32(dy[o]) - dot));
    }
}

extern "C" __global__ void softmax_fwd_f32(float* y, const float* x, int C, float scale) { softmax_fwd_impl(y, x, C, scale); }
extern "C" __global__ void softmax_fwd_bf16(bf16* y, const bf16* x, int C, float scale) { softmax_fwd_impl(y, x, C, scale); }
extern "C" __global__ void softmax_bwd_f32(float* dx, const float* dy, const float* y, int C, float scale) { softmax_bwd_impl(dx, dy, y, C, scale); }
extern "C" __global__ void softmax_bwd_bf16(bf16* dx, const bf16* dy, const bf16* y, int C, float scale) { softmax_bwd_impl(dx, dy, y, C, scale); }
