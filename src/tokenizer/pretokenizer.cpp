// The pre-tokenizer types of tokenizer.json and tokenizers' split behaviours (see pretokenizer.h).
#include "tokenizer/pretokenizer.h"

#include <utility>

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/string_pattern.h"

namespace shardlm {
namespace {

namespace jf = json_fields;

// GPT-2's word-splitting regex, used by ByteLevel when use_regex is true.
constexpr const char* kGpt2SplitRegex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// What happens to the matched delimiters when splitting (tokenizers' SplitDelimiterBehavior).
enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

struct Span {
  size_t begin, end;
  bool flag;  // is a match (input to the behaviour) / is to be removed (output)
};

// Cuts `text` into the spans that matches.find_all gives and the gaps between them, then applies
// `behavior`, as tokenizers' NormalizedString::split does.
std::vector<Span> split_spans(size_t text_size, const std::vector<std::pair<size_t, size_t>>& matches,
                              SplitBehavior behavior, bool invert) {
  std::vector<Span> spans;
  size_t prev = 0;
  for (const auto& [begin, end] : matches) {
    if (prev != begin) spans.push_back({prev, begin, invert});
    spans.push_back({begin, end, !invert});
    prev = end;
  }
  if (prev != text_size) spans.push_back({prev, text_size, invert});

  std::vector<Span> out;
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::Removed:
      return spans;
    case SplitBehavior::Isolated:
      for (const Span& s : spans) out.push_back({s.begin, s.end, false});
      return out;
    case SplitBehavior::Contiguous:
      for (const Span& s : spans) {
        if (s.flag == previous_match && !out.empty()) {
          out.back().end = s.end;
        } else {
          out.push_back({s.begin, s.end, false});
        }
        previous_match = s.flag;
      }
      return out;
    case SplitBehavior::MergedWithPrevious:
      for (const Span& s : spans) {
        if (s.flag && !previous_match && !out.empty()) {
          out.back().end = s.end;
        } else {
          out.push_back({s.begin, s.end, false});
        }
        previous_match = s.flag;
      }
      return out;
    case SplitBehavior::MergedWithNext:
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->flag && !previous_match && !out.empty()) {
          out.back().begin = it->begin;
        } else {
          out.push_back({it->begin, it->end, false});
        }
        previous_match = it->flag;
      }
      return {out.rbegin(), out.rend()};
  }
  return out;
}

void append_sub_pieces(const TextPiece& piece, const std::vector<Span>& spans, std::vector<TextPiece>& out) {
  for (const Span& s : spans) {
    if (s.flag || s.begin == s.end) continue;
    out.push_back({piece.text.substr(s.begin, s.end - s.begin), piece.at_text_start && s.begin == 0});
  }
}

