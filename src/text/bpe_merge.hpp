// Applies BPE merges to one pre-split piece (see bpe_merge.cpp).
#pragma once
#include <string_view>
#include <vector>

#include "bpe_vocab.hpp"

namespace xclip::text::detail {

// Appends the ids of `piece` (its UTF-8 bytes) after BPE: every byte becomes its symbol, the last
// one with "</w>", then the lowest-ranked adjacent pair is merged everywhere until none is left.
void bpe_encode_piece(const BpeVocabulary& vocab, std::string_view piece, std::vector<int32_t>& out);

}  // namespace xclip::text::detail
