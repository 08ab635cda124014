// Embedding lookups and their gradients. Tables are fp32 master weights.

// out[i, :] = scale * table[ids[i], :], in the output dtype. An id outside
// [0, V) yields a row of NaN, so that a bad id poisons the loss loudly
// instead of reading another row. Thread per output element.
template <typename T>
__device__ void embedding_fwd_impl(T* out, const float* table, const int* ids, long long N, int D, int V, float scale) {
    long long n = N * D;
    for (long long i = global_index(); i < n; i += global_stride()) {
        long long r = i / D;
        int j = (int)(i - r * D);
        int id = ids[r];
        float v = (id >= 0 && id < V) ? scale * table[(long long)id * D + j] : __int_as_float(0x7fc00000);
        out[i] = from_f32<T>(v);
    }
}

// Gradient of the lookup, deterministic: the host groups the rows by id
// (order lists the rows of dout sorted by id, offsets[u]..offsets[u+1] the
// rows of the u-th distinct id uids[u]), and each block sums one id's rows
// in that fixed order, with no atomics:
//   dst[dstRow(u), :] += scale * sum_{k in group u} dout[order[k], :]
// dstRow(u) = uids[u] when byID != 0 (accumulate into a [V, D] table
// gradient), else u (a compact [U, D] gradient for the sparse optimiser).
// Grid (U, ceil(D / blockDim.x)).
template <typename T>
__device__ void embedding_bwd_impl(float* dst, const T* dout, const int* order, const int* offsets, const int* uids, int D,
                                   float scale, int byID) {
    int u = blockIdx.x;
    int j = blockIdx.y * blockDim.x + threadIdx.x;
    if (j >= D) return;
    float acc = 0.0f;
    for (int k = offsets[u]; k < offsets[u + 1]; k++) acc += to_f32(dout[(long long)order[k] * D + j]);
    long long row = byID ? uids[u] : u;
    dst[row * D + j] += scale * acc;
}

extern "C" __global__ void embedding_fwd_f32(float* out, const float* table, const int* ids, long long N, int D, int V, float scale) {
    embedding_fwd_impl(out, table, ids, N, D, V, scale);
}
extern "C" __global__ void embedding_fwd_bf16(bf16* out, const float* table, const int* ids, long long N, int D, int V, float scale) {
    embedding_fwd_impl(out, table, ids, N, D, V, scale);
}
extern "C" __global__ void embedding_bwd_f32(float* dst, const float* dout, const int* order, const int* offsets, const int* uids,
                                             int D, float scale, int byID) {
    embedding_bwd_impl(dst, dout, order, offsets, uids, D, scale, byID);
}
extern "C" __global__ void embedding_bwd_bf16(float* dst, const bf16* dout, const int* order, const int* offsets, const int* uids,
                                              int D, float scale, int byID) {
    embedding_bwd_impl(dst, dout, order, offsets, uids, D, scale, byID);
}

// dst[ids[i], :] = rows[i, :] for N ids: rows of a table that the host
// changed (the sparse optimiser's), sent to the device in one transfer and
// put in place here. A repeated id's rows hold the same values (packed from
// one host row), so the order of their writes does not matter. Thread per
// element.
extern "C" __global__ void set_rows_f32(float* dst, const float* rows, const int* ids, long long N, int D) {
    long long n = N * D;
    for (long long i = global_index(); i < n; i += global_stride()) {
        long long r = i / D;
        dst[(long long)ids[r] * D + (i - r * D)] = rows[i];
    }
}
