// The decoder types of tokenizer.json (see decoder.h), following tokenizers' decode_chain of each.
#include "tokenizer/decoder.h"

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/string_pattern.h"
#include "tokenizer/utf8.h"

namespace shardlm {
namespace {

namespace jf = json_fields;

// Maps every token's characters back to bytes and the whole into one string (invalid UTF-8 becomes
// U+FFFD). A token with a character outside the byte map (an added token such as "中") contributes
// its own UTF-8 bytes.
class ByteLevelDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    std::string token_bytes;
    for (const std::string& token : tokens) {
      token_bytes.clear();
      bool all_mapped = true;
      size_t pos = 0;
      while (pos < token.size()) {
        const auto b = byte_level::byte_for_char(utf8::decode_at(token, pos));
        if (!b) {
          all_mapped = false;
          break;
        }
        token_bytes.push_back(static_cast<char>(*b));
      }
      bytes += all_mapped ? token_bytes : token;
    }
    tokens.assign(1, utf8::from_bytes_lossy(bytes));
  }
};

// Runs of <0xXX> tokens become the UTF-8 text of their bytes, or one U+FFFD per byte when the run is
// not valid UTF-8.
class ByteFallbackDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string pending;
    auto flush = [&] {
      if (pending.empty()) return;
      if (utf8::first_invalid_offset(pending) == std::string::npos) {
        out.push_back(pending);
      } else {
        for (size_t i = 0; i < pending.size(); ++i) out.emplace_back(utf8::kReplacementChar);
      }
      pending.clear();
    };
    for (std::string& token : tokens) {
      if (auto byte = parse_byte_token(token)) {
        pending.push_back(static_cast<char>(*byte));
      } else {
        flush();
        out.push_back(std::move(token));
      }
    }
    flush();
    tokens = std::move(out);
  }

 private:
  static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  // "<0xHH>" with two hex digits; like Rust's u8::from_str_radix, "+H" is accepted as well.
  static std::optional<uint8_t> parse_byte_token(const std::string& token) {
    if (token.size() != 6 || token.compare(0, 3, "<0x") != 0 || token[5] != '>') return std::nullopt;
    const int low = hex_value(token[4]);
    if (low < 0) return std::nullopt;
    if (token[3] == '+') return static_cast<uint8_t>(low);
    const int high = hex_value(token[3]);
    if (high < 0) return std::nullopt;
    return static_cast<uint8_t>(high * 16 + low);
  }
};

class FuseDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const std::string& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

class ReplaceDecoder final : public Decoder {
 public:
  ReplaceDecoder(StringPattern pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) t = pattern_.replace_all(t, content_);
  }

 private:
  StringPattern pattern_;
  std::string content_;
};

// Removes up to `start` leading and `stop` trailing occurrences of one character from each token.
class StripDecoder final : public Decoder {
 public:
  StripDecoder(std::string content, size_t start, size_t stop)
      : content_(std::move(content)), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) {
      size_t begin = 0;
      for (size_t i = 0; i < start_ && begin + content_.size() <= t.size() &&
                         t.compare(begin, content_.size(), content_) == 0;
           ++i)
        begin += content_.size();
      size_t end = t.size();
      for (size_t i = 0; i < stop_ && end >= begin + content_.size() &&
                         t.compare(end - content_.size(), content_.size(), content_) == 0;
           ++i)
        end -= content_.size();
      t = t.substr(begin, end - begin);
    }
  }

 private:
  std::string content_;
  size_t start_, stop_;
};

// "▁" -> " "; in the first token the replacement character is dropped unless prepend_scheme is "never".
class MetaspaceDecoder final : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, bool drop_in_first)
      : replacement_(std::move(replacement)), drop_in_first_(drop_in_first) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    const StringPattern pattern = StringPattern::literal(replacement_);
    for (size_t i = 0; i < tokens.size(); ++i)
      tokens[i] = pattern.replace_all(tokens[i], (i == 0 && drop_in_first_) ? "" : " ");
  }

 private:
  std::string replacement_;
  bool drop_in_first_;
};

// BPEDecoder: the end-of-word suffix becomes a space, except in the last token.
class BpeSuffixDecoder final : public Decoder {
 public:
  explicit BpeSuffixDecoder(std::string suffix) : suffix_(std::move(suffix)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    const StringPattern pattern = StringPattern::literal(suffix_);
    for (size_t i = 0; i < tokens.size(); ++i)
      tokens[i] = pattern.replace_all(tokens[i], i + 1 == tokens.size() ? "" : " ");
  }

 private:
  std::string suffix_;
};

class SequenceDecoder final : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> steps) : steps_(std::move(steps)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& step : steps_) step->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> steps_;
};

size_t get_count(const jf::Json& config, const std::string& key, const std::string& where) {
  const int64_t n = jf::require_int(config, key, where);
  if (n < 0) fail(jf::child(where, key), ": expected a non-negative count, found ", n);
  return static_cast<size_t>(n);
}

}  // namespace

std::string Decoder::decode(std::vector<std::string> tokens) const {
  decode_chain(tokens);
  std::string out;
  for (const std::string& t : tokens) out += t;
  return out;
}

std::unique_ptr<Decoder> make_byte_level_decoder() { return std::make_unique<ByteLevelDecoder>(); }

std::unique_ptr<Decoder> decoder_from_json(const jf::Json& config, const std::string& where) {
  const std::string type = jf::type_of(config, where);
  if (type == "ByteLevel") return make_byte_level_decoder();
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Replace") {
    return std::make_unique<ReplaceDecoder>(
        StringPattern::from_json(jf::require(config, "pattern", where), jf::child(where, "pattern")),
        jf::require_string(config, "content", where));
  }
  if (type == "Strip") {
    const std::string content = jf::require_string(config, "content", where);
    if (content.empty() || utf8::valid_sequence_length(content, 0) != content.size())
      fail(jf::child(where, "content"), ": expected one character, found '", content, "'");
    return std::make_unique<StripDecoder>(content, get_count(config, "start", where), get_count(config, "stop", where));
  }
  if (type == "Metaspace") {
    const std::string replacement = jf::require_string(config, "replacement", where);
    bool drop_in_first = true;
    if (auto scheme = jf::get_string(config, "prepend_scheme", where)) {
      drop_in_first = *scheme != "never";
    } else {
      drop_in_first = jf::get_bool(config, "add_prefix_space", true, where);
    }
    return std::make_unique<MetaspaceDecoder>(replacement, drop_in_first);
  }
  if (type == "BPEDecoder") {
    return std::make_unique<BpeSuffixDecoder>(jf::get_string(config, "suffix", where).value_or("</w>"));
  }
  if (type == "Sequence") {
    const jf::Json& list = jf::require_array(config, "decoders", where);
    std::vector<std::unique_ptr<Decoder>> steps;
    for (size_t i = 0; i < list.size(); ++i)
      steps.push_back(decoder_from_json(list[i], jf::child(jf::child(where, "decoders"), i)));
    return std::make_unique<SequenceDecoder>(std::move(steps));
  }
  fail(jf::child(where, "type"), ": decoder type '", type,
       "' is not supported (supported: ByteLevel, ByteFallback, Fuse, Replace, Strip, Metaspace, BPEDecoder, "
       "Sequence)");
}

}  // namespace shardlm
