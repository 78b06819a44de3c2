// Chat templates: the Jinja renderer against transformers' goldens (tests/data/chat_templates), the language
// features one by one, errors that name their line, hostile templates that must fail cleanly, and finding
// a model folder's template.
#include "tokenizer/chat_template.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/fixtures.h"
#include "core/error.h"
#include "temp_dir.h"
#include "tokenizer/tokenizer_config.h"

namespace shardlm::testing {
namespace {

using Json = nlohmann::ordered_json;

std::string data_dir() { return std::string(SHARDLM_SOURCE_DIR) + "/tests/data/chat_templates"; }

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const Json& goldens() {
  static const Json g = Json::parse(read_file(data_dir() + "/goldens.json"));
  return g;
}

ChatTemplateOptions fixed_now() {
  ChatTemplateOptions o;
  o.now = goldens()["now_unix"].get<int64_t>();
  return o;
}

std::string render(const std::string& tmpl, const Json& context = Json::object()) {
  return ChatTemplate::parse(tmpl).render(context, fixed_now());
}

// The message of the shardlm::Error that `fn` throws ("" and a test failure when it throws none).
template <typename Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a shardlm::Error";
  return "";
}

std::string render_error(const std::string& tmpl, const Json& context = Json::object()) {
  return error_of([&] { render(tmpl, context); });
}

void expect_contains(const std::string& text, std::initializer_list<std::string> needles) {
  for (const std::string& n : needles) EXPECT_NE(text.find(n), std::string::npos) << "'" << n << "' not in: " << text;
}

// ---------------------------------------------------------------------------------------------------------
// Goldens from transformers

TEST(ChatTemplateGolden, SnippetsMatchJinja2) {
  int outputs = 0, errors = 0;
  for (const Json& s : goldens()["snippets"]) {
    const std::string name = s["name"].get<std::string>();
    SCOPED_TRACE("snippet " + name + ": " + s["template"].get<std::string>());
    if (s.contains("output")) {
      std::string got;
      try {
        got = render(s["template"].get<std::string>(), s["context"]);
      } catch (const Error& e) {
        ADD_FAILURE() << "threw: " << e.what();
        continue;
      }
      EXPECT_EQ(got, s["output"].get<std::string>());
      ++outputs;
    } else {
      const std::string msg = render_error(s["template"].get<std::string>(), s["context"]);
      expect_contains(msg, {"chat template"});
      if (s["error"]["type"] == "TemplateError") expect_contains(msg, {s["error"]["message"].get<std::string>()});
      ++errors;
    }
  }
  EXPECT_GE(outputs, 100);
  EXPECT_GE(errors, 40);
}

TEST(ChatTemplateGolden, TemplatesMatchApplyChatTemplate) {
  std::map<std::string, const Json*> cases;
  for (const Json& c : goldens()["cases"]) cases[c["name"].get<std::string>()] = &c;
  int outputs = 0, rejections = 0;
  for (const Json& t : goldens()["templates"]) {
    const std::string file = t["file"].get<std::string>();
    const ChatTemplate tmpl = ChatTemplate::parse(read_file(data_dir() + "/" + file));
    for (const Json& r : t["results"]) {
      const Json& c = *cases.at(r["case"].get<std::string>());
      SCOPED_TRACE(file + " / " + r["case"].get<std::string>());
      ChatTemplateInputs in;
      in.messages = c["messages"];
      if (c.contains("tools")) in.tools = c["tools"];
      if (c.contains("documents")) in.documents = c["documents"];
      in.add_generation_prompt = c.value("add_generation_prompt", false);
      in.continue_final_message = c["continue_final_message"].get<std::string>();
      in.kwargs = t["special_tokens"];
      if (c.contains("kwargs"))
        for (auto it = c["kwargs"].begin(); it != c["kwargs"].end(); ++it) in.kwargs[it.key()] = it.value();
      if (r.contains("output")) {
        try {
          EXPECT_EQ(tmpl.apply(in, fixed_now()), r["output"].get<std::string>());
        } catch (const Error& e) {
          ADD_FAILURE() << "threw: " << e.what();
        }
        ++outputs;
      } else {
        const std::string msg = error_of([&] { tmpl.apply(in, fixed_now()); });
        // What the template's raise_exception() says, or jinja2's message ("'dict object' has no attribute
        // 'content'", "can only concatenate str ...").
        expect_contains(msg, {r["error"]["message"].get<std::string>()});
        ++rejections;
      }
    }
  }
  EXPECT_EQ(goldens()["templates"].size(), 10u);
  EXPECT_GE(outputs, 140);
  EXPECT_GE(rejections, 30);
}

// The fixture folders hold the real tokenizer_config.json of Qwen3 and Mistral v0.3: the template found
// there is the one in tests/data, and rendering it with the folder's own special tokens matches the golden.
TEST(ChatTemplateGolden, FixtureFoldersGiveTheSameTemplates) {
  SHARDLM_REQUIRE_FIXTURES();
  const std::pair<const char*, const char*> folders[] = {{"qwen3", "qwen3.jinja"},
                                                         {"mistral-v03", "mistral-7b-instruct-v0.3.jinja"}};
  for (const auto& [folder, file] : folders) {
    SCOPED_TRACE(folder);
    const std::optional<std::string> found = find_chat_template(tokenizer_dir(folder));
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(*found, read_file(data_dir() + "/" + file));
    const Json special = chat_template_special_tokens(read_tokenizer_config(tokenizer_dir(folder)));
    for (const Json& t : goldens()["templates"]) {
      if (t["file"] != file) continue;
      EXPECT_EQ(special, t["special_tokens"]);
      ChatTemplateInputs in;
      in.messages = goldens()["cases"][2]["messages"];  // system_multi_turn
      in.add_generation_prompt = true;
      in.kwargs = special;
      EXPECT_EQ(ChatTemplate::parse(*found).apply(in), t["results"][2]["output"].get<std::string>());
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// The language

TEST(ChatTemplateJinja, WhitespaceControl) {
  // trim_blocks drops the newline after a tag; lstrip_blocks the indentation before it.
  EXPECT_EQ(render("{% for m in messages %}\n  {% if m.role == 'user' %}\n    U:{{ m.content }}\n  {% endif %}\n"
                   "{% endfor %}\n",
                   Json::parse(R"({"messages": [{"role": "user", "content": "a"}, {"role": "bot", "content": "b"},
                                                {"role": "user", "content": "c"}]})")),
            "    U:a\n    U:c\n");
  EXPECT_EQ(render("<{{- ' x ' -}}>|<{%- if true -%} y {%- endif -%}>|{#- c -#}"), "< x >|<y>|");
  EXPECT_EQ(render("a\n  {%+ if true %}b{% endif %}"), "a\n  b");  // '+' keeps the indentation
  EXPECT_EQ(render("{% if true +%}\nb{% endif %}"), "\nb");        // and the newline
  EXPECT_EQ(render("  {{ 'v' }}\n{{ 'w' }}\n"), "  v\nw");         // {{ }} is not stripped; one final \n goes
  EXPECT_EQ(render("x\r\ny\r{# c #}\r\nz"), "x\ny\nz");
  EXPECT_EQ(render("{% raw %}{{ kept }}{% endraw %}"), "{{ kept }}");
}

TEST(ChatTemplateJinja, PythonStrOfValues) {
  EXPECT_EQ(render("{{ [1, 'two', none, true, 2.5, {'k': (1,)}] }}"), "[1, 'two', None, True, 2.5, {'k': (1,)}]");
  EXPECT_EQ(render("{{ true }} {{ none }} {{ 1.0 }} {{ 1e16 }} {{ 0.1 * 3 }} {{ 10 / 4 }} {{ 7 // -2 }}"),
            "True None 1.0 1e+16 0.30000000000000004 2.5 -4");
  EXPECT_EQ(render("{{ [\"it's\", 'a\\nb'] }}"), "[\"it's\", 'a\\nb']");
  EXPECT_EQ(render("{{ x }}", Json::parse(R"({"x": {"a": [1.5, null, false, "é"]}})")),
            "{'a': [1.5, None, False, 'é']}");
  EXPECT_EQ(render("[{{ missing }}]{{ missing is defined }}"), "[]False");
}

TEST(ChatTemplateJinja, TojsonIsTransformersJsonDumps) {
  const Json ctx = Json::parse(R"({"x": {"name": "é\"q\"", "n": [1, 2.0, null, false], "e": {}}})");
  EXPECT_EQ(render("{{ x|tojson }}", ctx), R"({"name": "é\"q\"", "n": [1, 2.0, null, false], "e": {}})");
  EXPECT_EQ(render("{{ x|tojson(indent=2) }}", ctx),
            "{\n  \"name\": \"é\\\"q\\\"\",\n  \"n\": [\n    1,\n    2.0,\n    null,\n    false\n  ],\n  \"e\": {}\n}");
  EXPECT_EQ(render("{{ 'é<>&'|tojson }}|{{ 'é'|tojson(ensure_ascii=true) }}"), "\"é<>&\"|\"\\u00e9\"");
}

