// Rotary position embedding, half-split convention: within each head of
// width d, element i pairs with i + d/2. cos and sin are [L, d] fp32 tables
// (the two halves equal, as built by the reference). x holds rows = B*L
// token rows of rowStride elements; the first `heads` heads of width d in
// each row are rotated (q and k of the fused qkv projection), the rest left
// alone. Row r is at position r % L. out may equal x.
//   forward:  y1 = x1 cos - x2 sin,   y2 = x2 cos + x1 sin
//   backward: dx1 = dy1 cos + dy2 sin, dx2 = dy2 cos - dy1 sin

template <typename T>
__device__ void rope_impl(T* out, const T* x, const float* cosT, const float* sinT, long long rows, int L, int heads,
                          long long rowStride, int d, float sign) {
    int half = d / 2;
    long long n = rows * heads * half;
    for (long long i = global_index(); i < n; i += global_stride()) {
        long long r = i / ((long long)heads * half);
        int rem = (int)(i - r * heads * half);
        int h = rem / half, k = rem - h * half;
        int pos = (int)(r % L);
        long long o = r * rowStride + (long long)h * d + k;
        float x1 = to_f32(x[o]), x2 = to_f32(x[o + half]);
        float c1 = cosT[pos * d + k], c2 = cosT[pos * d + k + half];
        float s1 = sign * sinT[pos * d + k], s2 = sign * sinT[pos * d + k + half];
        out[o] = from_f32<T>(x1 * c1 - x2 * s1);
        out[o + half] = from_f32<T>(x2 * c2 + x1 * s2);
    }
}

extern "C" __global__ void rope_fwd_f32(float* out, const float* x, const float* cosT, const float* sinT, long long rows, int L,
                                        int heads, long long rowStride, int d) {
    rope_impl(out, x, cosT, sinT, rows, L, heads, rowStride, d, 1.0f);
}
extern "C" __global__ void rope_fwd_bf16(bf16* out, const bf16* x, const float* cosT, const float* sinT, long long rows, int L,
                                         int heads, long long rowStride, int d) {
    rope_impl(out, x, cosT, sinT, rows, L, heads, rowStride, d, 1.0f);
}
// The backward pass is the rotation by the opposite angle.
extern "C" __global__ void rope_bwd_f32(float* dx, const float* dy, const float* cosT, const float* sinT, long long rows, int L,
                                        int heads, long long rowStride, int d) {
    rope_impl(dx, dy, cosT, sinT, rows, L, heads, rowStride, d, -1.0f);
}
extern "C" __global__ void rope_bwd_bf16(bf16* dx, const bf16* dy, const float* cosT, const float* sinT, long long rows, int L,
                                         int heads, long long rowStride, int d) {
    rope_impl(dx, dy, cosT, sinT, rows, L, heads, rowStride, d, -1.0f);
}
