// xclip-cli verify BUNDLE...: checks the X-CLIP model against reference bundles written by
// tools/reference/xclip_reference.py (forward, loss, evaluation path, every gradient); prints the
// worst relative error per tensor and exits 1 when any bundle is above the tolerance.
#include <cstdio>
#include <iostream>

#include "args.hpp"
#include "command.hpp"
#include "xclip/core/error.hpp"
#include "xclip/models/verify.hpp"

namespace xclip::cli {
namespace {

const char* kUsage =
    "usage: xclip-cli verify BUNDLE [BUNDLE...] [--tol T] [--device cpu|cuda] [--quiet]\n"
    "  BUNDLE        a reference bundle folder (weights, inputs, expected .safetensors, config.json)\n"
    "  --tol T       tolerance on max|ours - expected| / max|expected| per tensor\n"
    "                (default: the bundle's config.json \"tolerance\", else 1e-5)\n"
    "  --device D    cpu (default) or cuda\n"
    "  --quiet       print only the summary line of each bundle\n";

Device parse_device(const std::string& s) {
  if (s == "cpu") return Device::cpu;
  if (s == "cuda") return Device::cuda;
  throw Error(format("verify: --device must be cpu or cuda, got '", s, "'"));
}

int run_verify(const std::vector<std::string>& argv) {
  Args args(argv, {"tol", "device"}, {"help", "quiet"});
  if (args.flag("help") || args.positional().empty()) {
    std::fputs(kUsage, args.flag("help") ? stdout : stderr);
    return args.flag("help") ? 0 : 2;
  }
  models::VerifyOptions options;
  if (args.has("tol")) options.tolerance = args.get_double("tol", 1e-5);
  options.device = parse_device(args.get("device", "cpu"));
  bool all_ok = true;
  for (const std::string& bundle : args.positional()) {
    const models::VerifyResult r = models::verify_bundle(bundle, options);
    if (args.flag("quiet")) {
      const std::string table = r.table();
      const size_t last = table.rfind('\n', table.size() - 2);
      std::cout << bundle << ": " << table.substr(last == std::string::npos ? 0 : last + 1);
    } else {
      std::cout << r.table() << "\n";
    }
    all_ok = all_ok && r.ok();
  }
  return all_ok ? 0 : 1;
}

const CommandRegistrar registrar{
    Command{"verify", "compare the model with PyTorch reference bundles (forward, loss, eval, gradients)",
            run_verify}};

}  // namespace
}  // namespace xclip::cli
