// GoTemplate: the docker --format subset, against what Go's text/template
// prints for the same template and data (docker images/inspect/history).
#include "common/gotemplate.h"

#include <gtest/gtest.h>

#include "common/error.h"

using nlohmann::json;
using xb::GoTemplate;

namespace {

const json kImage = json::parse(R"({
  "Id": "sha256:abc",
  "RepoTags": ["app:1", "app:latest"],
  "Config": {"Env": ["PATH=/bin", "A=b"], "Entrypoint": ["echo", "hi"], "Labels": {"b": "2", "a": "1"},
             "User": "", "Cmd": null},
  "Size": 2048
})");

std::string render(const std::string& t, const json& data = kImage) { return GoTemplate::parse(t).render(data); }

std::string error_of(const std::string& t, const json& data = kImage) {
  try {
    render(t, data);
  } catch (const xb::Error& e) {
    EXPECT_EQ(e.kind(), xb::ErrorKind::usage) << t;
    return e.what();
  }
  ADD_FAILURE() << "no error for " << t;
  return "";
}

TEST(GoTemplate, FieldPaths) {
  EXPECT_EQ(render("{{.Id}}"), "sha256:abc");
  EXPECT_EQ(render("id={{ .Id }} size={{.Size}}"), "id=sha256:abc size=2048");
  EXPECT_EQ(render("{{.Config.Env}}"), "[PATH=/bin A=b]");  // Go's %v of a []string
  EXPECT_EQ(render("{{.Config.Labels}}"), "map[a:1 b:2]");  // maps print sorted
  EXPECT_EQ(render("{{.Config.Cmd}}"), "<no value>");       // nil
  EXPECT_EQ(render("[{{.Config.User}}]"), "[]");
  EXPECT_EQ(render("{{.}}", json("x")), "x");
}

TEST(GoTemplate, IdAndIDAreTheSameField) {
  // docker images rows say ID, docker inspect says Id: both habits work.
  EXPECT_EQ(render("{{.ID}}"), "sha256:abc");
  EXPECT_EQ(render("{{.Id}}", json{{"ID", "x"}}), "x");
}

TEST(GoTemplate, Functions) {
  EXPECT_EQ(render("{{json .Config.Entrypoint}}"), R"(["echo","hi"])");
  EXPECT_EQ(render("{{json .Config.Labels}}"), R"({"a":"1","b":"2"})");
  EXPECT_EQ(render("{{index .RepoTags 0}}"), "app:1");
  EXPECT_EQ(render("{{index .Config.Labels \"b\"}}"), "2");
  EXPECT_EQ(render("{{join .RepoTags \",\"}}"), "app:1,app:latest");
  EXPECT_EQ(render("{{upper .Id}} {{lower \"AB\"}} {{len .RepoTags}}"), "SHA256:ABC ab 2");
  EXPECT_EQ(render("{{.Id | upper}}"), "SHA256:ABC");
  EXPECT_EQ(render("{{truncate .Id 6}}"), "sha256");
  EXPECT_EQ(render("{{split \"a=b\" \"=\"}}"), "[a b]");
}

TEST(GoTemplate, RangeIfElseAndTrim) {
  EXPECT_EQ(render("{{range .RepoTags}}<{{.}}>{{end}}"), "<app:1><app:latest>");
  EXPECT_EQ(render("{{range .Config.Labels}}{{.}}{{end}}"), "12");
  EXPECT_EQ(render("{{range .Config.Cmd}}x{{else}}none{{end}}"), "none");
  EXPECT_EQ(render("{{if .Config.User}}user{{else}}root{{end}}"), "root");
  EXPECT_EQ(render("{{if .RepoTags}}tagged{{end}}"), "tagged");
  EXPECT_EQ(render("a  {{- .Size -}}  b"), "a2048b");
  EXPECT_EQ(render("{{/* a comment */}}x"), "x");
}

TEST(GoTemplate, UnsupportedIsAClearError) {
  EXPECT_NE(error_of("{{.Nope}}").find("can't evaluate field Nope"), std::string::npos);
  EXPECT_NE(error_of("{{printf \"%s\" .Id}}").find("function \"printf\" not supported"), std::string::npos);
  EXPECT_NE(error_of("{{$x := .Id}}").find("variables are not supported"), std::string::npos);
  EXPECT_NE(error_of("{{range $i, $e := .RepoTags}}{{end}}").find("variables are not supported"), std::string::npos);
  EXPECT_NE(error_of("{{index (.RepoTags) 0}}").find("unsupported syntax"), std::string::npos);
  EXPECT_NE(error_of("{{with .Config}}{{end}}").find("not supported"), std::string::npos);
  EXPECT_NE(error_of("{{range .RepoTags}}").find("no {{end}}"), std::string::npos);
  EXPECT_NE(error_of("{{end}}").find("without"), std::string::npos);
  EXPECT_NE(error_of("{{.Id").find("unclosed"), std::string::npos);
  EXPECT_NE(error_of("{{index .RepoTags 5}}").find("out of range"), std::string::npos);
  EXPECT_NE(error_of("{{.Id .Size}}").find("only a function takes arguments"), std::string::npos);
}

}  // namespace
