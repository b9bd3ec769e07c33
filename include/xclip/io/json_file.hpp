// Reading a whole JSON file (configs, metrics, checkpoint state, manifests) with errors that say
// which file, what it was for and what is wrong, so no caller opens, parses and wraps by hand.
#pragma once
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace xclip::io {

// The JSON value in `path`. `what` names the file's role for the messages ("--config", "metrics");
// throws xclip::Error "<what> <path>: cannot open: <reason>" or "<what> <path>: not valid JSON:
// <reason>" (nlohmann's reason has the line and column). An empty `what` gives "<path>: ...".
nlohmann::json read_json_file(const std::filesystem::path& path, const std::string& what);

}  // namespace xclip::io
