// The one list of head families: a new head adds its line here (and its own header and folder).
#include "xclip/models/heads/clip4clip_head.hpp"
#include "xclip/models/heads/tc_mgc_head.hpp"
#include "xclip/models/heads/xclip_head.hpp"

namespace xclip::models {

namespace {
template <class Head>
std::unique_ptr<SimilarityHead> make(const HeadConfig& config, const HeadDims& dims, DType dtype) {
  return std::make_unique<Head>(config, dims, dtype);
}

std::vector<HeadFamily>& families() {
  static std::vector<HeadFamily> list = {
      {"xclip", "X-CLIP: temporal encoder, four contrasts with AOSM (Ma et al. 2022)", make<XClipHead>},
      {"clip4clip", "CLIP4Clip: loose type meanP / seqTransf (video-sentence), tight type tightTransf (Luo et al. 2021)",
       make<Clip4ClipHead>,
       {{"hidden_dropout_prob", 0.1}}},
      {"tc_mgc", "TC-MGC: text-conditioned video, four terms with SR + ISA, LSA fusion, SDR (arXiv 2504.04707)",
       make<TcMgcHead>,
       {{"conditional_flag", true}, {"sdr_loss_flag", true}, {"sdr_loss_weight", 0.5}, {"keep_rate", 0.1},
        {"softmax_lambda", 100.0}, {"num_mha_heads", 1}, {"transformer_dropout", 0.3},
        {"interaction_type", "1,2,3,4"}, {"lsa_init", "eye"}, {"lva_mask_frames", false}}},
      {"ea_clip4clip",
       "EA-CLIP4Clip: CLIP4Clip with frame excitation / aggregation blocks, loose or tight (Jing et al. 2024)",
       make<Clip4ClipHead>,
       {{"se_block", true},
        {"se_type", "excitation"},
        {"reduction_ratio", 4.0},
        {"excitation_aggregation_type", "unity"},
        {"ea_intra_attn", false},
        {"ea_mask_frames", false},
        {"hidden_dropout_prob", 0.1}}},
  };
  return list;
}
}  // namespace

const std::vector<HeadFamily>& head_families() { return families(); }

void register_head_family(HeadFamily family) {
  for (const HeadFamily& f : families())
    XCLIP_CHECK(std::string(f.name) != family.name, "register_head_family: a head family '", family.name,
                "' exists already");
  families().push_back(std::move(family));
}

const HeadFamily& head_family(const std::string& name) {
  std::string known;
  for (const HeadFamily& f : head_families()) {
    if (name == f.name) return f;
    known += (known.empty() ? "" : ", ") + std::string(f.name);
  }
  throw Error(format("config: head must be one of ", known, ", got '", name, "'"));
}

std::unique_ptr<SimilarityHead> make_head(const HeadConfig& config, const HeadDims& dims, DType dtype) {
  return head_family(config.head).make(config, dims, dtype);
}

}  // namespace xclip::models
