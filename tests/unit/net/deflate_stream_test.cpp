// Tests for net::DeflateStream over a scripted stream whose server side is
// compressed here with zlib: both directions, reads in small pieces,
// corrupt and truncated data, the wait that IDLE relies on, and that a
// small input which inflates to far more (a decompression bomb) never
// fills more than the caller's buffer.

#include "net/deflate_stream.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "fakes/deflate_peer.hpp"
#include "fakes/mail_text.hpp"
#include "fakes/scripted_stream.hpp"
#include "util/error.hpp"

namespace roam::net {
namespace {

using fakes::C;
using fakes::Close;
using fakes::CompressedScriptedStream;
using fakes::S;
using fakes::Step;

// A DeflateStream over a scripted server that speaks deflate from the start.
struct Pipe {
  explicit Pipe(std::vector<Step> steps, std::size_t chunk = 0, std::string_view initial = {}) {
    auto owned = std::make_unique<CompressedScriptedStream>(
        std::move(steps), chunk, CompressedScriptedStream::Compressed::FromStart);
    inner = owned.get();
    stream = std::make_unique<DeflateStream>(std::move(owned), initial);
  }
  CompressedScriptedStream* inner;
  std::unique_ptr<DeflateStream> stream;
};

// Reads until `want` bytes arrived, `piece` bytes at most per read_some.
std::string read_exactly(Stream& stream, std::size_t want, std::size_t piece) {
  std::string out;
  std::vector<char> buf(piece);
  while (out.size() < want) {
    const std::size_t n = stream.read_some(buf.data(), std::min(piece, want - out.size()));
    if (n == 0) {
      ADD_FAILURE() << "end of stream after " << out.size() << " of " << want << " bytes";
      break;
    }
    EXPECT_LE(n, piece);
    out.append(buf.data(), n);
  }
  return out;
}

// Expects `f` to throw util::Error of `scope` and returns its message.
template <typename F>
std::string error_of(F&& f, util::Scope scope = util::Scope::Account) {
  try {
    f();
  } catch (const util::Error& e) {
    EXPECT_EQ(e.scope(), scope) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return {};
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

std::string message_text(std::size_t size) {
  return fakes::mail_text(size, 12345);
}

TEST(DeflateStream, CompressesWritesAndInflatesReads) {
  fakes::Deflater server;
  Pipe p({C("a1 NOOP\r\n"), S(server("* 2 EXISTS\r\na1 OK done\r\n")), C("a2 LOGOUT\r\n"),
          S(server("* BYE\r\n")), Close()});
  p.stream->write_all("a1 NOOP\r\n");
  EXPECT_EQ(read_exactly(*p.stream, 24, 4096), "* 2 EXISTS\r\na1 OK done\r\n");
  p.stream->write_all("a2 LOGOUT\r\n");
  EXPECT_EQ(read_exactly(*p.stream, 7, 4096), "* BYE\r\n");
  // The server closed after a sync flush: an orderly end.
  char c = 0;
  EXPECT_EQ(p.stream->read_some(&c, 1), 0u);
  EXPECT_TRUE(p.inner->finished());
  // What went over the wire was compressed, not the commands themselves.
  EXPECT_FALSE(contains(p.inner->wire(), "NOOP"));
}

TEST(DeflateStream, EachWriteReachesTheServerWhole) {
  // The inner stream matches the inflated bytes of every write_all on its
  // own, so a command held back in the compressor would fail here.
  fakes::Deflater server;
  Pipe p({C("a1 IDLE\r\n"), S(server("+ idling\r\n")), C("DONE\r\n"), S(server("a1 OK\r\n"))});
  p.stream->write_all("a1 IDLE\r\n");
  EXPECT_EQ(read_exactly(*p.stream, 10, 64), "+ idling\r\n");
  p.stream->write_all("DONE\r\n");
  EXPECT_EQ(p.inner->written(), "a1 IDLE\r\nDONE\r\n");
  EXPECT_EQ(read_exactly(*p.stream, 7, 64), "a1 OK\r\n");
}

TEST(DeflateStream, ServerDataArrivingOneByteAtATime) {
  fakes::Deflater server;
  const std::string text = message_text(20000);
  Pipe p({S(server(text))}, 1);
  EXPECT_EQ(read_exactly(*p.stream, text.size(), 1000), text);
}

TEST(DeflateStream, ALargeMessageInSmallReads) {
  fakes::Deflater server;
  const std::string text = message_text(5u << 20);
  const std::string compressed = server(text);
  EXPECT_LT(compressed.size(), text.size() / 2);
  Pipe p({S(compressed)}, 1000);
  EXPECT_EQ(read_exactly(*p.stream, text.size(), 777), text);
}

TEST(DeflateStream, LargeWritesArriveIntact) {
  const std::string text = message_text(3u << 20);
  Pipe p({C(text)});
  p.stream->write_all(text);
  EXPECT_TRUE(p.inner->finished());
  EXPECT_LT(p.inner->wire().size(), text.size() / 2);
}

TEST(DeflateStream, ABombFillsNoMoreThanTheCallersBuffer) {
  // 64 MB of zeros compress to about 64 KB; each read must stay within its
  // buffer however much the input at hand would expand to.
  fakes::Deflater server;
  const std::size_t size = 64u << 20;
  const std::string compressed = server(std::string(size, '\0'));
  EXPECT_LT(compressed.size(), size / 500);
  Pipe p({S(compressed)});
  char buf[4096];
  std::size_t total = 0;
  while (total < size) {
    const std::size_t n = p.stream->read_some(buf, sizeof buf);
    ASSERT_GT(n, 0u);
    ASSERT_LE(n, sizeof buf);
    total += n;
  }
  EXPECT_EQ(total, size);
}

TEST(DeflateStream, InitialBytesAreInflatedFirst) {
  fakes::Deflater server;
  const std::string first = server("* OK first\r\n");
  Pipe p({S(server("* OK second\r\n"))}, 0, first);
  EXPECT_EQ(read_exactly(*p.stream, 12, 4096), "* OK first\r\n");
  EXPECT_FALSE(p.inner->finished());
  EXPECT_EQ(read_exactly(*p.stream, 13, 4096), "* OK second\r\n");
}

TEST(DeflateStream, CorruptDataIsAnAccountErrorAndTheStreamIsUnusable) {
  fakes::Deflater server;
  // The second step is no deflate data at all (block type 3 is reserved).
  Pipe p({S(server("* OK fine\r\n")), S("\xff\xff\xff\xff garbage"), C("a1 NOOP\r\n")});
  EXPECT_EQ(read_exactly(*p.stream, 11, 4096), "* OK fine\r\n");
  char buf[64];
  const std::string what = error_of([&] { p.stream->read_some(buf, sizeof buf); });
  EXPECT_TRUE(contains(what, "scripted:143")) << what;
  EXPECT_TRUE(contains(what, "does not inflate")) << what;
  // Every later call fails, and nothing more goes to the server.
  error_of([&] { p.stream->read_some(buf, sizeof buf); });
  error_of([&] { p.stream->write_all("a1 NOOP\r\n"); });
  error_of([&] { p.stream->wait_readable(std::chrono::milliseconds(1), -1); });
  EXPECT_EQ(p.inner->written(), "");
}

TEST(DeflateStream, AStreamCutInsideABlockIsAnError) {
  fakes::Deflater server;
  std::string compressed = server(message_text(5000));
  // Without its last bytes (part of the block and the flush marker) the
  // data stops inside a block.
  compressed.resize(compressed.size() / 2);
  Pipe p({S(compressed), Close()});
  std::vector<char> buf(100000);
  const std::string what = error_of([&] {
    for (;;) {
      if (p.stream->read_some(buf.data(), buf.size()) == 0) {
        break;
      }
    }
  });
  EXPECT_TRUE(contains(what, "in the middle of compressed data")) << what;
}

TEST(DeflateStream, TheEndOfTheServersStreamIsFollowedOnlyByTheClose) {
  {
    fakes::Deflater server;
    Pipe p({S(server.finish("* BYE\r\n")), Close()});
    EXPECT_EQ(read_exactly(*p.stream, 7, 64), "* BYE\r\n");
    char c = 0;
    EXPECT_EQ(p.stream->read_some(&c, 1), 0u);
  }
  {
    fakes::Deflater server;
    Pipe p({S(server.finish("* BYE\r\n") + "more")});
    char buf[64];
    const std::string what = error_of([&] {
      for (;;) {
        p.stream->read_some(buf, sizeof buf);
      }
    });
    EXPECT_TRUE(contains(what, "after the end of its compressed stream")) << what;
  }
}

TEST(DeflateStream, WaitReadableReportsOutputTheInflaterHolds) {
  fakes::Deflater server;
  Pipe p({S(server("* 1 EXISTS\r\n* 2 EXISTS\r\n")), C("DONE\r\n")});
  // The whole step is read, but only 12 bytes are inflated.
  EXPECT_EQ(read_exactly(*p.stream, 12, 12), "* 1 EXISTS\r\n");
  // The socket would never show the rest again: Data, without asking it.
  EXPECT_EQ(p.stream->wait_readable(std::chrono::seconds(1), -1), Stream::Ready::Data);
  EXPECT_EQ(p.inner->waits(), 0);
  EXPECT_EQ(read_exactly(*p.stream, 12, 64), "* 2 EXISTS\r\n");
  // Nothing is left: the inner stream waits (and the script says the
  // server is silent until the client writes).
  EXPECT_EQ(p.stream->wait_readable(std::chrono::seconds(1), -1), Stream::Ready::TimedOut);
  EXPECT_EQ(p.inner->waits(), 1);
}

TEST(DeflateStream, WaitReadableIgnoresInputThatYieldsNothing) {
  fakes::Deflater server;
  // Exactly the text fills the read; the flush marker that follows it is
  // still input, but no data.
  Pipe p({S(server("+ idling\r\n")), C("DONE\r\n")});
  EXPECT_EQ(read_exactly(*p.stream, 10, 10), "+ idling\r\n");
  EXPECT_EQ(p.stream->wait_readable(std::chrono::seconds(1), -1), Stream::Ready::TimedOut);
  EXPECT_EQ(p.inner->waits(), 1);
  p.stream->write_all("DONE\r\n");
  EXPECT_TRUE(p.inner->finished());
}

TEST(DeflateStream, WaitReadableReadsAFlushMarkerThatCameApartAndWaitsOn) {
  fakes::Deflater server;
  const std::string compressed = server("abc");
  // The sync flush marker (00 00 ff ff) arrives in a read of its own.
  Pipe p({S(compressed.substr(0, compressed.size() - 4)),
          S(compressed.substr(compressed.size() - 4)), C("DONE\r\n")});
  char buf[64];
  EXPECT_EQ(p.stream->read_some(buf, sizeof buf), 3u);
  // The socket shows the marker as readable, but it is no data: the wait
  // goes on, until (here) the script says the server stays silent.
  EXPECT_EQ(p.stream->wait_readable(std::chrono::seconds(1), -1), Stream::Ready::TimedOut);
  EXPECT_EQ(p.inner->waits(), 2);
}

TEST(DeflateStream, AByteInflatedByWaitReadableIsReadFirst) {
  fakes::Deflater server;
  Pipe p({S(server("abc") + server("def"))});
  EXPECT_EQ(read_exactly(*p.stream, 3, 3), "abc");
  EXPECT_EQ(p.stream->wait_readable(std::chrono::seconds(1), -1), Stream::Ready::Data);
  EXPECT_EQ(read_exactly(*p.stream, 3, 64), "def");
}

// A server that sends compressed data without content (empty blocks) now
// and then, slowly: each of its reads takes a while.
class SlowStream : public fakes::ScriptedStream {
 public:
  using ScriptedStream::ScriptedStream;
  std::size_t read_some(char* buf, std::size_t len) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return ScriptedStream::read_some(buf, len);
  }
  std::chrono::milliseconds timeout() const override { return std::chrono::milliseconds(30); }
};

TEST(DeflateStream, CompressedDataWithoutContentIsSilence) {
  // An empty stored block: BFINAL 0, BTYPE 00, then LEN 0 and NLEN 0xffff.
  const std::string empty_block("\x00\x00\x00\xff\xff", 5);
  std::vector<Step> steps(100, S(empty_block));
  auto stream = std::make_unique<DeflateStream>(std::make_unique<SlowStream>(std::move(steps)));
  char buf[64];
  const std::string what = error_of([&] { stream->read_some(buf, sizeof buf); });
  EXPECT_TRUE(contains(what, "without content")) << what;
}

TEST(DeflateStream, DescribesItselfAndRefusesStartTls) {
  Pipe p(std::vector<Step>{});
  EXPECT_EQ(p.stream->security(), "plaintext, COMPRESS=DEFLATE");
  EXPECT_EQ(p.stream->peer(), "scripted:143");
  EXPECT_FALSE(p.stream->is_tls());
  error_of([&] { p.stream->start_tls({}); }, util::Scope::Fatal);
}

}  // namespace
}  // namespace roam::net
