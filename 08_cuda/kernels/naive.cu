// The lesson's kernel, on the GPU: one thread per element of c.
//
// c = a @ b with a: (m, k), b: (k, n), c: (m, n), all row-major and contiguous.
// Launch: block (16, 16), grid (ceil(m / 16), ceil(n / 16)) — the lesson's TPB = 16.
//
// As in numba's `i, j = cuda.grid(2)`, x numbers the rows of c and y its columns. The 32
// threads of a warp are consecutive in x, so they work on 16 different rows (and 2 columns):
// each load of a[i, p] touches 16 rows k floats apart, and each store to c 16 rows n floats
// apart — one memory transaction per thread instead of one per warp. That is what §3 fixes.
extern "C" __global__ void matmul_naive(const float *a, const float *b, float *c, int m, int n,
                                        int k) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    const int j = blockIdx.y * blockDim.y + threadIdx.y;
    if (i < m && j < n) {
        float tmp = 0.0f;
        for (int p = 0; p < k; ++p) {
            tmp += a[(long long)i * k + p] * b[(long long)p * n + j];
        }
        c[(long long)i * n + j] = tmp;
    }
}
