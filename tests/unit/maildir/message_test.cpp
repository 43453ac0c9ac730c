#include "maildir/message.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace roam::maildir {
namespace {

using namespace std::string_literals;

struct Row {
  std::string name;
  std::string content;
  // Empty: the content is a message. Otherwise a piece of the reason.
  std::string reason;
};

TEST(MessageTest, AcceptsOnlyAHeaderBlock) {
  const std::vector<Row> rows = {
      {"lf", "Subject: hi\nFrom: a@b\n\nbody\n", ""},
      {"crlf", "Subject: hi\r\nFrom: a@b\r\n\r\nbody\r\n", ""},
      {"continuation", "Subject: a\n long\n\tsubject\nFrom: a@b\n\nbody", ""},
      {"header-only-no-newline", "Subject: hi", ""},
      {"header-only-ends-at-eof", "Subject: hi\nFrom: a@b\n", ""},
      {"empty-value", "X-Empty:\n\n", ""},
      {"obsolete-space-before-colon", "Subject : hi\n\n", ""},
      {"all-ftext-name", "!#$%&'*+-.^_`{|}~09AZaz: x\n\n", ""},
      {"eight-bit-value", "Subject: gr\xc3\xbc\xc3\x9f\n\nbody", ""},
      {"binary-body", "Subject: hi\n\n\x00\x01\xff\r garbage"s, ""},
      {"empty", "", "empty"},
      {"blank-first", "\nbody after a blank line\n", "first line is empty"},
      {"crlf-blank-first", "\r\nbody\r\n", "first line is empty"},
      {"body-only", "Hello Bob,\nthis is body text.\n", "line 1 is not"},
      {"continuation-first", " Subject: hi\n\n", "blank-prefixed"},
      // The case that let a binary file through: a ':' before the first
      // newline, with a name that is not a field name.
      {"binary-colon-first-line",
       "\x7f"
       "ELF\x02\x01:\x00\x00\n\x00\x01\n"s,
       "line 1 is not"},
      {"space-in-name", "Hello there: Bob\n\n", "line 1 is not"},
      {"no-name", ": value\n\n", "line 1 is not"},
      {"control-in-name", "Sub\x01ject: hi\n\n", "line 1 is not"},
      {"del-in-name", "Sub\x7fject: hi\n\n", "line 1 is not"},
      {"non-ascii-name", "Sub\xc3\xa9ject: hi\n\n", "line 1 is not"},
      {"second-line-garbage", "Subject: hi\nrandom bytes here\n\nbody", "line 2 is not"},
      {"nul-in-value", "Subject: h\x00i\n\n"s, "NUL"},
      {"bare-cr", "Subject: a\rb\n\n", "carriage return"},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    std::string why = why_not_a_message(row.content);
    if (row.reason.empty()) {
      EXPECT_EQ(why, "");
    } else {
      EXPECT_NE(why.find(row.reason), std::string::npos) << why;
    }
  }
}

}  // namespace
}  // namespace roam::maildir
