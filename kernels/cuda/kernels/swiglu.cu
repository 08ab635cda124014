// SwiGLU on the output of the fused gate/up projection.
// gu: [rows, 2I], the first I features the gate g, the last I the up u.
// out: [rows, I] = silu(g) * u, silu(g) = g * sigmoid(g).

__device__ __forceinline__ float sigmoidf(float g) { return 1.0f / (1.0f + expf(-g)); }

template <typename T> __device__ void swiglu_fwd_impl(T* out, const T* gu, long long rows, long long I) {
    long long n = rows * I;
    for (long long i = global_index(); i < n; i += global_stride()) {
        long long r = i / I, j = i - r * I;
        float g = to_f32(gu[r * 2 * I + j]), u = to_f32(gu[r * 2 * I + I + j]);
        out[i] = from_f32<T>(g * sigmoidf(g) * u);
    }
}

// Backward: dgu[:, :I] = dout * u * silu'(g), dgu[:, I:] = dout * silu(g),
// silu'(g) = s (1 + g (1 - s)) with s = sigmoid(g).
template <typename T> __device__ void swiglu_bwd_impl(T* dgu, const T* dout, const T* gu, long long rows, long long I) {
    long long n = rows * I;
    for (long long i = global_index(); i < n; i += global_stride()) {
        long long r = i / I, j = i - r * I;
        float g = to_f32(gu[r * 2 * I + j]), u = to_f32(gu[r * 2 * I + I + j]);
        float d = to_f32(dout[i]);
        float s = sigmoidf(g);
        dgu[r * 2 * I + j] = from_f32<T>(d * u * s * (1.0f + g * (1.0f - s)));
        dgu[r * 2 * I + I + j] = from_f32<T>(d * g * s);
    }
}

extern "C" __global__ void swiglu_fwd_f32(float* out, const float* gu, long long rows, long long I) { swiglu_fwd_impl(out, gu, rows, I); }
extern "C" __global__ void swiglu_fwd_bf16(bf16* out, const bf16* gu, long long rows, long long I) { swiglu_fwd_impl(out, gu, rows, I); }
extern "C" __global__ void swiglu_bwd_f32(float* dgu, const float* dout, const float* gu, long long rows, long long I) { swiglu_bwd_impl(dgu, dout, gu, rows, I); }
extern "C" __global__ void swiglu_bwd_bf16(bf16* dgu, const bf16* dout, const bf16* gu, long long rows, long long I) { swiglu_bwd_impl(dgu, dout, gu, rows, I); }
