// collector/cli: how the API commands of `custos` show what the collector's REST API returns —
// alert tables, one alert with its explanation, policies, templates — on a terminal.
//
// Input is the JSON the API sends (collector/api/api.cc; explanation fields as
// collector/scoring/scoring.cc writes them). Nothing here talks to the network.
//
// Contract:
//  - Every function accepts any JSON value: missing keys, wrong types, nulls, hostile strings
//    (escape sequences, bidi overrides, megabyte-long paths). It never throws or crashes; what is
//    missing shows as "-" or is left out.
//  - Every string that came from the API is escaped with EscapeForTerminal before it is printed,
//    so no raw control byte reaches the terminal. Table lines and sample-event lines are cut with
//    "…" to `line_width` columns.
//  - Pure functions, no shared state: any thread may call them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace custos::collector::cli {

// The "alerts" array of GET /api/v1/alerts as a table: ID, SEVERITY, SCORE, STATUS, PERSON,
// POLICY, LAST ACTIVITY, UPDATED. Nothing at all when there are no alerts.
void WriteAlertTable(const nlohmann::json& alerts, size_t line_width, std::ostream& out);

// GET /api/v1/alerts/{id} for reading: the alert's fields, then its explanation (WriteExplanation).
void WriteAlertText(const nlohmann::json& alert, size_t line_width, std::ostream& out);

// An alert explanation: triggers; each indicator (name, tier, points, count, busiest day, sample
// events); boosters; sequences; cumulative exfiltration; the formula with the numbers filled in
// and the final score. A null or non-object explanation prints one line saying so.
void WriteExplanation(const nlohmann::json& explanation, size_t line_width, std::ostream& out);

// The "policies" array of GET /api/v1/policies: ID, NAME, TEMPLATE, ENABLED, INDICATORS (count).
void WritePolicyTable(const nlohmann::json& policies, size_t line_width, std::ostream& out);

// The "templates" array of GET /api/v1/templates: ID, NAME, DESCRIPTION.
void WriteTemplateTable(const nlohmann::json& templates, size_t line_width, std::ostream& out);

// ---- building blocks, exposed for tests ----

// Aligned columns separated by two spaces, header first. Cells must already be escaped
// (EscapeForTerminal). Each column is as wide as its widest cell, but no wider than
// `max_widths[i]` (0: no limit; cells beyond it are cut with "…"); every line is then cut to
// `line_width`. Trailing spaces are trimmed.
void WriteTable(const std::vector<std::string>& headers, const std::vector<size_t>& max_widths,
                const std::vector<std::vector<std::string>>& rows, size_t line_width,
                std::ostream& out);

// A number as people write it: 30, 22.5, 0.75, 1.25 (at most two decimals, no trailing zeros).
std::string FormatNumber(double value);

// Unix nanoseconds (a JSON number) as RFC 3339 UTC with milliseconds; "-" when not a number.
std::string FormatTimeNs(const nlohmann::json& value);

}  // namespace custos::collector::cli
