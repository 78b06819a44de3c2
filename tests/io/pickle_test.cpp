// The restricted pickle machine on pickles CPython wrote (tests/io/data, see its README), and its refusals.
#include "io/pickle.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "pickle_builder.h"
#include "test_util.h"

namespace shardlm {
namespace {

using Kind = PickleValue::Kind;
using testing::expect_error;
using testing::NoHooks;

std::string read_data_file(const std::string& name) {
  std::ifstream in(std::string(SHARDLM_SOURCE_DIR) + "/tests/io/data/" + name, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

const PickleValue* lookup(const PickleValue* dict, const std::string& key) {
  for (const auto& [k, v] : dict->entries)
    if (k->kind == Kind::String && k->text == key) return v;
  ADD_FAILURE() << "no key " << key;
  static PickleValue none;
  return &none;
}

PickleValue* run(const std::string& bytes, PickleArena& arena) {
  NoHooks hooks;
  return unpickle(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), arena, hooks, "test.pkl");
}

TEST(Pickle, Protocol2FromCPython) {
  std::string bytes = read_data_file("python_protocol2.pkl");
  ASSERT_FALSE(bytes.empty());
  PickleArena arena;
  const PickleValue* root = run(bytes, arena);
  ASSERT_EQ(root->kind, Kind::Dict);

  const std::vector<int64_t> expected_ints = {
      0, 255, 256, 65535, 65536, -1, -2147483648, 2147483648, 1099511627776, -1099511627776, INT64_MAX, INT64_MIN};
  const PickleValue* ints = lookup(root, "ints");
  ASSERT_EQ(ints->items.size(), expected_ints.size());
  for (size_t i = 0; i < expected_ints.size(); ++i) {
    EXPECT_EQ(ints->items[i]->kind, Kind::Int);
    EXPECT_EQ(ints->items[i]->int_value, expected_ints[i]) << i;
  }
  const PickleValue* f = lookup(root, "f");
  EXPECT_EQ(f->items[0]->float_value, 3.5);
  EXPECT_EQ(f->items[1]->float_value, -0.125);
  const PickleValue* c = lookup(root, "c");
  EXPECT_EQ(c->items[0]->kind, Kind::None);
  EXPECT_TRUE(c->items[1]->bool_value);
  EXPECT_EQ(c->items[2]->kind, Kind::Bool);
  EXPECT_FALSE(c->items[2]->bool_value);
  const PickleValue* t = lookup(root, "t");
  ASSERT_EQ(t->items.size(), 5u);
  for (size_t n = 0; n < 5; ++n) {
    EXPECT_EQ(t->items[n]->kind, Kind::Tuple);
    ASSERT_EQ(t->items[n]->items.size(), n);
    for (size_t i = 0; i < n; ++i) EXPECT_EQ(t->items[n]->items[i]->int_value, (int64_t)i + 1);
  }
  const PickleValue* lists = lookup(root, "lists");
  ASSERT_EQ(lists->items.size(), 260u);
  EXPECT_EQ(lookup(root, "again"), lists->items[259]);  // the same object, through LONG_BINGET
  EXPECT_NE(lists->items[258], lists->items[259]);
  EXPECT_EQ(lookup(root, "u")->text, "h\xc3\xa9");
  EXPECT_EQ(lookup(root, "one")->items.at(0)->int_value, 7);
  EXPECT_EQ(lookup(lookup(root, "d1"), "k")->int_value, 1);
}

TEST(Pickle, Protocol4FromCPython) {
  std::string bytes = read_data_file("python_protocol4.pkl");
  ASSERT_FALSE(bytes.empty());
  PickleArena arena;
  const PickleValue* root = run(bytes, arena);
  EXPECT_EQ(lookup(root, "b")->kind, Kind::Bytes);
  EXPECT_EQ(lookup(root, "b")->text, std::string("\0y", 2));
  EXPECT_EQ(lookup(root, "u")->text, "h\xc3\xa9");
  EXPECT_EQ(lookup(root, "n")->items.size(), 2u);
  EXPECT_EQ(lookup(root, "big")->text, std::string(300, 'z'));
}

TEST(Pickle, GlobalsReduceAndPersistentIdsGoToTheHooks) {
  PickleArena arena;
  expect_error(
      [&] {
        run("\x80\x02"
            "cos\nsystem\n.",
            arena);
      },
      {"refused global os.system"});
  expect_error(
      [&] {
        run("\x80\x02"
            "K\x01Q.",
            arena);
      },
      {"refused persistent id"});
}

TEST(Pickle, MalformedInputIsAnErrorWithItsOffset) {
  PickleArena arena;
  expect_error([&] { run("", arena); }, {"test.pkl: malformed pickle at byte 0", "the pickle ends"});
  expect_error([&] { run("\x80\x09.", arena); }, {"unsupported pickle protocol 9"});
  expect_error(
      [&] {
        run("\x80\x02"
            "a.",
            arena);
      },
      {"at byte 2", "stack underflow"});
  expect_error(
      [&] {
        run("\x80\x02"
            "K\x01K\x02"
            "a.",
            arena);
      },
      {"APPEND expects a list, found a int"});
  expect_error(
      [&] {
        run("\x80\x02"
            "h\x05.",
            arena);
      },
      {"memo entry 5 was never stored"});
  expect_error(
      [&] {
        run("\x80\x02"
            "}(K\x01u.",
            arena);
      },
      {"SETITEMS has an odd number"});
  expect_error(
      [&] {
        run("\x80\x02"
            "t.",
            arena);
      },
      {"no MARK"});
  expect_error(
      [&] {
        run("\x80\x02"
            "X\xff\xff\xff\x7f"
            "abc.",
            arena);
      },
      {"the pickle ends"});
  expect_error(
      [&] {
        run("\x80\x02\x8a\x09"
            "123456789.",
            arena);
      },
      {"9 bytes does not fit 64 bits"});
  // Items below a MARK are out of reach, as in CPython: REDUCE here sees an empty frame.
  expect_error(
      [&] {
        run("\x80\x02"
            "K\x01)(R.",
            arena);
      },
      {"stack underflow"});
  expect_error(
      [&] {
        run("\x80\x02"
            "c"
            "os",
            arena);
      },
      {"unterminated text line"});
}

}  // namespace
}  // namespace shardlm
