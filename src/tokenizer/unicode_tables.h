// Unicode data tables (generated into unicode_tables.cpp by gen_unicode_tables.py): combining classes,
// decompositions, primary compositions and lowercase mappings, each sorted by code point.
#pragma once
#include <cstddef>
#include <cstdint>

namespace shardlm::unicode_tables {

extern const char* const kUnicodeVersion;

struct CombiningClassRange {
  char32_t first;
  char32_t last;
  uint8_t combining_class;
};
extern const CombiningClassRange kCombiningClassRanges[];
extern const size_t kNumCombiningClassRanges;

// One level of decomposition: kDecompositionChars[offset .. offset+length). Hangul syllables are
// algorithmic and not listed.
struct Decomposition {
  char32_t code_point;
  uint16_t offset;
  uint8_t length;
  bool is_compatibility;
};
extern const char32_t kDecompositionChars[];
extern const Decomposition kDecompositions[];
extern const size_t kNumDecompositions;

// Sorted by (first, second).
struct Composition {
  char32_t first;
  char32_t second;
  char32_t composite;
};
extern const Composition kCompositions[];
extern const size_t kNumCompositions;

struct CaseMapping {
  char32_t code_point;
  uint16_t offset;
  uint8_t length;
};
extern const char32_t kLowercaseChars[];
extern const CaseMapping kLowercase[];
extern const size_t kNumLowercase;

}  // namespace shardlm::unicode_tables
