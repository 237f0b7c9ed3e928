// buildx's --call=check|outline|targets: BuildKit's Dockerfile subrequests,
// printed as buildx prints them (text) or as their result.json
// (format=json).
#include "cli/build_call.h"

#include <openssl/evp.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "common/error.h"
#include "frontend/frontend.h"

namespace xb::cli {

namespace {

using ojson = nlohmann::ordered_json;

std::string base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string source_text(const frontend::Ast& ast) {
  std::string s;
  for (const auto& l : ast.lines) s += l + "\n";
  return s;
}

// A pb.Location as Go's encoding/json writes it (zero fields left out).
ojson location(int line) {
  ojson pos = {{"line", line}};
  return ojson{{"ranges", ojson::array({ojson{{"start", pos}, {"end", pos}}})}};
}

void print(const std::string& text) { std::fwrite(text.data(), 1, text.size(), stdout); }

}  // namespace

int print_check(const CallSpec& call, const frontend::Dockerfile& df, const convert::Checked& r) {
  std::string error;
  if (r.error) {
    std::string rules;
    for (const auto& f : r.findings)
      if (rules.find(f.rule) == std::string::npos) rules += (rules.empty() ? "" : ", ") + f.rule;
    error = "lint violation found for rules: " + rules;
  }
  if (call.json) {
    ojson warnings = ojson::array();
    for (const auto& f : r.findings) {
      const frontend::CheckRule* rule = frontend::find_check_rule(f.rule);
      ojson w = {{"ruleName", f.rule}};
      if (rule) w["description"] = std::string(rule->description);
      if (rule && !rule->url.empty()) w["url"] = std::string(rule->url);
      w["detail"] = f.message;
      w["location"] = location(f.line);
      warnings.push_back(std::move(w));
    }
    ojson out = {{"warnings", warnings},
                 {"sources",
                  ojson::array({ojson{
                      {"filename", df.ast.file}, {"language", "Dockerfile"}, {"data", base64(source_text(df.ast))}}})}};
    if (!error.empty()) out["buildError"] = ojson{{"message", error}, {"location", location(r.findings.front().line)}};
    print(out.dump(2) + "\n");
  } else {
    print(frontend::format_check_report(df.ast, r.findings));
  }
  if (!error.empty()) {
    // buildx prints the error as it prints the warnings: message, then source.
    std::fflush(stdout);
    if (!call.json) print("\n");
    std::string text = "ERROR: " + error + "\n" +
                       frontend::format_source_excerpt(df.ast, r.findings.front().line, r.findings.front().line);
    std::fwrite(text.data(), 1, text.size(), stderr);
    return 1;
  }
  return r.findings.empty() || call.ignore_status ? 0 : 1;
}

CallSpec parse_call(const std::string& text) {
  CallSpec c;
  size_t i = 0;
  bool first = true;
  while (i <= text.size()) {
    size_t j = text.find(',', i);
    if (j == std::string::npos) j = text.size();
    std::string part = text.substr(i, j - i);
    i = j + 1;
    auto eq = part.find('=');
    if (first && eq == std::string::npos) {
      c.name = part;
    } else if (part.rfind("format=", 0) == 0) {
      std::string f = part.substr(7);
      if (f != "json" && f != "text" && f != "")
        fail(ErrorKind::usage, "--call " + text + ": format " + f + " is not known (want json or text)");
      c.json = f == "json";
    } else if (part.rfind("ignorestatus=", 0) == 0) {
      c.ignore_status = part.substr(13) == "true" || part.substr(13) == "1";
    } else {
      fail(ErrorKind::usage,
           "--call " + text + ": unknown option \"" + part + "\" (want NAME[,format=json][,ignorestatus=true])");
    }
    first = false;
  }
  if (c.name == "lint") c.name = "check";
  if (c.name != "build" && c.name != "check" && c.name != "outline" && c.name != "targets")
    fail(ErrorKind::usage,
         "--call " + text + ": \"" + c.name + "\" is not a known call (want build, check, outline or targets)");
  return c;
}

int run_query(const CallSpec& call, const frontend::Dockerfile& df, const std::string& target,
              const std::map<std::string, std::string>& build_args) {
  std::string sources = base64(source_text(df.ast));
  if (call.name == "outline") {
    Platform host = Platform::host();
    frontend::Outline o = frontend::outline(df, target, build_args, frontend::platform_args(host, host));
    if (!call.json) {
      print(frontend::format_outline(o));
      return 0;
    }
    ojson out = ojson::object();
    if (!o.name.empty()) out["name"] = o.name;
    if (!o.description.empty()) out["description"] = o.description;
    if (!o.args.empty()) {
      ojson args = ojson::array();
      for (const auto& a : o.args) {
        ojson j = {{"name", a.name}};
        if (!a.description.empty()) j["description"] = a.description;
        if (!a.value.empty()) j["value"] = a.value;
        j["location"] = location(a.line);
        args.push_back(std::move(j));
      }
      out["args"] = args;
    }
    for (const auto* list : {&o.secrets, &o.ssh}) {
      if (list->empty()) continue;
      ojson arr = ojson::array();
      for (const auto& s : *list) {
        ojson j = {{"name", s.name}};
        if (s.required) j["required"] = true;
        j["location"] = location(s.line);
        arr.push_back(std::move(j));
      }
      out[list == &o.secrets ? "secrets" : "ssh"] = arr;
    }
    out["sources"] = ojson::array({sources});
    print(out.dump(2) + "\n");
    return 0;
  }
  // targets
  auto ts = frontend::targets(df);
  if (!call.json) {
    print(frontend::format_targets(ts));
    return 0;
  }
  ojson arr = ojson::array();
  for (const auto& t : ts) {
    ojson j = ojson::object();
    if (!t.name.empty()) j["name"] = t.name;
    if (t.is_default) j["default"] = true;
    if (!t.description.empty()) j["description"] = t.description;
    if (!t.base.empty()) j["base"] = t.base;
    j["location"] = location(t.line);
    arr.push_back(std::move(j));
  }
  print(ojson{{"targets", arr}, {"sources", ojson::array({sources})}}.dump(2) + "\n");
  return 0;
}

}  // namespace xb::cli
