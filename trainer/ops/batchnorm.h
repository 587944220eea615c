/*
 * batchnorm.h: batch normalisation over the channels of NCHW data (batchnorm2d, x [n, c, h, w])
 * or the features of [n, c] data (batchnorm1d, the same with h = w = 1), as PyTorch
 * BatchNorm2d / BatchNorm1d with affine=True and track_running_stats=True.
 *
 * Train: per channel, mean and biased variance over n*h*w; y = gamma (x - mean) invstd + beta
 * with invstd = 1 / sqrt(var + eps). save_mean / save_invstd [c] are kept for backward.
 * running_mean = (1 - momentum) running_mean + momentum mean, running_var likewise with the
 * UNBIASED variance (var * m / (m - 1), m = n*h*w). Statistics (CPU): one pass of sums of
 * x - K and (x - K)^2, K the mean of the channel's first plane; float lanes within a plane,
 * double lanes across planes, in a fixed order (channels may run on different threads).
 * Eval: y = gamma (x - running_mean) / sqrt(running_var + eps) + beta; running stats unchanged.
 * Backward WRITES dx (=) and ACCUMULATES (+=) into dgamma and dbeta [c]. The train backward
 * takes the statistics saved by the train forward; the eval backward the running stats.
 */
#ifndef CD_OPS_BATCHNORM_H
#define CD_OPS_BATCHNORM_H

void batchnorm2d_forward_train(float *y, float *save_mean, float *save_invstd, float *running_mean,
                               float *running_var, const float *x, const float *gamma,
                               const float *beta, int n, int c, int h, int w, float momentum,
                               float eps);
void batchnorm2d_forward_eval(float *y, const float *x, const float *gamma, const float *beta,
                              const float *running_mean, const float *running_var, int n, int c,
                              int h, int w, float eps);
void batchnorm2d_backward_train(float *dx, float *dgamma, float *dbeta, const float *dy,
                                const float *x, const float *save_mean, const float *save_invstd,
                                const float *gamma, int n, int c, int h, int w);
void batchnorm2d_backward_eval(float *dx, float *dgamma, float *dbeta, const float *dy,
                               const float *x, const float *gamma, const float *running_mean,
                               const float *running_var, int n, int c, int h, int w, float eps);

void batchnorm1d_forward_train(float *y, float *save_mean, float *save_invstd, float *running_mean,
                               float *running_var, const float *x, const float *gamma,
                               const float *beta, int n, int c, float momentum, float eps);
void batchnorm1d_forward_eval(float *y, const float *x, const float *gamma, const float *beta,
                              const float *running_mean, const float *running_var, int n, int c,
                              float eps);
void batchnorm1d_backward_train(float *dx, float *dgamma, float *dbeta, const float *dy,
                                const float *x, const float *save_mean, const float *save_invstd,
                                const float *gamma, int n, int c);
void batchnorm1d_backward_eval(float *dx, float *dgamma, float *dbeta, const float *dy,
                               const float *x, const float *gamma, const float *running_mean,
                               const float *running_var, int n, int c, float eps);

#endif
