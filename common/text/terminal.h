// Showing untrusted text (host and user names, paths, anything an endpoint or an API client
// sent) on a terminal or in a log line without letting it act on the terminal: no control
// sequences, no fake lines, no reordering, nothing hidden.
//
// The one terminal escaper of the tree: the `custos` CLI, the `custos-collector` tables and the
// log all use it. Pure functions, safe from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace custos::text {

// True for code points a terminal acts on or hides instead of showing: C0 controls, DEL, C1
// controls (U+009B is CSI), the Arabic letter mark, zero-width characters and directional marks,
// line and paragraph separators, bidi embeddings, overrides and isolates (they reorder what
// follows, "Trojan Source"), word joiners, the BOM and Unicode tag characters.
bool IsTerminalControl(char32_t cp);

// Makes text safe for one terminal line: every IsTerminalControl code point becomes \n, \r, \t,
// \xNN (C0, DEL), \uXXXX or \UXXXXXXXX; invalid UTF-8 bytes become \xNN; combining marks stacked
// deeper than two are escaped too ("Zalgo" text paints over the lines around it). Backslashes
// are kept as they are (the output is for reading, not for parsing back).
std::string EscapeForTerminal(std::string_view text);

// Columns `escaped` (an EscapeForTerminal result) takes on a terminal: one per character, two
// for East Asian wide characters and emoji, none for combining marks.
size_t DisplayWidth(std::string_view escaped);

// Cuts `escaped` to at most `width` columns, ending in "…" when anything was cut. Never cuts a
// combining mark off the character it belongs to.
std::string FitToWidth(std::string_view escaped, size_t width);

}  // namespace custos::text
