// The reader assembles complete responses from a byte stream. Each case is
// played whole and then split into 1-, 2- and 7-byte pieces, because a
// boundary bug (a line split across reads, a literal split at its marker)
// is exactly what a real network produces and a whole-buffer test hides.

#include "imap/reader.hpp"

#include <gtest/gtest.h>

#include "fakes/scripted_stream.hpp"
#include "util/error.hpp"

namespace roam::imap {
namespace {

using fakes::S;

class RecordingSink : public LiteralSink {
 public:
  void write(const char* data, std::size_t size) override { m_data.append(data, size); }
  std::string m_data;
};

class ReaderChunks : public ::testing::TestWithParam<std::size_t> {};

TEST_P(ReaderChunks, LinesAreSplitOnCrlfOnly) {
  fakes::ScriptedStream stream({S("* OK hello\r\n* 3 EXISTS\r\nr1 OK done\r\n")}, GetParam());
  ResponseReader reader(stream, {});
  EXPECT_EQ(reader.read().text, "* OK hello");
  EXPECT_EQ(reader.read().text, "* 3 EXISTS");
  EXPECT_EQ(reader.read().text, "r1 OK done");
}

TEST_P(ReaderChunks, InlineLiteralIsPartOfTheResponse) {
  fakes::ScriptedStream stream({S("* LIST () \"/\" {5}\r\na\r\nb}\r\nr1 OK\r\n")}, GetParam());
  ResponseReader reader(stream, {});
  RawResponse r = reader.read();
  EXPECT_EQ(r.text, "* LIST () \"/\" {5}\r\na\r\nb}");
  EXPECT_TRUE(r.streamed.empty());
  EXPECT_EQ(reader.read().text, "r1 OK");
}

TEST_P(ReaderChunks, BodyLiteralIsStreamedToTheSink) {
  fakes::ScriptedStream stream(
      {S("* 1 FETCH (UID 7 BODY[] {12}\r\nSubject: x\r\n FLAGS (\\Seen))\r\nr1 OK\r\n")},
      GetParam());
  ResponseReader reader(stream, {});
  RecordingSink sink;
  std::string announced;
  reader.set_literal_router([&](std::string_view text, std::uint64_t size) -> LiteralSink* {
    announced = std::string(text);
    EXPECT_EQ(size, 12u);
    return &sink;
  });
  RawResponse r = reader.read();
  EXPECT_EQ(announced, "* 1 FETCH (UID 7 BODY[] {12}");
  EXPECT_EQ(sink.m_data, "Subject: x\r\n");
  EXPECT_EQ(r.text, "* 1 FETCH (UID 7 BODY[] {12}\r\n FLAGS (\\Seen))");
  ASSERT_EQ(r.streamed.size(), 1u);
  EXPECT_EQ(r.streamed[0].offset, std::string("* 1 FETCH (UID 7 BODY[] ").size());
  EXPECT_EQ(r.streamed[0].size, 12u);
}

TEST_P(ReaderChunks, Literal8MarkerStartsAtTheTilde) {
  std::string wire = std::string("* 1 FETCH (BINARY[] ~{3}\r\na") + '\0' + "b)\r\n";
  fakes::ScriptedStream stream({S(wire)}, GetParam());
  ResponseReader reader(stream, {});
  RecordingSink sink;
  reader.set_literal_router([&](std::string_view, std::uint64_t) { return &sink; });
  RawResponse r = reader.read();
  ASSERT_EQ(r.streamed.size(), 1u);
  EXPECT_EQ(r.text[r.streamed[0].offset], '~');
  EXPECT_EQ(sink.m_data, std::string("a") + '\0' + "b");
}

INSTANTIATE_TEST_SUITE_P(Chunks, ReaderChunks, ::testing::Values(0, 1, 2, 7));

TEST(Reader, AnEndlessLineHitsTheLimit) {
  std::string line(5000, 'x');
  fakes::ScriptedStream stream({S("* OK " + line)});
  ReaderLimits limits;
  limits.max_line = 1000;
  ResponseReader reader(stream, limits);
  try {
    reader.read();
    FAIL() << "no error";
  } catch (const util::Error& e) {
    EXPECT_EQ(e.scope(), util::Scope::Account);
    EXPECT_NE(std::string(e.what()).find("longer than 1000 bytes"), std::string::npos);
  }
}

TEST(Reader, AHugeAnnouncedLiteralIsRefusedBeforeAnyAllocation) {
  // 3 GB announced, nothing sent: the reader must refuse at the marker.
  fakes::ScriptedStream stream({S("* 1 FETCH (BODY[] {3000000000}\r\n")});
  ResponseReader reader(stream, {});
  RecordingSink sink;
  reader.set_literal_router([&](std::string_view, std::uint64_t) { return &sink; });
  try {
    reader.read();
    FAIL() << "no error";
  } catch (const util::Error& e) {
    EXPECT_NE(std::string(e.what()).find("3000000000-byte message"), std::string::npos);
  }
  EXPECT_TRUE(sink.m_data.empty());
}

TEST(Reader, AnOversizedInlineLiteralIsRefused) {
  fakes::ScriptedStream stream({S("* LIST () \"/\" {999999999}\r\n")});
  ResponseReader reader(stream, {});
  EXPECT_THROW(reader.read(), util::Error);
}

TEST(Reader, ConnectionClosedMidLiteralIsAnAccountError) {
  fakes::ScriptedStream stream({S("* LIST () \"/\" {10}\r\nabc")});
  ResponseReader reader(stream, {});
  try {
    reader.read();
    FAIL() << "no error";
  } catch (const util::Error& e) {
    EXPECT_EQ(e.scope(), util::Scope::Account);
    EXPECT_NE(std::string(e.what()).find("inside a literal"), std::string::npos);
  }
}

TEST(Reader, BufferedCountsBytesReadAhead) {
  fakes::ScriptedStream stream({S("r1 OK go ahead\r\ninjected\r\n")});
  ResponseReader reader(stream, {});
  reader.read();
  EXPECT_EQ(reader.buffered(), std::string("injected\r\n").size());
}

TEST(LiteralMarker, RecognisesTheForms) {
  std::uint64_t size = 0;
  std::size_t offset = 0;
  EXPECT_TRUE(literal_marker("a {12}", size, offset));
  EXPECT_EQ(size, 12u);
  EXPECT_EQ(offset, 2u);
  EXPECT_TRUE(literal_marker("a ~{3}", size, offset));
  EXPECT_EQ(offset, 2u);
  EXPECT_TRUE(literal_marker("a {4+}", size, offset));
  EXPECT_EQ(size, 4u);
  EXPECT_FALSE(literal_marker("a {}", size, offset));
  EXPECT_FALSE(literal_marker("a {1x}", size, offset));
  EXPECT_FALSE(literal_marker("a 12}", size, offset));
  EXPECT_FALSE(literal_marker("a {99999999999999999999}", size, offset));
}

}  // namespace
}  // namespace roam::imap
