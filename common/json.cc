#include "common/json.h"

namespace xb {

namespace {

using nlohmann::json;

bool is_utf8(const std::string& s) {
  try {
    (void)json(s).dump();  // nlohmann's own decoder decides, so dump_exact's second pass never throws
    return true;
  } catch (const json::type_error&) {
    return false;
  }
}

json bytes_kept(const json& j) {
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    if (is_utf8(s)) return j;
    return json::binary(std::vector<std::uint8_t>(s.begin(), s.end()));
  }
  if (j.is_array()) {
    json out = json::array();
    for (const auto& e : j) out.push_back(bytes_kept(e));
    return out;
  }
  if (j.is_object()) {
    json out = json::object();
    // Object keys are strings too: an invalid one is written as its hex bytes
    // with a prefix no valid key of ours has.
    for (const auto& [k, v] : j.items()) {
      std::string key = k;
      if (!is_utf8(key)) {
        static const char* hex = "0123456789abcdef";
        key = std::string(1, '\x01') + "bytes:";
        for (unsigned char c : k) {
          key += hex[c >> 4];
          key += hex[c & 15];
        }
      }
      out[key] = bytes_kept(v);
    }
    return out;
  }
  return j;
}

}  // namespace

std::string dump_json(const nlohmann::json& j, int indent, char indent_char) {
  return j.dump(indent, indent_char, false, json::error_handler_t::replace);
}

std::string dump_exact(const nlohmann::json& j) {
  try {
    return j.dump();
  } catch (const json::type_error& e) {
    if (e.id != 316) throw;
  }
  return bytes_kept(j).dump();
}

}  // namespace xb