TEST(ChatTemplateJinja, LoopsNamespacesAndScopes) {
  EXPECT_EQ(render("{% set ns = namespace(n=0) %}{% for i in range(5) if i is even %}{% set ns.n = ns.n + i %}"
                   "{% endfor %}{{ ns.n }}"),
            "6");
  EXPECT_EQ(render("{% set x = 1 %}{% for i in range(3) %}{% set x = 5 %}{% endfor %}{{ x }}"), "1");
  EXPECT_EQ(render("{% for k, v in d.items() %}{{ loop.index }}{{ k }}{{ v }}{{ ',' if not loop.last }}{% endfor %}",
                   Json::parse(R"({"d": {"b": 1, "a": 2}})")),
            "1b1,2a2");
  EXPECT_EQ(render("{% for i in range(9) %}{% if i is odd %}{% continue %}{% endif %}{% if i > 5 %}{% break %}"
                   "{% endif %}{{ i }}{% endfor %}"),
            "024");
  EXPECT_EQ(render("{% for x in [] %}no{% else %}empty{% endfor %}"), "empty");
}

TEST(ChatTemplateJinja, MacrosAndCall) {
  EXPECT_EQ(render("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}"
                   "{{ greet('Ann') }} {{ greet('Bo', punct='?') }}"),
            "Hi Ann! Hi Bo?");
  EXPECT_EQ(render("{% macro box() %}[{{ caller() }}]{% endmacro %}{% call box() %}in{% endcall %}"), "[in]");
  EXPECT_EQ(render("{% macro n(k) %}{% if k > 0 %}{{ k }}{{ n(k - 1) }}{% endif %}{% endmacro %}{{ n(3) }}"), "321");
}

