// BPE merging. The original recomputes all pairs after each merge (quadratic in the piece
// length); this does the same merges with a heap, so an enormous "word" (a long URL, a run of
// letters) costs O(n log n) instead of hanging:
//   - each heap entry is an adjacent pair (rank, left node, right node, their symbols);
//   - one round takes every entry of the lowest rank (all occurrences of one pair), and merges
//     them left to right, skipping those whose nodes changed - which is exactly the original's
//     "merge every non-overlapping occurrence, left to right" pass over the word;
//   - pairs created by a merge enter the heap and compete from the next round on, as the
//     original's next min() over the new word does.
#include "bpe_merge.hpp"

#include <algorithm>
#include <queue>

namespace xclip::text::detail {
namespace {

struct PairEntry {
  int32_t rank;
  int32_t left;   // node index
  int32_t right;  // node index
  int32_t left_symbol;
  int32_t right_symbol;
  int32_t merged;
};

struct LaterFirst {
  bool operator()(const PairEntry& a, const PairEntry& b) const {
    return a.rank != b.rank ? a.rank > b.rank : a.left > b.left;
  }
};

class MergeState {
 public:
  MergeState(const BpeVocabulary& vocab, std::string_view piece) : vocab_(vocab) {
    const std::size_t n = piece.size();
    symbol_.resize(n);
    next_.resize(n);
    prev_.resize(n);
    alive_.assign(n, true);
    for (std::size_t i = 0; i < n; ++i) {
      const auto b = static_cast<unsigned char>(piece[i]);
      symbol_[i] = (i + 1 == n) ? vocab.byte_word_end[b] : vocab.byte_symbol[b];
      next_[i] = (i + 1 == n) ? -1 : static_cast<int32_t>(i + 1);
      prev_[i] = static_cast<int32_t>(i) - 1;
    }
    remaining_ = n;
    for (std::size_t i = 0; i + 1 < n; ++i) push_pair(static_cast<int32_t>(i));
  }

  void run() {
    std::vector<PairEntry> round;
    while (remaining_ > 1 && !heap_.empty()) {
      round.clear();
      const int32_t rank = heap_.top().rank;
      while (!heap_.empty() && heap_.top().rank == rank) {
        round.push_back(heap_.top());
        heap_.pop();
      }
      // The heap yields equal ranks by increasing left node: already left to right.
      for (const PairEntry& e : round)
        if (still_adjacent(e)) merge(e);
    }
  }

  void append_result(std::vector<int32_t>& out) const {
    for (int32_t i = 0; i >= 0; i = next_[i]) out.push_back(symbol_[i]);
  }

 private:
  void push_pair(int32_t left) {
    const int32_t right = next_[left];
    if (right < 0) return;
    auto it = vocab_.merges.find(pair_key(symbol_[left], symbol_[right]));
    if (it == vocab_.merges.end()) return;
    heap_.push(PairEntry{it->second.rank, left, right, symbol_[left], symbol_[right], it->second.merged});
  }

  bool still_adjacent(const PairEntry& e) const {
    return alive_[e.left] && alive_[e.right] && next_[e.left] == e.right && symbol_[e.left] == e.left_symbol &&
           symbol_[e.right] == e.right_symbol;
  }

  void merge(const PairEntry& e) {
    symbol_[e.left] = e.merged;
    alive_[e.right] = false;
    next_[e.left] = next_[e.right];
    if (next_[e.left] >= 0) prev_[next_[e.left]] = e.left;
    --remaining_;
    if (prev_[e.left] >= 0) push_pair(prev_[e.left]);
    push_pair(e.left);
  }

  const BpeVocabulary& vocab_;
  std::vector<int32_t> symbol_, next_, prev_;
  std::vector<bool> alive_;
  std::size_t remaining_ = 0;
  std::priority_queue<PairEntry, std::vector<PairEntry>, LaterFirst> heap_;
};

}  // namespace

void bpe_encode_piece(const BpeVocabulary& vocab, std::string_view piece, std::vector<int32_t>& out) {
  if (piece.empty()) return;
  MergeState state(vocab, piece);
  state.run();
  state.append_result(out);
}

}  // namespace xclip::text::detail
