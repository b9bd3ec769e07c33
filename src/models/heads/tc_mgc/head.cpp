// The TC-MGC head as a Module (tc_mgc_head.hpp): options, parameters and their roles and init,
// the training forward with dropout and SDR, the tiled evaluation. The parts: lva.cpp,
// reorganize.cpp, terms.cpp.
#include <algorithm>
#include <cmath>
#include <sstream>

#include "xclip/autograd.hpp"
#include "xclip/models/heads/tc_mgc_head.hpp"
#include "xclip/ops.hpp"

namespace xclip::models {

namespace {

// "1,2,3,4" -> {1, 2, 3, 4}: each of 1..4 at most once, at least one.
std::vector<int> parse_interaction_type(const std::string& text) {
  std::vector<int> types;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    XCLIP_CHECK(item.size() == 1 && item[0] >= '1' && item[0] <= '4', "config: interaction_type '", text.substr(0, 40),
                "': each entry must be 1 (VS), 2 (VW), 3 (SF) or 4 (FW)");
    const int type = item[0] - '0';
    XCLIP_CHECK(std::find(types.begin(), types.end(), type) == types.end(), "config: interaction_type '", text,
                "' lists ", type, " twice");
    types.push_back(type);
  }
  XCLIP_CHECK(!types.empty() && text.back() != ',', "config: interaction_type '", text.substr(0, 40),
              "' must be a comma-separated list of 1..4");
  return types;
}

}  // namespace

TcMgcOptions TcMgcOptions::from(const HeadConfig& c, int64_t embed_dim) {
  TcMgcOptions o;
  XCLIP_CHECK(c.option_as<bool>("conditional_flag"), "config: conditional_flag must be true for tc_mgc (the "
              "original's unconditional path cannot run)");
  XCLIP_CHECK(c.sim_header == "seqTransf", "config: sim_header must be seqTransf for tc_mgc, got '", c.sim_header, "'");
  o.sdr_loss = c.option_as<bool>("sdr_loss_flag");
  o.sdr_loss_weight = c.option_as<double>("sdr_loss_weight");
  XCLIP_CHECK(std::isfinite(o.sdr_loss_weight) && o.sdr_loss_weight >= 0, "config: sdr_loss_weight must be >= 0, got ",
              o.sdr_loss_weight);
  o.keep_rate = c.option_as<double>("keep_rate");
  XCLIP_CHECK(o.keep_rate > 0 && o.keep_rate <= 1, "config: keep_rate must be in (0, 1], got ", o.keep_rate);
  o.k = int64_t(double(c.max_words) * o.keep_rate);
  XCLIP_CHECK(o.k >= 1 && o.k <= c.max_words, "config: keep_rate ", o.keep_rate, " gives k = int(max_words ",
              c.max_words, " · keep_rate) = ", o.k, "; k must be in [1, max_words]");
  o.softmax_lambda = c.option_as<double>("softmax_lambda");
  XCLIP_CHECK(std::isfinite(o.softmax_lambda) && o.softmax_lambda > 0, "config: softmax_lambda must be > 0, got ",
              o.softmax_lambda);
  o.num_mha_heads = c.option_as<int>("num_mha_heads");
  XCLIP_CHECK(o.num_mha_heads >= 1 && embed_dim % o.num_mha_heads == 0, "config: num_mha_heads ", o.num_mha_heads,
              " must be >= 1 and divide the embedding width ", embed_dim);
  o.transformer_dropout = c.option_as<double>("transformer_dropout");
  XCLIP_CHECK(o.transformer_dropout >= 0 && o.transformer_dropout < 1, "config: transformer_dropout must be in [0, 1), got ",
              o.transformer_dropout);
  // A single type given as a flag (--interaction_type 4) arrives as a JSON number.
  const nlohmann::json types = c.option("interaction_type");
  o.interaction_type = parse_interaction_type(types.is_number_integer() ? std::to_string(types.get<int64_t>())
                                                                        : c.option_as<std::string>("interaction_type"));
  o.lsa_init = c.option_as<std::string>("lsa_init");
  XCLIP_CHECK(o.lsa_init == "eye" || o.lsa_init == "zeros", "config: lsa_init must be \"eye\" or \"zeros\", got '",
              o.lsa_init.substr(0, 40), "'");
  o.lva_mask_frames = c.option_as<bool>("lva_mask_frames");
  XCLIP_CHECK(!o.sdr_loss || o.count() >= 2, "config: sdr_loss_flag needs at least two terms in interaction_type (the "
              "variance of one term is undefined)");
  return o;
}

bool TcMgcOptions::has(int type) const {
  return std::find(interaction_type.begin(), interaction_type.end(), type) != interaction_type.end();
}

