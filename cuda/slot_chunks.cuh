// The chunked layout of the fused optimizer launches (cuda/optimizer.cu, cuda/optimizer_fp16.cu):
// every parameter ("slot") is cut into chunks of kChunk elements, one block per chunk, and block
// b finds its slot by binary search over the chunk offsets. The slot table and the offsets are
// copied to the device in one block for the duration of one call.
#pragma once
#include <cstring>
#include <vector>

#include "common.cuh"

namespace xclip::cuda::chunked {

constexpr int kThreadsPerBlock = 256;
constexpr int64_t kChunk = kThreadsPerBlock * 16;

// The slot table and chunk offsets (chunk_begin[count] = total chunks) in one device block.
template <class Slot>
class SlotTable {
 public:
  SlotTable(const std::vector<Slot>& slots, const std::vector<int64_t>& chunk_begin)
      : bytes_(slots.size() * sizeof(Slot) + chunk_begin.size() * sizeof(int64_t)), buffer_(bytes_) {
    std::vector<unsigned char> host(bytes_);
    std::memcpy(host.data(), slots.data(), slots.size() * sizeof(Slot));
    std::memcpy(host.data() + slots.size() * sizeof(Slot), chunk_begin.data(), chunk_begin.size() * sizeof(int64_t));
    // From pageable memory: returns once the bytes are staged, so `host` may go out of scope.
    XCLIP_CUDA_CHECK(cudaMemcpyAsync(buffer_.get(), host.data(), bytes_, cudaMemcpyHostToDevice, cuda_stream()));
    slots_ = reinterpret_cast<const Slot*>(buffer_.get());
    chunk_begin_ = reinterpret_cast<const int64_t*>(buffer_.get() + slots.size() * sizeof(Slot));
  }
  const Slot* slots() const { return slots_; }
  const int64_t* chunk_begin() const { return chunk_begin_; }

 private:
  size_t bytes_;
  detail::Scratch<unsigned char> buffer_;
  const Slot* slots_ = nullptr;
  const int64_t* chunk_begin_ = nullptr;
};

// The slot owning chunk b: the largest s with chunk_begin[s] ≤ b (empty slots own no chunk).
__device__ __forceinline__ int64_t slot_of_chunk(const int64_t* chunk_begin, int64_t count, int64_t b) {
  int64_t lo = 0, hi = count - 1;
  while (lo < hi) {
    const int64_t mid = (lo + hi + 1) / 2;
    if (chunk_begin[mid] <= b)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

// Element range [begin, end) of chunk b inside its slot of `numel` elements.
__device__ __forceinline__ void chunk_range(int64_t numel, const int64_t* chunk_begin, int64_t slot, int64_t b,
                                            int64_t* begin, int64_t* end) {
  *begin = (b - chunk_begin[slot]) * kChunk;
  *end = *begin + kChunk < numel ? *begin + kChunk : numel;
}

// Chunk offsets: chunk_begin[i] = chunks of slots before i; the last entry is the total.
template <class Slot>
std::vector<int64_t> chunk_offsets(const Slot* slots, int64_t count) {
  std::vector<int64_t> begin(size_t(count) + 1, 0);
  for (int64_t i = 0; i < count; ++i) begin[size_t(i) + 1] = begin[size_t(i)] + (slots[i].numel + kChunk - 1) / kChunk;
  return begin;
}

}  // namespace xclip::cuda::chunked