TEST(ChatTemplateJinja, StringsAreCodePoints) {
  EXPECT_EQ(render("{{ s.split('/')[1:] | join('+') }} {{ s|length }} {{ s[::-1] }}", Json{{"s", "a/é/c"}}),
            "é+c 5 c/é/a");
  EXPECT_EQ(render("{{ s.strip() }}|{{ s|trim }}", Json{{"s", "\u3000 x\n"}}), "x|x");
}

TEST(ChatTemplateJinja, ExtraKwargsAndSpecialTokens) {
  const ChatTemplate t = ChatTemplate::parse(
      "{{ bos_token }}{% for m in messages %}{{ m.role }}:{{ m.content }}{% endfor %}"
      "{% if add_generation_prompt %}>{% endif %}{% if enable_thinking is false %}[no think]{% endif %}");
  ChatTemplateInputs in;
  in.messages = Json::parse(R"([{"role": "user", "content": "hi", "name": null}])");
  in.add_generation_prompt = true;
  in.kwargs = {{"bos_token", "<s>"}, {"enable_thinking", false}};
  EXPECT_EQ(t.apply(in), "<s>user:hi>[no think]");
  in.kwargs["messages"] = Json::array();
  expect_contains(error_of([&] { t.apply(in); }), {"messages"});
  in.kwargs.erase("messages");
  in.messages = Json::array();
  expect_contains(error_of([&] { t.apply(in); }), {"empty conversation"});
}

