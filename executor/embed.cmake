# cmake -DIN=FILE -DOUT=FILE.cc -P embed.cmake: FILE's bytes as
# xb::executor::detail::kInitBinary (the bytes are in the source, so that
# ccache sees a changed xbuild-init).
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x..,){32})" "\\1\n" bytes "${bytes}")
get_filename_component(name "${IN}" NAME)
set(text "// Generated from ${name} by executor/embed.cmake.\n#include <cstddef>\n")
string(APPEND text "namespace xb::executor::detail {\nextern const unsigned char kInitBinary[] = {\n${bytes}};\n")
string(APPEND text "extern const size_t kInitBinarySize = sizeof kInitBinary;\n}  // namespace xb::executor::detail\n")
file(WRITE "${OUT}.tmp" "${text}")
file(RENAME "${OUT}.tmp" "${OUT}")
