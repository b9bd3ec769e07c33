// Reading a whole JSON file (configs, metrics, checkpoint state, manifests) with errors that say
// which file, what it was for and what is wrong, so no caller opens, parses and wraps by hand.
// Every JSON that comes from a file is parsed with a nesting limit: nlohmann's dump() and our own
// walks recurse, so 100,000 '[' in a hostile file must be refused at parse time, not overflow the
// stack later in an error message.
#pragma once
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace xclip::io {

// Containers nested deeper than this are refused unless the caller says otherwise: far more than
// any config, metrics file or annotation list needs, far less than could hurt the stack.
inline constexpr int kJsonMaxDepth = 16;

// The JSON value in `text`; `name` names the source in messages ("<name>: not valid JSON: ...",
// "<name>: JSON nested deeper than <max_depth> levels"). max_depth counts nested arrays/objects:
// {"a": [1]} is 2 levels deep.
nlohmann::json parse_json(std::string_view text, const std::string& name, int max_depth = kJsonMaxDepth);

// The JSON value in `path`. `what` names the file's role for the messages ("--config", "metrics");
// throws xclip::Error "<what> <path>: cannot open: <reason>" or "<what> <path>: not valid JSON:
// <reason>" (nlohmann's reason has the line and column). An empty `what` gives "<path>: ...".
nlohmann::json read_json_file(const std::filesystem::path& path, const std::string& what,
                              int max_depth = kJsonMaxDepth);

// `value` as JSON text for an error message, cut to `max_chars` (with "..." after): a message
// never carries a whole 10 MB array from a hostile file. Values nested deeper than kJsonMaxDepth
// are not printed at all (dump() recurses).
std::string json_excerpt(const nlohmann::json& value, size_t max_chars = 200);

}  // namespace xclip::io
