// Data-driven command tests: every tests/commands/*.test file is run against a fresh, real
// tributaryd, each command through the real `tributary` CLI. File format (tests/commands/README.md):
//
//   # comment
//   @args --streaming-ingestion=on      node flags (first lines only, before any command)
//   @database Db                        database in context for the commands that follow
//   @restart                            SIGTERM the node and start it again on the same data dir
//   > .create table T (a:int)           a command; the expected CSV output follows, ending at a
//   TableName,Schema,...                blank line; '*' in an expected line matches any text
//
//   > .drop table Nope
//   ! BadRequest_EntityNotFound: Table 'Nope'   an expected error: the CLI must exit non-zero and
//                                               print "error: <code> (...): <message>" where the
//                                               text after '!' is code ":" a part of the message

#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <regex>
#include <sstream>

#include "tests/support/data_files.hpp"
#include "tests/support/node_process.hpp"
#include "tests/support/run_process.hpp"

namespace tributary::testing {
namespace {

struct step {
  enum class kind { command, database, restart } what = kind::command;
  int line = 0;
  std::string text;                 // command text, or database name
  std::vector<std::string> expect;  // expected CSV lines
  std::optional<std::string> error; // "Code: message part"
};

struct test_file {
  std::vector<std::string> args;
  std::vector<step> steps;
};

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

test_file parse(const std::filesystem::path& path) {
  std::ifstream in(path);
  test_file f;
  std::string line;
  int n = 0;
  step* open = nullptr;  // command whose expected output is being read
  while (std::getline(in, line)) {
    ++n;
    line = trim(line);
    if (open) {
      if (line.empty()) {
        open = nullptr;
      } else if (line.rfind("! ", 0) == 0 && open->expect.empty()) {
        open->error = line.substr(2);
        open = nullptr;
      } else {
        open->expect.push_back(line);
      }
      continue;
    }
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind("@args ", 0) == 0) {
      std::istringstream words(line.substr(6));
      for (std::string w; words >> w;) f.args.push_back(w);
    } else if (line.rfind("@database ", 0) == 0) {
      f.steps.push_back({step::kind::database, n, line.substr(10), {}, {}});
    } else if (line == "@restart") {
      f.steps.push_back({step::kind::restart, n, {}, {}, {}});
    } else if (line.rfind("> ", 0) == 0) {
      f.steps.push_back({step::kind::command, n, line.substr(2), {}, {}});
      open = &f.steps.back();
    } else {
      throw std::runtime_error(path.string() + ":" + std::to_string(n) + ": cannot parse: " + line);
    }
  }
  return f;
}

bool line_matches(const std::string& expected, const std::string& actual) {
  std::string re;
  for (char c : expected) {
    if (c == '*') re += ".*";
    else if (std::string("\\^$.|?+()[]{}").find(c) != std::string::npos) re += std::string("\\") + c;
    else re += c;
  }
  return std::regex_match(actual, std::regex(re));
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(trim(l));
  return out;
}

class command_file : public ::testing::TestWithParam<std::filesystem::path> {};

TEST_P(command_file, produces_expected_output) {
  auto file = parse(GetParam());
  temp_dir dir;
  node_process node(dir.path() / "data", file.args);
  std::string database;
  for (const auto& s : file.steps) {
    auto where = GetParam().filename().string() + ":" + std::to_string(s.line);
    if (s.what == step::kind::database) {
      database = s.text;
      continue;
    }
    if (s.what == step::kind::restart) {
      ASSERT_EQ(node.stop(), 0) << where << ": node did not stop cleanly on SIGTERM";
      node.restart();
      continue;
    }
    auto r = run_process({binary_path("tributary").string(), "--node", node.rpc_address(),
                          "--database", database, "--format", "csv", "command", s.text});
    if (s.error) {
      EXPECT_NE(r.exit_code, 0) << where << ": expected an error, got:\n" << r.out;
      auto colon = s.error->find(": ");
      auto code = s.error->substr(0, colon);
      {
        EXPECT_NE(r.err.find("error: " + code + " ("), std::string::npos)
            << where << ": expected error code " << code << ", got: " << r.err;
        if (colon != std::string::npos) {
          auto part = s.error->substr(colon + 2);
          EXPECT_NE(r.err.find(part), std::string::npos)
              << where << ": expected the message to contain '" << part << "', got: " << r.err;
        }
      }
      continue;
    }
    EXPECT_EQ(r.exit_code, 0) << where << ": " << s.text << "\nfailed: " << r.err;
    auto actual = lines(r.out);
    bool same = actual.size() == s.expect.size();
    for (size_t i = 0; same && i < actual.size(); ++i) same = line_matches(s.expect[i], actual[i]);
    if (!same) {
      std::string want;
      for (const auto& l : s.expect) want += l + "\n";
      ADD_FAILURE() << where << ": " << s.text << "\nexpected:\n" << want << "actual:\n" << r.out;
    }
  }
  EXPECT_TRUE(node.running()) << "the node died";
}

std::vector<std::filesystem::path> g_files;  // set by main() before tests register

INSTANTIATE_TEST_SUITE_P(commands, command_file, ::testing::ValuesIn(g_files),
                         [](const auto& info) { return info.param.stem().string(); });

}  // namespace
}  // namespace tributary::testing

int main(int argc, char** argv) {
  tributary::testing::g_files = tributary::testing::data_files(argc, argv, TRIBUTARY_COMMAND_TESTS_DIR, ".test");
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