const std::vector<std::string>& TcMgcParams::names() {
  static const std::string lva = "conditional_transformer.pool_frames.";
  static const std::vector<std::string> n = {
      "global_mat_weight",         "local_mat_weight",          "attentive_word_logit_weight",
      "concat_frame_word_logit_weight", "attentive_word_mat_weight", "attentive_word_mat_weight2",
      "attentive_frame_word_mat_weight", "attentive_frame_word_mat_weight2", "logit_weight",
      lva + "linear_proj.weight",  lva + "linear_proj.bias",    lva + "layer_norm1.weight",
      lva + "layer_norm1.bias",    lva + "layer_norm2.weight",  lva + "layer_norm2.bias",
      lva + "layer_norm3.weight",  lva + "layer_norm3.bias"};
  return n;
}

std::vector<Tensor*> TcMgcParams::all() {
  return {&global_mat_weight,
          &local_mat_weight,
          &attentive_word_logit_weight,
          &concat_frame_word_logit_weight,
          &attentive_word_mat_weight,
          &attentive_word_mat_weight2,
          &attentive_frame_word_mat_weight,
          &attentive_frame_word_mat_weight2,
          &logit_weight,
          &proj_weight,
          &proj_bias,
          &ln1_weight,
          &ln1_bias,
          &ln2_weight,
          &ln2_bias,
          &ln3_weight,
          &ln3_bias};
}

TcMgcHead::TcMgcHead(const HeadConfig& config, const HeadDims& dims, DType dtype)
    : SimilarityHead(config), options_(TcMgcOptions::from(config_, dims.embed_dim)) {
  const int64_t D = dims.embed_dim, k = options_.k, G = options_.count();
  const std::vector<Shape> shapes = {Shape{D, D}, Shape{D, D}, Shape{k, k}, Shape{k + 1, k + 1}, Shape{k, k},
                                     Shape{k, k}, Shape{k, k}, Shape{k, k}, Shape{G, G},         Shape{D, D},
                                     Shape{D},    Shape{D},    Shape{D},    Shape{D},            Shape{D},
                                     Shape{D},    Shape{D}};
  std::vector<Tensor*> slots = params_.all();
  for (size_t i = 0; i < slots.size(); ++i)
    *slots[i] = register_parameter(TcMgcParams::names()[i], Tensor::zeros(shapes[i], dtype));
  register_temporal_encoder(dims, dtype);  // frame_position_embeddings, transformerClip.* after
  reset_parameters();
}

HeadOutput TcMgcHead::forward(const TextFeatures& texts, const VideoFeatures& videos, const Tensor& logit_scale) const {
  const Tensor h = temporal(videos);
  const Tensor sentence = sentence_rows(texts.sentence);
  const DropoutDraw dropout = dropout_draw(options_.transformer_dropout);
  const TcMgcTerms t =
      tc_mgc_terms(options_, params_, logit_scale_factor(logit_scale), {sentence, texts.words, h, videos.video_mask}, dropout);
  HeadOutput out;
  out.logits = t.fused;
  out.intermediates = {{"visual_output_temporal", h}, {"video_output_conditioned", t.video_conditioned}};
  if (t.frame_conditioned.defined()) out.intermediates.emplace_back("frame_output_conditioned", t.frame_conditioned);
  for (const auto& [name, term] : {std::pair<const char*, Tensor>{"video_sentence", t.video_sentence},
                                   {"video_word", t.video_word},
                                   {"sentence_frame", t.sentence_frame},
                                   {"frame_word", t.frame_word}})
    if (term.defined()) out.intermediates.emplace_back(std::string("logits.") + name, term);
  if (options_.sdr_loss) {
    out.extra_loss = similarity_decorrelation(options_, t);
    out.intermediates.emplace_back("loss.sdr", out.extra_loss);
  }
  return out;
}