TEST(ChatTemplateJinja, StrftimeNow) {
  EXPECT_EQ(render("{{ strftime_now('%d %b %Y') }}"), "03 Sep 2024");
  const std::string year = ChatTemplate::parse("{{ strftime_now('%Y') }}").render(Json::object());
  EXPECT_EQ(year.size(), 4u);  // the current year, local time
}

TEST(ChatTemplateJinja, ConcurrentRendersOfOneTemplate) {
  const ChatTemplate t = ChatTemplate::parse(read_file(data_dir() + "/qwen3.jinja"));
  ChatTemplateInputs in;
  in.messages = goldens()["cases"][2]["messages"];
  in.add_generation_prompt = true;
  const std::string expected = t.apply(in);
  std::vector<std::thread> threads;
  std::vector<int> ok(8, 0);
  for (int k = 0; k < 8; ++k)
    threads.emplace_back([&, k] {
      for (int i = 0; i < 50; ++i) ok[k] += t.apply(in) == expected;
    });
  for (auto& th : threads) th.join();
  for (int k = 0; k < 8; ++k) EXPECT_EQ(ok[k], 50);
}

// ---------------------------------------------------------------------------------------------------------
// Errors name the template, the line and what was wrong

TEST(ChatTemplateJinja, SyntaxErrorsNameLineAndColumn) {
  expect_contains(error_of([] { ChatTemplate::parse("line one\n{% if x %}\n{{ 1 + }}\n{% endif %}"); }),
                  {"chat template", "line 3, column 8", "expected an expression"});
  expect_contains(error_of([] { ChatTemplate::parse("{% for m in messages %}\n{% endif %}"); }),
                  {"line 2", "'endif'", "'endfor'", "line 1"});
  expect_contains(error_of([] { ChatTemplate::parse("{% if true %}never closed"); }),
                  {"unexpected end of template", "'if'", "never closed"});
  expect_contains(error_of([] { ChatTemplate::parse("{{ 'unterminated }}"); }), {"line 1, column 4", "unterminated"});
  expect_contains(error_of([] { ChatTemplate::parse("{% include 'other.jinja' %}"); }), {"'include'", "not supported"});
  expect_contains(error_of([] { ChatTemplate::parse("{% break %}"); }), {"'break' outside a for loop"});
}

TEST(ChatTemplateJinja, RuntimeErrorsNameTheLine) {
  expect_contains(render_error("ok\n{{ raise_exception('Conversation roles must alternate') }}"),
                  {"chat template: line 2", "Conversation roles must alternate"});
  expect_contains(render_error("\n\n{{ 1 + 'a' }}"), {"line 3", "unsupported operand type(s) for +: 'int' and 'str'"});
  expect_contains(render_error("{{ x|nosuchfilter }}"), {"line 1", "no filter named 'nosuchfilter'"});
  expect_contains(render_error("{{ 'abc'() }}"), {"not callable"});
  expect_contains(render_error("{{ m.a.b }}", Json{{"m", Json::object()}}), {"'dict object' has no attribute 'a'"});
  expect_contains(render_error("{{ messages.append(1) }}", Json{{"messages", Json::array()}}), {"unsafe"});
  expect_contains(error_of([] { ChatTemplate::parse("x").render(Json::array()); }), {"JSON object"});
}

// ---------------------------------------------------------------------------------------------------------
// Hostile templates fail with an Error, quickly, without overflowing the stack