SplitBehavior parse_behavior(const std::string& name, const std::string& where) {
  if (name == "Removed") return SplitBehavior::Removed;
  if (name == "Isolated") return SplitBehavior::Isolated;
  if (name == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (name == "Contiguous") return SplitBehavior::Contiguous;
  fail(where, ": unknown split behavior '", name,
       "' (expected Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous)");
}

// Splits every piece on a pattern's matches.
class PatternSplit final : public PreTokenizer {
 public:
  PatternSplit(StringPattern pattern, SplitBehavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(std::vector<TextPiece>& pieces) const override {
    std::vector<TextPiece> out;
    for (const TextPiece& piece : pieces)
      append_sub_pieces(piece, split_spans(piece.text.size(), pattern_.find_all(piece.text), behavior_, invert_), out);
    pieces = std::move(out);
  }

 private:
  StringPattern pattern_;
  SplitBehavior behavior_;
  bool invert_;
};

class SequencePreTokenizer final : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> steps) : steps_(std::move(steps)) {}
  void pre_tokenize(std::vector<TextPiece>& pieces) const override {
    for (const auto& step : steps_) step->pre_tokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex) : add_prefix_space_(add_prefix_space) {
    if (use_regex)
      split_ = std::make_unique<PatternSplit>(StringPattern::from_json({{"Regex", kGpt2SplitRegex}}, "GPT-2 regex"),
                                              SplitBehavior::Isolated, false);
  }
  void pre_tokenize(std::vector<TextPiece>& pieces) const override {
    if (add_prefix_space_) {
      for (TextPiece& piece : pieces)
        if (!piece.text.empty() && piece.text[0] != ' ') piece.text.insert(0, 1, ' ');
    }
    if (split_) split_->pre_tokenize(pieces);
    std::vector<TextPiece> out;
    out.reserve(pieces.size());
    for (TextPiece& piece : pieces)
      if (!piece.text.empty()) out.push_back({byte_level::encode_bytes(piece.text), piece.at_text_start});
    pieces = std::move(out);
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<PatternSplit> split_;
};

enum class PrependScheme { Always, First, Never };

class MetaspacePreTokenizer final : public PreTokenizer {
 public:
  MetaspacePreTokenizer(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {}
  void pre_tokenize(std::vector<TextPiece>& pieces) const override {
    const StringPattern space = StringPattern::literal(" ");
    const StringPattern replacement = StringPattern::literal(replacement_);
    std::vector<TextPiece> out;
    for (const TextPiece& piece : pieces) {
      TextPiece p{space.replace_all(piece.text, replacement_), piece.at_text_start};
      const bool wants_prefix = scheme_ == PrependScheme::Always || (scheme_ == PrependScheme::First && p.at_text_start);
      if (wants_prefix && !p.text.empty() && p.text.rfind(replacement_, 0) != 0) p.text.insert(0, replacement_);
      if (split_) {
        append_sub_pieces(p, split_spans(p.text.size(), replacement.find_all(p.text), SplitBehavior::MergedWithNext, false),
                          out);
      } else if (!p.text.empty()) {
        out.push_back(std::move(p));
      }
    }
    pieces = std::move(out);
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
};

std::unique_ptr<PreTokenizer> metaspace_from_json(const jf::Json& config, const std::string& where) {
  const std::string replacement = jf::require_string(config, "replacement", where);
  PrependScheme scheme = PrependScheme::Always;
  if (auto name = jf::get_string(config, "prepend_scheme", where)) {
    if (*name == "always") {
      scheme = PrependScheme::Always;
    } else if (*name == "first") {
      scheme = PrependScheme::First;
    } else if (*name == "never") {
      scheme = PrependScheme::Never;
    } else {
      fail(jf::child(where, "prepend_scheme"), ": expected always, first or never, found '", *name, "'");
    }
  } else {
    // Files written before prepend_scheme existed carry add_prefix_space instead.
    scheme = jf::get_bool(config, "add_prefix_space", true, where) ? PrependScheme::Always : PrependScheme::Never;
  }
  return std::make_unique<MetaspacePreTokenizer>(replacement, scheme, jf::get_bool(config, "split", true, where));
}

std::unique_ptr<PreTokenizer> regex_split(const std::string& regex, SplitBehavior behavior, bool invert) {
  return std::make_unique<PatternSplit>(StringPattern::from_json({{"Regex", regex}}, "built-in pattern"), behavior,
                                        invert);
}

}  // namespace

std::unique_ptr<PreTokenizer> make_byte_level_pre_tokenizer(bool add_prefix_space, bool use_regex) {
  return std::make_unique<ByteLevelPreTokenizer>(add_prefix_space, use_regex);
}

std::unique_ptr<PreTokenizer> pre_tokenizer_from_json(const jf::Json& config, const std::string& where) {
  const std::string type = jf::type_of(config, where);
  if (type == "Sequence") {
    const jf::Json& list = jf::require_array(config, "pretokenizers", where);
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    for (size_t i = 0; i < list.size(); ++i)
      steps.push_back(pre_tokenizer_from_json(list[i], jf::child(jf::child(where, "pretokenizers"), i)));
    return std::make_unique<SequencePreTokenizer>(std::move(steps));
  }
  if (type == "Split") {
    return std::make_unique<PatternSplit>(
        StringPattern::from_json(jf::require(config, "pattern", where), jf::child(where, "pattern")),
        parse_behavior(jf::require_string(config, "behavior", where), jf::child(where, "behavior")),
        jf::get_bool(config, "invert", false, where));
  }
  if (type == "ByteLevel") {
    return make_byte_level_pre_tokenizer(jf::get_bool(config, "add_prefix_space", true, where),
                                         jf::get_bool(config, "use_regex", true, where));
  }
  if (type == "Metaspace") return metaspace_from_json(config, where);
  if (type == "Whitespace") return regex_split(R"(\w+|[^\w\s]+)", SplitBehavior::Removed, true);
  if (type == "WhitespaceSplit") return regex_split(R"(\s+)", SplitBehavior::Removed, false);
  if (type == "Digits") {
    return regex_split(R"(\p{N})",
                       jf::get_bool(config, "individual_digits", false, where) ? SplitBehavior::Isolated
                                                                                : SplitBehavior::Contiguous,
                       false);
  }
  if (type == "Punctuation") {
    const std::string behavior = jf::get_string(config, "behavior", where).value_or("Isolated");
    return regex_split(R"([\p{P}!-/:-@\[-`{-~])", parse_behavior(behavior, jf::child(where, "behavior")), false);
  }
  fail(jf::child(where, "type"), ": pre-tokenizer type '", type,
       "' is not supported (supported: Sequence, Split, ByteLevel, Metaspace, Whitespace, WhitespaceSplit, Digits, "
       "Punctuation)");
}

}  // namespace shardlm
