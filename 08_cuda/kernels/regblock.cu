// 2-D register blocking with vectorised (float4) loads.
//
// c = a @ b with a: (m, k), b: (k, n), c: (m, n), all row-major and contiguous.
// Launch (one-dimensional blocks): block (BM / TM) * (BN / TN) threads,
// grid (ceil(n / BN), ceil(m / BM)).
//
// Tiling (§4) made every global load serve 32 multiply-adds, but each multiply-add still
// needs two shared-memory loads. Here every thread computes a TM x TN patch of c held in
// registers: per step p along k it loads TM values of a's column and TN values of b's row into
// registers and does TM * TN multiply-adds with them — 64 FMAs for 16 shared loads with 8 x 8.
// The block's tile grows to BM x BN (128 x 128), so each float fetched from global memory
// serves 128 multiply-adds.
//
// Loads from global memory are float4 (16 bytes per thread, 512 per warp) where the row length
// is a multiple of 4 (so every row starts 16-byte aligned) and the 4 floats are in range;
// elsewhere, and at the ragged edges of m, n and k, they fall back to checked scalar loads that
// pad with zeros. a's tile is stored transposed (a_tile[p][i]) so that a thread's TM values
// of one column are contiguous in shared memory.
//
// Two instances:
// - matmul_regblock_128x128: BM = BN = 128, BK = 8, TM = TN = 8 (256 threads) for square-ish
//   products;
// - matmul_regblock_128x16: BM = 128, BN = 16, BK = 32, TM = 8, TN = 1 (256 threads) for tall,
//   skinny products such as MNIST's (50000, 784) @ (784, 10): a is read once, in wide loads,
//   and almost no work is spent on the columns past n that a 128-wide tile would pad.

template <int BM, int BN, int BK, int TM, int TN>
__device__ __forceinline__ void regblock(const float *__restrict__ a,
                                         const float *__restrict__ b, float *__restrict__ c,
                                         int m, int n, int k) {
    constexpr int THREADS = (BM / TM) * (BN / TN);
    static_assert(BK % 4 == 0 && BN % 4 == 0, "tiles are loaded as float4");
    static_assert((BM * BK / 4) % THREADS == 0 || THREADS % (BM * BK / 4) == 0, "a tile load");

    __shared__ __align__(16) float a_tile[BK][BM]; // transposed: a_tile[p][i] = a[row0 + i, p0 + p]
    __shared__ __align__(16) float b_tile[BK][BN]; // b_tile[p][j] = b[p0 + p, col0 + j]

    const int tid = threadIdx.x;
    const int row0 = blockIdx.y * BM;
    const int col0 = blockIdx.x * BN;
    const int ty = tid / (BN / TN); // this thread's patch: rows ty*TM .., columns tx*TN ..
    const int tx = tid % (BN / TN);
    const bool a_rows_aligned = (k % 4) == 0;
    const bool b_rows_aligned = (n % 4) == 0;

    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;
    float a_reg[TM];
    float b_reg[TN];

    for (int p0 = 0; p0 < k; p0 += BK) {
        // a's tile, BM x BK, four consecutive k at a time.
        for (int idx = tid; idx < BM * BK / 4; idx += THREADS) {
            const int i = idx / (BK / 4);
            const int p = (idx % (BK / 4)) * 4;
            const int row = row0 + i;
            const int col = p0 + p;
            const float *src = a + (long long)row * k + col;
            float4 v;
            if (a_rows_aligned && row < m && col + 3 < k) {
                v = *reinterpret_cast<const float4 *>(src);
            } else {
                const bool r = row < m;
                v.x = (r && col + 0 < k) ? src[0] : 0.0f;
                v.y = (r && col + 1 < k) ? src[1] : 0.0f;
                v.z = (r && col + 2 < k) ? src[2] : 0.0f;
                v.w = (r && col + 3 < k) ? src[3] : 0.0f;
            }
            a_tile[p + 0][i] = v.x;
            a_tile[p + 1][i] = v.y;
            a_tile[p + 2][i] = v.z;
            a_tile[p + 3][i] = v.w;
        }
        // b's tile, BK x BN, four consecutive columns at a time.
        for (int idx = tid; idx < BK * BN / 4; idx += THREADS) {
            const int p = idx / (BN / 4);
            const int j = (idx % (BN / 4)) * 4;
            const int row = p0 + p;
            const int col = col0 + j;
            const float *src = b + (long long)row * n + col;
            float4 v;
            if (b_rows_aligned && row < k && col + 3 < n) {
                v = *reinterpret_cast<const float4 *>(src);
            } else {
                const bool r = row < k;
                v.x = (r && col + 0 < n) ? src[0] : 0.0f;
                v.y = (r && col + 1 < n) ? src[1] : 0.0f;
                v.z = (r && col + 2 < n) ? src[2] : 0.0f;
                v.w = (r && col + 3 < n) ? src[3] : 0.0f;
            }
            *reinterpret_cast<float4 *>(&b_tile[p][j]) = v;
        }
        __syncthreads(); // both tiles are complete

#pragma unroll
        for (int p = 0; p < BK; ++p) {
#pragma unroll
            for (int i = 0; i < TM; ++i) a_reg[i] = a_tile[p][ty * TM + i];
#pragma unroll
            for (int j = 0; j < TN; ++j) b_reg[j] = b_tile[p][tx * TN + j];
#pragma unroll
            for (int i = 0; i < TM; ++i)
#pragma unroll
                for (int j = 0; j < TN; ++j) acc[i][j] += a_reg[i] * b_reg[j];
        }
        __syncthreads(); // done reading before the next tiles overwrite these
    }

    // Write the patch: float4 stores where c's rows are 16-byte aligned and the 4 columns are
    // in range, checked scalar stores elsewhere.
#pragma unroll
    for (int i = 0; i < TM; ++i) {
        const int row = row0 + ty * TM + i;
        if (row >= m) break;
        float *dst = c + (long long)row * n;
        if constexpr (TN % 4 == 0) {
#pragma unroll
            for (int j = 0; j < TN; j += 4) {
                const int col = col0 + tx * TN + j;
                if (b_rows_aligned && col + 3 < n) {
                    *reinterpret_cast<float4 *>(dst + col) =
                        make_float4(acc[i][j], acc[i][j + 1], acc[i][j + 2], acc[i][j + 3]);
                } else {
                    for (int q = 0; q < 4; ++q) {
                        if (col + q < n) dst[col + q] = acc[i][j + q];
                    }
                }
            }
        } else {
#pragma unroll
            for (int j = 0; j < TN; ++j) {
                const int col = col0 + tx * TN + j;
                if (col < n) dst[col] = acc[i][j];
            }
        }
    }
}

extern "C" __global__ void __launch_bounds__(256)
    matmul_regblock_128x128(const float *__restrict__ a, const float *__restrict__ b,
                            float *__restrict__ c, int m, int n, int k) {
    regblock<128, 128, 8, 8, 8>(a, b, c, m, n, k);
}

extern "C" __global__ void __launch_bounds__(256)
    matmul_regblock_128x16(const float *__restrict__ a, const float *__restrict__ b,
                           float *__restrict__ c, int m, int n, int k) {
    regblock<128, 16, 32, 8, 1>(a, b, c, m, n, k);
}
