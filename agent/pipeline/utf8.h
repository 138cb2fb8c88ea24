// agent/pipeline/utf8.h: making kernel bytes safe for proto3 `string` fields.
//
// proto3 strings must be valid UTF-8 or the collector rejects the whole batch, but Linux paths,
// command lines and executable names are arbitrary bytes. EscapeToUtf8 maps bytes to valid UTF-8
// reversibly:
//   - a well-formed UTF-8 sequence (RFC 3629: no overlongs, no surrogates, <= U+10FFFF) is copied;
//   - a byte that does not start a well-formed sequence becomes the four characters "\xNN"
//     (lower-case hex), e.g. the name "a\xff" arrives as `a\xff`;
//   - a literal backslash becomes "\\", so an escaped path never collides with a real one.
// Nothing else is escaped: newlines, tabs and other control characters are valid UTF-8 and stay
// as they are (display escaping is the console's and CLI's job). Pure functions, thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace custos::agent::pipeline {

// True when `bytes` is well-formed UTF-8 (what protobuf accepts for `string` fields).
bool IsValidUtf8(std::string_view bytes);

// The escaping described above. Valid UTF-8 without backslashes comes back unchanged.
std::string EscapeToUtf8(std::string_view bytes);

}  // namespace custos::agent::pipeline
