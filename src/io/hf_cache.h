// Finding a model given as a local folder or as a Hugging Face hub id in the local hub cache
// (<cache>/models--org--name/snapshots/<revision>/). Never downloads.
#pragma once
#include <string>

namespace shardlm {

// `model` itself when it is an existing directory. Otherwise, when it looks like a hub id ("org/name" or
// "name"), its snapshot folder in the cache: the revision refs/main names if that snapshot exists, else the
// only (or most recently modified) snapshot. Error otherwise, saying that `model` is not a directory and
// listing exactly where it looked.
std::string resolve_model_path(const std::string& model);

// The hub cache folder, as huggingface_hub chooses it: $HF_HUB_CACHE, else $HF_HOME/hub, else
// $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub. `source` (optional) says which.
std::string hf_hub_cache_dir(std::string* source = nullptr);

}  // namespace shardlm
