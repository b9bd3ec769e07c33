// A test-only writer of torch.save files, so that tests can make real-sized .pt checkpoints without
// PyTorch (the committed fixtures must stay small). It writes what PyTorch 1.13's
// torch.save(OrderedDict(name -> contiguous CPU tensor)) writes, byte for byte (checked in
// tests/io/test_real_size_roundtrip.cpp against a file torch made, and offline with
// tools/reference/check_torch_save_writer.py, which loads our files with torch.load):
//
//   <root>/data.pkl      pickle protocol 2: collections.OrderedDict whose values are
//                        torch._utils._rebuild_tensor_v2(persistent_load(('storage',
//                        torch.<T>Storage, '<key>', 'cpu', numel)), 0, size, stride, False,
//                        collections.OrderedDict()), memo and batching as Python's pickler does
//   <root>/data/<key>    one storage per tensor, keys "0", "1", ... in dict order, written in the
//                        string order of the keys ("0", "1", "10", "11", ..., "2", ...) as torch does
//   <root>/version       "3\n"
//
// in a ZIP as PyTorch's miniz-based writer makes it: every record stored, its data 64-byte aligned
// through an "FB" extra field of 'Z's, a data descriptor after the data, zeroed dates, and a ZIP64
// end record. <root> is the file name without its last extension, as torch derives it.
// Limits (checks throw): archives below 4 GiB and 65535 records (no ZIP64 sizes or offsets).
#pragma once
#include <string>

#include "xclip/io/safetensors.hpp"

namespace xclip::test {

// Writes `tensors` (in their order) to `path`, streaming the storages (no copy of the data).
void write_torch_save(const std::string& path, const io::NamedTensors& tensors);

// The data.pkl bytes of the dict `tensors` (storage keys "0", "1", ... in order).
std::string torch_save_pickle(const io::NamedTensors& tensors);

}  // namespace xclip::test
