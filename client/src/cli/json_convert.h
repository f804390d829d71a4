#pragma once

// Protocol values as JSON for `taskmill --json`. Every field is always present (defaults
// included, absent optionals as null), so scripts can rely on the shape. Bytes fields
// (output, stdout, stderr, payload) are JSON strings when they are valid UTF-8; otherwise
// the key gets a `_b64` suffix and the value is standard base64 ("output_b64").

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "taskmill/client/client.h"
#include "taskmill/shared/protocol/messages.h"
#include "taskmill/shared/protocol/types.h"

namespace taskmill::client::cli {

bool IsValidUtf8(std::string_view bytes);
std::string Base64(std::string_view bytes);
// Sets object[key] (UTF-8 text) or object[key + "_b64"] (base64).
void PutBytes(nlohmann::json& object, const std::string& key, std::string_view bytes);

nlohmann::json ToJson(const protocol::TaskError& error);
nlohmann::json ToJson(const protocol::TaskInfo& task);
// name, size, sha256, uri and inline (true: the content is in the record) of each.
nlohmann::json ToJson(const std::vector<protocol::Artifact>& artifacts);
nlohmann::json ToJson(const protocol::BatchStatus& batch);
nlohmann::json ToJson(const protocol::QueueStats& queue);
nlohmann::json ToJson(const protocol::WorkerInfo& worker);
nlohmann::json ToJson(const protocol::Event& event);
nlohmann::json ToJson(const StatsReply& stats);
nlohmann::json ToJson(const protocol::CostMap& cost);
nlohmann::json ToJson(const Error& error);  // {"code": "timeout", "message": ...}

// Indented text; invalid UTF-8 in str fields is replaced, never thrown on.
std::string Dump(const nlohmann::json& doc);

}  // namespace taskmill::client::cli
