// A fake cuBLAS (libcublas.so.12) for the fake driver: cublasSgemm_v2 by its column-major
// definition, so the host code's row-major transpose trick is checked for real.
#include <cstdio>

extern "C" {
typedef int cublasStatus_t;
static int handle_token;
cublasStatus_t cublasCreate_v2(void **handle) { *handle = &handle_token; return 0; }
cublasStatus_t cublasDestroy_v2(void *) { return 0; }
cublasStatus_t cublasSetStream_v2(void *, void *) { return 0; }
cublasStatus_t cublasSetMathMode(void *, int mode) { return mode == 0 ? 0 : 7; }
// C (m x n, ldc) = alpha op(A) op(B) + beta C, all column-major; only op = N is needed.
cublasStatus_t cublasSgemm_v2(void *, int transa, int transb, int m, int n, int k,
                              const float *alpha, const float *A, int lda, const float *B,
                              int ldb, const float *beta, float *C, int ldc) {
    if (transa != 0 || transb != 0 || lda < m || ldb < k || ldc < m) return 7; // INVALID_VALUE
    for (int j = 0; j < n; ++j)
        for (int i = 0; i < m; ++i) {
            float sum = 0.0f;
            for (int p = 0; p < k; ++p) sum += A[i + (long long)p * lda] * B[p + (long long)j * ldb];
            C[i + (long long)j * ldc] = *alpha * sum + (*beta == 0.0f ? 0.0f : *beta * C[i + (long long)j * ldc]);
        }
    return 0;
}
}
