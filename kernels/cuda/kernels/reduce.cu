// Deterministic reductions: fixed partitions and fixed-order tree sums, so
// the result depends only on the input and the launch shape.

// sum_partial: block b sums its contiguous chunk of x in fp64 and writes
// parts[b]. Launch with a fixed grid (the Go side uses at most 1024 blocks)
// and blockDim.x a multiple of 32.
template <typename T> __device__ void sum_partial_impl(double* parts, const T* x, long long n) {
    __shared__ double scratch[32];
    long long chunk = (n + gridDim.x - 1) / gridDim.x;
    long long lo = (long long)blockIdx.x * chunk, hi = lo + chunk < n ? lo + chunk : n;
    double s = 0.0;
    for (long long i = lo + threadIdx.x; i < hi; i += blockDim.x) s += (double)to_f32(x[i]);
    s = block_sum(s, scratch);
    if (threadIdx.x == 0) parts[blockIdx.x] = s;
}
extern "C" __global__ void sum_partial_f32(double* parts, const float* x, long long n) { sum_partial_impl(parts, x, n); }
extern "C" __global__ void sum_partial_bf16(double* parts, const bf16* x, long long n) { sum_partial_impl(parts, x, n); }
extern "C" __global__ void sum_partial_f64(double* parts, const double* x, long long n) {
    __shared__ double scratch[32];
    long long chunk = (n + gridDim.x - 1) / gridDim.x;
    long long lo = (long long)blockIdx.x * chunk, hi = lo + chunk < n ? lo + chunk : n;
    double s = 0.0;
    for (long long i = lo + threadIdx.x; i < hi; i += blockDim.x) s += x[i];
    s = block_sum(s, scratch);
    if (threadIdx.x == 0) parts[blockIdx.x] = s;
}

// sum_rows: out[c] = sum_r x[r, c] for x [R, C] (bias gradients), one thread
// per column summing rows in order.
template <typename T> __device__ void sum_rows_impl(float* out, const T* x, long long R, int C) {
    for (long long c = global_index(); c < C; c += global_stride()) {
        double s = 0.0;
        for (long long r = 0; r < R; r++) s += (double)to_f32(x[r * C + c]);
        out[c] = (float)s;
    }
}
extern "C" __global__ void sum_rows_f32(float* out, const float* x, long long R, int C) { sum_rows_impl(out, x, R, C); }
extern "C" __global__ void sum_rows_bf16(float* out, const bf16* x, long long R, int C) { sum_rows_impl(out, x, R, C); }