Tensor TcMgcHead::similarity_matrix(const TextFeatures& texts, const VideoFeatures& videos,
                                    const Tensor& logit_scale) const {
  NoGradGuard no_grad;
  const Tensor tau = logit_scale_factor(logit_scale);
  const Tensor sentence = sentence_rows(texts.sentence);
  const int64_t T = texts.words.dim(0), L = texts.words.dim(1), D = texts.words.dim(2), V = videos.frames.dim(0);
  const int64_t block = config_.batch_size_val, budget = config_.frame_word_chunk_elements;
  // Inside a block, f [t, L, v, D] is built for pieces of at most `budget` elements: videos first
  // in pieces one text can afford, then as many texts as fit with them (nothing mixes pairs).
  const int64_t piece_videos = std::clamp<int64_t>(budget / std::max<int64_t>(L * D, 1), 1, block);
  // The temporal encoder once per video piece (it reads one video at a time: pieces are exact).
  std::vector<Tensor> temporal_pieces, mask_pieces;
  for (int64_t v0 = 0; v0 < V; v0 += piece_videos) {
    const int64_t vn = std::min(piece_videos, V - v0);
    mask_pieces.push_back(ops::narrow(videos.video_mask, 0, v0, vn));
    temporal_pieces.push_back(temporal({ops::narrow(videos.frames, 0, v0, vn), mask_pieces.back()}));
  }
  std::vector<Tensor> rows;
  for (int64_t t0 = 0; t0 < T; t0 += block) {
    const int64_t tb = std::min(block, T - t0);
    std::vector<Tensor> cols;
    for (size_t piece = 0; piece < temporal_pieces.size(); ++piece) {
      const Tensor& h = temporal_pieces[piece];
      const Tensor& mask = mask_pieces[piece];
      const int64_t vn = h.dim(0);
      const int64_t piece_texts = std::clamp<int64_t>(budget / std::max<int64_t>(L * vn * D, 1), 1, tb);
      std::vector<Tensor> piece_rows;
      for (int64_t s0 = t0; s0 < t0 + tb; s0 += piece_texts) {
        const int64_t sn = std::min(piece_texts, t0 + tb - s0);
        const TcMgcInputs in{ops::narrow(sentence, 0, s0, sn), ops::narrow(texts.words, 0, s0, sn), h, mask};
        piece_rows.push_back(tc_mgc_terms(options_, params_, tau, in, DropoutDraw{}).fused);
      }
      cols.push_back(piece_rows.size() == 1 ? piece_rows[0] : ops::concat(piece_rows, 0));
    }
    rows.push_back(cols.size() == 1 ? cols[0] : ops::concat(cols, 1));
  }
  return rows.size() == 1 ? rows[0] : ops::concat(rows, 0);
}

void TcMgcHead::reset_parameters(uint64_t seed) {
  NoGradGuard no_grad;
  for (Tensor* m : {&params_.global_mat_weight, &params_.local_mat_weight, &params_.attentive_word_logit_weight,
                    &params_.concat_frame_word_logit_weight, &params_.attentive_word_mat_weight,
                    &params_.attentive_word_mat_weight2, &params_.attentive_frame_word_mat_weight,
                    &params_.attentive_frame_word_mat_weight2})
    m->copy_(Tensor::eye(m->dim(0), m->dtype()));
  const int64_t G = params_.logit_weight.dim(0);
  params_.logit_weight.copy_(options_.lsa_init == "eye" ? Tensor::eye(G, params_.logit_weight.dtype())
                                                        : Tensor::zeros(Shape{G, G}, params_.logit_weight.dtype()));
  // init_weights redraws every nn.Linear: N(0, 0.02), bias 0; torch.nn.LayerNorm keeps 1 / 0.
  Generator gen(seed);
  params_.proj_weight.copy_(Tensor::randn(params_.proj_weight.shape(), gen, params_.proj_weight.dtype(), 0.0, 0.02));
  for (Tensor* b : {&params_.proj_bias, &params_.ln1_bias, &params_.ln2_bias, &params_.ln3_bias})
    b->copy_(Tensor::zeros(b->shape(), b->dtype()));
  for (Tensor* g : {&params_.ln1_weight, &params_.ln2_weight, &params_.ln3_weight})
    g->copy_(Tensor::ones(g->shape(), g->dtype()));
  reset_temporal_encoder(seed);
}

ParamRole TcMgcHead::param_role(const std::string& name) const {
  XCLIP_CHECK(has_parameter(name), "tc_mgc head: no parameter named '", name,
              "' (the similarity matrices, logit_weight, conditional_transformer.pool_frames.*, "
              "frame_position_embeddings.*, transformerClip.*)");
  // The original gathers the raw features before the LVA: everything but the temporal encoder
  // runs on the gathered features, so its local gradient is already the full one. Its
  // layer_norm*.weight does not match "LayerNorm.weight" and is decayed, as in the original.
  return ParamRole{false, !is_no_decay_parameter(name), false, !TemporalEncoder::owns(name)};
}

bool TcMgcHead::ignores_state_name(const std::string& name) const {
  static const std::string prefix = "conditional_transformer.pool_frames.cross_attn.";
  if (!name.starts_with(prefix)) return false;
  const std::string rest = name.substr(prefix.size());
  for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"})
    for (const char* kind : {".weight", ".bias"})
      if (rest == std::string(proj) + kind) return true;
  return false;
}

}  // namespace xclip::models