TEST(ChatTemplateJinja, DeepNestingIsRefused) {
  const int n = 100000;
  expect_contains(
      error_of([&] { ChatTemplate::parse("{{ " + std::string(n, '(') + "1" + std::string(n, ')') + " }}"); }),
      {"deeper than"});
  expect_contains(error_of([&] { ChatTemplate::parse("{{ " + std::string(n, '[') + std::string(n, ']') + " }}"); }),
                  {"deeper than"});
  std::string nots;
  for (int i = 0; i < n; ++i) nots += "not ";
  expect_contains(error_of([&] { ChatTemplate::parse("{{ " + nots + "x }}"); }), {"deeper than"});
  expect_contains(error_of([&] { ChatTemplate::parse("{{ " + std::string(n, '-') + "1 }}"); }), {"deeper than"});
  std::string sum = "1";
  for (int i = 0; i < n; ++i) sum += "+1";
  expect_contains(error_of([&] { ChatTemplate::parse("{{ " + sum + " }}"); }), {"deeper than"});
  std::string filters = "x";
  for (int i = 0; i < n; ++i) filters += "|trim";
  expect_contains(error_of([&] { ChatTemplate::parse("{{ " + filters + " }}"); }), {"deeper than"});
  std::string ifs;
  for (int i = 0; i < 5000; ++i) ifs += "{% if true %}";
  expect_contains(error_of([&] { ChatTemplate::parse(ifs); }), {"deeper than"});
  // Moderate nesting still works.
  EXPECT_EQ(render("{{ " + std::string(100, '(') + "1" + std::string(100, ')') + " }}"), "1");
  // Evaluation nested through recursion: each call sits 200 operators deep, so a few calls reach the
  // run-time limit, which must fail cleanly (this runs right at the limit under the sanitizers too).
  std::string deep;
  for (int i = 0; i < 200; ++i) deep += "(1 + ";
  deep += "f(n - 1)|int";
  deep += std::string(200, ')');
  const std::string recursive = "{% macro f(n) %}{% if n > 0 %}{{ " + deep + " }}{% else %}0{% endif %}{% endmacro %}";
  EXPECT_EQ(render(recursive + "{{ f(3) }}"), "600");
  expect_contains(render_error(recursive + "{{ f(50) }}"), {"deeper than 1024"});
}

TEST(ChatTemplateJinja, RunawayRecursionAndLoopsStop) {
  expect_contains(render_error("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}"),
                  {"macro calls nest deeper than 256"});
  expect_contains(render_error("{% macro f(n) %}{{ f(n) }}{{ f(n) }}{% endmacro %}{{ f(1) }}"), {"deeper than"});
  // Fan-out recursion stays shallow but explodes in count: the step budget stops it.
  expect_contains(render_error("{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
                               "{{ f(40) }}"),
                  {"steps"});
  expect_contains(render_error("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"),
                  {"steps"});
  expect_contains(render_error("{{ range(10000000000)|list }}"), {"Range too big"});
  expect_contains(render_error("{% set ns = namespace(l=[0]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}"
                               "{% endfor %}"),
                  {"list"});
}

TEST(ChatTemplateJinja, HugeStringsAndOutputStop) {
  expect_contains(render_error("{{ 'x' * 1000000000 }}"), {"more than the", "bytes"});
  expect_contains(render_error("{% set s = 'x' * 60000000 %}{{ s ~ s }}"), {"bytes"});
  expect_contains(render_error("{% set s = 'y' * 1000000 %}{% for i in range(100) %}{{ s }}{% endfor %}"),
                  {"rendered output", "bytes"});
  expect_contains(render_error("{% for i in range(100000) %}{{ 'y' * 1000 }}{% endfor %}"), {"chat template"});
  expect_contains(render_error("{% set s = 'z' * 1000000 %}{% for i in range(100000) %}{% set t = s.upper() %}"
                               "{% endfor %}"),
                  {"steps"});
}

