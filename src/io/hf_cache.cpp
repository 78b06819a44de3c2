// Hugging Face hub cache lookup (layout: models--{org}--{name}/{refs/main, snapshots/<rev>/, blobs/}).
#include "io/hf_cache.h"

#include <pwd.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "core/env_vars.h"
#include "core/error.h"
#include "io/mapped_file.h"

namespace shardlm {

namespace {

namespace fs = std::filesystem;

bool is_hub_id_part(const std::string& part) {
  if (part.empty() || part.size() > 96 || part[0] == '.' || part[0] == '-') return false;
  for (char c : part)
    if (!(std::isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.')) return false;
  return true;
}

// "org/name" or "name"
bool looks_like_hub_id(const std::string& model) {
  size_t slash = model.find('/');
  if (slash == std::string::npos) return is_hub_id_part(model);
  return is_hub_id_part(model.substr(0, slash)) && is_hub_id_part(model.substr(slash + 1));
}

// "" when the file is missing, unreadable or not a regular file (a FIFO there would block the lookup).
std::string read_ref(const fs::path& ref_file) {
  std::string text;
  try {
    text = read_regular_file(ref_file.string());
  } catch (const Error&) {
    return "";
  }
  std::istringstream in(text);
  std::string rev;
  in >> rev;  // the file holds one commit hash, possibly with a trailing newline
  return rev;
}

// The most recently modified subfolder of `snapshots`, or "" when it has none.
std::string newest_snapshot(const fs::path& snapshots) {
  std::error_code ec;
  std::string best;
  fs::file_time_type best_time{};
  for (const auto& e : fs::directory_iterator(snapshots, ec)) {
    if (!e.is_directory(ec)) continue;
    fs::file_time_type t = fs::last_write_time(e.path(), ec);
    if (best.empty() || t > best_time || (t == best_time && e.path().string() > best)) {
      best = e.path().string();
      best_time = t;
    }
  }
  return best;
}

}  // namespace

std::string hf_hub_cache_dir(std::string* source) {
  auto set_source = [&](const char* s) {
    if (source) *source = s;
  };
  if (auto v = env_value("HF_HUB_CACHE")) {
    set_source("$HF_HUB_CACHE");
    return *v;
  }
  if (auto v = env_value("HF_HOME")) {
    set_source("$HF_HOME/hub");
    return (fs::path(*v) / "hub").string();
  }
  if (auto v = env_value("XDG_CACHE_HOME")) {
    set_source("$XDG_CACHE_HOME/huggingface/hub");
    return (fs::path(*v) / "huggingface" / "hub").string();
  }
  std::string home = env_value("HOME").value_or("");
  if (home.empty()) {
    const passwd* pw = getpwuid(getuid());
    home = pw && pw->pw_dir ? pw->pw_dir : "/";
  }
  set_source("~/.cache/huggingface/hub");
  return (fs::path(home) / ".cache" / "huggingface" / "hub").string();
}

std::string resolve_model_path(const std::string& model) {
  std::error_code ec;
  if (fs::is_directory(model, ec)) return model;
  if (!looks_like_hub_id(model))
    fail("model '", model, "' is not a directory (and does not look like a Hugging Face hub id 'org/name')");

  std::string source;
  const fs::path cache = hf_hub_cache_dir(&source);
  std::string folder = "models--" + model;
  for (size_t p = folder.find('/'); p != std::string::npos; p = folder.find('/', p + 2)) folder.replace(p, 1, "--");
  const fs::path repo = cache / folder;
  const fs::path snapshots = repo / "snapshots";

  const std::string main_rev = read_ref(repo / "refs" / "main");
  if (!main_rev.empty() && main_rev.find('/') == std::string::npos && fs::is_directory(snapshots / main_rev, ec))
    return (snapshots / main_rev).string();
  std::string newest = newest_snapshot(snapshots);
  if (!newest.empty()) return newest;

  fail("model '", model, "' is not a directory, and the Hugging Face cache has no snapshot of it: looked in '",
       snapshots.string(), "/' (cache from ", source, ": '", cache.string(), "'", ", refs/main ",
       main_rev.empty() ? std::string("absent") : str_cat("naming '", main_rev, "'"),
       "); download it first, e.g. `huggingface-cli download ", model, "`");
}

}  // namespace shardlm
