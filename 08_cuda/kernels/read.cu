// The floor: read every float of a buffer from device memory once, as fast as the GPU can.
//
// x: count floats, contiguous and 16-byte aligned (cuMemAlloc's allocations are 256-byte
// aligned). sums: one float per block.
// Launch: block 256 threads (one-dimensional), grid min(8 x multiprocessors, ceil(count / 1024)).
//
// A product of MNIST's shape, (50000, 784) @ (784, 10), must read all of a: no kernel of that
// shape can beat the time it takes just to read a once. This kernel does only that. Each
// thread walks x's float4s with a grid-stride loop, issuing four independent 16-byte loads
// before it adds any of them, so every multiprocessor keeps enough bytes in flight to cover
// the latency of device memory. A warp's loads are 512 contiguous bytes: fully coalesced.
//
// The sums are not wanted for themselves. The block adds its threads' partial sums in shared
// memory and thread 0 writes the block's total to sums[blockIdx.x]: a result that depends on
// every load, so the compiler cannot drop any, and one the host can check (the block sums
// add up to the sum of x, each element counted once).

#define READ_THREADS 256

extern "C" __global__ void __launch_bounds__(READ_THREADS)
    read_sum(const float *__restrict__ x, long long count, float *__restrict__ sums) {
    __shared__ float partial[READ_THREADS];
    const long long stride = (long long)gridDim.x * blockDim.x;
    const long long first = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const long long quads = count / 4;
    const float4 *__restrict__ x4 = reinterpret_cast<const float4 *>(x);
    float sum = 0.0f;
    long long q = first;
    for (; q + 3 * stride < quads; q += 4 * stride) {
        // four loads in flight before the first add
        const float4 v0 = x4[q];
        const float4 v1 = x4[q + stride];
        const float4 v2 = x4[q + 2 * stride];
        const float4 v3 = x4[q + 3 * stride];
        sum += ((v0.x + v0.y) + (v0.z + v0.w)) + ((v1.x + v1.y) + (v1.z + v1.w)) +
               ((v2.x + v2.y) + (v2.z + v2.w)) + ((v3.x + v3.y) + (v3.z + v3.w));
    }
    for (; q < quads; q += stride) {
        const float4 v = x4[q];
        sum += (v.x + v.y) + (v.z + v.w);
    }
    // the last count % 4 floats, one thread each
    if (first < count % 4) {
        sum += x[quads * 4 + first];
    }
    partial[threadIdx.x] = sum;
    __syncthreads();
    for (int half = READ_THREADS / 2; half > 0; half /= 2) {
        if (threadIdx.x < half) {
            partial[threadIdx.x] += partial[threadIdx.x + half];
        }
        __syncthreads(); // this round's sums are complete before the next reads them
    }
    if (threadIdx.x == 0) {
        sums[blockIdx.x] = partial[0];
    }
}