TEST(ChatTemplateJinja, NamespaceCyclesAndDeepValuesAreRefused) {
  expect_contains(render_error("{% set ns = namespace() %}{% set ns.me = ns %}"), {"namespace"});
  expect_contains(render_error("{% set ns = namespace() %}{% set ns.me = [[ns]] %}"), {"namespace"});
  expect_contains(render_error("{% set ns = namespace(l=[]) %}{% for i in range(1000) %}{% set ns.l = [ns.l] %}"
                               "{% endfor %}"),
                  {"deeper than"});
  Json deep = Json::array();
  for (int i = 0; i < 1000; ++i) deep = Json::array({deep});
  expect_contains(render_error("{{ x }}", Json{{"x", deep}}), {"deeper than"});
}

// ---------------------------------------------------------------------------------------------------------
// Finding a model folder's template

TEST(ChatTemplateFind, PicksTheTemplateAsTransformersDoes) {
  TempDir dir;
  EXPECT_FALSE(find_chat_template(dir.path()).has_value());  // no files at all
  dir.write("tokenizer_config.json", R"({"bos_token": "<s>"})");
  EXPECT_FALSE(find_chat_template(dir.path()).has_value());  // no chat_template field
  dir.write("tokenizer_config.json", R"({"chat_template": "plain {{ messages }}"})");
  EXPECT_EQ(find_chat_template(dir.path()), "plain {{ messages }}");
  EXPECT_EQ(find_chat_template(dir.path(), "default"), "plain {{ messages }}");
  expect_contains(error_of([&] { find_chat_template(dir.path(), "rag"); }), {"'rag'"});

  dir.write("tokenizer_config.json",
            R"({"chat_template": [{"name": "default", "template": "D"}, {"name": "tool_use", "template": "T"},
                                  {"name": "rag", "template": "R"}]})");
  EXPECT_EQ(find_chat_template(dir.path()), "D");
  EXPECT_EQ(find_chat_template(dir.path(), "", true), "T");
  EXPECT_EQ(find_chat_template(dir.path(), "rag", true), "R");
  expect_contains(error_of([&] { find_chat_template(dir.path(), "nope"); }),
                  {"'nope'", "'default'", "'rag'", "'tool_use'"});

  dir.write("tokenizer_config.json", R"({"chat_template": [{"name": "a", "template": "A"}]})");
  expect_contains(error_of([&] { find_chat_template(dir.path()); }), {"'default'", "'a'"});
  dir.write("tokenizer_config.json", R"({"chat_template": [{"name": "a"}]})");
  expect_contains(error_of([&] { find_chat_template(dir.path()); }), {"tokenizer_config.json", "chat_template[0]"});
  dir.write("tokenizer_config.json", R"({"chat_template": 5})");
  expect_contains(error_of([&] { find_chat_template(dir.path()); }), {"chat_template must be"});

  // chat_template.jinja (and additional_chat_templates/) win over tokenizer_config.json.
  dir.write("tokenizer_config.json", R"({"chat_template": "from config"})");
  dir.write("chat_template.jinja", "from jinja file\n");
  EXPECT_EQ(find_chat_template(dir.path()), "from jinja file\n");
  std::filesystem::create_directories(dir.file("additional_chat_templates"));
  dir.write("additional_chat_templates/tool_use.jinja", "tools!");
  EXPECT_EQ(find_chat_template(dir.path()), "from jinja file\n");
  EXPECT_EQ(find_chat_template(dir.path(), "", true), "tools!");
  EXPECT_EQ(find_chat_template(dir.path(), "tool_use"), "tools!");
}

TEST(ChatTemplateFind, SpecialTokensFromTheConfig) {
  TempDir dir;
  dir.write("tokenizer_config.json",
            R"({"bos_token": "<s>", "eos_token": {"content": "</s>", "lstrip": false}, "pad_token": null,
                "unk_token": "<unk>"})");
  EXPECT_EQ(chat_template_special_tokens(read_tokenizer_config(dir.path())),
            Json::parse(R"({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"})"));
}

}  // namespace
}  // namespace shardlm::testing
