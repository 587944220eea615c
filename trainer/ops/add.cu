/*
 * add.cu: CUDA body of add.h (elementwise y = a + b; backward writes dy into da and db).
 */
#include "cuda_check.h"
#include "cuda_launch.cuh"
#include "ops_cuda.h"

__global__ static void add_kernel(float *y, const float *a, const float *b, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        y[i] = a[i] + b[i];
}

extern "C" int add_forward_cuda(float *y, const float *a, const float *b, size_t n,
                                cudaStream_t stream)
{
    if (n == 0)
        return CD_CUDA_OK;
    add_kernel<<<grid_for(n), THREADS, 0, stream>>>(y, a, b, n);
    CHECK_LAUNCH();
    return CD_CUDA_OK;
}

extern "C" int add_backward_cuda(float *da, float *db, const float *dy, size_t n,
                                 cudaStream_t stream)
{
    if (da != NULL && da != dy)
        CHECK_CUDA(cudaMemcpyAsync(da, dy, n * sizeof(float), cudaMemcpyDeviceToDevice, stream));
    if (db != NULL && db != dy)
        CHECK_CUDA(cudaMemcpyAsync(db, dy, n * sizeof(float), cudaMemcpyDeviceToDevice, stream));
    return CD_CUDA_OK;
}
