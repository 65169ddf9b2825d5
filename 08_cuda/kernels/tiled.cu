// Shared-memory tiling.
//
// c = a @ b with a: (m, k), b: (k, n), c: (m, n), all row-major and contiguous.
// Launch: block (32, 32), grid (ceil(n / 32), ceil(m / 32)).
//
// A block of 32 x 32 threads computes a 32 x 32 tile of c. It walks along k one 32-wide slab at
// a time: every thread loads one element of a's slab and one of b's (coalesced: threadIdx.x
// runs along a row), the block waits at __syncthreads(), and then each thread does 32
// multiply-adds reading only shared memory (on-chip, ~30 cycles instead of ~500 for HBM).
// Every element fetched from global memory is now used 32 times instead of once.
// Tiles that stick out past m, n or k are padded with zeros, so any size works.
#define TILE 32

extern "C" __global__ void matmul_tiled(const float *__restrict__ a, const float *__restrict__ b,
                                        float *__restrict__ c, int m, int n, int k) {
    __shared__ float a_tile[TILE][TILE];
    __shared__ float b_tile[TILE][TILE];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int i = blockIdx.y * TILE + ty; // row of c
    const int j = blockIdx.x * TILE + tx; // column of c
    float tmp = 0.0f;
    for (int p0 = 0; p0 < k; p0 += TILE) {
        a_tile[ty][tx] = (i < m && p0 + tx < k) ? a[(long long)i * k + p0 + tx] : 0.0f;
        b_tile[ty][tx] = (p0 + ty < k && j < n) ? b[(long long)(p0 + ty) * n + j] : 0.0f;
        __syncthreads(); // the tiles are complete
        // a_tile[ty][p] is one address per warp (a broadcast); b_tile[p][tx] is 32
        // consecutive words: no bank conflicts.
#pragma unroll
        for (int p = 0; p < TILE; ++p) {
            tmp += a_tile[ty][p] * b_tile[p][tx];
        }
        __syncthreads(); // everyone is done reading before the next slab overwrites them
    }
    if (i < m && j < n) {
        c[(long long)i * n + j] = tmp;
    }
}
