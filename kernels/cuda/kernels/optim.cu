// Optimiser updates on fp32 master weights.

// AdamATan2 (a = b = 1), one step, as the reference's fused kernel. The
// per-tensor scalars are computed on the host in fp64 and passed as fp32:
// wdA = 1 - lr*wd, t1 = 1 - beta1, t2 = 1 - beta2,
// rbc1 = 1 / (1 - beta1^step), sbc2 = sqrt(1 - beta2^step).
extern "C" __global__ void adam_atan2_f32(float* p, const float* g, float* m, float* v, long long n, float lr, float wdA, float t1,
                                          float t2, float rbc1, float sbc2) {
    for (long long i = global_index(); i < n; i += global_stride()) {
        float gi = g[i];
        float pi = p[i] * wdA;
        float mi = fmaf(t1, gi, fmaf(-t1, m[i], m[i]));
        float vi = fmaf(t2, gi * gi, fmaf(-t2, v[i], v[i]));
        m[i] = mi;
        v[i] = vi;
        p[i] = pi - lr * atan2f(rbc1 * mi, sqrtf(vi) / sbc2);
    }
}

// Sign-SGD on the rows of a sparse embedding table that the batch used:
// w[uids[u], :] = w[uids[u], :] * decay - lr * sign(g[u, :]), decay = 1 - lr*wd,
// sign(0) = 0. g is the compact [U, D] gradient summed per distinct id.
extern "C" __global__ void sparse_signsgd_f32(float* w, const float* g, const int* uids, int U, int D, float lr, float decay) {
    long long n = (long long)U * D;
    for (long long i = global_index(); i < n; i += global_stride()) {
        int u = (int)(i / D), j = (int)(i - (long long)u * D);
        float gi = g[i];
        float s = gi > 0.0f ? 1.0f : (gi < 0.0f ? -1.0f : 0.0f);
        long long o = (long long)uids[u] * D + j;
        w[o] = w[o] * decay - lr * s;
    }
}

// Exponential moving average of the weights: shadow = (1 - mu) p + mu shadow.
extern "C" __global__ void ema_f32(float* shadow, const float* p, long long n, float mu) {
    for (long long i = global_index(); i < n; i += global_stride()) shadow[i] = (1.0f - mu) * p[i] + mu * shadow[i];
}
