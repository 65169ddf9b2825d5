// For tall, skinny products such as MNIST's (50000, 784) @ (784, 10): one thread per
// row of c, b's columns in shared memory, a streamed through in whole cache lines.
//
// c = a @ b with a: (m, k), b: (k, n), c: (m, n), all row-major and contiguous.
// Launch: block 128 threads, grid (ceil(n / 16), ceil(m / 128)).
//
// With n = 10 there is almost no arithmetic to share out: 157 MB of a must stream from HBM
// once, and the kernel is as fast as it keeps enough loads in flight. Each thread owns one row
// of a block's 16 columns of c, in 16 registers. b's slice (256 rows x 16 columns at a time,
// zero-padded) sits in shared memory, where every thread of a warp reads the same address at
// the same time: a broadcast, no conflicts. Each thread loads 32 consecutive floats of its row
// of a (8 float4s: one full 128-byte line) before using any, so a multiprocessor has tens of
// kilobytes of loads in flight, enough to cover HBM's latency at full bandwidth.
//
// For wide b (n > 16) the grid has one column of blocks per 16 columns and each re-reads a:
// correct, but this kernel is meant for n <= 16.

#define ROWS 128 // threads per block, one row of c each
#define COLS 16  // columns of c per block
#define KC 256   // rows of b staged in shared memory at a time
#define KSTEP 32 // floats of a's row loaded before they are used

extern "C" __global__ void __launch_bounds__(ROWS)
    matmul_rowwise_16(const float *__restrict__ a, const float *__restrict__ b,
                      float *__restrict__ c, int m, int n, int k) {
    __shared__ __align__(16) float b_tile[KC][COLS];
    const int row = blockIdx.y * ROWS + threadIdx.x;
    const int col0 = blockIdx.x * COLS;
    const bool a_aligned = (k % 4) == 0;
    const float *a_row = a + (long long)row * k; // dereferenced only when row < m

    float acc[COLS];
#pragma unroll
    for (int j = 0; j < COLS; ++j) acc[j] = 0.0f;

    for (int k0 = 0; k0 < k; k0 += KC) {
        // Every thread takes part in staging b (and in the barriers), even past the last row.
        for (int idx = threadIdx.x; idx < KC * COLS; idx += ROWS) {
            const int p = idx / COLS, j = idx % COLS;
            b_tile[p][j] =
                (k0 + p < k && col0 + j < n) ? b[(long long)(k0 + p) * n + col0 + j] : 0.0f;
        }
        __syncthreads();
        if (row < m) {
            const int rows_here = min(KC, k - k0); // b_tile rows past this are zeros
            for (int p = 0; p < rows_here; p += KSTEP) {
                float a_reg[KSTEP];
#pragma unroll
                for (int q = 0; q < KSTEP; q += 4) {
                    const int col = k0 + p + q;
                    float4 v;
                    if (a_aligned && col + 3 < k) {
                        v = *reinterpret_cast<const float4 *>(a_row + col);
                    } else {
                        v.x = col + 0 < k ? a_row[col + 0] : 0.0f;
                        v.y = col + 1 < k ? a_row[col + 1] : 0.0f;
                        v.z = col + 2 < k ? a_row[col + 2] : 0.0f;
                        v.w = col + 3 < k ? a_row[col + 3] : 0.0f;
                    }
                    a_reg[q + 0] = v.x;
                    a_reg[q + 1] = v.y;
                    a_reg[q + 2] = v.z;
                    a_reg[q + 3] = v.w;
                }
#pragma unroll
                for (int q = 0; q < KSTEP; ++q) {
                    // p + q < KC: p steps by KSTEP, which divides KC.
                    const float4 *b_row = reinterpret_cast<const float4 *>(b_tile[p + q]);
#pragma unroll
                    for (int j = 0; j < COLS / 4; ++j) {
                        const float4 bv = b_row[j];
                        acc[4 * j + 0] += a_reg[q] * bv.x;
                        acc[4 * j + 1] += a_reg[q] * bv.y;
                        acc[4 * j + 2] += a_reg[q] * bv.z;
                        acc[4 * j + 3] += a_reg[q] * bv.w;
                    }
                }
            }
        }
        __syncthreads(); // everyone is done with b_tile before it is refilled
    }

    if (row < m) {
        float *dst = c + (long long)row * n;
#pragma unroll
        for (int j = 0; j < COLS; ++j) {
            if (col0 + j < n) dst[col0 + j] = acc[j];
        }
    }
}

#undef ROWS
#undef COLS
#undef KC
#undef KSTEP
