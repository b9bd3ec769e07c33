#include "xclip/io/json_file.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "xclip/core/error.hpp"

namespace xclip::io {

nlohmann::json read_json_file(const std::filesystem::path& path, const std::string& what) {
  const std::string name = what.empty() ? path.string() : what + " " + path.string();
  std::ifstream in(path);
  if (!in) {
    const std::string reason = std::strerror(errno);
    throw Error(format(name, ": cannot open: ", reason));
  }
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(format(name, ": not valid JSON: ", e.what()));
  }
}

}  // namespace xclip::io
