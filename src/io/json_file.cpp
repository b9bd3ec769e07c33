#include "xclip/io/json_file.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "xclip/core/error.hpp"

namespace xclip::io {

namespace {

// Thrown from the parser callback to stop at the first container past the limit; turned into
// xclip::Error by parse_json (nlohmann does not wrap foreign exceptions).
struct TooDeep {
  int depth;
};

// Depth of `v` without recursion (an explicit stack), stopping as soon as it passes `limit`.
int depth_up_to(const nlohmann::json& v, int limit) {
  std::vector<std::pair<const nlohmann::json*, int>> to_visit{{&v, 1}};
  int deepest = 0;
  while (!to_visit.empty()) {
    const auto [j, d] = to_visit.back();
    to_visit.pop_back();
    if (!j->is_structured()) continue;
    deepest = std::max(deepest, d);
    if (deepest > limit) return deepest;
    for (const auto& child : *j) to_visit.emplace_back(&child, d + 1);
  }
  return deepest;
}

}  // namespace

nlohmann::json parse_json(std::string_view text, const std::string& name, int max_depth) {
  // The callback sees each container as it opens, at the depth of its parent (0 for the top).
  const nlohmann::json::parser_callback_t limit = [max_depth](int depth, nlohmann::json::parse_event_t event,
                                                              nlohmann::json&) {
    if ((event == nlohmann::json::parse_event_t::object_start ||
         event == nlohmann::json::parse_event_t::array_start) &&
        depth >= max_depth)
      throw TooDeep{depth + 1};
    return true;
  };
  try {
    return nlohmann::json::parse(text.begin(), text.end(), limit);
  } catch (const TooDeep& e) {
    throw Error(format(name, ": JSON nested deeper than ", max_depth, " levels (refused at level ", e.depth, ")"));
  } catch (const nlohmann::json::exception& e) {
    throw Error(format(name, ": not valid JSON: ", e.what()));
  }
}

nlohmann::json read_json_file(const std::filesystem::path& path, const std::string& what, int max_depth) {
  const std::string name = what.empty() ? path.string() : what + " " + path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const std::string reason = std::strerror(errno);
    throw Error(format(name, ": cannot open: ", reason));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    const std::string reason = std::strerror(errno);
    throw Error(format(name, ": cannot read: ", reason));
  }
  return parse_json(text.str(), name, max_depth);
}

std::string json_excerpt(const nlohmann::json& value, size_t max_chars) {
  if (depth_up_to(value, kJsonMaxDepth) > kJsonMaxDepth)
    return format("(a ", value.type_name(), " nested deeper than ", kJsonMaxDepth, " levels)");
  std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() > max_chars) text = text.substr(0, max_chars) + "... (" + std::to_string(text.size()) + " chars)";
  return text;
}

}  // namespace xclip::io
