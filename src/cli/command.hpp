// Subcommand registry for xclip-cli. Each subcommand lives in its own file in src/cli/ (or
// src/cli/video/ when it decodes or writes video: those link the FFmpeg data library) and registers itself with a static
// CommandRegistrar, so adding a command touches no other file.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace xclip::cli {

struct Command {
  std::string name;
  std::string summary;  // one line for `xclip-cli --help`
  std::function<int(const std::vector<std::string>& args)> run;  // args after the command name
};

std::map<std::string, Command>& command_registry();

struct CommandRegistrar {
  explicit CommandRegistrar(Command c) { command_registry()[c.name] = std::move(c); }
};

}  // namespace xclip::cli
