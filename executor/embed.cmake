# cmake -DIN=FILE -DOUT=FILE.cc -P embed.cmake: FILE's bytes as
# xb::executor::detail::kInitBinary (the bytes are in the source, so that
# ccache sees a changed xbuild-init).
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x..,){32})" "\\1\n" bytes "${bytes}")
file(WRITE "${OUT}.tmp" "// Generated from ${IN} by executor/embed.cmake.\n#include <cstddef>\nnamespace xb::executor::detail {\nextern const unsigned char kInitBinary[] = {\n${bytes}};\nextern const size_t kInitBinarySize = sizeof kInitBinary;\n}  // namespace xb::executor::detail\n")
file(RENAME "${OUT}.tmp" "${OUT}")
