// NumPy .npy files (format versions 1.0-3.0 read, 1.0 written): little-endian f32/f64/f16/i32/i64/u8/
// bool, C order. Writes are atomic (temporary name, then rename).
#pragma once
#include <string>

#include "xclip/core/tensor.hpp"

namespace xclip::io {

// Throws xclip::Error naming the file for a bad magic, header, dtype, Fortran order or a size
// that does not match the shape.
Tensor load_npy(const std::string& path);
void save_npy(const std::string& path, const Tensor& tensor);

}  // namespace xclip::io
