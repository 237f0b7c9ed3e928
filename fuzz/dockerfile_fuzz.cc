// libFuzzer target: the whole frontend over one input — parse, dump, typed
// conversion, meta-arg/FROM resolution, and expansion of every word the
// solver would expand. Any crash, hang or sanitizer report is a bug; an
// xb::Error is the expected outcome for malformed input.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

#include "frontend/frontend.h"

namespace fe = xb::frontend;

namespace {

void expand_all(const std::vector<std::string>& words, const fe::Env& env, char escape) {
  for (const auto& w : words) {
    try {
      fe::expand_word(w, env, escape);
      fe::expand_words(w, env, escape);
    } catch (const xb::Error&) {
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  // Expansion alone, with a small environment, on the raw input.
  fe::Env env{{"A", "a b"}, {"EMPTY", ""}, {"P", "/x/y*z"}};
  try {
    fe::expand_words(text, env);
  } catch (const xb::Error&) {
  }
  try {
    fe::Ast ast = fe::parse_ast(text, "Dockerfile");
    (void)fe::dump_ast(ast);
    fe::Dockerfile df = fe::to_dockerfile(std::move(ast));
    fe::CheckConfig every;  // the build checks walk the same tree, experimental ones too
    every.experimental_all = true;
    (void)fe::format_check_report(df.ast, fe::run_checks(df, every));
    fe::Env platform = fe::platform_args(xb::Platform::parse("linux/arm64"), xb::Platform::parse("linux/amd64"));
    (void)fe::format_outline(fe::outline(df, "", {{"A", "1"}}, platform));  // --call=outline|targets
    (void)fe::format_targets(fe::targets(df));
    fe::Env meta;
    try {
      meta = fe::resolve_meta_args(df, {{"A", "1"}}, platform);
    } catch (const xb::Error&) {
    }
    char esc = df.ast.escape;
    for (const auto& stage : df.stages) {
      try {
        (void)fe::resolve_base_name(stage, meta, esc);
        (void)fe::resolve_platform(stage, meta, esc);
      } catch (const xb::Error&) {
      }
      fe::Env state = meta;
      for (const auto& in : stage.instructions) {
        xb::Error located(xb::ErrorKind::invalid_argument, "probe");
        (void)located.at(in.location).render();
        std::visit(
            [&](const auto& c) {
              using T = std::decay_t<decltype(c)>;
              if constexpr (std::is_same_v<T, fe::EnvCmd>) {
                for (const auto& kv : c.env) {
                  try {
                    state.set(fe::expand_word(kv.key, state, esc), fe::expand_word(kv.value, state, esc));
                  } catch (const xb::Error&) {
                  }
                }
              } else if constexpr (std::is_same_v<T, fe::CopyCmd> || std::is_same_v<T, fe::AddCmd>) {
                expand_all(c.sources, state, esc);
                expand_all({c.dest, c.chown, c.chmod}, state, esc);
                expand_all(c.excludes, state, esc);
                for (const auto& sc : c.source_contents) {
                  try {
                    (void)fe::expand_heredoc(sc.data, state);
                  } catch (const xb::Error&) {
                  }
                }
              } else if constexpr (std::is_same_v<T, fe::RunCmd>) {
                for (const auto& m : c.raw_mounts) {
                  try {
                    (void)fe::parse_mount(m, {}, &state, esc);  // as the solver does at dispatch
                  } catch (const xb::Error&) {
                  }
                }
              } else if constexpr (std::is_same_v<T, fe::ArgCmd>) {
                for (const auto& a : c.args) {
                  try {
                    auto v = fe::resolve_stage_arg(a, state, {}, meta, platform, esc);
                    if (v) state.set(a.key, *v);
                  } catch (const xb::Error&) {
                  }
                }
              } else if constexpr (std::is_same_v<T, fe::WorkdirCmd>) {
                expand_all({c.path}, state, esc);
              } else if constexpr (std::is_same_v<T, fe::UserCmd>) {
                expand_all({c.user}, state, esc);
              } else if constexpr (std::is_same_v<T, fe::ExposeCmd>) {
                expand_all(c.ports, state, esc);
              } else if constexpr (std::is_same_v<T, fe::VolumeCmd>) {
                expand_all(c.volumes, state, esc);
              } else if constexpr (std::is_same_v<T, fe::LabelCmd>) {
                for (const auto& kv : c.labels) expand_all({kv.key, kv.value}, state, esc);
              }
            },
            in.command);
      }
    }
  } catch (const xb::Error&) {
  }
  return 0;
}
