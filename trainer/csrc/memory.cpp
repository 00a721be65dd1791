// Peak CUDA memory of libtorch's caching allocator (what torch.cuda.max_memory_allocated
// reports); tch exposes no allocator statistics. Through c10's device-generic allocator
// interface, so no CUDA headers are needed at build time.
#include <c10/core/CachingDeviceAllocator.h>
#include <cstdint>

// Peak bytes allocated on CUDA device `index` since the last reset; -1 when unavailable.
extern "C" int64_t triad_cuda_peak_allocated(int index) {
  try {
    auto* a = c10::getDeviceAllocator(c10::DeviceType::CUDA);
    if (a == nullptr || !a->initialized()) {
      return -1;
    }
    auto stats = a->getDeviceStats(static_cast<c10::DeviceIndex>(index));
    return stats.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)].peak;
  } catch (...) {
    return -1;
  }
}

// Reset the peak of device `index`; 0 on success, -1 when unavailable.
extern "C" int triad_cuda_reset_peak(int index) {
  try {
    auto* a = c10::getDeviceAllocator(c10::DeviceType::CUDA);
    if (a == nullptr || !a->initialized()) {
      return -1;
    }
    a->resetPeakStats(static_cast<c10::DeviceIndex>(index));
    return 0;
  } catch (...) {
    return -1;
  }
}
