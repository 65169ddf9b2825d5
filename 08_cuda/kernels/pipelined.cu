// Overlap the loads with the arithmetic, and read shared memory without conflicts.
//
// c = a @ b with a: (m, k), b: (k, n), c: (m, n), all row-major and contiguous.
// Launch: block 256 threads (one-dimensional), grid (ceil(n / 128), ceil(m / 128)).
//
// regblock.cu's loop does load tile -> barrier -> compute -> barrier: while a block waits for
// global memory its arithmetic units idle, unless other blocks on the multiprocessor happen
// to be computing. Here shared memory holds two tiles of each operand. While the block
// computes on one, each thread has already issued the global loads of the next tile into
// registers (so their ~500-cycle latency passes during the 512 FMAs of the current tile), and
// stores them into the other buffer afterwards: one barrier per tile instead of two.
//
// Second change: which outputs a thread owns. In §5, thread tx owned 8 adjacent columns,
// so the 16 threads reading b's row fetched 32-byte-strided float4s and collided on
// shared-memory banks. Here thread tx owns columns tx*4 .. tx*4+3 and 64 + tx*4 .. 64 +
// tx*4+3: the 16 threads read 16 consecutive float4s (256 contiguous bytes, conflict-free),
// and the stores to c are 256-byte contiguous runs too.
//
// Edges (m, n, k not multiples of the tiles, rows not 16-byte aligned) are handled as in
// §5: checked scalar loads that pad with zeros, checked scalar stores.

#define BM 128
#define BN 128
#define BK 8
#define TM 8 // rows of c per thread
#define TN 8 // columns of c per thread: two runs of 4, 64 apart

// Four consecutive floats of a row-major (rows, cols) matrix at (row, col): one float4 when
// the row is 16-byte aligned and all four are in range, else checked scalar loads (zeros
// outside the matrix).
__device__ __forceinline__ float4 load4(const float *__restrict__ base, int row, int rows,
                                        int col, int cols, bool rows_aligned) {
    const float *src = base + (long long)row * cols + col;
    if (rows_aligned && row < rows && col + 3 < cols) {
        return *reinterpret_cast<const float4 *>(src);
    }
    const bool r = row < rows;
    return make_float4((r && col + 0 < cols) ? src[0] : 0.0f, (r && col + 1 < cols) ? src[1] : 0.0f,
                       (r && col + 2 < cols) ? src[2] : 0.0f, (r && col + 3 < cols) ? src[3] : 0.0f);
}

extern "C" __global__ void __launch_bounds__(256)
    matmul_pipelined_128x128(const float *__restrict__ a, const float *__restrict__ b,
                             float *__restrict__ c, int m, int n, int k) {
    __shared__ __align__(16) float a_tile[2][BK][BM]; // transposed: [p][i] = a[row0 + i, p0 + p]
    __shared__ __align__(16) float b_tile[2][BK][BN]; // [p][j] = b[p0 + p, col0 + j]

    const int tid = threadIdx.x;
    const int row0 = blockIdx.y * BM;
    const int col0 = blockIdx.x * BN;
    const int ty = tid / 16; // rows ty*8 .. ty*8+7 of the block's tile
    const int tx = tid % 16; // columns tx*4 .. +3 and 64 + tx*4 .. +3
    // The one float4 of each tile this thread loads: 128 x 8 of a and 8 x 128 of b are 256
    // float4s each, one per thread.
    const int a_i = tid / 2, a_p = (tid % 2) * 4;
    const int b_p = tid / 32, b_j = (tid % 32) * 4;
    const bool a_aligned = (k % 4) == 0;
    const bool b_aligned = (n % 4) == 0;

    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;

    // Tile 0: load, store, wait.
    float4 a_next = load4(a, row0 + a_i, m, a_p, k, a_aligned);
    float4 b_next = load4(b, b_p, k, col0 + b_j, n, b_aligned);
    a_tile[0][a_p + 0][a_i] = a_next.x;
    a_tile[0][a_p + 1][a_i] = a_next.y;
    a_tile[0][a_p + 2][a_i] = a_next.z;
    a_tile[0][a_p + 3][a_i] = a_next.w;
    *reinterpret_cast<float4 *>(&b_tile[0][b_p][b_j]) = b_next;
    __syncthreads();

    const int tiles = (k + BK - 1) / BK;
    for (int t = 0; t < tiles; ++t) {
        const int cur = t & 1;
        const bool more = t + 1 < tiles; // the same for every thread: the barrier below is safe
        if (more) {
            // Issue the next tile's loads now; they complete while we compute.
            const int p0 = (t + 1) * BK;
            a_next = load4(a, row0 + a_i, m, p0 + a_p, k, a_aligned);
            b_next = load4(b, p0 + b_p, k, col0 + b_j, n, b_aligned);
        }
#pragma unroll
        for (int p = 0; p < BK; ++p) {
            const float4 a0 = *reinterpret_cast<const float4 *>(&a_tile[cur][p][ty * TM]);
            const float4 a1 = *reinterpret_cast<const float4 *>(&a_tile[cur][p][ty * TM + 4]);
            const float4 b0 = *reinterpret_cast<const float4 *>(&b_tile[cur][p][tx * 4]);
            const float4 b1 = *reinterpret_cast<const float4 *>(&b_tile[cur][p][64 + tx * 4]);
            const float a_reg[TM] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
            const float b_reg[TN] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
            for (int i = 0; i < TM; ++i)
#pragma unroll
                for (int j = 0; j < TN; ++j) acc[i][j] += a_reg[i] * b_reg[j];
        }
        if (more) {
            // The other buffer: everyone finished reading it before the previous barrier.
            const int next = cur ^ 1;
            a_tile[next][a_p + 0][a_i] = a_next.x;
            a_tile[next][a_p + 1][a_i] = a_next.y;
            a_tile[next][a_p + 2][a_i] = a_next.z;
            a_tile[next][a_p + 3][a_i] = a_next.w;
            *reinterpret_cast<float4 *>(&b_tile[next][b_p][b_j]) = b_next;
        }
        __syncthreads();
    }

#pragma unroll
    for (int i = 0; i < TM; ++i) {
        const int row = row0 + ty * TM + i;
        if (row >= m) break;
        float *dst = c + (long long)row * n;
#pragma unroll
        for (int half = 0; half < 2; ++half) {
            const int col = col0 + half * 64 + tx * 4;
            const float *v = &acc[i][half * 4];
            if (b_aligned && col + 3 < n) {
                *reinterpret_cast<float4 *>(dst + col) = make_float4(v[0], v[1], v[2], v[3]);
            } else {
                for (int q = 0; q < 4; ++q) {
                    if (col + q < n) dst[col + q] = v[q];
                }
            }
        }
    }
}

// (The tests' CPU emulator compiles every kernel file into one program.)
#undef BM
#undef BN
#undef BK
#undef TM
#undef TN
