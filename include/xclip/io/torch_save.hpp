// torch.save without PyTorch: what PyTorch 1.13's torch.save(OrderedDict(name -> contiguous CPU
// tensor)) writes, byte for byte. `xclip-cli convert` writes the official X-CLIP
// pytorch_model.bin.N with it (the original's main_xclip.py torch.loads that file), and the tests
// make real-sized .pt checkpoints with it (the committed fixtures must stay small). Checked in
// tests/io/test_real_size_roundtrip.cpp against a file torch made, and offline with
// tools/reference/check_torch_save_writer.py and check_convert.py, which torch.load our files and
// require torch.save of what they loaded to give our bytes.
//
//   io::write_torch_save("out/pytorch_model.bin.0", tensors);   // temp name, then rename
//
// Layout:
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
// end record. <root> is the final file name without directories and its last extension, as torch
// derives it ("pytorch_model.bin" for pytorch_model.bin.0), never the temporary name.
// Limits (checked before anything is written; the error names the file): archives below 4 GiB
// and fewer than 65535 records, as no ZIP64 sizes or offsets are written; CPU tensors only.
#pragma once
#include <string>

#include "xclip/io/safetensors.hpp"

namespace xclip::io {

// Writes `tensors` (in their order) to `path` atomically (a temporary name in the same folder,
// then a rename: on any error nothing at `path` changes and no temporary file is left). The
// tensors' data are written from where they are (no copy).
void write_torch_save(const std::string& path, const NamedTensors& tensors);

// The data.pkl bytes of the dict `tensors` (storage keys "0", "1", ... in order).
std::string torch_save_pickle(const NamedTensors& tensors);

}  // namespace xclip::io
