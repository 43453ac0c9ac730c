#pragma once

// The unit the reader hands to the parser: one complete server response with
// its literals resolved (RFC 3501 §4.3). `text` holds the response exactly as
// it came off the wire, without the final CRLF; each literal's "{n}\r\n" (or
// "~{n}\r\n") marker stays in the text and is followed by its n octets, except
// for a literal that the reader streamed to a sink: its octets are missing
// from `text`, and its marker offset is listed in `streamed`. The lexer uses
// that list to hand out a streamed literal without reading past it.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace roam::imap {

struct StreamedLiteral {
  std::size_t offset = 0;  // Offset in `text` of the '{' (or '~') that opens the marker.
  std::uint64_t size = 0;
  bool operator==(const StreamedLiteral&) const = default;
};

struct RawResponse {
  std::string text;
  std::vector<StreamedLiteral> streamed;
  bool operator==(const RawResponse&) const = default;
};

}  // namespace roam::imap
