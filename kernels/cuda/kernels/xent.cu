// Cross-entropy losses over the vocabulary axis, fused with their gradient.
// logits: [rows, V]; labels: [rows] int32, ignoreIndex (-100) = no loss;
// rowScale: [rows] fp64 gradient scale per row (e.g. 1 / valid tokens of the
// sequence / batch size), or null for 1. loss: [rows] fp64 (0 for ignored
// rows); dlogits: [rows, V] fp32 (all zero for ignored rows), or null to
// skip the gradient. One thread per row: V is the small puzzle vocabulary.

// stablemax: s(x) = x + 1 for x >= 0, 1 / (1 - x + 1e-30) for x < 0;
// p_v = s(x_v) / sum_u s(x_u); loss = -log p_label, all in fp64 as the
// reference. Gradient: d loss / d x_v = s'(x_v) / S - [v == label] s'(x_v) / s(x_v),
// s'(x) = 1 for x >= 0 and 1 / (1 - x + 1e-30)^2 below.
__device__ __forceinline__ double stable_s(double x) { return x >= 0.0 ? x + 1.0 : 1.0 / (1.0 - x + 1e-30); }
__device__ __forceinline__ double stable_ds(double x) {
    if (x >= 0.0) return 1.0;
    double t = 1.0 - x + 1e-30;
    return 1.0 / (t * t);
}

template <typename T>
__device__ void stablemax_xent_impl(double* loss, float* dlogits, const T* logits, const int* labels, const double* rowScale,
                                    long long rows, int V, int ignoreIndex) {
    for (long long r = global_index(); r < rows; r += global_stride()) {
        const T* x = logits + r * V;
        int lab = labels[r];
        bool valid = lab != ignoreIndex && lab >= 0 && lab < V;
        double S = 0.0;
        for (int v = 0; v < V; v++) S += stable_s((double)to_f32(x[v]));
        double xl = valid ? (double)to_f32(x[lab]) : 0.0;
        loss[r] = valid ? log(S) - log(stable_s(xl)) : 0.0;
        if (dlogits == 0) continue;
        double sc = rowScale != 0 ? rowScale[r] : 1.0;
        for (int v = 0; v < V; v++) {
            double xv = (double)to_f32(x[v]);
            double g = stable_ds(xv) / S;
            if (v == lab) g -= stable_ds(xv) / stable_s(xv);
            dlogits[r * V + v] = valid ? (float)(sc * g) : 0.0f;
        }
    }
}

// softmax: loss = logsumexp(x) - x_label in fp32; d loss / d x_v = p_v - [v == label].
template <typename T>
__device__ void softmax_xent_impl(double* loss, float* dlogits, const T* logits, const int* labels, const double* rowScale,
                                  long long rows, int V, int ignoreIndex) {
    for (long long r = global_index(); r < rows; r += global_stride()) {
        const T* x = logits + r * V;
        int lab = labels[r];
        bool valid = lab != ignoreIndex && lab >= 0 && lab < V;
        float m = NEG_INF;
        for (int v = 0; v < V; v++) m = fmaxf(m, to_f32(x[v]));
        float s = 0.0f;
        for (int v = 0; v < V; v++) s += expf(to_f32(x[v]) - m);
        float lse = m + logf(s);
        loss[r] = valid ? (double)(lse - to_f32(x[lab])) : 0.0;
        if (dlogits == 0) continue;
        float sc = rowScale != 0 ? (float)rowScale[r] : 1.0f;
        for (int v = 0; v < V; v++) {
            float g = expf(to_f32(x[v]) - lse) - (v == lab ? 1.0f : 0.0f);
            dlogits[r * V + v] = valid ? sc * g : 0.0f;
        }
    }
}

// argmax over the last axis; the first index wins ties (as torch.argmax).
template <typename T> __device__ void argmax_impl(int* out, const T* x, long long rows, int V) {
    for (long long r = global_index(); r < rows; r += global_stride()) {
        int best = 0;
        float bv = to_f32(x[r * V]);
        for (int v = 1; v < V; v++) {
            float xv = to_f32(x[r * V + v]);
            if (xv > bv) {
                bv = xv;
                best = v;
            }
        }
        out[r] = best;
    }
}

extern "C" __global__ void stablemax_xent_f32(double* loss, float* dlogits, const float* logits, const int* labels,
                                              const double* rowScale, long long rows, int V, int ignoreIndex) {
    stablemax_xent_impl(loss, dlogits, logits, labels, rowScale, rows, V, ignoreIndex);
}
extern "C" __global__ void stablemax_xent_bf16(double* loss, float* dlogits, const bf16* logits, const int* labels,
                                               const double* rowScale, long long rows, int V, int ignoreIndex) {
    stablemax_xent_impl(loss, dlogits, logits, labels, rowScale, rows, V, ignoreIndex);
}
extern "C" __global__ void softmax_xent_f32(double* loss, float* dlogits, const float* logits, const int* labels,
                                            const double* rowScale, long long rows, int V, int ignoreIndex) {
    softmax_xent_impl(loss, dlogits, logits, labels, rowScale, rows, V, ignoreIndex);
}
extern "C" __global__ void softmax_xent_bf16(double* loss, float* dlogits, const bf16* logits, const int* labels,
                                             const double* rowScale, long long rows, int V, int ignoreIndex) {
    softmax_xent_impl(loss, dlogits, logits, labels, rowScale, rows, V, ignoreIndex);
}
extern "C" __global__ void argmax_f32(int* out, const float* x, long long rows, int V) { argmax_impl(out, x, rows, V); }
extern "C" __global__ void argmax_bf16(int* out, const bf16* x, long long rows, int V) { argmax_impl(out, x, rows, V); }
