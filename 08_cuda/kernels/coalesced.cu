// The same arithmetic as naive.cu, with x numbering the columns of c.
//
// c = a @ b with a: (m, k), b: (k, n), c: (m, n), all row-major and contiguous.
// Launch: block (32, 8), grid (ceil(n / 32), ceil(m / 8)).
//
// The 32 threads of a warp now share one row i and take 32 consecutive columns j, so
// - a[i, p] is the same address for the whole warp: one load, broadcast;
// - b[p, j .. j + 32] is 128 contiguous bytes: one coalesced transaction;
// - the stores to c[i, j .. j + 32] are coalesced too.
// Nothing else changed: each thread still reads 2k floats from global memory (L1/L2 catch
// most of the reuse) for its k multiply-adds.
extern "C" __global__ void matmul_coalesced(const float *__restrict__ a,
                                            const float *__restrict__ b, float *__restrict__ c,
                                            int m, int n, int k) {
    const int j = blockIdx.x * blockDim.x + threadIdx.x;
    const int i = blockIdx.y * blockDim.y + threadIdx.y;
    if (i < m && j < n) {
        float tmp = 0.0f;
        for (int p = 0; p < k; ++p) {
            tmp += a[(long long)i * k + p] * b[(long long)p * n + j];
        }
        c[(long long)i * n + j] = tmp;
    }
}
