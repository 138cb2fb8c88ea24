// collector/cli: how `custos user`, `token`, `reveal` and `audit` show what the collector's REST
// API returns about accounts, personal tokens, identity reveals and the audit log (docs/api.md).
// Nothing here talks to the network.
//
// Contract (as collector/cli/alert_format.h):
//  - Every function accepts any JSON value: missing keys, wrong types, nulls, hostile strings. It
//    never throws or crashes; what is missing shows as "-".
//  - Every string from the API is escaped with EscapeForTerminal before it is printed; table
//    lines are cut with "…" to `line_width` columns. Tables print nothing for an empty list.
//  - People (the PERSON column of reveals, people named in audit objects and summaries) are shown
//    as the API sends them: pseudonymised unless pseudonymisation is off or a reveal was approved.
//    The CLI holds no key and reveals nothing itself.
//  - Pure functions, no shared state: any thread may call them.
#pragma once

#include <cstddef>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace custos::collector::cli {

// "accounts" of GET /api/v1/accounts: USERNAME, NAME, EMAIL, ROLES, SOURCE, STATUS (enabled or
// disabled), CREATED.
void WriteAccountTable(const nlohmann::json& accounts, size_t line_width, std::ostream& out);

// "tokens" of GET /api/v1/tokens: ID, OWNER, NAME, CREATED, LAST USED, EXPIRES, REVOKED. Never a
// secret: the API does not have it after creation.
void WriteTokenTable(const nlohmann::json& tokens, size_t line_width, std::ostream& out);

// "reveals" of GET /api/v1/reveals: ID, STATUS, PERSON, REQUESTER, CREATED, DECIDED BY,
// JUSTIFICATION (last, cut to the width).
void WriteRevealTable(const nlohmann::json& reveals, size_t line_width, std::ostream& out);

// "entries" of GET /api/v1/audit: SEQ, TIME, ACTOR, ACTION, OBJECT, SOURCE, SUMMARY (last, cut
// to the width). The hash is in the JSON and CSV output only.
void WriteAuditTable(const nlohmann::json& entries, size_t line_width, std::ostream& out);

// The same entries as CSV (RFC 4180, CRLF line ends): the header
// seq,time,actor,action,object,summary,source,hash, then one record per entry. Each value is
// first escaped for the terminal like the table (so no control character, escape sequence or
// invalid UTF-8 reaches the output; `--format json` has the exact text), then written with
// CsvField. A header alone when there are no entries.
void WriteAuditCsv(const nlohmann::json& entries, std::ostream& out);

// ---- building blocks, exposed for tests ----

// One CSV field: a value starting with '=', '+', '-', '@', TAB or CR gets a leading apostrophe
// (a spreadsheet would run it as a formula: CSV injection); then, when the value holds a comma, a
// double quote, CR or LF, it is quoted, inner quotes doubled (RFC 4180).
std::string CsvField(std::string_view value);

// A JSON array of strings ("roles": ["admin","analyst"]) as "admin,analyst"; a string as it is;
// "-" for anything else or an empty list. Not escaped.
std::string JoinRoles(const nlohmann::json& roles);

}  // namespace custos::collector::cli
