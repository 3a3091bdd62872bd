// One row of bench/run's table. Every bench program prints its figures as rows on stdout
// (lines that begin with "| "); anything else it says goes to stderr. bench/run prints the
// header, the machine and the date, and collects the rows of every program it runs.
//
// Columns: what | Tinyforge min/median | anchor (what it is) min/median | ratio | target | met
// The ratio is Tinyforge's median over the anchor's median, "-" when a row has no anchor.
#pragma once

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

namespace tf::bench {

/// min and median of a set of runs (N >= 1).
struct spread {
  double min = 0;
  double median = 0;
};

inline spread spread_of(std::vector<double> runs) {
  if (runs.empty())
    return {};
  std::sort(runs.begin(), runs.end());
  return {runs.front(), runs[runs.size() / 2]};
}

/// "12.3/14.0 ms": min/median with a unit.
inline std::string show(spread s, const char* unit, int decimals = 1) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%.*f/%.*f %s", decimals, s.min, decimals, s.median, unit);
  return buf;
}

/// Prints one row. `anchor` names the anchor and gives its figure ("sqlite3 CLI: 552/586 ms"),
/// or is "-" when there is none; `ratio` <= 0 prints "-".
inline void print_row(const std::string& what, const std::string& figure,
                      const std::string& anchor, double ratio, const std::string& target,
                      bool met) {
  char r[32] = "-";
  if (ratio > 0)
    std::snprintf(r, sizeof r, "%.2f", ratio);
  std::printf("| %s | %s | %s | %s | %s | %s |\n", what.c_str(), figure.c_str(), anchor.c_str(),
              r, target.c_str(), met ? "yes" : "**no**");
  std::fflush(stdout);
}

} // namespace tf::bench
