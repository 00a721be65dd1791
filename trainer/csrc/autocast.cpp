// libtorch's CUDA autocast defaults to float16; tch exposes no way to choose the dtype, and
// Triad trains in bfloat16 mixed precision (as the anchors' PyTorch baselines do).
#include <ATen/autocast_mode.h>

extern "C" int triad_set_cuda_autocast_bf16() {
  try {
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    return 0;
  } catch (...) {
    return -1;
  }
}
