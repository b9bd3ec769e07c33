// Errors: one exception type whose message names the operation and the shapes/files involved.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace xclip {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {
inline void append_all(std::ostringstream&) {}
template <class T, class... Rest>
void append_all(std::ostringstream& os, const T& v, const Rest&... rest) {
  os << v;
  append_all(os, rest...);
}
}  // namespace detail

// format("matmul: ", a, " vs ", b) -> string, using operator<< for every part.
template <class... Parts>
std::string format(const Parts&... parts) {
  std::ostringstream os;
  detail::append_all(os, parts...);
  return os.str();
}

}  // namespace xclip

// XCLIP_CHECK(cond, parts...) throws xclip::Error with the parts streamed together.
#define XCLIP_CHECK(cond, ...)                                  \
  do {                                                          \
    if (!(cond)) throw ::xclip::Error(::xclip::format(__VA_ARGS__)); \
  } while (0)
