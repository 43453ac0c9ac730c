#pragma once

// The server's side of COMPRESS=DEFLATE (RFC 4978) for transcript tests:
// a Deflater compresses the server's responses as a server does (raw
// deflate, a sync flush after each), and CompressedScriptedStream inflates
// what the client writes once it compresses, so that the C steps of a
// transcript stay readable text.

#include <zlib.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "fakes/scripted_stream.hpp"

namespace roam::fakes {

// One direction's compressor. Each call returns the compressed bytes of
// `plain`, ending with a sync flush (or, from finish(), the final block).
class Deflater {
 public:
  Deflater();
  ~Deflater();
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;

  std::string operator()(std::string_view plain);
  // Compresses `plain` and ends the deflate stream (Z_FINISH).
  std::string finish(std::string_view plain = {});

 private:
  std::string run(std::string_view plain, int flush);
  z_stream m_z{};
};

// One direction's decompressor; fails the test on data that does not inflate.
class Inflater {
 public:
  Inflater();
  ~Inflater();
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  std::string operator()(std::string_view compressed);

 private:
  z_stream m_z{};
};

// A ScriptedStream that inflates the client's writes before matching them
// against the C steps: from the start (`Compressed::FromStart`, for tests of
// net::DeflateStream itself) or from the write after the one that ends with
// "COMPRESS DEFLATE\r\n" (the imap::Client's transcripts, whose server
// answers OK). S steps are played as given; the test compresses them.
class CompressedScriptedStream : public ScriptedStream {
 public:
  enum class Compressed { AfterCommand, FromStart };

  explicit CompressedScriptedStream(std::vector<Step> steps, std::size_t chunk = 0,
                                    Compressed when = Compressed::AfterCommand);

  void write_all(std::string_view data) override;

  // Whether the client's writes are being inflated.
  bool compressing() const { return m_compressing; }
  // The bytes the client wrote, as they went over the wire.
  const std::string& wire() const { return m_wire; }

 private:
  Inflater m_inflate;
  bool m_compressing = false;
  std::string m_wire;
};

}  // namespace roam::fakes
