// The part of Go's text/template that `docker images|inspect|history
// --format` users type, evaluated over JSON: field paths ({{.Id}},
// {{.Config.Env}}), the functions json, index, join, split, upper, lower,
// len, truncate, pipes (|), {{range}}, {{if}}/{{else}}, {{end}} and the
// trim markers {{- -}}. Anything else (variables, parentheses, other
// functions) is refused with an Error(usage) that names it, never
// silently printed wrong.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace xb {

class GoTemplate {
 public:
  // Throws Error(usage) "template: …" naming the unsupported or malformed part.
  static GoTemplate parse(std::string_view text);
  // Renders with `.` = data. A field missing from an object is an
  // Error(usage) (Go says "can't evaluate field X"), except when the
  // object's keys match it ignoring case ({{.ID}} finds "Id").
  std::string render(const nlohmann::json& data) const;

  struct Node;
  GoTemplate(GoTemplate&&) noexcept;
  GoTemplate& operator=(GoTemplate&&) noexcept;
  ~GoTemplate();

 private:
  GoTemplate() = default;
  std::shared_ptr<Node> root_;
};

// A value as Go's fmt prints it with %v: strings bare, arrays "[a b]",
// objects "map[k:v]", null "<no value>".
std::string go_print(const nlohmann::json& value);

}  // namespace xb
